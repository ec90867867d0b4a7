/**
 * cairn.ledger.v1.Ledger over real gRPC on loopback, against a real node with
 * a real LevelDB directory, read like the .proto's comments. Everything a
 * test accepts is checked against the node's public key read from its key
 * file, never against what the server says about itself.
 */
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { service as healthService } from 'grpc-health-check';
import { startTestNode, ROOT } from './helpers/node.js';
import { ledgerClientConstructor, LEDGER_SERVICE } from '../src/api/proto.js';
import { verifyReceipt } from '../src/core/receipt.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { decodeBody, entryHash, ZERO_HASH, type SignedEntry } from '../src/core/entry.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../src/core/merkle.js';
import { openLogCheckpoint, LogVerifier } from '../src/core/log-verifier.js';
import { bytesEqual, fromHex, toHex } from '../src/core/bytes.js';
import type { AppendInput } from '../src/core/append-request.js';
import type { ClientReceipt } from '../src/client/ledger-client.js';
import { nextWithin } from './helpers/async.js';

// ---------------------------------------------------------------- helpers

const tn = await startTestNode();
t.teardown(() => tn.close());
const client = tn.client;
const spki = pemToDer(await readFile(tn.pubkeyPath, 'utf8'), 'PUBLIC KEY');

const base = (log: string, extra: Partial<AppendInput> = {}): AppendInput => ({
  log,
  configId: 'payments/prod/app.yaml',
  operator: 'alice@example.com',
  action: 'apply',
  source: 'https://ci.example.com/job/42',
  commit: '0123456789abcdef0123456789abcdef01234567',
  payloadJson: '{"replicas":3,"image":"app:1.2.3"}',
  requestId: '',
  ...extra,
});

/** The error a call fails with; fails the test if it succeeds. */
async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

async function collect(gen: AsyncIterable<SignedEntry>): Promise<SignedEntry[]> {
  const out: SignedEntry[] = [];
  for await (const e of gen) out.push(e);
  return out;
}


function checkReceipt(tt: Test, r: ClientReceipt, key: Uint8Array = spki): void {
  const cp = verifyReceipt({ entry: r.entry, checkpointNote: r.checkpoint.note, inclusionProof: r.inclusionProof }, key);
  tt.equal(cp.size, r.checkpoint.size, 'the signed note covers the size the receipt states');
  tt.ok(bytesEqual(cp.rootHash, r.checkpoint.rootHash), 'the signed note carries the root the receipt states');
}

/** The leaf of an entry, recomputed from its signed bytes (the server's hash is not trusted). */
function leafOf(e: SignedEntry): Uint8Array {
  const body = decodeBody(e.body, { log: e.log, seq: e.seq });
  return leafHash(entryHash(fromHex(body.prevHash), e.body, e.signature));
}

type RawClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
function rawClient(address: string): RawClient {
  const Ctor = ledgerClientConstructor();
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as RawClient;
}
function rawUnary(c: RawClient, method: string, req: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    (c[method] as (r: unknown, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void).call(c, req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
/** The final status of a server stream (messages are drained and counted). */
function rawStreamStatus(c: RawClient, method: string, req: Record<string, unknown>): Promise<grpc.StatusObject & { messages: number }> {
  return new Promise((resolve) => {
    const call = (c[method] as (r: unknown) => grpc.ClientReadableStream<unknown>).call(c, req);
    let messages = 0;
    call.on('data', () => messages++);
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => resolve({ ...s, messages }));
  });
}

// ---------------------------------------------------------------- Append

t.test('Append returns only a durable receipt whose inclusion proof verifies', async (t) => {
  const log = 'append-basic';
  const first = await client.append(base(log, { requestId: 'deploy-1' }));
  t.equal(first.entry.seq, 0, 'the first entry of a log is seq 0');
  t.equal(first.entry.log, log);
  t.equal(first.replayed, false);
  const body = decodeBody(first.entry.body);
  t.match(body, {
    v: 2,
    identity: '',
    log,
    seq: 0,
    configId: 'payments/prod/app.yaml',
    operator: 'alice@example.com',
    action: 'apply',
    source: 'https://ci.example.com/job/42',
    commit: '0123456789abcdef0123456789abcdef01234567',
    requestId: 'deploy-1',
    prevHash: toHex(ZERO_HASH),
  });
  t.same(body.payload, { replicas: 3, image: 'app:1.2.3' }, 'the payload is the JSON sent');
  t.ok(Math.abs(Date.parse(body.time) - Date.now()) < 60_000, 'time is assigned by the server, now');
  t.ok(first.checkpoint.size >= 1);
  checkReceipt(t, first);

  const second = await client.append(base(log, { payloadJson: '', source: '', commit: '' }));
  t.equal(second.entry.seq, 1, 'seqs are assigned in order');
  const b2 = decodeBody(second.entry.body);
  t.equal(b2.payload, null, 'an empty payload_json records null');
  t.equal(b2.source, '');
  t.equal(b2.commit, '');
  t.equal(b2.prevHash, toHex(first.entry.hash), 'the body chains to the previous entry');
  t.ok(second.checkpoint.size >= 2);
  checkReceipt(t, second);

  // The entry is durable and readable right after the receipt.
  const stored = await client.getEntry(log, 1);
  t.ok(bytesEqual(stored.body, second.entry.body) && bytesEqual(stored.hash, second.entry.hash), 'GetEntry returns the entry the receipt holds');

  // A receipt verified with another key fails: the check depends on the pinned key.
  const other = await startTestNode();
  try {
    const otherKey = pemToDer(await readFile(other.pubkeyPath, 'utf8'), 'PUBLIC KEY');
    t.throws(() => verifyReceipt({ entry: first.entry, checkpointNote: first.checkpoint.note, inclusionProof: first.inclusionProof }, otherKey), 'a receipt does not verify under another node\'s key');
  } finally {
    await other.close();
  }
});

// ---------------------------------------------------------------- reads

t.test('GetEntry, ListEntries, GetCheckpoint and proofs serve what was recorded', async (t) => {
  const log = 'reads';
  const receipts: ClientReceipt[] = [];
  // Sequential appends: one group each, so every size 1..8 has a signed checkpoint.
  for (let i = 0; i < 8; i++) receipts.push(await client.append(base(log, { operator: `op-${i}`, payloadJson: JSON.stringify({ i }) })));
  t.same(receipts.map((r) => r.entry.seq), [0, 1, 2, 3, 4, 5, 6, 7]);
  t.same(receipts.map((r) => r.checkpoint.size), [1, 2, 3, 4, 5, 6, 7, 8], 'sequential appends each get their own checkpoint');

  t.test('GetEntry returns each entry by seq; a seq not recorded is NOT_FOUND', async (t) => {
    for (const r of receipts) {
      const e = await client.getEntry(log, r.entry.seq);
      t.equal(e.seq, r.entry.seq);
      t.ok(bytesEqual(e.body, r.entry.body) && bytesEqual(e.signature, r.entry.signature) && bytesEqual(e.hash, r.entry.hash), `entry ${r.entry.seq} is byte-identical`);
    }
    t.equal((await failure(client.getEntry(log, 8))).code, grpc.status.NOT_FOUND);
    t.equal((await failure(client.getEntry(log, 1_000_000))).code, grpc.status.NOT_FOUND);
  });

  t.test('ListEntries streams [start, end); end = 0 means the current size; end < start is INVALID_ARGUMENT', async (t) => {
    const all = await collect(client.listEntries(log, 0, 0));
    t.same(all.map((e) => e.seq), [0, 1, 2, 3, 4, 5, 6, 7], 'end = 0: everything');
    const v = new LogVerifier(log, spki);
    for (const e of all) v.push(e);
    t.doesNotThrow(() => v.finish(receipts[7]!.checkpoint.note), 'the listed entries rebuild the signed root');
    t.same((await collect(client.listEntries(log, 2, 5))).map((e) => e.seq), [2, 3, 4], '[2, 5)');
    t.same((await collect(client.listEntries(log, 5, 0))).map((e) => e.seq), [5, 6, 7], 'start 5, end 0');
    t.same((await collect(client.listEntries(log, 6, 1000))).map((e) => e.seq), [6, 7], 'end beyond the size is clipped');
    t.same(await collect(client.listEntries(log, 3, 3)), [], 'start = end: nothing');
    t.same(await collect(client.listEntries(log, 8, 0)), [], 'start at the size: nothing');
    const err = await failure(collect(client.listEntries(log, 5, 2)));
    t.equal(err.code, grpc.status.INVALID_ARGUMENT, 'end < start');
    t.match(err.details, /^end:/, 'the error names end');
  });

  t.test('GetCheckpoint returns the latest, or the one signed at exactly a size', async (t) => {
    const latest = await client.getCheckpoint(log);
    t.equal(latest.size, 8);
    const opened = openLogCheckpoint(latest.note, log, spki);
    t.equal(opened.size, 8);
    t.ok(bytesEqual(opened.rootHash, latest.rootHash), 'the note signs the root returned beside it');
    t.equal(latest.note, receipts[7]!.checkpoint.note, 'the latest checkpoint is the last receipt\'s');
    for (const size of [1, 3, 8]) {
      const cp = await client.getCheckpoint(log, size);
      t.equal(cp.size, size);
      t.equal(cp.note, receipts[size - 1]!.checkpoint.note, `size ${size}: the note of the receipt that created it`);
      const o = openLogCheckpoint(cp.note, log, spki);
      t.equal(o.size, size);
      t.ok(bytesEqual(o.rootHash, cp.rootHash));
    }
    t.equal((await failure(client.getCheckpoint(log, 9))).code, grpc.status.NOT_FOUND, 'a size beyond the log');
  });

  t.test('GetInclusionProof verifies against the signed checkpoint', async (t) => {
    for (const seq of [0, 3, 7]) {
      const p = await client.inclusionProof(log, seq);
      t.equal(p.seq, seq);
      t.equal(p.size, 8, 'size 0 means the latest checkpoint');
      const cp = openLogCheckpoint(p.checkpoint.note, log, spki);
      const leaf = leafOf(await client.getEntry(log, seq));
      t.doesNotThrow(() => verifyInclusion(leaf, seq, cp.size, p.hashes, cp.rootHash), `entry ${seq} is included in the latest checkpoint`);
    }
    const p = await client.inclusionProof(log, 2, 5);
    t.equal(p.size, 5);
    const cp5 = openLogCheckpoint((await client.getCheckpoint(log, 5)).note, log, spki);
    const leaf2 = leafOf(await client.getEntry(log, 2));
    t.doesNotThrow(() => verifyInclusion(leaf2, 2, 5, p.hashes, cp5.rootHash), 'entry 2 is included in the checkpoint of size 5');
    t.throws(() => verifyInclusion(leafOf(receipts[3]!.entry), 2, 5, p.hashes, cp5.rootHash), 'the proof does not fit another leaf');
    const e1 = await failure(client.inclusionProof(log, 8));
    t.equal(e1.code, grpc.status.INVALID_ARGUMENT, 'seq at the size');
    t.match(e1.details, /^seq:/);
    const e2 = await failure(client.inclusionProof(log, 1, 9));
    t.equal(e2.code, grpc.status.INVALID_ARGUMENT, 'size beyond the log');
    t.match(e2.details, /^size:/);
  });

  t.test('GetConsistencyProof verifies between signed checkpoints', async (t) => {
    for (const [from, to] of [
      [1, 8],
      [3, 8],
      [4, 7],
      [5, 5],
    ] as const) {
      const a = openLogCheckpoint((await client.getCheckpoint(log, from)).note, log, spki);
      const b = openLogCheckpoint((await client.getCheckpoint(log, to)).note, log, spki);
      const p = await client.consistencyProof(log, from, to);
      t.equal(p.from, from);
      t.equal(p.to, to);
      t.doesNotThrow(() => verifyConsistency(from, to, p.hashes, a.rootHash, b.rootHash), `size ${from} is a prefix of size ${to}`);
    }
    const p = await client.consistencyProof(log, 2);
    t.equal(p.to, 8, 'to_size 0 means the latest checkpoint');
    const a = openLogCheckpoint((await client.getCheckpoint(log, 2)).note, log, spki);
    const b = openLogCheckpoint(p.checkpoint.note, log, spki);
    verifyConsistency(2, 8, p.hashes, a.rootHash, b.rootHash);
    const e0 = await failure(client.consistencyProof(log, 0, 8));
    t.equal(e0.code, grpc.status.INVALID_ARGUMENT, 'from_size 0');
    t.match(e0.details, /^from_size:/);
    const e1 = await failure(client.consistencyProof(log, 6, 4));
    t.equal(e1.code, grpc.status.INVALID_ARGUMENT, 'from_size above to_size');
  });

  t.test('ListLogs lists every log with its latest checkpoint', async (t) => {
    const logs = await client.listLogs();
    const mine = logs.find((l) => l.log === log);
    t.ok(mine, 'the log is listed');
    t.equal(mine!.size, 8);
    t.equal(mine!.note, receipts[7]!.checkpoint.note);
    t.ok(bytesEqual(openLogCheckpoint(mine!.note, log, spki).rootHash, mine!.rootHash));
    const names = logs.map((l) => l.log);
    t.same(names, [...names].sort(), 'in name order');
    t.ok(names.includes('append-basic'));
  });

  t.test('GetPublicKey returns the key in the node\'s key file', async (t) => {
    const k = await client.publicKey();
    t.equal(k.algorithm, 'ecdsa-p256-sha256');
    t.equal(k.pem, await readFile(tn.pubkeyPath, 'utf8'), 'the PEM is the key file');
    t.ok(bytesEqual(k.spki, spki), 'the SPKI is the key file\'s');
    t.equal(k.keyId, tn.node.key.keyIdHex);
    t.match(k.keyId, /^[0-9a-f]{8}$/);
    t.equal(receipts[0]!.checkpoint.note.split('\n')[0], `${k.nodeName}/${log}`, 'checkpoint origins are <node_name>/<log>');
  });
});

t.test('Logs are separate: independent seqs and roots; an unknown log is NOT_FOUND', async (t) => {
  const a0 = await client.append(base('sep-alpha'));
  const b0 = await client.append(base('sep-beta'));
  const a1 = await client.append(base('sep-alpha'));
  t.equal(a0.entry.seq, 0);
  t.equal(b0.entry.seq, 0, 'each log counts from 0');
  t.equal(a1.entry.seq, 1);
  t.equal(decodeBody(b0.entry.body).prevHash, toHex(ZERO_HASH), 'each log has its own chain');
  const ca = await client.getCheckpoint('sep-alpha');
  const cb = await client.getCheckpoint('sep-beta');
  t.equal(ca.size, 2);
  t.equal(cb.size, 1);
  t.notOk(bytesEqual(ca.rootHash, cb.rootHash), 'different roots');
  t.equal(openLogCheckpoint(cb.note, 'sep-beta', spki).size, 1);
  t.throws(() => openLogCheckpoint(ca.note, 'sep-beta', spki), 'a checkpoint of one log does not pass for another');
  t.equal((await failure(client.getEntry('sep-beta', 1))).code, grpc.status.NOT_FOUND, 'beta has no seq 1');

  const unknown = 'no-such-log';
  t.equal((await failure(client.getEntry(unknown, 0))).code, grpc.status.NOT_FOUND, 'GetEntry');
  t.equal((await failure(client.getCheckpoint(unknown))).code, grpc.status.NOT_FOUND, 'GetCheckpoint');
  t.equal((await failure(client.inclusionProof(unknown, 0))).code, grpc.status.NOT_FOUND, 'GetInclusionProof');
  t.equal((await failure(client.consistencyProof(unknown, 1))).code, grpc.status.NOT_FOUND, 'GetConsistencyProof');
  t.equal((await failure(collect(client.listEntries(unknown)))).code, grpc.status.NOT_FOUND, 'ListEntries');
  t.equal((await failure(collect(client.watch(unknown)))).code, grpc.status.NOT_FOUND, 'Watch');
  t.notOk((await client.listLogs()).some((l) => l.log === unknown), 'reading an unknown log does not create it');
});

// ---------------------------------------------------------------- idempotency

t.test('Idempotency: the same request_id in the same log returns the original entry', async (t) => {
  const log = 'idem';
  const first = await client.append(base(log, { requestId: 'job-7/attempt', operator: 'first' }));
  t.equal(first.replayed, false);
  const again = await client.append(base(log, { requestId: 'job-7/attempt', operator: 'someone-else' }));
  t.equal(again.replayed, true, 'replayed = true');
  t.equal(again.entry.seq, first.entry.seq);
  t.ok(bytesEqual(again.entry.body, first.entry.body), 'the original body, not the new request');
  t.ok(bytesEqual(again.entry.hash, first.entry.hash));
  checkReceipt(t, again);
  t.equal((await client.getCheckpoint(log)).size, 1, 'no second entry');

  t.test('20 concurrent appends with one request_id make exactly one entry', async (t) => {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => client.append(base(log, { requestId: 'burst', operator: `racer-${i}` }))));
    const seqs = new Set(rs.map((r) => r.entry.seq));
    t.equal(seqs.size, 1, 'all twenty got the same seq');
    t.equal(rs.filter((r) => !r.replayed).length, 1, 'exactly one is the original');
    const hashes = new Set(rs.map((r) => toHex(r.entry.hash)));
    t.equal(hashes.size, 1, 'all twenty got the same entry');
    for (const r of rs) checkReceipt(t, r);
    const entries = await collect(client.listEntries(log));
    t.equal(entries.length, 2, 'the log holds one entry for the burst');
    t.equal(entries.filter((e) => decodeBody(e.body).requestId === 'burst').length, 1);
  });

  t.test('the same request_id in another log is a new entry', async (t) => {
    const r = await client.append(base('idem-other', { requestId: 'job-7/attempt' }));
    t.equal(r.replayed, false);
    t.equal(r.entry.seq, 0);
    t.equal(r.entry.log, 'idem-other');
  });

  t.test('after a restart the replay still returns the original', async (t) => {
    const node = await startTestNode();
    const dir = node.dataDir;
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const orig = await node.client.append(base('restart', { requestId: 'keep-me' }));
    await node.client.append(base('restart'));
    await node.stop();
    const again = await startTestNode({}, dir);
    try {
      const key = pemToDer(await readFile(again.pubkeyPath, 'utf8'), 'PUBLIC KEY');
      const r = await again.client.append(base('restart', { requestId: 'keep-me', operator: 'retry-after-restart' }));
      t.equal(r.replayed, true);
      t.equal(r.entry.seq, orig.entry.seq);
      t.ok(bytesEqual(r.entry.hash, orig.entry.hash), 'the original entry');
      checkReceipt(t, r, key);
      const next = await again.client.append(base('restart', { requestId: 'new-one' }));
      t.equal(next.entry.seq, 2, 'new requests continue after the stored ones');
      t.equal(next.replayed, false);
    } finally {
      await again.stop();
    }
  });
});

// ---------------------------------------------------------------- group commit

t.test('Group commit: 200 concurrent appends get distinct contiguous seqs in fewer than 200 checkpoints', async (t) => {
  const log = 'group';
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => client.append(base(log, { operator: `worker-${i}`, payloadJson: JSON.stringify({ i }) }))));
  const seqs = rs.map((r) => r.entry.seq).sort((a, b) => a - b);
  t.same(seqs, Array.from({ length: 200 }, (_, i) => i), 'seqs 0..199, each once');
  const problems: string[] = [];
  for (const r of rs) {
    if (r.checkpoint.size <= r.entry.seq) problems.push(`the checkpoint of entry ${r.entry.seq} does not cover it`);
    try {
      const cp = verifyReceipt({ entry: r.entry, checkpointNote: r.checkpoint.note, inclusionProof: r.inclusionProof }, spki);
      if (cp.size !== r.checkpoint.size) problems.push(`receipt ${r.entry.seq}: the note is for size ${cp.size}`);
    } catch (e) {
      problems.push(`receipt ${r.entry.seq}: ${(e as Error).message}`);
    }
  }
  t.same(problems, [], 'every receipt verifies against a checkpoint that covers its entry');
  // Each append got the payload it sent (no mix-ups between concurrent requests).
  t.ok(rs.every((r, i) => (decodeBody(r.entry.body).payload as { i: number }).i === i), 'every receipt is for its own request');
  const sizes = [...new Set(rs.map((r) => r.checkpoint.size))].sort((a, b) => a - b);
  t.ok(sizes.length < 200, `grouped: ${sizes.length} checkpoints for 200 appends`);
  t.equal(sizes.at(-1), 200);

  // A size inside a group has no signed checkpoint; the proofs still hold against its root.
  // Fewer than 200 checkpoints for sizes 1..200 (asserted above) leaves at least one size unsigned.
  const inside = Array.from({ length: 199 }, (_, i) => i + 1).find((s) => !sizes.includes(s));
  if (inside === undefined) throw new Error('every size from 1 to 199 has a checkpoint: nothing was grouped');
  t.equal((await failure(client.getCheckpoint(log, inside))).code, grpc.status.NOT_FOUND, `no checkpoint was signed at size ${inside}`);
  const p = await client.inclusionProof(log, 0, inside);
  t.equal(p.checkpoint.note, '', 'an unsigned size has an empty note');
  const leaf0 = leafOf(await client.getEntry(log, 0));
  t.doesNotThrow(() => verifyInclusion(leaf0, 0, inside, p.hashes, p.checkpoint.rootHash), `entry 0 is included in the tree of unsigned size ${inside}`);
  const c = await client.consistencyProof(log, inside, 200);
  const top = openLogCheckpoint(c.checkpoint.note, log, spki);
  t.doesNotThrow(() => verifyConsistency(inside, 200, c.hashes, p.checkpoint.rootHash, top.rootHash), 'the root at an unsigned size is consistent with the signed one');
  const all = await collect(client.listEntries(log));
  const v = new LogVerifier(log, spki);
  for (const e of all) v.push(e);
  const latestNote = (await client.getCheckpoint(log)).note;
  t.doesNotThrow(() => v.finish(latestNote), 'the whole log verifies from its entries');
});

// ---------------------------------------------------------------- Watch

t.test('Watch carries the signed checkpoint on the last entry of each group, covering it, and on no other', async (t) => {
  const log = 'watch-checkpoints';
  for (let i = 0; i < 3; i++) await client.append(base(log, { payloadJson: String(i) }));
  const ac = new AbortController();
  const it = client.watchWithCheckpoints(log, 0, ac.signal);
  const next = async (): Promise<{ entry: SignedEntry; checkpointNote?: string }> => (await nextWithin(it, 5000, 'watched entry')).value as { entry: SignedEntry; checkpointNote?: string };
  // Entries 0-2 come from storage in one group: only the last carries a checkpoint, of the whole log.
  const stored = [await next(), await next(), await next()];
  t.same(stored.map((x) => x.checkpointNote === undefined), [true, true, false], 'only the group\'s last entry carries one');
  const cp = openLogCheckpoint(stored[2]!.checkpointNote!, log, spki);
  t.equal(cp.size, 3, 'it covers the entries sent');
  const v = new LogVerifier(log, spki);
  for (const x of stored) v.push(x.entry);
  t.doesNotThrow(() => v.finish(stored[2]!.checkpointNote!), 'the entries sent rebuild its root');
  // A live group: its one entry carries the checkpoint that covers it.
  await client.append(base(log, { payloadJson: '3' }));
  const live = await next();
  t.equal(live.entry.seq, 3);
  t.ok((openLogCheckpoint(live.checkpointNote!, log, spki).size) >= 4, 'a live group\'s checkpoint covers its last entry');
  ac.abort();
  await it.return(undefined);
});

t.test('Watch sends entries from start, then live appends, in order and without gaps', async (t) => {
  const log = 'watch-live';
  const before: ClientReceipt[] = [];
  for (let i = 0; i < 5; i++) before.push(await client.append(base(log, { payloadJson: String(i) })));
  const ac = new AbortController();
  const it = client.watch(log, 2, ac.signal);
  const got: SignedEntry[] = [];
  for (let i = 0; i < 3; i++) got.push((await nextWithin(it, 5000, 'existing entry')).value as SignedEntry);
  t.same(got.map((e) => e.seq), [2, 3, 4], 'existing entries from start');
  t.ok(bytesEqual(got[0]!.hash, before[2]!.entry.hash));
  const live = await Promise.all(Array.from({ length: 30 }, (_, i) => client.append(base(log, { payloadJson: String(5 + i) }))));
  for (let i = 0; i < 30; i++) got.push((await nextWithin(it, 5000, 'live entry')).value as SignedEntry);
  t.same(got.map((e) => e.seq), Array.from({ length: 33 }, (_, i) => i + 2), 'live entries follow with no gap or duplicate');
  const byHash = new Map(live.map((r) => [r.entry.seq, toHex(r.entry.hash)]));
  t.ok(got.slice(3).every((e) => byHash.get(e.seq) === toHex(e.hash)), 'the streamed entries are the ones the receipts hold');
  // Chain check over the streamed entries.
  for (let i = 1; i < got.length; i++) t.equal(decodeBody(got[i]!.body).prevHash, toHex(got[i - 1]!.hash));

  t.test('cancelling the watch ends it cleanly', async (t) => {
    const pending = it.next();
    ac.abort();
    const r = await nextWithin({ next: () => pending } as AsyncIterator<SignedEntry>, 5000, 'cancelled watch');
    t.equal(r.done, true, 'the stream ends without an error');
    t.equal((await it.next()).done, true);
    // The node is unaffected: a new watch and appends still work.
    const r2 = await client.append(base(log));
    const it2 = client.watch(log, r2.entry.seq);
    t.equal(((await nextWithin(it2, 5000, 'new watch')).value as SignedEntry).seq, r2.entry.seq);
    await it2.return(undefined);
  });

  t.test('a watch from a seq not yet recorded waits for it', async (t) => {
    const size = (await client.getCheckpoint(log)).size;
    const it3 = client.watch(log, size + 1);
    const first = nextWithin(it3, 5000, 'future entry');
    await client.append(base(log));
    await client.append(base(log));
    t.equal(((await first).value as SignedEntry).seq, size + 1, 'starts exactly at start');
    await it3.return(undefined);
  });
});

t.test('A watch open while the node shuts down fails with UNAVAILABLE instead of ending as if complete', async (t) => {
  const node = await startTestNode();
  t.teardown(() => node.close());
  await node.client.append(base('closing'));
  const it = node.client.watch('closing', 0);
  t.equal(((await nextWithin(it, 5000, 'entry 0')).value as SignedEntry).seq, 0);
  const pending = it.next().then(
    (r) => ({ ended: r.done }),
    (e: grpc.ServiceError) => ({ code: e.code }),
  );
  await node.node.close();
  t.same(await pending, { code: grpc.status.UNAVAILABLE }, 'UNAVAILABLE: the client knows to watch again from the next seq');
});

t.test('Watch is lossless: a slow consumer gets every entry exactly once, in order', async (t) => {
  const log = 'watch-slow';
  await client.append(base(log));
  const it = client.watch(log, 0);
  t.equal(((await nextWithin(it, 5000, 'first entry')).value as SignedEntry).seq, 0);
  // The consumer stops reading while 2,000 entries (about 1 MB) are appended.
  const N = 2000;
  for (let done = 0; done < N; done += 250) {
    await Promise.all(Array.from({ length: 250 }, (_, i) => client.append(base(log, { payloadJson: JSON.stringify({ n: done + i, pad: 'x'.repeat(200) }) }))));
  }
  const v = new LogVerifier(log, spki);
  v.push((await client.getEntry(log, 0)));
  let expect = 1;
  while (expect <= N) {
    const r = await nextWithin(it, 10_000, `entry ${expect}`);
    if (r.done) {
      t.fail(`the watch ended before entry ${expect}`);
      break;
    }
    const e = r.value as SignedEntry;
    if (e.seq !== expect) {
      t.fail(`expected seq ${expect}, got ${e.seq}`);
      break;
    }
    v.push(e);
    expect++;
  }
  t.equal(expect, N + 1, 'every entry arrived once, in order');
  const latestNote = (await client.getCheckpoint(log)).note;
  t.doesNotThrow(() => v.finish(latestNote), 'the watched entries rebuild the signed root');
  await it.return(undefined);
});

// ---------------------------------------------------------------- overload

t.test('Overload: a full queue answers RESOURCE_EXHAUSTED with a retry pushback; every acknowledged append is kept', async (t) => {
  const node = await startTestNode({ 'max-queue': '1', 'max-batch': '1' });
  t.teardown(() => node.close());
  const log = 'busy';
  const results = await Promise.allSettled(Array.from({ length: 120 }, (_, i) => node.client.append(base(log, { payloadJson: String(i) }))));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as grpc.ServiceError] : []));
  t.ok(rejected.length > 0, `${rejected.length} of 120 were refused`);
  t.ok(ok.length > 0, `${ok.length} of 120 were acknowledged`);
  const problems: string[] = [];
  for (const e of rejected) {
    if (e.code !== grpc.status.RESOURCE_EXHAUSTED) {
      problems.push(`unexpected error ${grpc.status[e.code]}: ${e.details}`);
      continue;
    }
    const pushback = e.metadata?.get('grpc-retry-pushback-ms');
    if (!pushback || pushback.length !== 1 || !/^[0-9]+$/.test(String(pushback[0]))) {
      problems.push(`RESOURCE_EXHAUSTED without a grpc-retry-pushback-ms trailer: ${JSON.stringify(e.metadata?.getMap())}`);
    }
  }
  t.same(problems, [], 'every refusal is RESOURCE_EXHAUSTED with grpc-retry-pushback-ms');
  const key = pemToDer(await readFile(node.pubkeyPath, 'utf8'), 'PUBLIC KEY');
  const entries = await collect(node.client.listEntries(log));
  t.equal(entries.length, ok.length, 'the log holds exactly the acknowledged appends: nothing refused was stored');
  for (const r of ok) {
    checkReceipt(t, r, key);
    const e = entries[r.entry.seq];
    t.ok(e && bytesEqual(e.hash, r.entry.hash), `acknowledged entry ${r.entry.seq} is present`);
  }
  // The node recovers once the burst is over.
  const after = await node.client.append(base(log));
  t.equal(after.entry.seq, ok.length);
});

// ---------------------------------------------------------------- bad input

t.test('Bad input for every field of AppendRequest is INVALID_ARGUMENT naming the field, and stores nothing', async (t) => {
  const log = 'strict';
  await client.append(base(log));
  const sizeBefore = (await client.getCheckpoint(log)).size;
  const logsBefore = (await client.listLogs()).map((l) => l.log);
  const deep = (n: number, inner = '1'): string => '['.repeat(n) + inner + ']'.repeat(n);
  const cases: [string, Partial<AppendInput>, string][] = [
    ['log empty', { log: '' }, 'log'],
    ['log uppercase', { log: 'Strict' }, 'log'],
    ['log 64 chars', { log: 'a'.repeat(64) }, 'log'],
    ['log with /', { log: 'team/strict' }, 'log'],
    ['log starting with .', { log: '.strict' }, 'log'],
    ['config_id missing', { configId: '' }, 'config_id'],
    ['config_id 257 chars', { configId: 'c'.repeat(257) }, 'config_id'],
    ['config_id with a control character', { configId: 'app\u0000.yaml' }, 'config_id'],
    ['config_id with a newline', { configId: 'app\n.yaml' }, 'config_id'],
    ['config_id with a C1 control', { configId: 'app\u009b.yaml' }, 'config_id'],
    ['operator missing', { operator: '' }, 'operator'],
    ['operator 257 chars', { operator: 'o'.repeat(257) }, 'operator'],
    ['operator with a control character', { operator: 'alice\u001b[31m' }, 'operator'],
    ['operator with leading space', { operator: ' alice' }, 'operator'],
    ['action missing', { action: '' }, 'action'],
    ['action starting with -', { action: '-apply' }, 'action'],
    ['action with a space', { action: 'apply now' }, 'action'],
    ['action 65 chars', { action: 'a'.repeat(65) }, 'action'],
    ['source 513 chars', { source: 's'.repeat(513) }, 'source'],
    ['source with a control character', { source: 'ci\u0007' }, 'source'],
    ['commit not hex', { commit: 'zzzzzzz' }, 'commit'],
    ['commit uppercase', { commit: 'ABCDEF0' }, 'commit'],
    ['commit 6 digits', { commit: 'abcdef' }, 'commit'],
    ['commit 41 digits', { commit: 'a'.repeat(41) }, 'commit'],
    ['commit 63 digits', { commit: 'a'.repeat(63) }, 'commit'],
    ['commit 65 digits', { commit: 'a'.repeat(65) }, 'commit'],
    ['payload_json invalid JSON', { payloadJson: '{"a":' }, 'payload_json'],
    ['payload_json with single quotes', { payloadJson: "{'a':1}" }, 'payload_json'],
    ['payload_json over 64 KiB', { payloadJson: JSON.stringify('x'.repeat(64 * 1024 - 1)) }, 'payload_json'],
    ['payload_json 1e400', { payloadJson: '1e400' }, 'payload_json'],
    ['payload_json with -1e400 inside', { payloadJson: '{"a":[-1e400]}' }, 'payload_json'],
    ['payload_json with a lone surrogate', { payloadJson: '"\\ud800"' }, 'payload_json'],
    ['payload_json nested 33 deep', { payloadJson: deep(33) }, 'payload_json'],
    ['payload_json nested 33 deep, empty innermost', { payloadJson: deep(33, '') }, 'payload_json'],
    ['payload_json objects nested 33 deep', { payloadJson: '{"a":'.repeat(33) + '1' + '}'.repeat(33) }, 'payload_json'],
    ['request_id with a space', { requestId: 'job 1' }, 'request_id'],
    ['request_id 129 chars', { requestId: 'r'.repeat(129) }, 'request_id'],
    ['request_id not ASCII', { requestId: 'job-é' }, 'request_id'],
    ['request_id with a tab', { requestId: 'job\t1' }, 'request_id'],
  ];
  for (const [name, patch, field] of cases) {
    const err = await failure(client.append(base(log, patch)));
    t.equal(err.code, grpc.status.INVALID_ARGUMENT, `${name}: INVALID_ARGUMENT`);
    t.match(err.details, new RegExp(`^${field}: `), `${name}: details name ${field} (${err.details.slice(0, 80)})`);
    t.same(err.metadata?.get('cairn-field'), [field], `${name}: cairn-field trailer is ${field}`);
  }

  // The limits themselves are accepted.
  const edge = await client.append(
    base(log, {
      configId: 'c'.repeat(256),
      operator: 'o'.repeat(256),
      action: 'A' + 'a'.repeat(63),
      source: 's'.repeat(512),
      commit: 'a'.repeat(64),
      payloadJson: JSON.stringify('x'.repeat(64 * 1024 - 2)),
      requestId: '!'.repeat(128),
    }),
  );
  t.equal(edge.entry.seq, sizeBefore, 'every field at its limit is accepted');
  const nested = await client.append(base(log, { payloadJson: deep(32) }));
  t.equal(nested.entry.seq, sizeBefore + 1, 'nesting of exactly 32 is accepted');
  t.equal((await client.getCheckpoint(log)).size, sizeBefore + 2, 'the rejected appends left no trace in the log');
  t.same((await client.listLogs()).map((l) => l.log).filter((l) => !logsBefore.includes(l)), [], 'no log was created by a rejected append');

  t.test('a node with max-payload-bytes 100 refuses 101 bytes of payload', async (t) => {
    const small = await startTestNode({ 'max-payload-bytes': '100' });
    t.teardown(() => small.close());
    const ok = await small.client.append(base('small', { payloadJson: JSON.stringify('y'.repeat(98)) }));
    t.equal(ok.entry.seq, 0, '100 bytes is accepted');
    const err = await failure(small.client.append(base('small', { payloadJson: JSON.stringify('y'.repeat(99)) })));
    t.equal(err.code, grpc.status.INVALID_ARGUMENT);
    t.match(err.details, /^payload_json: .*100/);
    // Bytes, not characters: 34 three-byte characters are 104 bytes.
    const err2 = await failure(small.client.append(base('small', { payloadJson: JSON.stringify('€'.repeat(34)) })));
    t.equal(err2.code, grpc.status.INVALID_ARGUMENT, 'the limit counts UTF-8 bytes');
    t.equal((await small.client.getCheckpoint('small')).size, 1);
  });

  t.test('a request beyond the message size limit is refused without a retry pushback, and not stored', async (t) => {
    const err = await failure(client.append(base(log, { payloadJson: JSON.stringify('z'.repeat(256 * 1024)) })));
    t.not(err.code, grpc.status.OK);
    t.same(err.metadata?.get('grpc-retry-pushback-ms') ?? [], [], 'no pushback: retrying the same request cannot succeed');
    t.equal((await client.getCheckpoint(log)).size, sizeBefore + 2, 'nothing stored');
  });

  t.test('uint64 fields above 2^53 are INVALID_ARGUMENT naming the field', async (t) => {
    const raw = rawClient(tn.node.grpcAddress);
    t.teardown(() => raw.close());
    const huge = '18446744073709551615';
    const unaryCases: [string, Record<string, unknown>, string][] = [
      ['GetEntry', { log, seq: huge }, 'seq'],
      ['GetEntry', { log, seq: '9007199254740992' }, 'seq'],
      ['GetCheckpoint', { log, size: huge }, 'size'],
      ['GetInclusionProof', { log, seq: huge, size: '1' }, 'seq'],
      ['GetInclusionProof', { log, seq: '0', size: huge }, 'size'],
      ['GetConsistencyProof', { log, fromSize: huge, toSize: '1' }, 'from_size'],
      ['GetConsistencyProof', { log, fromSize: '1', toSize: huge }, 'to_size'],
    ];
    for (const [method, req, field] of unaryCases) {
      const err = await failure(rawUnary(raw, method, req));
      t.equal(err.code, grpc.status.INVALID_ARGUMENT, `${method} ${field}`);
      t.match(err.details, new RegExp(`^${field}: `), `${method}: details name ${field}`);
    }
    const streamCases: [string, Record<string, unknown>, string][] = [
      ['ListEntries', { log, start: huge, end: '0' }, 'start'],
      ['ListEntries', { log, start: '0', end: huge }, 'end'],
      ['Watch', { log, start: huge }, 'start'],
    ];
    for (const [method, req, field] of streamCases) {
      const s = await rawStreamStatus(raw, method, req);
      t.equal(s.code, grpc.status.INVALID_ARGUMENT, `${method} ${field}`);
      t.match(s.details, new RegExp(`^${field}: `), `${method}: details name ${field}`);
      t.equal(s.messages, 0, `${method}: nothing streamed`);
    }
    // The raw client sees the same entry the typed client does.
    const e = (await rawUnary(raw, 'GetEntry', { log, seq: '0' })) as { seq: string };
    t.equal(e.seq, '0');
  });
});

// ---------------------------------------------------------------- health, reflection, metrics

t.test('Health, reflection and the HTTP endpoint', async (t) => {
  t.test('grpc.health.v1.Health/Check answers SERVING', async (t) => {
    const Health = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
    const h = new Health(tn.node.grpcAddress, grpc.credentials.createInsecure()) as unknown as RawClient;
    t.teardown(() => h.close());
    t.same(await rawUnary(h, 'Check', { service: '' }), { status: 'SERVING' }, 'the server as a whole');
    t.same(await rawUnary(h, 'Check', { service: LEDGER_SERVICE }), { status: 'SERVING' }, LEDGER_SERVICE);
    t.equal((await failure(rawUnary(h, 'Check', { service: 'no.such.Service' }))).code, grpc.status.NOT_FOUND, 'an unknown service');
  });

  t.test('server reflection lists cairn.ledger.v1.Ledger and describes it', async (t) => {
    for (const version of ['v1', 'v1alpha']) {
      const def = protoLoader.loadSync(join(ROOT, 'node_modules', '@grpc', 'reflection', 'build', 'proto', 'grpc', 'reflection', version, 'reflection.proto'), {
        keepCase: false,
        longs: String,
        defaults: true,
        oneofs: true,
      });
      const Ctor = grpc.loadPackageDefinition(def).grpc as unknown as Record<string, Record<string, Record<string, grpc.ServiceClientConstructor>>>;
      const R = Ctor.reflection![version]!.ServerReflection!;
      const r = new R(tn.node.grpcAddress, grpc.credentials.createInsecure());
      t.teardown(() => r.close());
      const call = (r as unknown as { serverReflectionInfo(): grpc.ClientDuplexStream<unknown, Record<string, unknown>> }).serverReflectionInfo();
      const answers: Record<string, unknown>[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        call.on('data', (d: Record<string, unknown>) => answers.push(d));
        call.on('error', reject);
        call.on('end', () => resolve());
      });
      call.write({ listServices: '*' });
      call.write({ fileContainingSymbol: LEDGER_SERVICE });
      call.end();
      await ended;
      const list = answers.find((a) => a.listServicesResponse) as { listServicesResponse: { service: { name: string }[] } } | undefined;
      t.ok(list?.listServicesResponse.service.some((s) => s.name === LEDGER_SERVICE), `${version}: ${LEDGER_SERVICE} is listed`);
      const files = answers.find((a) => a.fileDescriptorResponse) as { fileDescriptorResponse: { fileDescriptorProto: Uint8Array[] } } | undefined;
      t.ok(files && files.fileDescriptorResponse.fileDescriptorProto.length > 0, `${version}: the service's file descriptor is served`);
    }
  });

  t.test('HTTP /healthz and /metrics respond; cairn_appends_total counts durable appends', async (t) => {
    const node = await startTestNode();
    t.teardown(() => node.close());
    t.ok(node.node.metricsAddress, 'the metrics endpoint is listening');
    const url = `http://${node.node.metricsAddress}`;
    const hz = await fetch(`${url}/healthz`);
    t.equal(hz.status, 200);
    t.same(await hz.json(), { status: 'SERVING' });
    t.equal((await fetch(`${url}/nope`)).status, 404);

    for (let i = 0; i < 3; i++) await node.client.append(base('m-one'));
    await Promise.all(Array.from({ length: 7 }, () => node.client.append(base('m-two'))));
    await node.client.append(base('m-two', { requestId: 'once' }));
    await node.client.append(base('m-two', { requestId: 'once' })); // a replay records nothing
    await failure(node.client.append(base('m-two', { action: '' }))); // a rejection records nothing

    const res = await fetch(`${url}/metrics`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    const count = (log: string): number | undefined => {
      const m = new RegExp(`^cairn_appends_total\\{log="${log}"\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    t.equal(count('m-one'), 3, 'cairn_appends_total{log="m-one"} 3');
    t.equal(count('m-two'), 8, 'cairn_appends_total{log="m-two"} 8 (replays and rejections not counted)');
    t.match(text, /^cairn_log_size\{log="m-two"\} 8$/m);
    t.match(text, /^cairn_grpc_requests_total\{method="Append",code="INVALID_ARGUMENT"\} 1$/m);
  });
});

t.test('AppendStream: one durable receipt per request, in request order; a bad request gets its own error and the stream goes on', async (t) => {
  const log = 'stream-log';
  const s = client.appendStream();
  const inputs = Array.from({ length: 300 }, (_, i) => (i === 150 ? base(log, { action: 'not valid!' }) : base(log, { configId: `cfg/${i}` })));
  const results = await Promise.allSettled(inputs.map((x) => s.append(x)));
  await s.end();
  const bad = results[150]!;
  t.equal(bad.status, 'rejected');
  t.equal((bad as PromiseRejectedResult).reason.code, grpc.status.INVALID_ARGUMENT);
  t.equal((bad as PromiseRejectedResult).reason.field, 'action');
  const ok = results.filter((r): r is PromiseFulfilledResult<ClientReceipt> => r.status === 'fulfilled').map((r) => r.value);
  t.equal(ok.length, 299);
  for (const r of ok) verifyReceipt({ entry: r.entry, checkpointNote: r.checkpoint.note, inclusionProof: r.inclusionProof }, spki);
  t.same(ok.map((r) => r.entry.seq), Array.from({ length: 299 }, (_, i) => i), 'seqs follow request order, with no gap for the rejected one');
  t.same(ok.map((r) => decodeBody(r.entry.body).configId), inputs.filter((_, i) => i !== 150).map((x) => x.configId));
});
