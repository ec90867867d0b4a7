/**
 * An audit report as one self-contained HTML document: CSS inline, charts as
 * inline SVG, no script, no external request of any kind, so it opens
 * anywhere, archives as one file and prints to PDF from any browser.
 *
 * Reproducible: the bytes depend only on the {@link ReportData}. No clock
 * (a generation time appears only when the caller passes one), no locale
 * (numbers and times are formatted here, times in UTC), stable orders. Two
 * renders of the same data are byte-identical, so two reports of the same
 * log and period compare with a hash.
 *
 * A failed verification comes first: the title and the first heading say
 * that verification failed and where (the seq, or what else failed), and the
 * log's contents are not summarized, since they are not evidence.
 *
 * Pure module: no Node-only imports (a browser renders the same report).
 */
import type { ReportData, ReportVerification } from './report-data.js';
import type { DriftEpisode, ReportChange, ReportSummary, Tally } from './summarize.js';
import { driftChart, MAX_LANES, STATUS_COLORS } from './drift-chart.js';
import { esc, formatDuration, formatInt, groupHex } from './format.js';

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1120px; padding: 24px 28px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1b1f24; background: #fff; }
h1 { font-size: 24px; line-height: 1.25; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #d0d7de; break-after: avoid; }
h3 { font-size: 15px; margin: 18px 0 6px; break-after: avoid; }
p { margin: 6px 0; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 8px 10px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0; }
.status { border: 2px solid; border-radius: 6px; padding: 14px 18px; margin-bottom: 18px; }
.status.ok { border-color: #1a7f37; background: #eefbf1; }
.status.fail { border-color: #cf222e; background: #fff0f0; }
.status.ok h1 { color: #116329; }
.status.fail h1 { color: #a40e26; }
.subtitle { color: #57606a; margin: 2px 0 0; }
dl.facts { display: grid; grid-template-columns: 200px 1fr; gap: 4px 16px; margin: 8px 0; }
dl.facts dt { color: #57606a; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
td.hash { overflow-wrap: anywhere; }
th { background: #f6f8fa; font-weight: 600; border-bottom: 2px solid #d0d7de; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr { break-inside: avoid; }
thead { display: table-header-group; }
.tallies { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; }
.tallies section { min-width: 0; }
table.changes { font-size: 12px; table-layout: fixed; }
table.changes td.payload, table.changes td.commit { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 11px; color: #333; overflow-wrap: anywhere; }
.when { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 11px; }
.seq { color: #57606a; }
col.w5 { width: 5%; } col.w10 { width: 10%; } col.w12 { width: 12%; } col.w13 { width: 13%; } col.w14 { width: 14%; } col.w26 { width: 26%; }
${Object.entries(STATUS_COLORS).map(([status, color]) => `td.st-${status} { color: ${color}; }`).join('\n')}
.muted { color: #57606a; }
.note { color: #57606a; font-style: italic; }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; border: 1px solid; }
.badge.ok { color: #116329; border-color: #1a7f37; }
.badge.fail { color: #a40e26; border-color: #cf222e; }
.badge.open { color: #9a6700; border-color: #bf8700; }
svg.chart { width: 100%; height: auto; display: block; margin: 8px 0; }
svg.chart text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #1b1f24; }
svg.chart .tick { fill: #57606a; }
svg.chart .grid { stroke: #d8dee4; stroke-width: 1; }
svg.chart .axis { stroke: #57606a; stroke-width: 1; }
svg.chart .stripe { fill: #f6f8fa; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid #d0d7de; color: #57606a; font-size: 12px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .status, .badge, svg.chart, th, pre { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-before: auto; }
  section.changes-section { break-before: page; }
  table.changes { font-size: 8pt; }
  table.changes td.payload { font-size: 7pt; }
  .tallies { display: block; }
  svg.chart { break-inside: avoid; }
}
`;

/** Anchor windows listed in the table (a busy log is anchored every few seconds); the count covers them all. */
export const MAX_WINDOWS = 50;

/** An entry's time as signed, allowed to break after the date. */
function when(time: string): string {
  return `<span class="when">${esc(time).replace('T', 'T<wbr>')}</span>`;
}

/** Where a failure is, for the first line: "at entry 17", "at anchor window 3", "at the checkpoint of size 40". */
export function failurePlace(v: Extract<ReportVerification, { ok: false }>): string {
  if (v.seq !== undefined) return `at entry ${v.seq}`;
  const ev = v.evidence;
  if (typeof ev.window === 'number') return `at anchor window ${ev.window}`;
  if (typeof ev.size === 'number') return `at the checkpoint of size ${ev.size}`;
  if (typeof ev.line === 'number') return `at bundle line ${ev.line}`;
  return 'at the checkpoint';
}

/** The document's first line: its title and first heading. */
export function headline(data: ReportData): string {
  const v = data.verification;
  if (!v.ok) return `Verification FAILED ${failurePlace(v)} (${v.code}): log ${data.log}`;
  return `Verified: log ${data.log}, ${formatInt(v.entriesVerified)} ${v.entriesVerified === 1 ? 'entry' : 'entries'}`;
}

function periodText(s: ReportSummary | undefined): string {
  const from = s?.period.from;
  const to = s?.period.to;
  if (!from && !to) return 'the whole log';
  return `${from ? `from ${from}` : 'from the first entry'} ${to ? `to ${to} (exclusive)` : 'to the last entry'}`;
}

function* statusBlock(data: ReportData): Generator<string> {
  const v = data.verification;
  yield `<header class="status ${v.ok ? 'ok' : 'fail'}">`;
  yield `<h1>${esc(headline(data))}</h1>`;
  if (!v.ok) {
    yield `<p><strong>${esc(v.code)}</strong>: ${esc(v.message)}</p>`;
    const ev = Object.entries(v.evidence).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (ev.length > 0) yield `<p class="mono">${ev.map(([k, x]) => `${esc(k)}: ${esc(String(x))}`).join('<br>')}</p>`;
    yield '<p>The log did not verify against the pinned key. Its contents are not summarized in this report: entries that fail verification are not evidence of anything. Investigate with <code>cairn verify</code>, and compare with earlier reports and exported bundles of this log.</p>';
  } else {
    yield `<p>Every entry's signature, chain link and hash, and the Merkle root of all ${formatInt(v.entriesVerified)} entries, were checked against the pinned key and a checkpoint it signed${data.anchors && data.anchors.status === 'checked' && data.anchors.windows.length > 0 ? ', and against every anchor window below' : ''}.</p>`;
  }
  yield `<p class="subtitle">Cairn audit report · log <strong>${esc(data.log)}</strong> · ${esc(periodText(data.summary))}</p>`;
  yield '</header>';
}

function* verifiedBlock(data: ReportData): Generator<string> {
  yield '<section><h2>What was verified</h2><dl class="facts">';
  yield `<dt>Log</dt><dd>${esc(data.log)}</dd>`;
  yield `<dt>Source</dt><dd>${data.source.kind === 'node' ? 'fetched from the node and verified as read (<code>cairn verify</code>)' : `an exported bundle, verified offline (<code>cairn verify-bundle</code>); bundle SHA-256 <span class="mono">${esc(groupHex(data.source.sha256))}</span>`}</dd>`;
  yield `<dt>Pinned key</dt><dd>SHA-256 of its SubjectPublicKeyInfo: <span class="mono">${esc(groupHex(data.key.fingerprint))}</span><br>key id <span class="mono">${esc(data.key.keyId)}</span> (as on checkpoint signatures)</dd>`;
  if (data.key.rotatedTo.length > 0) {
    yield `<dt>Key rotations</dt><dd>The node's key chain, followed from the pinned key and checked link by link, leads to: ${data.key.rotatedTo.map((k) => `<br>key id <span class="mono">${esc(k.keyId)}</span>, SHA-256 <span class="mono">${esc(groupHex(k.fingerprint))}</span>`).join('')}</dd>`;
  } else {
    yield '<dt>Key rotations</dt><dd>none: every entry and checkpoint is under the pinned key</dd>';
  }
  const cp = data.checkpoint;
  if (cp) {
    yield `<dt>Checkpoint</dt><dd>origin <span class="mono">${esc(cp.origin)}</span>, size <strong>${formatInt(cp.size)}</strong>, signature ${data.verification.ok ? '<span class="badge ok">verified</span>' : 'verified; the log failed its other checks (above)'}</dd>`;
    yield `<dt>Root hash</dt><dd class="mono hash">${esc(cp.rootHash)}</dd>`;
  } else {
    yield '<dt>Checkpoint</dt><dd>none verified (verification failed before one was opened)</dd>';
  }
  yield `<dt>Anchors</dt><dd>${anchorsLine(data)}</dd>`;
  yield `<dt>Witnesses</dt><dd>${data.witnesses && data.witnesses.length > 0 ? data.witnesses.map((w) => `${esc(w.name)} (key id <span class="mono">${esc(w.keyId)}</span>) ${w.verified ? '<span class="badge ok">cosignature verified</span>' : '<span class="badge fail">not verified</span>'}`).join('<br>') : 'none: no witness cosigned this checkpoint'}</dd>`;
  if (data.generatedAt !== undefined) yield `<dt>Generated</dt><dd>${esc(data.generatedAt)}</dd>`;
  yield '</dl>';
  if (cp) yield `<h3>The signed checkpoint</h3><pre>${esc(cp.note)}</pre>`;
  const all = data.anchors?.windows ?? [];
  const windows = all.slice(-MAX_WINDOWS);
  if (windows.length > 0) {
    yield `<h3>Anchor windows</h3>${all.length > windows.length ? `<p class="note">The latest ${MAX_WINDOWS} of ${formatInt(all.length)} windows; all ${formatInt(all.length)} were checked.</p>` : ''}<table><thead><tr><th class="num">window</th><th class="num">log size anchored</th><th>backend</th><th>transaction</th><th class="num">block</th><th>window root</th></tr></thead><tbody>`;
    for (const w of windows) {
      yield `<tr><td class="num">${w.window}</td><td class="num">${formatInt(w.size)}</td><td>${esc(w.backend)}</td><td class="mono hash">${esc(w.txId)}</td><td class="num">${w.block}</td><td class="mono hash">${esc(w.root)}</td></tr>`;
    }
    yield '</tbody></table>';
  }
  yield '</section>';
}

function anchorsLine(data: ReportData): string {
  const a = data.anchors;
  if (!a) return 'not checked';
  if (a.status === 'off') return 'none: anchoring is off on the node';
  const n = a.windows.length;
  if (n === 0) return `none yet: no anchor window covers this log (roots read from ${esc(a.readFrom)})`;
  const last = a.windows[n - 1]!;
  const checked = data.verification.ok ? '<span class="badge ok">checked</span>' : 'read';
  return `${formatInt(n)} ${n === 1 ? 'window' : 'windows'} ${checked}, the latest anchoring the log at size ${formatInt(last.size)}; roots read from ${esc(a.readFrom)}${sealLine(data)}`;
}

/** Which window anchors the period's last entry: from then on, rewriting the period shows against the external ledger. */
function sealLine(data: ReportData): string {
  const s = data.summary;
  if (!s || s.inPeriod === 0 || !data.verification.ok) return '';
  const lastSeq = Math.max(...s.byAction.map((t) => t.lastSeq));
  const w = data.anchors?.windows.find((x) => x.size > lastSeq);
  return w
    ? `.<br>The period's last entry (#${lastSeq}) is anchored in window ${w.window} (${esc(w.backend)}, transaction <span class="mono">${esc(w.txId)}</span>).`
    : `.<br>The period's last entry (#${lastSeq}) is not anchored yet.`;
}

function* periodBlock(s: ReportSummary): Generator<string> {
  yield '<section><h2>The period</h2><dl class="facts">';
  yield `<dt>Period</dt><dd>${esc(periodText(s))}</dd>`;
  yield `<dt>Entries in the period</dt><dd><strong>${formatInt(s.inPeriod)}</strong> of ${formatInt(s.logEntries)} in the log (${formatInt(s.before)} before, ${formatInt(s.after)} after)</dd>`;
  if (s.firstTime !== undefined) yield `<dt>The log's entries</dt><dd>${esc(s.firstTime)} to ${esc(s.lastTime!)}</dd>`;
  yield `<dt>Drift episodes</dt><dd>${formatInt(s.drift.episodes.length)} in the period, ${formatInt(s.drift.open)} still open at its end</dd>`;
  yield '</dl></section>';
}

function* tallyTable(title: string, what: string, rows: readonly Tally[]): Generator<string> {
  yield `<section><h3>${esc(title)}</h3>`;
  if (rows.length === 0) {
    yield '<p class="muted">no entries in the period</p></section>';
    return;
  }
  yield `<table class="tally"><thead><tr><th>${esc(what)}</th><th class="num">entries</th><th>first</th><th>last</th></tr></thead><tbody>`;
  for (const r of rows) {
    yield `<tr><td>${r.name === '' ? '<span class="muted">(none)</span>' : esc(r.name)}</td><td class="num">${formatInt(r.count)}</td><td>${when(r.firstTime)} <span class="seq">#${r.firstSeq}</span></td><td>${when(r.lastTime)} <span class="seq">#${r.lastSeq}</span></td></tr>`;
  }
  yield '</tbody></table></section>';
}

function* talliesBlock(s: ReportSummary): Generator<string> {
  yield '<section><h2>Summaries</h2><p class="muted">Entries in the period, most first. Operator is who the client said did it; identity is who the node authenticated.</p><div class="tallies">';
  yield* tallyTable('By action', 'action', s.byAction);
  yield* tallyTable('By operator', 'operator', s.byOperator);
  yield* tallyTable('By identity', 'identity', s.byIdentity);
  yield* tallyTable('By config id', 'config id', s.byConfigId);
  yield '</div></section>';
}

function episodeRow(e: DriftEpisode): string {
  const closed = e.closedSeq !== undefined ? `${when(e.closedAt!)} <span class="seq">#${e.closedSeq}</span><br>${esc(e.closedBy!)}` : '<span class="badge open">still open</span>';
  const duration = e.durationMs === undefined ? '<span class="muted">unknown</span>' : `${formatDuration(e.durationMs)}${e.closedSeq === undefined ? ' so far' : ''}${e.closedSeq === e.openedSeq ? ' (fixed when detected)' : ''}`;
  return `<tr><td>${esc(e.target)}</td><td class="mono">${esc(e.key)}</td><td class="${STATUS_COLORS[e.status] ? `st-${e.status}` : ''}">${esc(e.status)}</td><td>${when(e.openedAt)} <span class="seq">#${e.openedSeq}</span></td><td>${closed}</td><td class="num">${duration}</td><td class="num">${e.updates}</td></tr>`;
}

function* driftBlock(s: ReportSummary): Generator<string> {
  yield '<section><h2>Drift episodes</h2>';
  const eps = s.drift.episodes;
  if (eps.length === 0) {
    yield '<p class="muted">No sync target recorded drift in the period.</p></section>';
    return;
  }
  yield `<p>A drift opens when a sync target records <code>drift.*</code> for an object and closes at its <code>drift.resolved</code> or <code>sync.applied</code>. Open drifts are measured to ${esc(s.drift.measuredTo ?? 'the end of the log')}.</p>`;
  // From the first drift (or the period's start, if a drift was open before it) to the period's end.
  const opened = eps.map((e) => Date.parse(e.openedAt)).filter(Number.isFinite);
  const from = s.period.from !== undefined ? Date.parse(s.period.from) : Number.NEGATIVE_INFINITY;
  const start = Math.max(from, Math.min(...opened));
  const end = Date.parse(s.drift.measuredTo ?? '');
  if (Number.isFinite(start) && Number.isFinite(end)) {
    const chart = driftChart(eps, start, end);
    yield chart.svg;
    if (chart.lanesOmitted > 0) yield `<p class="note">The chart shows the first ${MAX_LANES} objects; ${formatInt(chart.lanesOmitted)} more are in the table.</p>`;
  }
  yield '<table class="episodes"><thead><tr><th>target</th><th>object</th><th>status</th><th>opened</th><th>closed</th><th class="num">duration</th><th class="num">drift entries</th></tr></thead><tbody>';
  for (const e of eps) yield episodeRow(e);
  yield '</tbody></table></section>';
}

function changeRow(c: ReportChange): string {
  const payload = c.payload === '' ? '<span class="muted">null</span>' : esc(c.payload) + (c.payloadCut ? ` <span class="muted">(${formatInt(c.payloadLength)} characters; whole in entry ${c.seq})</span>` : '');
  return `<tr><td class="num">${c.seq}</td><td>${when(c.time)}</td><td>${esc(c.action)}</td><td>${esc(c.configId)}</td><td>${esc(c.operator)}</td><td>${c.identity === '' ? '<span class="muted">(none)</span>' : esc(c.identity)}</td><td class="commit">${esc(c.commit)}</td><td class="payload">${payload}</td></tr>`;
}

function* changesBlock(s: ReportSummary): Generator<string> {
  yield `<section class="changes-section"><h2>Changes in the period</h2>`;
  if (s.inPeriod === 0) {
    yield '<p class="muted">No entries in the period.</p></section>';
    return;
  }
  yield s.changesOmitted > 0
    ? `<p class="note">The first ${formatInt(s.changes.length)} of ${formatInt(s.inPeriod)} changes in the period (the table was capped with --max-rows); every figure above counts all ${formatInt(s.inPeriod)}.</p>`
    : `<p>All ${formatInt(s.inPeriod)} ${s.inPeriod === 1 ? 'entry' : 'entries'} of the period, in log order. Times are the node's, in UTC.</p>`;
  yield '<table class="changes"><colgroup><col class="w5"><col class="w13"><col class="w10"><col class="w14"><col class="w10"><col class="w10"><col class="w12"><col class="w26"></colgroup><thead><tr><th class="num">seq</th><th>time</th><th>action</th><th>config id</th><th>operator</th><th>identity</th><th>commit</th><th>payload</th></tr></thead><tbody>';
  for (const c of s.changes) yield changeRow(c);
  yield '</tbody></table></section>';
}

/**
 * The report, in pieces (a long change table need not be one string); their
 * concatenation is {@link renderReport}.
 */
export function* renderReportChunks(data: ReportData): Generator<string> {
  yield '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n';
  yield '<meta name="viewport" content="width=device-width, initial-scale=1">\n';
  if (data.generator !== undefined) yield `<meta name="generator" content="${esc(data.generator)}">\n`;
  yield `<title>${esc(headline(data))} · Cairn audit report</title>\n<style>${CSS}</style>\n</head>\n<body>\n`;
  yield* statusBlock(data);
  yield* verifiedBlock(data);
  const s = data.verification.ok ? data.summary : undefined;
  if (s) {
    yield* periodBlock(s);
    yield* talliesBlock(s);
    yield* driftBlock(s);
    yield* changesBlock(s);
  }
  yield `<footer>Cairn audit report${data.generator !== undefined ? ` by ${esc(data.generator)}` : ''}. Reproducible: the same log, key and period give a byte-identical report, so two copies compare with <code>sha256sum</code>.${data.generatedAt === undefined ? ' It states no generation time.' : ''}</footer>\n`;
  yield '</body>\n</html>\n';
}

/** The whole report as one string. */
export function renderReport(data: ReportData): string {
  let out = '';
  for (const chunk of renderReportChunks(data)) out += chunk;
  return out;
}
