/**
 * Split views, with real node processes (docs/federation.md#witnessing): an
 * origin that shows two histories (two data directories sharing one key and
 * node name, each served to another witness) is caught once the witnesses
 * exchange what they cosigned; the evidence is an entry of each witness's
 * own log that `cairn verify` verifies and that checks again from the
 * origin's key alone; both witnesses refuse the origin from then on. A
 * rollback (the origin restarted from an older copy of its data) is caught
 * by the witness it submits to.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/node.js';
import { plan, start, until } from './helpers/witnesses.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { decodeBody } from '../src/core/entry.js';
import { checkSplitViewEvidence, type SplitViewEvidence } from '../src/core/split-view.js';
import { EQUIVOCATION_ACTION, EVIDENCE_LOG } from '../src/federation/witness-evidence.js';

const record = (log: string, i: number, tag: string) => ({ log, configId: 'svc/api', operator: 'mallory', action: 'deploy', payloadJson: JSON.stringify({ i, tag }) });

/** The evidence entries of a witness's own log. */
async function evidenceOf(c: LedgerClient): Promise<{ seq: number; payload: { origin: string; source: string; evidence: SplitViewEvidence } }[]> {
  const out = [];
  for await (const e of c.listEntries(EVIDENCE_LOG, 0)) {
    const body = decodeBody(e.body);
    if (body.action === EQUIVOCATION_ACTION) out.push({ seq: e.seq, payload: body.payload as { origin: string; source: string; evidence: SplitViewEvidence } });
  }
  return out;
}

async function refusalReason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'COSIGNED';
  } catch (e) {
    const err = e as grpc.ServiceError;
    return String(err.metadata?.get('cairn-witness-reason')[0] ?? err.code);
  }
}

t.test('two histories shown to two witnesses are caught once they exchange what they cosigned', async (t) => {
  const root = await tempDir();
  t.teardown(root.remove);
  const key = SigningKey.generate();
  // One origin, two data directories: the same key and node name, two histories.
  const [a, b, w1, w2] = await Promise.all([plan('split.test', root.path, key, 'split-a'), plan('split.test', root.path, key, 'split-b'), plan('w1.test', root.path), plan('w2.test', root.path)]);
  const nw1 = await start(w1, [{ of: a }, { of: w2 }]);
  t.teardown(() => nw1.stop());
  const nw2 = await start(w2, [{ of: b }, { of: w1 }]);
  t.teardown(() => nw2.stop());
  const na = await start(a, [{ of: w1, witness: true }]);
  t.teardown(() => na.stop());
  const nb = await start(b, [{ of: w2, witness: true }]);
  t.teardown(() => nb.stop());
  const [ca, cb, cw1, cw2] = [na, nb, nw1, nw2].map((n) => new LedgerClient(n.address));
  t.teardown(() => [ca, cb, cw1, cw2].forEach((c) => c!.close()));

  // The same sizes, different entries: each witness cosigns the history it is shown, until the exchange
  // (every 300 ms here) shows each the other's checkpoint: at whichever size that happens, it is a fork.
  for (let i = 0; i < 3; i++) {
    await ca!.append(record('prod', i, 'told to w1'));
    await cb!.append(record('prod', i, 'told to w2'));
  }
  const [e1, e2] = await Promise.all([cw1!, cw2!].map((c) => until('an evidence entry', async () => {
    const ev = await evidenceOf(c);
    return ev.length > 0 ? ev : undefined;
  })));
  for (const [ev, who] of [[e1!, 'w1'], [e2!, 'w2']] as const) {
    t.equal(ev.length, 1, `${who}: one evidence entry`);
    const p = ev[0]!.payload;
    t.equal(p.origin, 'split.test/prod', `${who}: names the origin and log`);
    // A fork when both sizes met; inconsistent when one witness had moved on (then the proof is part of the evidence).
    t.ok(p.evidence.kind === 'fork' || (p.evidence.kind === 'inconsistent' && p.evidence.proof !== undefined), `${who}: ${p.evidence.kind} at sizes ${p.evidence.first.size} and ${p.evidence.second.size}`);
    if (p.evidence.kind === 'fork') t.not(p.evidence.first.root, p.evidence.second.root);
    // Anyone checks it again from the origin's pinned key alone.
    checkSplitViewEvidence(p.evidence, [key.publicKeySpki], 'split.test');
    t.pass(`${who}: the evidence checks from the origin's key`);
  }

  // The evidence is an entry of the witness's own log: signed, chained, and verified like any.
  const v = await runCli(['verify', '--server', nw1.address, '--log', EVIDENCE_LOG, '--pubkey', w1.pub]);
  t.equal(v.code, 0, v.stderr);

  // Both witnesses refuse the origin from then on, whatever it shows them.
  const cosignedBefore = (await ca!.getCosignedCheckpoint('prod', 1).catch(() => undefined))?.size ?? 0;
  await ca!.append(record('prod', 3, 'told to w1'));
  const latestA = await ca!.getCheckpoint('prod');
  const latestB = await cb!.getCheckpoint('prod');
  t.equal(await refusalReason(cw1!.addCheckpoint({ oldSize: 3, proof: (await ca!.consistencyProof('prod', 3, 4)).hashes, checkpoint: latestA.note, keyChain: [] })), 'SPLIT_VIEW', 'w1 refuses the grown history a');
  t.equal(await refusalReason(cw2!.addCheckpoint({ oldSize: 3, proof: [], checkpoint: latestB.note, keyChain: [] })), 'SPLIT_VIEW', 'w2 refuses history b');
  t.equal((await ca!.getCosignedCheckpoint('prod', 1).catch(() => undefined))?.size ?? 0, cosignedBefore, 'nothing after the split view was cosigned');
});

t.test('a rollback to an older copy of the data is caught by the witness it is shown to', async (t) => {
  const root = await tempDir();
  t.teardown(root.remove);
  const [o, w] = await Promise.all([plan('rb.test', root.path), plan('w.test', root.path)]);
  const nw = await start(w, [{ of: o }]);
  t.teardown(() => nw.stop());
  const cw = new LedgerClient(nw.address);
  t.teardown(() => cw.close());

  let no = await start(o, [{ of: w, witness: true }]);
  let co = new LedgerClient(no.address);
  for (let i = 0; i < 3; i++) await co.append(record('prod', i, 'kept'));
  await until('size 3 cosigned', async () => ((await co.getCosignedCheckpoint('prod', 1)).size === 3 ? true : undefined));
  co.close();
  await no.stop();
  const backup = join(root.path, 'rb-backup');
  await cp(o.dir, backup, { recursive: true });

  no = await start(o, [{ of: w, witness: true }]);
  co = new LedgerClient(no.address);
  for (let i = 3; i < 6; i++) await co.append(record('prod', i, 'later lost'));
  await until('size 6 cosigned', async () => ((await co.getCosignedCheckpoint('prod', 1)).size === 6 ? true : undefined));
  co.close();
  await no.stop();

  // The operator restores the older copy: entries 3..5, acknowledged and cosigned, are gone.
  await rm(join(o.dir, 'ledger'), { recursive: true, force: true });
  await rm(join(o.dir, 'witness'), { recursive: true, force: true });
  await cp(join(backup, 'ledger'), join(o.dir, 'ledger'), { recursive: true });
  await cp(join(backup, 'witness'), join(o.dir, 'witness'), { recursive: true });
  no = await start(o, [{ of: w, witness: true }]);
  t.teardown(() => no.stop());

  const ev = await until('a rollback evidence entry', async () => {
    const out = await evidenceOf(cw);
    return out.length > 0 ? out : undefined;
  });
  t.equal(ev[0]!.payload.evidence.kind, 'rollback');
  t.equal(ev[0]!.payload.evidence.first.size, 6, 'the cosigned checkpoint');
  t.equal(ev[0]!.payload.evidence.second.size, 3, 'the smaller tree shown after it');
  t.match(ev[0]!.payload.evidence.first.cosignature, /^\u2014 w\.test /, 'with the witness\'s cosignature, which dates it');
  const v = await runCli(['verify', '--server', nw.address, '--log', EVIDENCE_LOG, '--pubkey', w.pub]);
  t.equal(v.code, 0, v.stderr);
});
