/**
 * A log's requestIds (RequestIds), on their own: against a real LevelDB store
 * holding a log written by a real Ledger, with the sequencer's line reduced
 * to a list of what was put in line, whose receipts the test settles.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { tempDir } from './helpers/node.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { Ledger } from '../src/ledger/ledger.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { RequestIds, type RequestLine } from '../src/ledger/request-ids.js';
import type { SignedEntry } from '../src/core/entry.js';

const LOG = 'a';
const OPTS = { nodeName: 'test-node', maxBatch: 32, maxQueue: 10_000, maxLogs: 10, limits: { maxPayloadBytes: 65536 } };

interface Req {
  configId: string;
  requestId?: string;
}
interface Answer {
  entry: { seq: number; hash?: Uint8Array };
  replayed: boolean;
}

/** A store holding log `a` with one entry per id of `ids` (seq i carries ids[i]), and every requestId read it is asked for. */
async function recordedLog(t: Test, ids: string[]): Promise<{ store: LedgerStore; entries: SignedEntry[]; reads: string[][]; preloads: () => number }> {
  const dir = await tempDir();
  const store = await LedgerStore.open(join(dir.path, 'l'));
  t.teardown(async () => {
    await store.close();
    await dir.remove();
  });
  const ledger = new Ledger(store, SigningKey.generate(), OPTS);
  const entries: SignedEntry[] = [];
  for (const id of ids) entries.push((await ledger.append({ log: LOG, configId: id, operator: 'o', action: 'x', requestId: id })).entry);
  await ledger.close();
  const reads: string[][] = [];
  let preloads = 0;
  const getRequestSeqs = store.getRequestSeqs.bind(store);
  const readRequestIds = store.readRequestIds.bind(store);
  store.getRequestSeqs = (log, requestIds) => {
    reads.push([...requestIds]);
    return getRequestSeqs(log, requestIds);
  };
  store.readRequestIds = (log) => {
    preloads++;
    return readRequestIds(log);
  };
  return { store, entries, reads, preloads: () => preloads };
}

/** The sequencer's line: remembers what was put in line; `settle(i, seq)` acknowledges the i-th at `seq` (without writing it). */
function testLine(store: LedgerStore): RequestLine<Req, Answer> & { entered: string[]; settle(i: number, seq: number): void; refuse: Set<string> } {
  const waiting: ((a: Answer) => void)[] = [];
  const entered: string[] = [];
  const refuse = new Set<string>();
  return {
    entered,
    refuse,
    enter(req) {
      if (refuse.has(req.configId)) throw Object.assign(new Error(`line refused ${req.configId}`), { code: 'RESOURCE_EXHAUSTED' });
      entered.push(req.configId);
      return new Promise<Answer>((resolve) => waiting.push(resolve));
    },
    // The stored entry; one the test acknowledged (never written) by its seq alone.
    async replay(seq) {
      return { entry: (await store.getEntry(LOG, seq)) ?? { seq }, replayed: true };
    },
    settle(i, seq) {
      waiting[i]!({ entry: { seq }, replayed: false });
    },
  };
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
}

const OLD = ['old-0', 'old-1', 'old-2', 'old-3', 'old-4'];

t.test('a log of at most `remembered` entries is read at open: a new id goes in line at once, without a lookup', async (t) => {
  const { store, reads, preloads } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 5, maxWaiting: 100 });
  await ids.preload(5);
  t.equal(preloads(), 1, 'every recorded id was read once, at open');
  void ids.admit({ configId: 'n', requestId: 'new-0' });
  t.same(line.entered, ['n'], 'in line before admit returned');
  await new Promise((r) => setImmediate(r));
  t.same(reads, [], 'no requestId was looked up');
});

t.test('a log longer than `remembered` is not read at open: a new id is looked up in storage first', async (t) => {
  const { store, reads, preloads } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 4, maxWaiting: 100 });
  await ids.preload(5);
  t.equal(preloads(), 0, 'nothing read at open');
  void ids.admit({ configId: 'n', requestId: 'new-0' });
  t.same(line.entered, [], 'not in line while its lookup is pending');
  await until(() => line.entered.length > 0);
  t.same(line.entered, ['n'], 'in line once storage said it is new');
  t.same(reads, [['new-0']]);
});

for (const [where, remembered] of [
  ['memory (read at open)', 10],
  ['storage (looked up)', 2],
] as const) {
  t.test(`a recorded id found in ${where} replays the original entry and gets no new seq`, async (t) => {
    const { store, entries } = await recordedLog(t, OLD);
    const line = testLine(store);
    const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered, maxWaiting: 100 });
    await ids.preload(OLD.length);
    const r = await ids.admit({ configId: 'retry', requestId: 'old-3' });
    t.equal(r.replayed, true);
    t.equal(r.entry.seq, 3, 'the seq the id was recorded at');
    t.same(r.entry.hash, entries[3]!.hash, 'the original entry');
    t.same(line.entered, [], 'nothing was put in line');
  });
}

t.test('an id in flight replays the receipt of the append in flight', async (t) => {
  const { store } = await recordedLog(t, []);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 10, maxWaiting: 100 });
  await ids.preload(0);
  const first = ids.admit({ configId: 'first', requestId: 'x' });
  const retry = ids.admit({ configId: 'retry', requestId: 'x' });
  t.same(line.entered, ['first'], 'the retry was not put in line');
  line.settle(0, 7);
  const [a, b] = await Promise.all([first, retry]);
  t.same([a.entry.seq, a.replayed], [7, false], 'the first is recorded');
  t.same([b.entry.seq, b.replayed], [7, true], 'the retry answers with the same entry, as a replay');
  const later = await ids.admit({ configId: 'later', requestId: 'x' });
  t.same([later.entry.seq, later.replayed, line.entered.length], [7, true, 1], 'and once recorded, from memory');
});

t.test('ids admitted while a lookup is in flight are looked up together, in the next read', async (t) => {
  const { store, reads } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 2, maxWaiting: 100 });
  await ids.preload(OLD.length);
  const calls: Req[] = [
    { configId: 'a', requestId: 'new-0' },
    { configId: 'b', requestId: 'old-1' },
    { configId: 'c', requestId: 'new-1' },
    { configId: 'd', requestId: 'old-2' },
    { configId: 'e', requestId: 'new-0' },
    { configId: 'f', requestId: 'new-1' },
  ];
  const answers = calls.map((c) => ids.admit(c));
  await until(() => line.entered.length === 2);
  t.same(reads, [['new-0'], ['old-1', 'new-1', 'old-2']], 'one read for the first, one for the five behind it (each id once; new-0 in flight by then)');
  line.settle(0, 5);
  line.settle(1, 6);
  const rs = await Promise.all(answers);
  t.same(
    rs.map((r) => [r.entry.seq, r.replayed]),
    [
      [5, false],
      [1, true],
      [6, false],
      [2, true],
      [5, true],
      [6, true],
    ],
  );
});

t.test('appends keep their admission order while one waits for its lookup', async (t) => {
  const { store } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 2, maxWaiting: 100 });
  await ids.preload(OLD.length);
  const calls: Req[] = [{ configId: 'a', requestId: 'new-0' }, { configId: 'b' }, { configId: 'c', requestId: 'old-1' }, { configId: 'd' }, { configId: 'e', requestId: 'new-1' }];
  const answers = calls.map((c) => ids.admit(c));
  t.same(line.entered, [], 'an append without an id does not overtake one waiting for its lookup');
  await until(() => line.entered.length === 4);
  t.same(line.entered, ['a', 'b', 'd', 'e'], 'in line in admission order (c replays)');
  line.entered.forEach((_, i) => line.settle(i, 5 + i));
  t.same((await Promise.all(answers)).map((r) => r.entry.seq), [5, 6, 1, 7, 8]);
});

t.test('past `remembered` ids the oldest is forgotten, found in storage again, and new ids are looked up from then on', async (t) => {
  const { store, entries, reads } = await recordedLog(t, OLD.slice(0, 4));
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 4, maxWaiting: 100 });
  await ids.preload(4);
  const n0 = ids.admit({ configId: 'n0', requestId: 'new-0' });
  line.settle(0, 4);
  await n0;
  t.same(reads, [], 'while every id was known, none was looked up');
  const again = await ids.admit({ configId: 'retry', requestId: 'old-0' });
  t.same([again.entry.seq, again.replayed], [0, true], 'the forgotten id still replays');
  t.same(again.entry.hash, entries[0]!.hash, 'with its original entry');
  t.same(reads, [['old-0']], 'found in storage');
  const n1 = ids.admit({ configId: 'n1', requestId: 'new-1' });
  await until(() => line.entered.length === 2);
  line.settle(1, 5);
  await n1;
  t.same(reads, [['old-0'], ['new-1']], 'a new id now needs a lookup: the index no longer knows every id');
  const recent = await ids.admit({ configId: 'retry', requestId: 'old-3' });
  t.same([recent.entry.seq, reads.length], [3, 2], 'an id still remembered needs none');
});

t.test('a failed lookup refuses the appends with ids (UNAVAILABLE, nothing put in line) and lets the others through', async (t) => {
  const { store } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 2, maxWaiting: 100 });
  await ids.preload(OLD.length);
  store.getRequestSeqs = async () => {
    throw new Error('I/O error (injected)');
  };
  const withId = ids.admit({ configId: 'a', requestId: 'new-0' });
  const without = ids.admit({ configId: 'b' });
  await t.rejects(withId, { code: 'UNAVAILABLE' });
  await until(() => line.entered.length === 1);
  t.same(line.entered, ['b']);
  line.settle(0, 5);
  t.equal((await without).entry.seq, 5);
});

t.test('at most `maxWaiting` appends wait for a lookup: the next is refused at once with RESOURCE_EXHAUSTED and a retry hint', async (t) => {
  const { store } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 2, maxWaiting: 2 });
  await ids.preload(OLD.length);
  // The first is being looked up; two wait behind it; the fourth finds the line of waiting appends full.
  const admitted = ['a', 'b', 'c'].map((c) => ids.admit({ configId: c, requestId: `new-${c}` }));
  t.throws(() => ids.admit({ configId: 'd', requestId: 'new-d' }), { code: 'RESOURCE_EXHAUSTED', retryAfterMs: 50 });
  await until(() => line.entered.length === 3);
  t.same(line.entered, ['a', 'b', 'c']);
  line.entered.forEach((_, i) => line.settle(i, 5 + i));
  await Promise.all(admitted);
});

t.test('a waiting append the line refuses fails alone; the appends behind it go in line', async (t) => {
  const { store } = await recordedLog(t, OLD);
  const line = testLine(store);
  const ids = new RequestIds<Req, Answer>(LOG, store, line, { remembered: 2, maxWaiting: 100 });
  await ids.preload(OLD.length);
  line.refuse.add('b');
  const answers = ['a', 'b', 'c'].map((c) => ids.admit({ configId: c, requestId: `new-${c}` }));
  await t.rejects(answers[1]!, { code: 'RESOURCE_EXHAUSTED' }, 'the refusal reaches its caller');
  await until(() => line.entered.length === 2);
  t.same(line.entered, ['a', 'c']);
  line.settle(0, 5);
  line.settle(1, 6);
  t.same((await Promise.all([answers[0]!, answers[2]!])).map((r) => r.entry.seq), [5, 6]);
  const retry = ids.admit({ configId: 'b2', requestId: 'new-b' });
  await until(() => line.entered.length === 3);
  t.same(line.entered, ['a', 'c', 'b2'], 'the refused id was not kept in flight: its retry goes in line');
  line.settle(2, 7);
  t.equal((await retry).entry.seq, 7);
});
