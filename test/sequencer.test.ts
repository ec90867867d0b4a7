/**
 * The write path's guarantees, in-process against real LevelDB: groups commit
 * in order, a failed write acknowledges nothing and the log carries on with no
 * gap, signing on a worker thread gives the same verifiable log as inline.
 */
import t from 'tap';
import { join } from 'node:path';
import { tempDir } from './helpers/node.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { Ledger, type Receipt } from '../src/ledger/ledger.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { InlineChainSigner, WorkerChainSigner, type ChainSigner } from '../src/ledger/chain-signer.js';
import { LogVerifier } from '../src/core/log-verifier.js';
import { verifyReceipt } from '../src/core/receipt.js';
import { decodeBody } from '../src/core/entry.js';

const OPTS = { nodeName: 'test-node', maxBatch: 32, maxQueue: 10_000, maxLogs: 10, limits: { maxPayloadBytes: 65536 } };

async function open(chain?: (k: SigningKey) => ChainSigner): Promise<{ ledger: Ledger; store: LedgerStore; key: SigningKey; chain: ChainSigner | undefined; close(): Promise<void> }> {
  const dir = await tempDir();
  const store = await LedgerStore.open(join(dir.path, 'l'));
  const key = SigningKey.generate();
  const c = chain?.(key);
  const ledger = new Ledger(store, key, OPTS, {}, c);
  return {
    ledger,
    store,
    key,
    chain: c,
    close: async () => {
      await ledger.close();
      await c?.close();
      await store.close();
      await dir.remove();
    },
  };
}

/** Retries one append to log `a` while the log reloads after a failed write (up to ~0.5 s). */
async function appendOnceReloaded(ledger: Ledger): Promise<Receipt | undefined> {
  for (let i = 0; i < 50; i++) {
    const r = await ledger.append({ log: 'a', configId: 'after', operator: 'o', action: 'x' }).catch(() => undefined);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 10));
  }
  return undefined;
}

async function verifyAll(store: LedgerStore, key: SigningKey, log: string): Promise<number> {
  const v = new LogVerifier(log, key.publicKeySpki);
  const cp = (await store.getCheckpoint(log))!;
  for await (const chunk of store.readEntries(log, 0, cp.size)) for (const e of chunk) v.push(e);
  v.finish(cp.note);
  return v.size;
}

for (const [name, make] of [
  ['inline', (k: SigningKey) => new InlineChainSigner(k)],
  ['worker thread', (k: SigningKey) => new WorkerChainSigner(k)],
] as const) {
  t.test(`signing ${name}: 500 concurrent appends to 3 logs give 3 verifiable logs and verifiable receipts`, async (t) => {
    const l = await open(make);
    t.teardown(l.close);
    const receipts = await Promise.all(
      Array.from({ length: 500 }, (_, i) => l.ledger.append({ log: `log-${i % 3}`, configId: `c${i}`, operator: 'op', action: 'set', payloadJson: JSON.stringify({ i }) })),
    );
    for (const r of receipts) verifyReceipt({ entry: r.entry, checkpointNote: r.checkpoint.note, inclusionProof: r.inclusionProof }, l.key.publicKeySpki);
    t.equal(await verifyAll(l.store, l.key, 'log-0'), 167);
    t.equal(await verifyAll(l.store, l.key, 'log-1'), 167);
    t.equal(await verifyAll(l.store, l.key, 'log-2'), 166);
    const sizes = new Set(receipts.map((r) => `${r.entry.log}/${r.checkpoint.size}`));
    t.ok(sizes.size < 500, `grouped into ${sizes.size} checkpoints`);
  });
}

t.test('entry times never decrease within a log', async (t) => {
  const l = await open();
  t.teardown(l.close);
  const rs: Receipt[] = [];
  for (let i = 0; i < 30; i++) rs.push(await l.ledger.append({ log: 'a', configId: 'c', operator: 'o', action: 'x' }));
  const times = rs.map((r) => decodeBody(r.entry.body).time);
  t.same([...times].sort(), times);
});

t.test('a failed storage write acknowledges nothing, and the log continues with no gap', async (t) => {
  const l = await open();
  t.teardown(l.close);
  await l.ledger.append({ log: 'a', configId: 'c', operator: 'o', action: 'x' });
  const realCommit = l.store.commit.bind(l.store);
  let failNext = true;
  l.store.commit = async (log, g) => {
    if (failNext) {
      failNext = false;
      throw new Error('disk full (injected)');
    }
    return realCommit(log, g);
  };
  const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => l.ledger.append({ log: 'a', configId: `c${i}`, operator: 'o', action: 'x' })));
  const failed = results.filter((r) => r.status === 'rejected');
  t.ok(failed.length > 0, `${failed.length} appends failed with the write`);
  for (const f of failed) t.equal((f as PromiseRejectedResult).reason.code, 'UNAVAILABLE');
  // After the reload, appends work again.
  const after = await appendOnceReloaded(l.ledger);
  t.ok(after, 'appends succeed after the failed write');
  const okCount = results.filter((r) => r.status === 'fulfilled').length;
  const size = await verifyAll(l.store, l.key, 'a');
  t.equal(size, 1 + okCount + 1, 'the log holds exactly the acknowledged entries, contiguous, and verifies');
  const seqs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.entry.seq] : []));
  t.same(new Set(seqs).size, seqs.length);
});

t.test('a synced write that fails takes the groups queued behind it along, and the log continues with no gap', async (t) => {
  const l = await open((k) => new WorkerChainSigner(k));
  t.teardown(l.close);
  await l.ledger.append({ log: 'a', configId: 'c', operator: 'o', action: 'x' });
  // Fail the next LevelDB write itself, slowly, so that later groups of the
  // log are handed to the store while it is in flight.
  const db = l.store.rawDb;
  const realBatch = db.batch.bind(db);
  let armed = true;
  let writing = false;
  let queuedBehind = 0;
  const realCommit = l.store.commit.bind(l.store);
  l.store.commit = (log, g) => {
    if (writing) queuedBehind++;
    return realCommit(log, g);
  };
  (db as unknown as { batch: () => unknown }).batch = () => {
    const b = realBatch();
    if (!armed) return b;
    armed = false;
    return Object.assign(b, {
      write: async () => {
        writing = true;
        await new Promise((r) => setTimeout(r, 30));
        writing = false;
        await b.close();
        throw new Error('I/O error (injected)');
      },
    });
  };
  const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => l.ledger.append({ log: 'a', configId: `c${i}`, operator: 'o', action: 'x' })));
  const failed = results.filter((r) => r.status === 'rejected');
  t.ok(failed.length > 32, `${failed.length} appends failed: more than the one group (max 32) in the failed write`);
  t.ok(queuedBehind > 0, `${queuedBehind} groups of the log were queued behind the failed write`);
  for (const f of failed) t.equal((f as PromiseRejectedResult).reason.code, 'UNAVAILABLE');
  const after = await appendOnceReloaded(l.ledger);
  t.ok(after, 'appends succeed after the failed write');
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  t.equal(await verifyAll(l.store, l.key, 'a'), 1 + ok.length + 1, 'the log holds exactly the acknowledged entries, contiguous, and verifies');
  for (const r of [...ok, after!]) {
    const stored = await l.store.getEntry('a', r.entry.seq);
    t.same(stored?.hash, r.entry.hash, `acknowledged seq ${r.entry.seq} is stored as acknowledged`);
  }
});

t.test('appends get seqs in call order, also when one waits for its requestId lookup', async (t) => {
  const l = await open();
  t.teardown(l.close);
  await l.ledger.append({ log: 'a', configId: 'first', operator: 'o', action: 'x' });
  for (let round = 0; round < 20; round++) {
    // As one AppendStream sends them: with and without requestIds, one after another.
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => l.ledger.append({ log: 'a', configId: `r${round}/${i}`, operator: 'o', action: 'x', requestId: i % 3 === 0 ? `id-${round}-${i}` : undefined })),
    );
    const seqs = rs.map((r) => r.entry.seq);
    t.same(seqs, [...seqs].sort((a, b) => a - b), `round ${round}: seqs ${seqs.join(',')} follow the calls`);
  }
});

// A log of at most `rememberedRequests` entries reads its ids at open; a longer one looks them up in batches.
for (const [how, remembered] of [
  ['read at open', undefined],
  ['looked up together in storage', 2],
] as const) {
t.test(`requestIds ${how}: stored ids replay, duplicates in one batch replay, new appends keep call order`, async (t) => {
  const dir = await tempDir();
  const store = await LedgerStore.open(join(dir.path, 'l'));
  const key = SigningKey.generate();
  t.teardown(async () => {
    await store.close();
    await dir.remove();
  });
  const first = new Ledger(store, key, OPTS);
  const stored: Receipt[] = [];
  for (let i = 0; i < 5; i++) stored.push(await first.append({ log: 'a', configId: `old${i}`, operator: 'o', action: 'x', requestId: `old-${i}` }));
  await first.close();
  // A new ledger on the same store knows these ids only from storage.
  const ledger = new Ledger(store, key, { ...OPTS, rememberedRequests: remembered });
  t.teardown(() => ledger.close());
  let reads = 0;
  const realRead = store.getRequestSeqs.bind(store);
  store.getRequestSeqs = (log, ids) => {
    reads++;
    return realRead(log, ids);
  };
  const calls = [
    { configId: 'n0', requestId: 'new-0' },
    { configId: 'again-old-3', requestId: 'old-3' },
    { configId: 'n1' },
    { configId: 'dup-of-n0', requestId: 'new-0' },
    { configId: 'again-old-1', requestId: 'old-1' },
    { configId: 'n2', requestId: 'new-2' },
    { configId: 'n3' },
  ];
  const rs = await Promise.all(calls.map((c) => ledger.append({ log: 'a', operator: 'o', action: 'x', ...c })));
  t.same(rs.map((r) => r.replayed), [false, true, false, true, true, false, false], 'retries replay, new appends are recorded');
  t.equal(rs[1]!.entry.seq, stored[3]!.entry.seq, 'a stored id answers with its original entry');
  t.same(rs[1]!.entry.hash, stored[3]!.entry.hash);
  t.equal(rs[4]!.entry.seq, stored[1]!.entry.seq);
  t.equal(rs[3]!.entry.seq, rs[0]!.entry.seq, 'a duplicate in the same batch answers with the first one');
  const fresh = [rs[0]!, rs[2]!, rs[5]!, rs[6]!].map((r) => r.entry.seq);
  const next = stored[4]!.entry.seq + 1;
  t.same(fresh, [next, next + 1, next + 2, next + 3], 'new appends get the next seqs, in call order');
  t.equal(await verifyAll(store, key, 'a'), next + 4, 'the log holds the old entries and the 4 new ones, and verifies');
  if (remembered === undefined) t.equal(reads, 0, 'no id was looked up in storage: all were read at open');
  else t.ok(reads > 0, `${reads} batched lookups in storage`);
});
}

t.test('an id forgotten from memory is still found in storage: a retry never records twice', async (t) => {
  const dir = await tempDir();
  const store = await LedgerStore.open(join(dir.path, 'l'));
  const key = SigningKey.generate();
  // Three ids fit in memory; the fourth pushes the first out.
  const ledger = new Ledger(store, key, { ...OPTS, rememberedRequests: 3 });
  t.teardown(async () => {
    await ledger.close();
    await store.close();
    await dir.remove();
  });
  const first: Receipt[] = [];
  for (let i = 0; i < 4; i++) first.push(await ledger.append({ log: 'f', configId: `c${i}`, operator: 'o', action: 'x', requestId: `id-${i}` }));
  const again = await ledger.append({ log: 'f', configId: 'retry', operator: 'o', action: 'x', requestId: 'id-0' });
  t.ok(again.replayed, 'the retry of the forgotten id replays');
  t.equal(again.entry.seq, first[0]!.entry.seq, 'with its original entry');
  t.equal(await verifyAll(store, key, 'f'), 4, 'nothing was recorded twice');
});

t.test('a full queue answers RESOURCE_EXHAUSTED at once, with a retry hint', async (t) => {
  const dir = await tempDir();
  const store = await LedgerStore.open(join(dir.path, 'l'));
  const ledger = new Ledger(store, SigningKey.generate(), { ...OPTS, maxQueue: 4, maxBatch: 1 });
  t.teardown(async () => {
    await ledger.close();
    await store.close();
    await dir.remove();
  });
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => ledger.append({ log: 'q', configId: `c${i}`, operator: 'o', action: 'x' })));
  const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  t.ok(rejected.length > 0);
  for (const r of rejected) {
    t.equal(r.reason.code, 'RESOURCE_EXHAUSTED');
    t.ok(r.reason.retryAfterMs > 0);
  }
  const ok = results.length - rejected.length;
  t.equal((await store.getHead('q'))!.size, ok, 'only acknowledged appends are stored');
});

t.test('a few appends behind a group still being written are signed at once when nobody else joins them', async (t) => {
  // Fewer appends than the overlap minimum (32), and no more coming: waiting for
  // the write would leave the signer idle and serialize the log.
  let signs = 0;
  const l = await open((k) => {
    const inner = new InlineChainSigner(k);
    return {
      sign: (...a: Parameters<ChainSigner['sign']>) => {
        signs++;
        return inner.sign(...a);
      },
      reset: (log: string, h: Uint8Array) => inner.reset(log, h),
      close: () => inner.close(),
    };
  });
  t.teardown(l.close);
  await l.ledger.append({ log: 'h', configId: 'c', operator: 'o', action: 'x' });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const realCommit = l.store.commit.bind(l.store);
  l.store.commit = async (log, g) => {
    await held;
    return realCommit(log, g);
  };
  signs = 0;
  const first = l.ledger.append({ log: 'h', configId: 'first', operator: 'o', action: 'x' });
  while (signs < 1) await new Promise((r) => setImmediate(r));
  const rest = [1, 2, 3].map((i) => l.ledger.append({ log: 'h', configId: `rest${i}`, operator: 'o', action: 'x' }));
  const deadline = Date.now() + 2000;
  while (signs < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.equal(signs, 2, 'the three were signed as one group while the first group\'s write was held');
  release();
  const receipts = await Promise.all([first, ...rest]);
  t.same(receipts.map((r) => r.entry.seq), [1, 2, 3, 4], 'in call order, with no gap');
  t.equal(await verifyAll(l.store, l.key, 'h'), 5, 'the log verifies');
});

t.test('a signing worker that goes away fails appends with UNAVAILABLE instead of hanging', async (t) => {
  const l = await open((k) => new WorkerChainSigner(k));
  t.teardown(l.close);
  await l.ledger.append({ log: 'w', configId: 'c', operator: 'o', action: 'x' });
  await l.chain!.close(); // as if the thread were killed
  await t.rejects(l.ledger.append({ log: 'w', configId: 'c2', operator: 'o', action: 'x' }), { code: 'UNAVAILABLE' });
  t.equal((await l.store.getHead('w'))!.size, 1, 'nothing was stored for the failed append');
});

t.test('max_logs counts the logs in storage, across restarts, and reads do not count', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const key = SigningKey.generate();
  const make = async (): Promise<{ ledger: Ledger; store: LedgerStore }> => {
    const store = await LedgerStore.open(join(dir.path, 'l'));
    return { store, ledger: new Ledger(store, key, { ...OPTS, maxLogs: 2 }) };
  };
  let { ledger, store } = await make();
  await ledger.append({ log: 'one', configId: 'c', operator: 'o', action: 'x' });
  await ledger.append({ log: 'two', configId: 'c', operator: 'o', action: 'x' });
  await t.rejects(ledger.append({ log: 'three', configId: 'c', operator: 'o', action: 'x' }), { code: 'RESOURCE_EXHAUSTED' });
  await ledger.close();
  await store.close();
  ({ ledger, store } = await make());
  t.equal((await ledger.listLogs()).length, 2, 'listing every stored log works at the limit');
  await ledger.append({ log: 'one', configId: 'c', operator: 'o', action: 'x' });
  await t.rejects(ledger.append({ log: 'three', configId: 'c', operator: 'o', action: 'x' }), { code: 'RESOURCE_EXHAUSTED' }, 'still refused after a restart');
  await t.rejects(ledger.getEntry('three', 0), { code: 'NOT_FOUND' });
  await ledger.close();
  await store.close();
});

t.test('a cancelled follower of an idle log leaves no waiter behind', async (t) => {
  const l = await open();
  t.teardown(l.close);
  await l.ledger.append({ log: 'idle', configId: 'c', operator: 'o', action: 'x' });
  const seq = await l.ledger.logSequencer('idle');
  for (let i = 0; i < 50; i++) {
    const ac = new AbortController();
    const it = l.ledger.follow('idle', 1, ac.signal);
    const next = it.next();
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await next;
  }
  t.equal(seq.waiting, 0);
});
