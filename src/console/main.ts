/**
 * The auditor's console (docs/console.md): one page, four views of a node's
 * logs (logs, entries, drift, anchors), verification of what it shows, and
 * an offline mode that verifies an exported bundle with no server.
 *
 * Remembered in the browser: the pinned key (localStorage: it is public and
 * the auditor's anchor of trust, pinned once) and the bearer token
 * (sessionStorage: a credential, gone when the tab closes).
 */
import { ecdsaKeyId } from '../core/note.js';
import type { EntryBody } from '../core/entry.js';
import { readSyncRecord } from '../core/sync-record.js';
import { parseCosignatureLines } from '../core/cosignature.js';
import { describeOps } from '../sync/diff-format.js';
import type { JsonPatchOp } from '../sync/diff.js';
import { ApiError, logPath, NodeApi, type AnchorJson, type CheckpointJson, type EntryJson, type EntryPageJson } from './api.js';
import { clear, h } from './dom.js';
import { driftEpisodes, durationText } from './drift.js';
import { driftTimeline, lagChart } from './charts.js';
import { VerifyClient } from './verify-client.js';
import type { Finished } from './verify-protocol.js';
import { renderReport } from '../report/render-report.js';
import type { ReportData } from '../report/report-data.js';
import { parsePinnedKey, type Mark, type VerifyOutcome } from './verify-core.js';
import type { PrimitiveName } from './crypto.js';

const TOKEN_KEY = 'cairn.console.token';
const PINNED_KEY = 'cairn.console.pinnedKey';
const PAGE = 50;
/** Entries read for the drift view at most (from the end of the log). */
const DRIFT_SCAN = 5000;
const FILTERS = [
  ['config_id', 'config id'],
  ['operator', 'operator'],
  ['identity', 'identity'],
  ['action', 'action'],
  ['commit', 'commit'],
  ['since', 'since'],
  ['until', 'until'],
] as const;

const offline = location.protocol === 'file:';
const verifier = new VerifyClient();
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  pinnedPem: localStorage.getItem(PINNED_KEY) ?? '',
};
const api = (): NodeApi => new NodeApi('', state.token);
const view = h('main', { id: 'view' });

// ---- the header: credential and pinned key ------------------------------------------------

function keyIdOf(pem: string): string | undefined {
  try {
    return ecdsaKeyId(parsePinnedKey(pem)).toString(16).padStart(8, '0');
  } catch {
    return undefined;
  }
}

function header(): HTMLElement {
  const keyStatus = h('span', { id: 'key-status' });
  const showKey = (): void => {
    const id = keyIdOf(state.pinnedPem);
    clear(keyStatus, id ? h('span', { class: 'ok' }, `pinned key ${id}`) : h('span', { class: 'warn' }, 'no key pinned: entries cannot be verified'));
  };
  showKey();
  const pemInput = h('textarea', { id: 'pin-pem', rows: 3, placeholder: '-----BEGIN PUBLIC KEY----- (the node\'s first public key, signing-key.pub.pem)' });
  const keyError = h('span', { class: 'error', id: 'pin-error' });
  const pin = (pem: string): void => {
    if (!keyIdOf(pem)) {
      clear(keyError, 'not a P-256 public key in PEM');
      return;
    }
    state.pinnedPem = pem;
    localStorage.setItem(PINNED_KEY, pem);
    clear(keyError);
    pemInput.value = '';
    details.open = false;
    showKey();
    route();
  };
  const file = h('input', { type: 'file', id: 'pin-file', accept: '.pem,.pub,text/plain' });
  file.addEventListener('change', () => void file.files?.[0]?.text().then(pin));
  const token = h('input', { type: 'password', id: 'token', placeholder: 'bearer token (empty: client certificate or none)', value: state.token, autocomplete: 'off' });
  const useToken = h('button', { id: 'use-token', type: 'button' }, 'Use token');
  useToken.addEventListener('click', () => {
    state.token = token.value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    route();
  });
  const pinButton = h('button', { id: 'pin', type: 'button' }, 'Pin key');
  pinButton.addEventListener('click', () => pin(pemInput.value));
  const details = h('details', {}, h('summary', {}, 'pin a key'), pemInput, h('div', {}, pinButton, ' or ', file, keyError));
  return h(
    'header',
    {},
    h('div', { class: 'title' }, h('h1', {}, 'Cairn'), h('span', { class: 'sub' }, "auditor's console"), h('nav', {}, offline ? null : h('a', { href: '#/' }, 'Logs'), h('a', { href: '#/offline' }, 'Verify a bundle'))),
    h(
      'div',
      { class: 'settings' },
      offline ? null : h('div', {}, token, useToken),
      h('div', {}, keyStatus, details),
      h('div', { class: 'where' }, `verification runs in ${verifier.where === 'worker' ? 'a Web Worker' : 'this page'}`),
    ),
  );
}

// ---- helpers ----------------------------------------------------------------------------

function errorBox(err: unknown): HTMLElement {
  if (err instanceof ApiError) {
    const hint = err.status === 401 ? ' (give a bearer token above)' : '';
    return h('p', { class: 'error', 'data-error': err.code }, `The node answered ${err.status} ${err.code}: ${err.message}${hint}`);
  }
  return h('p', { class: 'error' }, (err as Error)?.message ?? String(err));
}

function loading(what: string): HTMLElement {
  return h('p', { class: 'loading' }, `Loading ${what}…`);
}

function timeAgo(iso: string): string {
  const ms = Date.now() - Date.parse(iso);
  return Number.isNaN(ms) ? '' : `${durationText(Math.max(0, ms))} ago`;
}

function hashParams(): { path: string[]; params: URLSearchParams } {
  const [p = '', q = ''] = location.hash.replace(/^#/, '').split('?');
  return { path: p.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

function logHref(log: string, tab = '', params?: URLSearchParams): string {
  const q = params && [...params.keys()].length > 0 ? `?${params.toString()}` : '';
  return `#/log/${encodeURIComponent(log)}${tab ? `/${tab}` : ''}${q}`;
}

function outcomeBox(o: VerifyOutcome, extra: string): HTMLElement {
  if (o.ok) {
    return h('div', { class: 'outcome ok', 'data-outcome': 'ok' }, h('strong', {}, `Verified: ${o.entriesVerified} entries of ${o.log}, root ${o.rootHash}`), h('pre', { class: 'json' }, JSON.stringify(o, null, 2)), h('p', { class: 'muted' }, extra));
  }
  const seq = typeof o.evidence.seq === 'number' ? o.evidence.seq : undefined;
  return h(
    'div',
    { class: 'outcome failed', 'data-outcome': 'failed', 'data-code': o.code, 'data-seq': seq },
    h('strong', {}, `VERIFICATION FAILED [${o.code}]${seq !== undefined ? ` at entry ${seq}` : ''}`),
    h('p', {}, o.message),
    Object.keys(o.evidence).length > 0 ? h('pre', { class: 'json' }, `evidence: ${JSON.stringify(o.evidence)}`) : null,
    h('p', { class: 'muted' }, extra),
  );
}

// ---- logs ---------------------------------------------------------------------------------

async function logsView(): Promise<void> {
  clear(view, h('h2', {}, 'Logs'), loading('logs'));
  let logs: CheckpointJson[];
  try {
    logs = (await api().get<{ logs: CheckpointJson[] }>('/v1/logs')).logs;
  } catch (err) {
    clear(view, h('h2', {}, 'Logs'), errorBox(err));
    return;
  }
  const body = h('tbody');
  const table = h(
    'table',
    { id: 'logs' },
    h('thead', {}, h('tr', {}, h('th', {}, 'log'), h('th', { class: 'num' }, 'size'), h('th', {}, 'last change'), h('th', {}, 'anchored'), h('th', {}, 'anchor lag'), h('th', { title: 'witnesses whose cosignature the node serves with its latest checkpoint; the console does not check them (cairn verify --witness-key does)' }, 'witnesses'))),
    body,
  );
  clear(view, h('h2', {}, 'Logs'), logs.length === 0 ? h('p', {}, 'No logs yet.') : table);
  performance.mark('cairn:logs-shown');
  for (const l of logs) {
    const last = h('td', {}, '…');
    const anchored = h('td', {}, '…');
    const lag = h('td', {}, '…');
    const witnesses = h('td', { class: 'muted' }, '…');
    body.append(h('tr', { 'data-log': l.log }, h('td', {}, h('a', { href: logHref(l.log) }, l.log)), h('td', { class: 'num' }, l.size.toLocaleString('en')), last, anchored, lag, witnesses));
    void api()
      .get<CheckpointJson>(logPath(l.log, '/checkpoint'))
      .then((cp) => clear(witnesses, cosignerNames(cp.cosignatures ?? [])))
      .catch(() => clear(witnesses, '?'));
    void api()
      .get<EntryPageJson>(logPath(l.log, '/entries'), { order: 'desc', limit: 1 })
      .then((p) => {
        const time = p.entries[0]?.fields?.time;
        clear(last, typeof time === 'string' ? h('span', { title: time }, `${time.slice(0, 19).replace('T', ' ')} (${timeAgo(time)})`) : '—');
      })
      .catch(() => clear(last, '?'));
    void latestAnchors(l.log).then(
      (windows) => {
        const done = windows.filter((w) => w.state === 'committed');
        const lastW = done.at(-1);
        const size = lastW?.checkpoints.find((c) => c.log === l.log)?.size ?? 0;
        clear(anchored, lastW ? `${size.toLocaleString('en')} entries, window ${lastW.window}${size < l.size ? ` (${(l.size - size).toLocaleString('en')} behind)` : ''}` : 'not yet');
        clear(lag, lastW && lastW.committedAtMs > 0 ? `${((lastW.committedAtMs - lastW.oldestCheckpointAtMs) / 1000).toFixed(1)} s` : '—');
      },
      (err: unknown) => {
        clear(anchored, err instanceof ApiError && err.code === 'FAILED_PRECONDITION' ? 'anchoring off' : '?');
        clear(lag, '—');
      },
    );
  }
}

/**
 * The names on the cosignature lines the node serves, as claims: checking
 * them needs the witnesses' pinned keys (cairn verify --witness-key), which
 * the console does not hold.
 */
function cosignerNames(lines: readonly string[]): string {
  if (lines.length === 0) return '—';
  try {
    return `${parseCosignatureLines(lines).map((s) => s.name).join(', ')} (unchecked)`;
  } catch {
    return 'malformed cosignature lines';
  }
}

/** The anchor windows of a log, oldest first (the API pages them from the oldest). */
async function latestAnchors(log: string): Promise<AnchorJson[]> {
  const out: AnchorJson[] = [];
  let from = 0;
  for (let page = 0; page < 20; page++) {
    const r = await api().get<{ anchors: AnchorJson[] }>(logPath(log, '/anchors'), { from_window: from, limit: 1000 });
    out.push(...r.anchors);
    if (r.anchors.length < 1000) break;
    from = r.anchors.at(-1)!.window + 1;
  }
  return out;
}

// ---- one log: tabs --------------------------------------------------------------------------

function tabs(log: string, active: string): HTMLElement {
  const tab = (id: string, label: string): HTMLElement => h('a', { href: logHref(log, id), class: active === id ? 'tab active' : 'tab' }, label);
  return h('div', { class: 'tabs' }, h('h2', {}, log), tab('', 'Entries'), tab('drift', 'Drift'), tab('anchors', 'Anchors'), tab('verify', 'Verify the whole log'));
}

// ---- entries --------------------------------------------------------------------------------

async function entriesView(log: string, params: URLSearchParams): Promise<void> {
  const form = h('form', { id: 'filters', class: 'filters' });
  for (const [name, label] of FILTERS) {
    form.append(h('label', {}, label, h('input', { name, value: params.get(name) ?? '', placeholder: name === 'since' || name === 'until' ? '2026-01-31 or RFC 3339' : '' })));
  }
  form.append(h('button', { type: 'submit', id: 'apply-filters' }, 'Filter'), h('a', { href: logHref(log), class: 'button' }, 'Clear'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [name] of FILTERS) {
      const v = (form.elements.namedItem(name) as HTMLInputElement).value.trim();
      if (v) q.set(name, v);
    }
    location.hash = logHref(log, '', q);
  });
  const detail = h('section', { id: 'detail', class: 'detail' });
  const list = h('section', { id: 'entries-list' }, loading('entries'));
  clear(view, tabs(log, ''), form, h('div', { class: 'entries-layout' }, list, detail));
  const before = params.get('before');
  const query: Record<string, string | number | undefined> = { order: 'desc', limit: PAGE, end: before ?? undefined };
  for (const [name] of FILTERS) query[name] = params.get(name) ?? undefined;
  let page: EntryPageJson;
  try {
    page = await api().get<EntryPageJson>(logPath(log, '/entries'), query);
  } catch (err) {
    clear(list, errorBox(err));
    return;
  }
  const rows = new Map<number, HTMLTableRowElement>();
  const body = h('tbody');
  for (const e of page.entries) {
    const f = e.fields;
    const row = h(
      'tr',
      { 'data-seq': e.seq, class: 'entry' },
      h('td', { class: 'num' }, e.seq),
      h('td', {}, typeof f?.time === 'string' ? f.time.slice(0, 19).replace('T', ' ') : '?'),
      h('td', {}, String(f?.action ?? '?')),
      h('td', { class: 'wrap' }, String(f?.configId ?? '?')),
      h('td', {}, String(f?.operator ?? '?')),
      h('td', {}, String(f?.identity ?? '')),
      h('td', { class: 'mono' }, String(f?.commit ?? '').slice(0, 12)),
      h('td', { class: 'mark pending' }, state.pinnedPem ? '…' : 'no key'),
    );
    row.addEventListener('click', () => showEntry(detail, e, rows));
    rows.set(e.seq, row);
    body.append(row);
  }
  const next = new URLSearchParams(params);
  if (page.next !== null) next.set('before', String(page.next));
  const filtered = FILTERS.some(([n]) => params.has(n));
  clear(
    list,
    h(
      'table',
      { id: 'entries' },
      h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'seq'), h('th', {}, 'time (UTC)'), h('th', {}, 'action'), h('th', {}, 'config id'), h('th', {}, 'operator'), h('th', {}, 'identity'), h('th', {}, 'commit'), h('th', {}, 'verified'))),
      body,
    ),
    page.entries.length === 0 ? h('p', { class: 'muted', id: 'no-entries' }, filtered ? 'No entry matches in this stretch of the log.' : 'No entries.') : null,
    h(
      'p',
      { class: 'paging' },
      before ? h('a', { href: logHref(log, '', withoutBefore(params)), id: 'newest' }, '⇤ newest') : null,
      page.next !== null ? h('a', { href: logHref(log, '', next), id: 'older' }, filtered ? `older (continue the search below #${page.next})` : `older than #${page.next} →`) : null,
    ),
  );
  // The first view's time, for the bench (User Timing: performance.getEntriesByName).
  performance.mark('cairn:entries-shown');
  if (page.entries.length > 0) showEntry(detail, page.entries[0]!, rows);
  if (state.pinnedPem && page.entries.length > 0) void markEntries(log, page.entries, rows);
}

function withoutBefore(p: URLSearchParams): URLSearchParams {
  const q = new URLSearchParams(p);
  q.delete('before');
  return q;
}

async function markEntries(log: string, entries: EntryJson[], rows: Map<number, HTMLTableRowElement>): Promise<void> {
  let marks: Mark[];
  try {
    const done = await verifier.run({ kind: 'shown', base: '', token: state.token, log, entries, pinnedPem: state.pinnedPem, primitive: 'auto' });
    if (done.answer.kind !== 'shown') return;
    marks = done.answer.marks;
  } catch (err) {
    for (const row of rows.values()) {
      const cell = row.lastElementChild!;
      cell.className = 'mark failed';
      clear(cell, '✗ checkpoint');
      cell.setAttribute('title', (err as Error).message);
    }
    return;
  }
  for (const m of marks) {
    const row = rows.get(m.seq);
    if (!row) continue;
    const cell = row.lastElementChild!;
    cell.className = m.ok ? 'mark ok' : 'mark failed';
    row.dataset.verified = m.ok ? 'ok' : 'failed';
    clear(cell, m.ok ? '✓ verified' : `✗ ${m.failed.join(', ')}`);
    if (m.message) cell.setAttribute('title', m.message);
  }
}

function showEntry(detail: HTMLElement, e: EntryJson, rows: Map<number, HTMLTableRowElement>): void {
  for (const r of rows.values()) r.classList.remove('selected');
  rows.get(e.seq)?.classList.add('selected');
  const f = e.fields as unknown as EntryBody | null;
  const sync = f ? readSyncRecord(f) : undefined;
  const payload = sync?.payload as { patch?: JsonPatchOp[] | null; truncated?: boolean; error?: string } | undefined;
  const fieldRows = f
    ? (['time', 'action', 'configId', 'operator', 'identity', 'source', 'commit', 'requestId', 'prevHash'] as const).map((k) => h('tr', {}, h('th', {}, k), h('td', { class: 'wrap mono' }, String(f[k] ?? ''))))
    : [h('tr', {}, h('td', { class: 'error' }, 'the body does not decode'))];
  const patch = payload?.patch;
  clear(
    detail,
    h('h3', {}, `Entry #${e.seq}`),
    h('table', { class: 'fields' }, h('tbody', {}, fieldRows, h('tr', {}, h('th', {}, 'hash'), h('td', { class: 'mono wrap' }, e.hash)))),
    sync
      ? h(
          'div',
          { class: 'drift', id: 'drift-diff' },
          h('h4', {}, `${sync.action} on ${sync.payload.key ?? '(no object)'}, target ${sync.target}`),
          patch
            ? h(
                'pre',
                { class: 'diff' },
                describeOps(patch).map((d) => h('span', { class: d.sign === '+' ? 'add' : d.sign === '-' ? 'del' : 'mod' }, `${d.sign} ${d.text}\n`)),
              )
            : h('p', { class: 'muted' }, payload?.truncated ? 'the patch was left out to fit the payload limit' : payload?.error ?? 'no patch'),
          sync.payload.resolves !== undefined ? h('p', {}, `closes the drift recorded at #${sync.payload.resolves}`) : null,
        )
      : null,
    h('h4', {}, 'payload'),
    h('pre', { class: 'json', id: 'payload' }, JSON.stringify(f?.payload ?? null, null, 2)),
  );
}

// ---- drift ---------------------------------------------------------------------------------

async function driftView(log: string): Promise<void> {
  const out = h('section', { id: 'drift-view' }, loading('sync entries'));
  clear(view, tabs(log, 'drift'), out);
  const bodies: EntryBody[] = [];
  let end: number | undefined;
  try {
    while (bodies.length < DRIFT_SCAN) {
      const p = await api().get<EntryPageJson>(logPath(log, '/entries'), { order: 'desc', limit: 1000, end });
      for (const e of p.entries) if (e.fields) bodies.push(e.fields as unknown as EntryBody);
      if (p.next === null) break;
      end = p.next;
    }
  } catch (err) {
    clear(out, errorBox(err));
    return;
  }
  bodies.reverse();
  const episodes = driftEpisodes(bodies);
  if (episodes.length === 0) {
    clear(out, h('p', {}, `No drift recorded in the last ${bodies.length.toLocaleString('en')} entries of ${log} (sync targets record drift as drift.* entries).`));
    return;
  }
  const now = Date.now();
  const targets = [...new Set(episodes.map((e) => e.target))];
  clear(
    out,
    h('p', { class: 'muted' }, `From the last ${bodies.length.toLocaleString('en')} entries.`),
    targets.map((t) => {
      const mine = episodes.filter((e) => e.target === t);
      const open = mine.filter((e) => !e.closedAt);
      return h(
        'section',
        { class: 'target', 'data-target': t },
        h('h3', {}, `Target ${t}`),
        h('h4', {}, `Open drifts now: ${open.length}`),
        open.length > 0
          ? h('table', { class: 'open-drifts' }, h('thead', {}, h('tr', {}, h('th', {}, 'object'), h('th', {}, 'status'), h('th', {}, 'since'), h('th', {}, 'open for'))), h('tbody', {}, open.map((e) => h('tr', {}, h('td', {}, h('a', { href: logHref(log, '', new URLSearchParams({ config_id: e.key })) }, e.key)), h('td', {}, e.status), h('td', {}, `${e.openedAt} (#${e.openedSeq})`), h('td', {}, durationText(now - Date.parse(e.openedAt)))))))
          : null,
        h('h4', {}, 'Timeline'),
        driftTimeline(mine, now),
        h('p', { class: 'legend' }, h('span', { class: 'swatch open' }), ' open ', h('span', { class: 'swatch resolved' }), ' resolved'),
      );
    }),
  );
}

// ---- anchors -------------------------------------------------------------------------------

async function anchorsView(log: string): Promise<void> {
  const out = h('section', { id: 'anchors-view' }, loading('anchor windows'));
  clear(view, tabs(log, 'anchors'), out);
  let windows: AnchorJson[];
  try {
    windows = await latestAnchors(log);
  } catch (err) {
    clear(out, err instanceof ApiError && err.code === 'FAILED_PRECONDITION' ? h('p', {}, 'Anchoring is off on this node (anchor_backend = off).') : errorBox(err));
    return;
  }
  if (windows.length === 0) {
    clear(out, h('p', {}, 'No anchor window covers this log yet.'));
    return;
  }
  const committed = windows.filter((w) => w.state === 'committed' && w.committedAtMs > 0);
  clear(
    out,
    committed.length > 0 ? [h('h3', {}, 'Anchor lag over time'), h('p', { class: 'muted' }, 'Lag: from the oldest checkpoint in a window to the window\'s commit on the external ledger.'), lagChart(committed.map((w) => ({ window: w.window, at: w.committedAtMs, lagMs: w.committedAtMs - w.oldestCheckpointAtMs })))] : null,
    h('h3', {}, 'Windows'),
    h(
      'table',
      { id: 'anchors' },
      h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'window'), h('th', {}, 'state'), h('th', { class: 'num' }, 'size anchored'), h('th', {}, 'committed (UTC)'), h('th', { class: 'num' }, 'lag'), h('th', {}, 'backend'), h('th', {}, 'transaction'), h('th', { class: 'num' }, 'block'))),
      h(
        'tbody',
        {},
        [...windows].reverse().map((w) =>
          h(
            'tr',
            {},
            h('td', { class: 'num' }, w.window),
            h('td', {}, w.state),
            h('td', { class: 'num' }, (w.checkpoints.find((c) => c.log === log)?.size ?? 0).toLocaleString('en')),
            h('td', {}, w.committedAtMs ? new Date(w.committedAtMs).toISOString().slice(0, 19).replace('T', ' ') : '—'),
            h('td', { class: 'num' }, w.committedAtMs ? `${((w.committedAtMs - w.oldestCheckpointAtMs) / 1000).toFixed(2)} s` : '—'),
            h('td', {}, w.backend),
            h('td', { class: 'mono wrap' }, w.txId),
            h('td', { class: 'num' }, w.block),
          ),
        ),
      ),
    ),
  );
}

// ---- verification: the whole log, and a bundle ------------------------------------------

function progressBar(): { el: HTMLElement; update(done: number, total: number): void } {
  const bar = h('progress', { id: 'progress', max: 1, value: 0 });
  const label = h('span', { class: 'muted' });
  return {
    el: h('div', { class: 'progress' }, bar, label),
    update: (done, total) => {
      bar.max = Math.max(1, total);
      bar.value = done;
      clear(label, ` ${done.toLocaleString('en')} / ${total.toLocaleString('en')} entries`);
    },
  };
}

function rateText(o: VerifyOutcome, done: Finished): string {
  const { ms, primitive, helpers } = done;
  const by = `signatures by ${primitive === 'webcrypto' ? 'WebCrypto' : '@noble/curves'}, in ${verifier.where === 'worker' ? (helpers > 0 ? `${helpers} helper workers` : 'a Web Worker') : 'the page'}`;
  if (!o.ok) return `stopped at the first failure after ${(ms / 1000).toFixed(2)} s; ${by}`;
  const entries = o.entriesVerified;
  return `${entries.toLocaleString('en')} entries in ${(ms / 1000).toFixed(2)} s (${Math.round((entries * 1000) / Math.max(1, ms)).toLocaleString('en')} entries/s), ${by}`;
}

/**
 * The report of what was just verified, rendered here when asked for (a
 * report of a large log is tens of megabytes): the file `cli` writes for the
 * same data.
 */
function reportLink(report: { data: ReportData; name: string }, cli: string): HTMLElement {
  const link = h('a', { id: 'download-report', class: 'button', download: report.name, href: '#' }, 'Download report');
  link.addEventListener('click', () => {
    // Set before the click's default action runs, which downloads what href names then.
    if (link.getAttribute('href') === '#') link.href = URL.createObjectURL(new Blob([renderReport(report.data)], { type: 'text/html' }));
  });
  return h('p', {}, link, ' ', h('span', { class: 'muted' }, `the audit report of what was verified (${report.name}), byte for byte what ${cli} writes`));
}

function verifyView(log: string): void {
  const result = h('section', { id: 'result' });
  const button = h('button', { id: 'verify-log', type: 'button', disabled: !state.pinnedPem }, 'Verify the whole log');
  const p = progressBar();
  button.addEventListener('click', () => {
    button.setAttribute('disabled', '');
    clear(result);
    void verifier.run({ kind: 'log', base: '', token: state.token, log, pinnedPem: state.pinnedPem, primitive: 'auto' }, p.update).then(
      (done) => {
        if (done.answer.kind === 'outcome') {
          const o = done.answer.outcome;
          const box = outcomeBox(o, rateText(o, done));
          if (done.answer.report) box.append(reportLink(done.answer.report, 'cairn report --log'));
          clear(result, box);
        }
        button.removeAttribute('disabled');
      },
      (err: unknown) => {
        clear(result, errorBox(err));
        button.removeAttribute('disabled');
      },
    );
  });
  clear(
    view,
    tabs(log, 'verify'),
    h('p', {}, 'Checks every entry from its raw bytes against the pinned key, as ', h('code', {}, 'cairn verify --anchors'), ' does: signatures, chain links, the rebuilt Merkle tree against the latest signed checkpoint and every anchored root, key rotations, and the node\'s frontier; then offers the audit report.'),
    state.pinnedPem ? null : h('p', { class: 'warn' }, 'Pin the node\'s first public key above first.'),
    button,
    p.el,
    result,
  );
}

function offlineView(): void {
  const result = h('section', { id: 'result' });
  const p = progressBar();
  const choice = h('select', { id: 'primitive' }, h('option', { value: 'auto' }, 'fastest available'), h('option', { value: 'webcrypto' }, 'WebCrypto'), h('option', { value: 'noble' }, '@noble/curves'));
  const input = h('input', { type: 'file', id: 'bundle-file', accept: '.jsonl,.json,application/jsonl' });
  const drop = h('div', { class: 'drop', id: 'drop' }, 'Drop an exported bundle (', h('code', {}, 'cairn export --out FILE'), ') here, or ', input);
  const run = (file: File): void => {
    if (!state.pinnedPem) {
      clear(result, h('p', { class: 'warn' }, 'Pin the node\'s first public key above first.'));
      return;
    }
    clear(result, h('p', { class: 'loading' }, `Verifying ${file.name}…`));
    // `helpers` in the address (#/offline?helpers=0) sets how many workers check signatures: for comparing, as the bench does.
    const helpers = hashParams().params.get('helpers');
    void verifier.run({ kind: 'bundle', bundle: file, pinnedPem: state.pinnedPem, primitive: choice.value as PrimitiveName | 'auto', ...(helpers === null ? {} : { helpers: Number(helpers) }) }, p.update).then(
      (done) => {
        if (done.answer.kind !== 'outcome') return;
        const o = done.answer.outcome;
        const box = outcomeBox(o, `${file.name}: ${rateText(o, done)}`);
        box.dataset.ms = String(Math.round(done.ms));
        box.dataset.primitive = done.primitive;
        box.dataset.helpers = String(done.helpers);
        if (done.answer.report) box.append(reportLink(done.answer.report, 'cairn report --bundle'));
        clear(result, box);
      },
      (err: unknown) => clear(result, errorBox(err)),
    );
  };
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    if (f) run(f);
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = (e as DragEvent).dataTransfer?.files[0];
    if (f) run(f);
  });
  clear(
    view,
    h('h2', {}, 'Verify an exported bundle'),
    h('p', {}, 'No server is needed: the bundle\'s entries, checkpoint, anchor proofs and key chain are checked here against the pinned key, as ', h('code', {}, 'cairn verify-bundle'), ' checks them. Save this page to verify with no network at all.'),
    h('p', {}, h('label', {}, 'P-256 signatures by ', choice)),
    drop,
    p.el,
    result,
  );
}

// ---- routing ------------------------------------------------------------------------------

function route(): void {
  const { path, params } = hashParams();
  if (offline || path[0] === 'offline') return offlineView();
  if (path[0] === 'log' && path[1]) {
    const log = path[1];
    if (path[2] === 'drift') return void driftView(log);
    if (path[2] === 'anchors') return void anchorsView(log);
    if (path[2] === 'verify') return verifyView(log);
    return void entriesView(log, params);
  }
  void logsView();
}

document.body.append(header(), view);
window.addEventListener('hashchange', route);
route();
