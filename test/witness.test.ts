/**
 * Witnessing with real node processes over loopback (docs/federation.md#witnessing):
 * an origin collects cosignatures from two witnesses while appends never
 * wait; `cairn verify --witness-key ... --min-witnesses 2` passes with both
 * and fails, naming why, with one or with a wrong key; `cairn proof
 * --min-witnesses` upgrades a receipt that `verify-receipt` checks; a
 * witness refuses, with its code and reason, an unknown origin, a bad
 * signature, a wrong old size (telling its own), a bad old size and a proof
 * that does not hold.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/node.js';
import { plan, start, until } from './helpers/witnesses.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { signCheckpoint } from '../src/core/checkpoint.js';
import { sha256 } from '#crypto';
import { utf8 } from '../src/core/bytes.js';

const record = (log: string, i: number) => ({ log, configId: 'svc/api', operator: 'alice', action: 'deploy', payloadJson: JSON.stringify({ i }) });

t.test('two witnesses cosign an origin; verifiers demand their cosignatures', async (t) => {
  const root = await tempDir();
  t.teardown(root.remove);
  const [o, w1, w2] = await Promise.all([plan('origin.test', root.path), plan('w1.test', root.path), plan('w2.test', root.path)]);
  const nw1 = await start(w1, [{ of: o }, { of: w2 }]);
  t.teardown(() => nw1.stop());
  const nw2 = await start(w2, [{ of: o }, { of: w1 }]);
  t.teardown(() => nw2.stop());
  const no = await start(o, [{ of: w1, witness: true }, { of: w2, witness: true }]);
  t.teardown(() => no.stop());
  const c = new LedgerClient(no.address);
  t.teardown(() => c.close());

  for (let i = 0; i < 20; i++) await c.append(record('prod', i));
  const cosigned = await until('two cosignatures on size 20', async () => {
    const cp = await c.getCosignedCheckpoint('prod', 2);
    return cp.size === 20 ? cp : undefined;
  });
  t.equal(cosigned.cosignatures.length, 2, 'the checkpoint carries both cosignatures');
  t.match(cosigned.cosignatures.join('\n'), /^\u2014 w[12]\.test /m);

  const wk1 = join(w1.dir, 'witness-key.pub.pem');
  const wk2 = join(w2.dir, 'witness-key.pub.pem');
  t.match((await readFile(wk1, 'utf8')).trim(), /^-----BEGIN PUBLIC KEY-----/, 'the witness key was created, its public half beside it');
  const base = ['--server', no.address, '--log', 'prod', '--pubkey', o.pub];

  const ok = await runCli(['verify', ...base, '--witness-key', wk1, '--witness-key', wk2, '--min-witnesses', '2']);
  t.equal(ok.code, 0, ok.stderr);
  const v = JSON.parse(ok.stdout) as { size: number; witnesses: { name: string }[] };
  t.equal(v.size, 20);
  t.same(v.witnesses.map((w) => w.name).sort(), ['w1.test', 'w2.test']);

  // One pinned witness key cannot make two cosignatures.
  const one = await runCli(['verify', ...base, '--witness-key', wk1, '--min-witnesses', '2']);
  t.equal(one.code, 2, 'asking 2 of 1 key is a usage error');
  t.match(one.stderr, /--min-witnesses must be from 1 to the number of --witness-key files \(1\)/);
  // A wrong key (the origin's own) in place of a witness's: its line is not counted, and the message names the file.
  const wrong = await runCli(['verify', ...base, '--witness-key', wk1, '--witness-key', o.pub, '--min-witnesses', '2']);
  t.equal(wrong.code, 1, wrong.stderr);
  t.match(wrong.stderr, /WITNESS_QUORUM/);
  t.match(wrong.stderr, /1 valid cosignature\(s\) from the pinned witness keys, 2 required; none from .*signing-key\.pub\.pem/);

  // A receipt upgraded to a proof against a checkpoint both witnesses cosigned, then checked offline.
  const pr = await runCli(['proof', ...base, '--seq', '7', '--witness-key', wk1, '--witness-key', wk2, '--min-witnesses', '2']);
  t.equal(pr.code, 0, pr.stderr);
  const proof = JSON.parse(pr.stdout) as { size: number; receipt: unknown };
  t.equal(proof.size, 20);
  const receiptPath = join(root.path, 'receipt.json');
  await writeFile(receiptPath, JSON.stringify(proof.receipt));
  const vr = await runCli(['verify-receipt', receiptPath, '--pubkey', o.pub, '--witness-key', wk1, '--witness-key', wk2]);
  t.equal(vr.code, 0, vr.stderr);
  t.equal((JSON.parse(vr.stdout) as { witnesses: unknown[] }).witnesses.length, 2);
  const vrWrong = await runCli(['verify-receipt', receiptPath, '--pubkey', o.pub, '--witness-key', wk1, '--witness-key', o.pub]);
  t.equal(vrWrong.code, 1, 'a wrong witness key fails the offline check too');

  // A bundle up to the cosigned checkpoint, verified offline with the witnesses' keys.
  const bundle = join(root.path, 'prod.jsonl');
  const ex = await runCli(['export', '--server', no.address, '--log', 'prod', '--out', bundle, '--min-witnesses', '2']);
  t.equal(ex.code, 0, ex.stderr);
  const vb = await runCli(['verify-bundle', bundle, '--pubkey', o.pub, '--witness-key', wk1, '--witness-key', wk2]);
  t.equal(vb.code, 0, vb.stderr);

  // The audit report states the witnesses whose cosignatures verified, from the node and from the bundle.
  for (const source of [['--server', no.address, '--log', 'prod'], ['--bundle', bundle]]) {
    const out = join(root.path, `report-${source[0]!.slice(2)}.html`);
    const rep = await runCli(['report', ...source, '--pubkey', o.pub, '--out', out, '--witness-key', wk1, '--witness-key', wk2, '--min-witnesses', '2']);
    t.equal(rep.code, 0, rep.stderr);
    const witnessesRow = /<dt>Witnesses<\/dt><dd>(.*?)<\/dd>/.exec(await readFile(out, 'utf8'))?.[1] ?? '';
    // One line per witness, in the order the quorum check met them.
    t.same(witnessesRow.split('<br>').map((w) => /^(w[12]\.test) .*cosignature verified/.exec(w)?.[1]).sort(), ['w1.test', 'w2.test'], `report ${source[0]}: both witnesses named as verified`);
  }
  const repWrong = await runCli(['report', ...base, '--out', join(root.path, 'report-wrong.html'), '--witness-key', wk1, '--witness-key', o.pub, '--min-witnesses', '2']);
  t.equal(repWrong.code, 1, 'a report whose witness quorum fails says verification failed');
  t.match(await readFile(join(root.path, 'report-wrong.html'), 'utf8'), /<title>[^<]*FAILED[^<]*WITNESS_QUORUM/);

  // A witness down: appends go on and succeed; the other witness keeps cosigning.
  await nw2.kill9();
  const started = Date.now();
  for (let i = 20; i < 60; i++) await c.append(record('prod', i));
  t.pass(`40 appends with a witness down took ${Date.now() - started} ms, none failed`);
  const byOne = await until('w1 alone cosigns size 60', async () => {
    const cp = await c.getCosignedCheckpoint('prod', 1);
    return cp.size === 60 ? cp : undefined;
  });
  t.equal(byOne.cosignatures.length, 1);
  t.equal((await c.getCosignedCheckpoint('prod', 2)).size, 20, 'with two required, the last checkpoint both cosigned');
  const down = await runCli(['verify', ...base, '--witness-key', wk1]);
  t.equal(down.code, 0, down.stderr);
  t.equal((JSON.parse(down.stdout) as { size: number }).size, 60);
});

t.test('a witness refuses what it must, with a code and a reason', async (t) => {
  const root = await tempDir();
  t.teardown(root.remove);
  const [o, w] = await Promise.all([plan('origin.test', root.path), plan('w.test', root.path)]);
  const nw = await start(w, [{ of: o }]);
  t.teardown(() => nw.stop());
  const wc = new LedgerClient(nw.address);
  t.teardown(() => wc.close());
  const root32 = sha256(utf8('x'));
  const refusal = async (p: Promise<unknown>): Promise<{ code: number; reason: string; size: string; details: string }> => {
    try {
      await p;
    } catch (e) {
      const err = e as grpc.ServiceError;
      return { code: err.code, reason: String(err.metadata?.get('cairn-witness-reason')[0] ?? ''), size: String(err.metadata?.get('cairn-witness-size')[0] ?? ''), details: err.details };
    }
    throw new Error('not refused');
  };
  const note = (key: SigningKey, name: string, size: number, rootHash = root32): string => signCheckpoint({ origin: `${name}/prod`, size, rootHash, extensions: [] }, key.noteSigner(name));

  const unknown = await refusal(wc.addCheckpoint({ oldSize: 0, proof: [], checkpoint: note(SigningKey.generate(), 'stranger.test', 3), keyChain: [] }));
  t.same([unknown.code, unknown.reason], [grpc.status.NOT_FOUND, 'UNKNOWN_ORIGIN'], unknown.details);
  const forged = await refusal(wc.addCheckpoint({ oldSize: 0, proof: [], checkpoint: note(SigningKey.generate(), 'origin.test', 3), keyChain: [] }));
  t.same([forged.code, forged.reason], [grpc.status.PERMISSION_DENIED, 'BAD_SIGNATURE'], forged.details);

  // A genuine checkpoint of size 3 is cosigned.
  const three = note(o.key, 'origin.test', 3);
  const lines = await wc.addCheckpoint({ oldSize: 0, proof: [], checkpoint: three, keyChain: [] });
  t.equal(lines.length, 1);
  t.match(lines[0], /^\u2014 w\.test [A-Za-z0-9+/]+=*$/);

  // The origin forgot what the witness cosigned: a conflict that tells it.
  const conflict = await refusal(wc.addCheckpoint({ oldSize: 0, proof: [], checkpoint: note(o.key, 'origin.test', 5), keyChain: [] }));
  t.same([conflict.code, conflict.reason, conflict.size], [grpc.status.FAILED_PRECONDITION, 'SIZE_CONFLICT', '3'], conflict.details);
  // Older than cosigned, with the wrong old size: the same conflict.
  const older = await refusal(wc.addCheckpoint({ oldSize: 2, proof: [], checkpoint: note(o.key, 'origin.test', 2), keyChain: [] }));
  t.same([older.code, older.reason, older.size], [grpc.status.FAILED_PRECONDITION, 'SIZE_CONFLICT', '3'], older.details);
  // An old size beyond the checkpoint, not the witness's: a bad request.
  const bad = await refusal(wc.addCheckpoint({ oldSize: 9, proof: [], checkpoint: note(o.key, 'origin.test', 4), keyChain: [] }));
  t.same([bad.code, bad.reason], [grpc.status.INVALID_ARGUMENT, 'BAD_OLD_SIZE'], bad.details);
  // The right old size, a proof that does not hold: not consistent, and (a bad proof proves nothing) not evidence.
  const incons = await refusal(wc.addCheckpoint({ oldSize: 3, proof: [sha256(utf8('a')), sha256(utf8('b'))], checkpoint: note(o.key, 'origin.test', 5), keyChain: [] }));
  t.same([incons.code, incons.reason], [grpc.status.FAILED_PRECONDITION, 'INCONSISTENT'], incons.details);
  // Still cosigning: the same checkpoint again.
  t.equal((await wc.addCheckpoint({ oldSize: 3, proof: [], checkpoint: three, keyChain: [] })).length, 1, 'the origin was not blocked by a bad proof');
  const listed = await wc.listWitnessed();
  t.equal(listed.witnessName, 'w.test');
  t.same(listed.checkpoints.map((c) => c.origin), ['origin.test/prod']);
});
