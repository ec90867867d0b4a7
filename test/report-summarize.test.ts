/**
 * The pure half of audit reports: the period's times, the one-pass summary
 * (totals, tallies, the change table, drift episodes) and the renderer's
 * guarantees (byte-identical renders, a failure stated first, every log
 * value escaped).
 */
import t from 'tap';
import type { EntryBody } from '../src/core/entry.js';
import { isCairnError } from '../src/core/errors.js';
import { parsePeriod, parseTime } from '../src/report/period.js';
import { summarize } from '../src/report/summarize.js';
import { renderReport } from '../src/report/render-report.js';
import type { ReportData } from '../src/report/report-data.js';
import { formatDuration, formatInt } from '../src/report/format.js';
import { driftChart, MAX_LANES } from '../src/report/drift-chart.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();

function entry(seq: number, sec: number, f: Partial<EntryBody> = {}): EntryBody {
  return { v: 2, log: 'audit', seq, time: at(sec), configId: 'cfg/a', operator: 'alice', identity: 'token:ci', action: 'update', source: '', commit: '', payload: null, requestId: '', prevHash: '0'.repeat(64), ...f };
}

function sync(seq: number, sec: number, action: string, key: string, status: string, extra: Record<string, unknown> = {}): EntryBody {
  return entry(seq, sec, { operator: 'cairn-sync/prod', identity: 'node:n1', action, configId: key, payload: { target: 'prod', key, status, patch: [], commit: 'c1', patchDigest: 'd', ...extra } });
}

t.test('times: RFC 3339 with any offset or unix seconds; every field range-checked, the error names the flag', async (t) => {
  t.equal(parseTime('2026-03-01T10:00:00Z', 'from'), T0);
  t.equal(parseTime('2026-03-01T12:00:00+02:00', 'from'), T0);
  t.equal(parseTime('2026-03-01T10:00:00.250Z', 'from'), T0 + 250);
  t.equal(parseTime(String(T0 / 1000), 'from'), T0);
  for (const bad of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-03-01T24:00:00Z', '2026-03-01', 'yesterday', '-5', '2026-03-01T10:00:00+25:00']) {
    let err: unknown;
    try {
      parseTime(bad, 'to');
    } catch (e) {
      err = e;
    }
    t.ok(isCairnError(err) && err.code === 'INVALID_ARGUMENT' && err.message.startsWith('to: '), `${bad}: ${String(err)}`);
  }
  t.throws(() => parsePeriod('2026-03-02T00:00:00Z', '2026-03-01T00:00:00Z'), /to: must be after from/);
  t.same(parsePeriod(undefined, '1772359200'), { toMs: T0 });
});

t.test('summarize: totals and tallies count the period only, [from, to), most first, ties by name', async (t) => {
  const log = [
    entry(0, 0, { operator: 'bob' }),
    entry(1, 10, { operator: 'alice', action: 'deploy', configId: 'cfg/b' }),
    entry(2, 20, { operator: 'carol', identity: '' }),
    entry(3, 30, { operator: 'bob', configId: 'cfg/b' }),
    entry(4, 40, { operator: 'alice' }),
    entry(5, 50),
  ];
  const all = summarize(log);
  t.equal(all.logEntries, 6);
  t.equal(all.inPeriod, 6);
  t.same(all.byOperator.map((x) => [x.name, x.count]), [['alice', 3], ['bob', 2], ['carol', 1]]);
  t.same(all.byAction.map((x) => [x.name, x.count]), [['update', 5], ['deploy', 1]]);
  t.same(all.byIdentity.map((x) => [x.name, x.count]), [['token:ci', 5], ['', 1]]);
  t.same(all.byConfigId.map((x) => [x.name, x.count, x.firstSeq, x.lastSeq]), [['cfg/a', 4, 0, 5], ['cfg/b', 2, 1, 3]]);

  const some = summarize(log, { period: { fromMs: T0 + 10_000, toMs: T0 + 40_000 } });
  t.equal(some.inPeriod, 3, 'seq 1, 2, 3: from is inclusive, to exclusive');
  t.equal(some.before, 1);
  t.equal(some.after, 2);
  t.same(some.changes.map((c) => c.seq), [1, 2, 3]);
  t.same(some.byOperator.map((x) => [x.name, x.count]), [['alice', 1], ['bob', 1], ['carol', 1]]);
  t.same(some.period, { from: at(10), to: at(40) });

  const capped = summarize(log, { maxRows: 2 });
  t.same(capped.changes.map((c) => c.seq), [0, 1]);
  t.equal(capped.changesOmitted, 4);
  t.equal(capped.inPeriod, 6, 'the cap leaves the totals whole');
});

t.test('summarize: a long payload is cut and says so', async (t) => {
  const s = summarize([entry(0, 0, { payload: { text: 'x'.repeat(500) } })], { payloadChars: 40 });
  const c = s.changes[0]!;
  t.equal(c.payload.length, 41);
  t.ok(c.payload.endsWith('…'));
  t.equal(c.payloadCut, true);
  t.equal(c.payloadLength, JSON.stringify({ text: 'x'.repeat(500) }).length);
});

t.test('summarize: drift episodes open at drift.*, close at drift.resolved or sync.applied, and open ones run to the period end', async (t) => {
  const log = [
    sync(0, 0, 'drift.modified', 'ns/ConfigMap/a', 'MODIFIED'),
    sync(1, 5, 'drift.modified', 'ns/ConfigMap/a', 'MODIFIED'), // an update of the open episode
    entry(2, 6),
    sync(3, 65, 'drift.resolved', 'ns/ConfigMap/a', 'RESOLVED', { resolves: 1 }),
    sync(4, 70, 'drift.added_in_cluster', 'ns/Secret/b', 'ADDED_IN_CLUSTER'),
    sync(5, 80, 'sync.applied', 'ns/ConfigMap/c', 'MODIFIED'), // fixed when detected
    sync(6, 90, 'drift.resolved', 'ns/ConfigMap/zzz', 'RESOLVED'), // closes nothing
    sync(7, 100, 'drift.removed_from_cluster', 'ns/ConfigMap/a', 'REMOVED_FROM_CLUSTER'), // the drift comes back
    sync(8, 110, 'sync.error', 'ns/ConfigMap/a', 'ERROR'),
  ];
  const s = summarize(log);
  t.same(
    s.drift.episodes.map((e) => [e.key, e.status, e.openedSeq, e.closedSeq, e.closedBy, e.durationMs, e.updates]),
    [
      ['ns/ConfigMap/a', 'MODIFIED', 0, 3, 'drift.resolved', 65_000, 2],
      ['ns/Secret/b', 'ADDED_IN_CLUSTER', 4, undefined, undefined, 40_000, 1],
      ['ns/ConfigMap/c', 'MODIFIED', 5, 5, 'sync.applied', 0, 0],
      ['ns/ConfigMap/a', 'REMOVED_FROM_CLUSTER', 7, undefined, undefined, 10_000, 1],
    ],
  );
  t.equal(s.drift.open, 2);
  t.equal(s.drift.measuredTo, at(110), 'open drifts are measured to the last entry');

  const later = summarize(log, { period: { fromMs: T0 + 66_000, toMs: T0 + 200_000 } });
  t.same(later.drift.episodes.map((e) => e.openedSeq), [4, 5, 7], 'the episode closed before the period is left out');
  t.equal(later.drift.episodes[0]!.durationMs, 130_000, 'open drifts run to the period end');
  const earlier = summarize(log, { period: { toMs: T0 + 70_000 } });
  t.same(earlier.drift.episodes.map((e) => e.openedSeq), [0], 'episodes opened at or after the period end are left out');
});

const base = (over: Partial<ReportData> = {}): ReportData => ({
  log: 'audit',
  source: { kind: 'node' },
  verification: { ok: true, entriesVerified: 3 },
  key: { fingerprint: 'ab'.repeat(32), keyId: '0badc0de', rotatedTo: [] },
  checkpoint: { origin: 'n1/audit', size: 3, rootHash: 'cd'.repeat(32), note: 'n1/audit\n3\nzdo=\n\n— n1 abc=\n' },
  anchors: { status: 'off', readFrom: 'the node', windows: [] },
  summary: summarize([entry(0, 0), sync(1, 1, 'drift.modified', 'ns/ConfigMap/a', 'MODIFIED'), entry(2, 2, { operator: '<script>alert(1)</script>' })]),
  ...over,
});

t.test('render: the same data gives the same bytes; no script, no external reference; log values escaped', async (t) => {
  const a = renderReport(base());
  t.equal(renderReport(base()), a);
  t.notMatch(a, /<script/i, 'no script element, and the operator named <script> is escaped');
  t.match(a, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  t.notMatch(a, /(src|href)=|url\((?!#)|@import/, 'nothing is loaded from anywhere');
  t.match(a, /<title>Verified: log audit, 3 entries/);
  t.match(a, /<svg class="chart"/, 'the drift chart is inline SVG');
  t.notMatch(a, /Generated/, 'no generation time unless given');
  t.match(renderReport(base({ generatedAt: '2026-03-02T00:00:00.000Z' })), /<dt>Generated<\/dt><dd>2026-03-02T00:00:00.000Z/);
  t.match(a, /Witnesses<\/dt><dd>none/);
});

t.test('render: a failed verification is the title and the first heading, names the seq, and summarizes nothing', async (t) => {
  const html = renderReport(base({ verification: { ok: false, code: 'SIGNATURE_INVALID', message: 'entry 17: signature does not verify', seq: 17, evidence: { log: 'audit', seq: 17 } } }));
  t.match(html, /<title>Verification FAILED at entry 17 \(SIGNATURE_INVALID\): log audit/);
  const body = html.slice(html.indexOf('<body>'));
  const firstText = body.replace(/<[^>]+>/g, '\n').split('\n').map((s) => s.trim()).find((s) => s !== '');
  t.equal(firstText, 'Verification FAILED at entry 17 (SIGNATURE_INVALID): log audit');
  t.notMatch(html, /Changes in the period|Summaries/, 'no figures from a log that failed');
  const rootFail = renderReport(base({ verification: { ok: false, code: 'ROOT_MISMATCH', message: 'rebuilt root differs', evidence: { size: 40 } } }));
  t.match(rootFail, /<h1>Verification FAILED at the checkpoint of size 40 \(ROOT_MISMATCH\)/);
});

t.test('formatting does not depend on the machine', async (t) => {
  t.equal(formatInt(1234567), '1,234,567');
  t.equal(formatInt(12), '12');
  t.same([850, 12_500, 247_000, 11_100_000, 183_600_000].map(formatDuration), ['850 ms', '12.500 s', '4 min 07 s', '3 h 05 min', '2 d 03 h']);
});

t.test('the drift chart: one lane per object up to MAX_LANES, the rest counted; open drifts hatched to the end', async (t) => {
  const log = Array.from({ length: MAX_LANES + 5 }, (_, i) => sync(i, i, 'drift.modified', `ns/ConfigMap/c${i}`, 'MODIFIED'));
  const s = summarize(log);
  const chart = driftChart(s.drift.episodes, T0, T0 + 60_000);
  t.equal(chart.lanesOmitted, 5);
  t.equal(chart.svg.match(/class="lane"/g)?.length, MAX_LANES);
  t.equal(chart.svg.match(/fill="url\(#open-hatch\)"/g)?.length, MAX_LANES + 1, 'every drift still open is hatched, as in the legend');
  t.equal(driftChart(s.drift.episodes, T0, T0 + 60_000).svg, chart.svg, 'the same episodes, the same bytes');
  t.notMatch(chart.svg, /NaN|Infinity/);
});
