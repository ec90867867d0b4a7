/**
 * Tampering with the stored log is detected, by `cairn verify` and by the
 * pure verifiers, whatever byte is changed: an entry body, a signature, a
 * stored hash, a Merkle node or a checkpoint.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, appendInGroups } from './helpers/node.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { entryKey, nodeKey, checkpointKey } from '../src/storage/keys.js';
import { LogVerifier, openLogCheckpoint } from '../src/core/log-verifier.js';
import { inclusionProofPlan, consistencyProofPlan, verifyInclusion, verifyConsistency, leafHash, CompactRange } from '../src/core/merkle.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { isVerificationError } from '../src/core/errors.js';
import { fromUtf8, utf8 } from '../src/core/bytes.js';

const LOG = 'audit';

async function seededNode(n: number): Promise<{ dataDir: string; pub: Uint8Array; pubPath: string; remove(): Promise<void> }> {
  const dir = await tempDir();
  const tn = await startTestNode({}, dir.path);
  await appendInGroups(tn.client, LOG, n);
  await tn.stop();
  const pubPath = join(dir.path, 'signing-key.pub.pem');
  return { dataDir: dir.path, pub: pemToDer(await readFile(pubPath, 'utf8'), 'PUBLIC KEY'), pubPath, remove: dir.remove };
}

t.test('cairn verify exits 1 and names the seq when an entry body is edited in LevelDB', async (t) => {
  const s = await seededNode(40);
  t.teardown(s.remove);
  const store = await LedgerStore.open(join(s.dataDir, 'ledger'));
  const key = entryKey(LOG, 17);
  const v = (await store.rawDb.get(key))!;
  const text = fromUtf8(v.subarray(5, 5 + new DataView(v.buffer, v.byteOffset).getUint32(1)));
  const edited = text.replace('"operator":"ci"', '"operator":"eve"'.slice(0, '"operator":"ci"'.length));
  t.not(edited, text, 'the edit changes the body');
  const copy = Uint8Array.from(v);
  copy.set(utf8(edited), 5);
  await store.rawDb.put(key, copy);
  await store.close();

  const tn = await startTestNode({}, s.dataDir);
  t.teardown(() => tn.stop());
  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', s.pubPath]);
  t.equal(r.code, 1, 'exit code 1: tampering found');
  t.match(r.stderr, /entry 17/, 'names the first bad seq');
  t.match(r.stderr, /SIGNATURE_INVALID|ENTRY_MALFORMED/, 'says which check failed');
});

t.test('an edit that re-hashes the chain but cannot re-sign is caught at that seq', async (t) => {
  const s = await seededNode(12);
  t.teardown(s.remove);
  const store = await LedgerStore.open(join(s.dataDir, 'ledger'));
  const key = entryKey(LOG, 5);
  const v = (await store.rawDb.get(key))!;
  const copy = Uint8Array.from(v);
  copy[copy.length - 40]! ^= 0x01; // inside the DER signature
  await store.rawDb.put(key, copy);
  await store.close();
  const tn = await startTestNode({}, s.dataDir);
  t.teardown(() => tn.stop());
  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', s.pubPath]);
  t.equal(r.code, 1);
  t.match(r.stderr, /entry 5/);
});

t.test('a different pinned key fails verification (exit 1)', async (t) => {
  const s = await seededNode(3);
  t.teardown(s.remove);
  const other = await tempDir();
  t.teardown(other.remove);
  t.equal((await runCli(['keygen', '--out', other.path])).code, 0);
  const tn = await startTestNode({}, s.dataDir);
  t.teardown(() => tn.stop());
  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', join(other.path, 'signing-key.pub.pem')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /NOTE_UNSIGNED|SIGNATURE_INVALID/);
});

/**
 * The audit a verifier can run from storage: every entry through
 * LogVerifier against the latest signed checkpoint, every stored
 * checkpoint's signature, and every Merkle node through the proofs that use
 * it. Throws a VerificationError on the first problem.
 */
async function audit(store: LedgerStore, pub: Uint8Array): Promise<void> {
  const latest = (await store.getCheckpoint(LOG))!;
  const cp = openLogCheckpoint(latest.note, LOG, pub);
  const v = new LogVerifier(LOG, pub);
  for await (const chunk of store.readEntries(LOG, 0, cp.size)) for (const e of chunk) v.push(e);
  v.finish(latest.note);
  const leaves: Uint8Array[] = [];
  for await (const chunk of store.readEntries(LOG, 0, cp.size)) for (const e of chunk) leaves.push(leafHash(e.hash));
  for (let seq = 0; seq < cp.size; seq++) {
    const plan = inclusionProofPlan(seq, cp.size);
    verifyInclusion(leaves[seq]!, seq, cp.size, plan.finish(await store.getNodes(LOG, plan.nodes)), cp.rootHash);
  }
  for (let m = 1; m < cp.size; m++) {
    const old = await store.getCheckpoint(LOG, m);
    if (!old) continue;
    const oldCp = openLogCheckpoint(old.note, LOG, pub);
    const plan = consistencyProofPlan(m, cp.size);
    verifyConsistency(m, cp.size, plan.finish(await store.getNodes(LOG, plan.nodes)), oldCp.rootHash, cp.rootHash);
  }
}

t.test('any single-byte change to any stored entry, signature, hash, Merkle node or checkpoint is detected', async (t) => {
  const N = 37;
  const s = await seededNode(N);
  t.teardown(s.remove);
  const store = await LedgerStore.open(join(s.dataDir, 'ledger'));
  t.teardown(() => store.close());
  await audit(store, s.pub); // the untouched log passes

  const latest = (await store.getCheckpoint(LOG))!;
  const cpSizes: number[] = [];
  for (let m = 1; m <= N; m++) if (await store.getCheckpoint(LOG, m)) cpSizes.push(m);
  const nodeIds: { level: number; index: number }[] = [];
  for (let level = 0; 2 ** level <= N; level++) for (let index = 0; (index + 1) * 2 ** level <= N; index++) nodeIds.push({ level, index });
  t.ok(CompactRange.nodesFor(N).length > 0);

  const target = fc.oneof(
    fc.record({ kind: fc.constant('entry' as const), seq: fc.integer({ min: 0, max: N - 1 }) }),
    fc.record({ kind: fc.constant('node' as const), i: fc.integer({ min: 0, max: nodeIds.length - 1 }) }),
    fc.record({ kind: fc.constant('checkpoint' as const), i: fc.integer({ min: 0, max: cpSizes.length - 1 }) }),
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(target, fc.nat(), fc.integer({ min: 1, max: 255 }), async (tg, pos, mask) => {
      const key =
        tg.kind === 'entry' ? entryKey(LOG, tg.seq) : tg.kind === 'node' ? nodeKey(LOG, nodeIds[tg.i]!.level, nodeIds[tg.i]!.index) : checkpointKey(LOG, cpSizes[tg.i]!);
      const orig = (await store.rawDb.get(key))!;
      const bad = Uint8Array.from(orig); // Buffer#slice would share memory with orig
      bad[pos % bad.length]! ^= mask;
      await store.rawDb.put(key, bad);
      try {
        let caught: unknown;
        try {
          await audit(store, s.pub);
        } catch (e) {
          caught = e;
        }
        // A corrupt record frame is CORRUPTION from storage; anything else must be a verification failure.
        const detected = isVerificationError(caught) || (caught as { code?: string })?.code === 'CORRUPTION' || (caught as { code?: string })?.code === 'INVALID_ARGUMENT';
        if (!detected) throw new Error(`undetected change: ${tg.kind} ${JSON.stringify(tg)} byte ${pos % bad.length} ^ ${mask}: ${String(caught)}`);
      } finally {
        await store.rawDb.put(key, orig);
      }
      runs++;
    }),
    { numRuns: 300, seed: 6962 },
  );
  t.equal(runs, 300, '300 random single-byte changes, all detected');
  await audit(store, s.pub);
  t.ok(latest.note.length > 0);
});
