/**
 * `cairn report` against a real node: the report's totals are the log's,
 * two reports of the same data are byte-identical, a period selects the
 * entries whose time is in [from, to), a bundle gives the same figures
 * offline, and a tampered log yields a report whose first line says
 * verification failed and names the seq.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { entryKey } from '../src/storage/keys.js';
import { createToken } from '../src/auth/tokens.js';
import { decodeBody, type EntryBody } from '../src/core/entry.js';
import { fromUtf8, utf8 } from '../src/core/bytes.js';
import { formatDuration } from '../src/report/format.js';

const LOG = 'audit';

/** Tallies a report states: `By operator` → name → count. */
function talliesOf(html: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const m of html.matchAll(/<h3>By ([a-z ]+)<\/h3>(.*?)<\/section>/gs)) {
    const rows: Record<string, number> = {};
    for (const r of m[2]!.matchAll(/<tr><td>(.*?)<\/td><td class="num">([0-9,]+)<\/td>/g)) rows[unescape(r[1]!)] = Number(r[2]!.replace(/,/g, ''));
    out[m[1]!] = rows;
  }
  return out;
}

function unescape(s: string): string {
  if (s === '<span class="muted">(none)</span>') return '';
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

/** The seqs in the change table. */
function changeSeqs(html: string): number[] {
  const table = /<table class="changes">.*?<tbody>(.*?)<\/tbody>/s.exec(html)?.[1] ?? '';
  return [...table.matchAll(/<tr><td class="num">([0-9]+)<\/td>/g)].map((m) => Number(m[1]));
}

function count(bodies: EntryBody[], field: 'operator' | 'identity' | 'configId' | 'action'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of bodies) out[b[field]] = (out[b[field]] ?? 0) + 1;
  return out;
}

/** The first text a reader sees in the body. */
function firstText(html: string): string | undefined {
  return html
    .slice(html.indexOf('<body>'))
    .replace(/<[^>]+>/g, '\n')
    .split('\n')
    .map((s) => s.trim())
    .find((s) => s !== '');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Fixture {
  dir: string;
  tn: TestNode;
  env: NodeJS.ProcessEnv;
  bodies: EntryBody[];
}

/**
 * A node with a policy: two CI tokens write, an auditor token reads. The log
 * has several operators, identities, config ids and actions, and sync drift
 * entries: one drift that is resolved, one fixed when detected, one left open.
 */
async function seeded(): Promise<Fixture> {
  const { path: dir } = await tempDir();
  const ciA = createToken('ci-a');
  const ciB = createToken('ci-b');
  const auditor = createToken('auditor');
  await writeFile(join(dir, 'policy.yaml'), ['tenants:', '  writers: [append:audit, read:audit]', '  auditors: [read:*, anchor:read]', 'identities:', "  - { match: 'token:ci-a', tenant: writers }", "  - { match: 'token:ci-b', tenant: writers }", "  - { match: 'token:auditor', tenant: auditors }", ''].join('\n'));
  await writeFile(join(dir, 'tokens'), `${ciA.line}\n${ciB.line}\n${auditor.line}\n`);
  const tn = await startTestNode({ 'policy-file': join(dir, 'policy.yaml'), 'tokens-file': join(dir, 'tokens'), 'anchor-interval-ms': '100' }, dir);
  const a = new LedgerClient(tn.node.grpcAddress, { token: ciA.token });
  const b = new LedgerClient(tn.node.grpcAddress, { token: ciB.token });
  const bodies: EntryBody[] = [];
  const add = async (c: LedgerClient, f: { configId: string; operator: string; action: string; payload?: unknown }): Promise<void> => {
    const r = await c.append({ log: LOG, configId: f.configId, operator: f.operator, action: f.action, commit: 'c0ffee1', payloadJson: JSON.stringify(f.payload ?? { n: bodies.length }) });
    bodies.push(decodeBody(r.entry.body));
    await sleep(3); // distinct times, so a period can fall between entries
  };
  const drift = (action: string, key: string, status: string, extra: object = {}) => ({ configId: key, operator: 'cairn-sync/prod', action, payload: { target: 'prod', key, status, patch: [], commit: 'c0ffee1', patchDigest: 'd', ...extra } });
  for (let i = 0; i < 12; i++) await add(i % 3 === 0 ? b : a, { configId: `cfg/${i % 4}`, operator: ['alice', 'bob', 'carol'][i % 3]!, action: i % 5 === 0 ? 'rollback' : 'deploy' });
  await add(a, drift('drift.modified', 'ns/ConfigMap/app', 'MODIFIED'));
  await add(b, { configId: 'cfg/1', operator: 'dave', action: 'deploy' });
  await add(a, drift('drift.resolved', 'ns/ConfigMap/app', 'RESOLVED', { resolves: 12 }));
  await add(a, drift('sync.applied', 'ns/Secret/db', 'MODIFIED'));
  await add(a, drift('drift.added_in_cluster', 'ns/Deployment/debug', 'ADDED_IN_CLUSTER'));
  for (let i = 0; i < 6; i++) await add(b, { configId: `cfg/${i}`, operator: 'erin', action: 'update' });
  a.close();
  b.close();
  // Anchoring settles (the log no longer grows, so no new window comes): reports of it are then the same.
  const reader = new LedgerClient(tn.node.grpcAddress, { token: auditor.token });
  for (let i = 0; i < 100; i++) {
    const ws = await reader.listAnchors(LOG);
    if (ws.some((w) => w.state === 'committed' && w.checkpoints.some((c) => c.log === LOG && c.size === bodies.length))) break;
    await sleep(50);
  }
  reader.close();
  return { dir, tn, env: { CAIRN_TOKEN: auditor.token, CAIRN_SERVER: tn.node.grpcAddress }, bodies };
}

t.test('cairn report: totals from the log, byte-identical renders, a period, a bundle, and a tampered log named first', async (t) => {
  const f = await seeded();
  t.teardown(() => f.tn.close());
  const pub = join(f.dir, 'signing-key.pub.pem');
  const out = (name: string): string => join(f.dir, name);
  // Signatures checked inline: worker threads cost more than they save on logs this small.
  const report = (args: string[]) => runCli(['report', '--pubkey', pub, '--threads', '0', ...args], f.env);

  // The first with signatures checked on worker threads, as by default; the others inline: the same bytes either way.
  const r1 = await runCli(['report', '--pubkey', pub, '--log', LOG, '--out', out('r1.html')], f.env);
  t.equal(r1.code, 0, r1.stderr);
  const printed = JSON.parse(r1.stdout) as { ok: boolean; sha256: string; entriesVerified: number; inPeriod: number; driftEpisodes: number };
  t.same([printed.ok, printed.entriesVerified, printed.inPeriod, printed.driftEpisodes], [true, f.bodies.length, f.bodies.length, 3]);
  const html = await readFile(out('r1.html'), 'utf8');
  const from = f.bodies[5]!.time;
  const to = f.bodies[16]!.time;
  // Independent runs, side by side: each CLI start costs about a second on a loaded machine.
  const [r2, capped, period, exported, badFrom] = await Promise.all([
    report(['--log', LOG, '--out', out('r2.html')]),
    report(['--log', LOG, '--max-rows', '3', '--generated-at', '2026-04-01T00:00:00+02:00', '--out', out('capped.html')]),
    report(['--log', LOG, '--from', from, '--to', String(Date.parse(to) / 1000), '--out', out('period.html')]),
    runCli(['export', '--log', LOG, '--out', out('audit.bundle')], f.env),
    report(['--log', LOG, '--from', '2026-02-30T00:00:00Z', '--out', out('x.html')]),
  ]);

  await t.test('its first line says what verified, and it loads nothing and runs nothing', async (t) => {
    t.equal(firstText(html), `Verified: log ${LOG}, ${f.bodies.length} entries`);
    t.match(html, new RegExp(`<title>Verified: log ${LOG}, ${f.bodies.length} entries`));
    t.notMatch(html, /<script|<link|<img|<iframe|\ssrc=|\shref=|@import|url\((?!#)/i);
    t.match(html, /<svg class="chart"/, 'the drift chart, inline');
    t.match(html, /windows? <span class="badge ok">checked<\/span>/, 'anchor windows checked');
    t.match(html, /Witnesses<\/dt><dd>none/);
    const fingerprint = (await import('node:crypto')).createHash('sha256').update((await import('../src/core/ecdsa-der.js')).pemToDer(await readFile(pub, 'utf8'), 'PUBLIC KEY')).digest('hex');
    t.ok(html.includes(fingerprint.replace(/(.{4})(?=.)/g, '$1 ')), 'states the pinned key by its fingerprint');
  });

  await t.test('its totals are the log\'s: by operator, identity, config id and action, and every entry in the table', async (t) => {
    const tallies = talliesOf(html);
    t.same(tallies.operator, count(f.bodies, 'operator'));
    t.same(tallies.identity, count(f.bodies, 'identity'));
    t.same(tallies['config id'], count(f.bodies, 'configId'));
    t.same(tallies.action, count(f.bodies, 'action'));
    t.same(Object.keys(tallies.identity!).sort(), ['token:ci-a', 'token:ci-b'], 'the identities the node authenticated');
    t.same(changeSeqs(html), f.bodies.map((b) => b.seq));
  });

  await t.test('drift episodes with their durations', async (t) => {
    const [opened, resolved] = [f.bodies[12]!, f.bodies[14]!];
    const rows = [...html.matchAll(/<table class="episodes">.*?<tbody>(.*?)<\/tbody>/gs)][0]![1]!.split('</tr>').filter((r) => r.includes('<td'));
    t.equal(rows.length, 3);
    t.match(rows[0]!, /ns\/ConfigMap\/app.*MODIFIED.*drift\.resolved/s);
    t.ok(rows[0]!.includes(`>${formatDuration(Date.parse(resolved.time) - Date.parse(opened.time))}<`), 'resolved: the time from drift to resolution');
    t.match(rows[1]!, /ns\/Secret\/db.*fixed when detected/s);
    t.match(rows[2]!, /ns\/Deployment\/debug.*still open.*so far/s);
  });

  await t.test('two reports of the same data are byte-identical', async (t) => {
    t.equal(r2!.code, 0, r2!.stderr);
    t.equal(await readFile(out('r2.html'), 'utf8'), html);
    t.equal((JSON.parse(r2!.stdout) as { sha256: string }).sha256, printed.sha256);
    t.equal(capped!.code, 0, capped!.stderr);
    t.match(await readFile(out('capped.html'), 'utf8'), /<dt>Generated<\/dt><dd>2026-03-31T22:00:00.000Z<\/dd>/, 'a generation time only when asked, in UTC');
  });

  await t.test('--from and --to select the entries whose time is in [from, to)', async (t) => {
    const expected = f.bodies.filter((b) => b.time >= from && b.time < to);
    t.equal(period!.code, 0, period!.stderr);
    const p = await readFile(out('period.html'), 'utf8');
    t.same(changeSeqs(p), expected.map((b) => b.seq));
    t.same(talliesOf(p).operator, count(expected, 'operator'));
    t.match(p, new RegExp(`<strong>${expected.length}</strong> of ${f.bodies.length} in the log \\(${f.bodies.filter((b) => b.time < from).length} before, ${f.bodies.filter((b) => b.time >= to).length} after\\)`));
    const c = await readFile(out('capped.html'), 'utf8');
    t.same(changeSeqs(c), [0, 1, 2]);
    t.match(c, new RegExp(`The first 3 of ${f.bodies.length} changes in the period`));
  });

  await t.test('a bad flag is named (the period\'s rules: test/report-summarize.test.ts)', async (t) => {
    t.equal(badFrom!.code, 2);
    t.match(badFrom!.stderr, /--from: .*day 30/);
  });

  await t.test('from an exported bundle, offline: the same figures', async (t) => {
    t.equal(exported!.code, 0, exported!.stderr);
    // No node: the server address leads nowhere.
    const fromBundle = (name: string) => runCli(['report', '--pubkey', pub, '--threads', '0', '--bundle', out('audit.bundle'), '--out', out(name)], { CAIRN_SERVER: '127.0.0.1:1' });
    const [r, again] = await Promise.all([fromBundle('bundle.html'), fromBundle('bundle-again.html')]);
    t.same([r.code, again.code], [0, 0], r.stderr + again.stderr);
    const b = await readFile(out('bundle.html'), 'utf8');
    t.equal(await readFile(out('bundle-again.html'), 'utf8'), b, 'a bundle is a fixed state: its report is the same bytes every time');
    t.same(talliesOf(b), talliesOf(html));
    t.same(changeSeqs(b), changeSeqs(html));
    const sha = (await import('node:crypto')).createHash('sha256').update(await readFile(out('audit.bundle'))).digest('hex');
    t.ok(b.includes(sha.replace(/(.{4})(?=.)/g, '$1 ')), 'names the bundle by its SHA-256');
  });

  await t.test('a tampered stored byte: the report\'s first line says verification failed and names the seq', async (t) => {
    await f.tn.stop();
    const store = await LedgerStore.open(join(f.dir, 'ledger'));
    const key = entryKey(LOG, 7);
    const v = (await store.rawDb.get(key))!;
    const len = new DataView(v.buffer, v.byteOffset).getUint32(1);
    const text = fromUtf8(v.subarray(5, 5 + len));
    const edited = text.replace('"operator":"bob"', '"operator":"bod"');
    t.not(edited, text, 'the edit changes the signed body, keeping it canonical JSON');
    const copy = Uint8Array.from(v);
    copy.set(utf8(edited), 5);
    await store.rawDb.put(key, copy);
    await store.close();
    const tn = await startTestNode({ 'policy-file': join(f.dir, 'policy.yaml'), 'tokens-file': join(f.dir, 'tokens'), 'anchor-interval-ms': '100' }, f.dir);
    t.teardown(() => tn.stop());
    const r = await runCli(['report', '--pubkey', pub, '--threads', '0', '--log', LOG, '--out', out('tampered.html')], { ...f.env, CAIRN_SERVER: tn.node.grpcAddress });
    t.equal(r.code, 1, 'exit 1, as verify');
    t.match(r.stderr, /VERIFICATION FAILED \[SIGNATURE_INVALID\] entry 7/);
    const bad = await readFile(out('tampered.html'), 'utf8');
    t.equal(firstText(bad), `Verification FAILED at entry 7 (SIGNATURE_INVALID): log ${LOG}`);
    t.match(bad, /<title>Verification FAILED at entry 7 \(SIGNATURE_INVALID\)/);
    t.notMatch(bad, /Changes in the period/, 'a log that failed is not summarized');
  });
});
