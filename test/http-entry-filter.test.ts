/**
 * The entry list's filters and its newest-first order
 * (`GET /v1/logs/{log}/entries`, docs/api.md): exactly the matching
 * entries, pages that continue where the last one stopped, a bounded scan
 * per request, and precise errors for bad parameters. Every answer is
 * checked against the OpenAPI document.
 */
import t from 'tap';
import { startTestNode } from './helpers/node.js';
import { httpCall, type HttpAnswer } from './helpers/http.js';
import { OpenApiCheck } from './helpers/openapi-check.js';
import { ascendingPage, descendingPage, entryFilterOf, MAX_SCAN, type ReadRange } from '../src/http/entry-filter.js';
import { encodeBody, type SignedEntry } from '../src/core/entry.js';

const N = 230;
const check = new OpenApiCheck();
const problems: string[] = [];

t.test('filters and order over HTTP', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  const s = tn.client.appendStream();
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      s.append({ log: 'app', configId: `cfg/${i % 7}`, operator: i % 3 === 0 ? 'alice' : 'bob', action: i % 5 === 0 ? 'rollback' : 'apply', commit: `${(i % 4 === 0 ? 'beef' : 'cafe')}${String(i).padStart(4, '0')}` }),
    ),
  );
  await s.end();
  const base = tn.node.httpAddress!;
  const list = async (q: string): Promise<HttpAnswer> => {
    const a = await httpCall(base, 'GET', `/v1/logs/app/entries?${q}`);
    problems.push(...check.problems('GET', '/v1/logs/{log}/entries', a));
    return a;
  };
  const seqs = (a: HttpAnswer): number[] => (a.json.entries as { seq: number }[]).map((e) => e.seq);

  await t.test('order=desc pages from the end, next is the end of the next page', async (t) => {
    const first = await list('order=desc&limit=10');
    t.same(seqs(first), Array.from({ length: 10 }, (_, i) => N - 1 - i));
    t.equal(first.json.next, N - 10);
    const second = await list(`order=desc&limit=10&end=${first.json.next}`);
    t.same(seqs(second), Array.from({ length: 10 }, (_, i) => N - 11 - i));
    const last = await list('order=desc&limit=10&end=5');
    t.same([seqs(last), last.json.next], [[4, 3, 2, 1, 0], null], 'the start of the log ends the paging');
  });

  await t.test('each filter alone and together: exactly the matching entries, in either order', async (t) => {
    const all = Array.from({ length: N }, (_, i) => i);
    const cases: [string, (i: number) => boolean][] = [
      ['config_id=cfg%2F3', (i) => i % 7 === 3],
      ['operator=alice', (i) => i % 3 === 0],
      ['action=rollback', (i) => i % 5 === 0],
      ['commit=beef', (i) => i % 4 === 0],
      ['commit=cafe0013', (i) => i === 13],
      ['operator=alice&action=rollback', (i) => i % 15 === 0],
      ['identity=nobody', () => false],
    ];
    for (const [q, match] of cases) {
      const asc = await list(`${q}&limit=1000`);
      t.same(seqs(asc), all.filter(match), `${q}, oldest first`);
      t.equal(asc.json.next, null);
      const desc = await list(`${q}&order=desc&limit=1000`);
      t.same(seqs(desc), all.filter(match).reverse(), `${q}, newest first`);
    }
    // Paging a filter: limit 4, follow next until null.
    const got: number[] = [];
    let next: number | null = 0;
    while (next !== null) {
      const p = await list(`action=rollback&limit=4&start=${next}`);
      got.push(...seqs(p));
      next = p.json.next as number | null;
    }
    t.same(got, all.filter((i) => i % 5 === 0), 'pages of a filter, followed to the end, hold every match once');
  });

  await t.test('since and until select by the time the server recorded', async (t) => {
    const page = await list('limit=1000');
    const times = (page.json.entries as { fields: { time: string } }[]).map((e) => e.fields.time);
    const from = times[100]!;
    // Appends in one group share a time: the window is one millisecond from entry 100's.
    const to = new Date(Date.parse(from) + 1).toISOString();
    const r = await list(`since=${encodeURIComponent(from)}&until=${encodeURIComponent(to)}&limit=1000`);
    t.same(seqs(r), times.map((tm, i) => [tm, i] as const).filter(([tm]) => tm >= from && tm < to).map(([, i]) => i));
    t.equal((await list(`until=2000-01-01&limit=1000`)).json.entries.length, 0, 'a date before the log: none');
  });

  await t.test('bad parameters are refused by name', async (t) => {
    const bad = async (q: string, field: string, message: RegExp): Promise<void> => {
      const a = await list(q);
      t.same([a.status, a.json.code, a.json.field], [400, 'INVALID_ARGUMENT', field], q);
      t.match(a.json.message, message);
    };
    await bad('since=yesterday', 'since', /RFC 3339/);
    await bad('since=2026-02-30', 'since', /not a valid date/);
    await bad('since=2026-01-02&until=2026-01-01', 'until', /after since/);
    await bad('order=sideways', 'order', /asc or desc/);
    await bad(`operator=${'x'.repeat(600)}`, 'operator', /1 to 512/);
    const jsonl = await httpCall(base, 'GET', '/v1/logs/app/entries?action=apply', { headers: { accept: 'application/jsonl' } });
    t.same([jsonl.status, jsonl.json.field], [400, 'action'], 'a JSON Lines stream is not filtered');
  });
  t.same(problems, [], 'every answer matches the OpenAPI document');
});

t.test('a filtered page scans at most MAX_SCAN entries and says where to go on', async (t) => {
  // A log where only the very first entry matches, longer than one scan.
  const size = MAX_SCAN * 2 + 10;
  const entry = (seq: number): SignedEntry => {
    const body = { v: 2, log: 'big', seq, time: '2026-01-01T00:00:00.000Z', configId: 'c', operator: seq === 0 ? 'rare' : 'common', identity: '', action: 'a', source: '', commit: '', payload: null, requestId: '', prevHash: '0'.repeat(64) };
    return { log: 'big', seq, body: encodeBody(body), signature: new Uint8Array(8), hash: new Uint8Array(32) };
  };
  let read = 0;
  const range: ReadRange = async function* (a, b) {
    for (let s = a; s < b; s += 1000) {
      const chunk = Array.from({ length: Math.min(1000, b - s) }, (_, i) => entry(s + i));
      read += chunk.length;
      yield chunk;
    }
  };
  const filter = entryFilterOf({ operator: 'rare' })!;
  const desc1 = await descendingPage(range, 0, size, 10, filter);
  t.same([desc1.entries.length, desc1.next], [0, size - MAX_SCAN], 'newest first: nothing in the first scan, and where to go on');
  t.ok(read <= MAX_SCAN + 1000, `read ${read} entries for one page`);
  const desc3 = await descendingPage(range, 0, MAX_SCAN - 5, 10, filter);
  t.same([(desc3.entries as { seq: number }[]).map((e) => e.seq), desc3.next], [[0], null], 'the match, and the end of the log');
  read = 0;
  const asc = await ascendingPage(range, 1, size, 10, filter);
  t.same([asc.entries.length, asc.next], [0, 1 + MAX_SCAN], 'oldest first: the same bound');
  t.ok(read <= MAX_SCAN + 1000);
});
