/**
 * The auditor's console in a real browser (Debian's chromium, headless)
 * against a real node: the page loads without a credential, then reads the
 * API with the token the user gives; with the pinned key every entry shown
 * is verified in a Web Worker; filters and paging; the drift diff, timeline
 * and anchor lag chart; "verify the whole log" gives what `cairn verify
 * --anchors` gives, before and after one stored byte is changed; the page
 * opened from a file verifies a good and a tampered bundle with no server;
 * and each verification's audit report downloads as the very bytes
 * `cairn report` writes for the same log or bundle. Every
 * request the pages make is recorded: none leaves the node (or the file).
 * Screenshots of each view go to test-artifacts/console/.
 */
import t from 'tap';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'puppeteer-core';
import { spawn } from 'node:child_process';
import { CLI, ROOT, runCli, SERVE_NODE_FLAGS, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { launchChromium } from './helpers/browser.js';
import { createToken } from '../src/auth/tokens.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { entryKey } from '../src/storage/keys.js';
import { CONSOLE_CSP } from '../src/http/console-assets.js';
import { fromBase64, toBase64 } from '../src/core/bytes.js';

/** The parts of page elements the checks read (the test compiles without the DOM's types). */
type El = { dataset: Record<string, string | undefined> };
type Bar = { value: number; max: number };

const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');
const DIST = join(ROOT, 'dist', 'console');
const N = 130;
const TAMPERED = 17;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) as `${string}.png`, fullPage: true });
}

async function post(base: string, token: string, log: string, body: Record<string, string>): Promise<void> {
  const r = await fetch(`${base}/v1/logs/${log}/entries`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`append: ${r.status} ${await r.text()}`);
}

/** Entries of two kinds: changes by people and pipelines, and a sync target's drift entries (docs/sync.md). */
async function seed(base: string, token: string): Promise<void> {
  for (let i = 0; i < N; i++) {
    const action = i % 10 === 3 ? 'rollback' : 'apply';
    await post(base, token, 'prod', { config_id: `cfg/${i}`, operator: i % 2 ? 'alice' : 'ci-bot', action, commit: `abc${String(i).padStart(4, '0')}`, payload_json: JSON.stringify({ n: i }) });
  }
  const drift = (key: string, action: string, status: string, patch: unknown, resolves?: number): Record<string, string> => ({
    config_id: key,
    operator: 'cairn-sync/cluster-a',
    action,
    commit: 'c0ffee1',
    payload_json: JSON.stringify({ target: 'cluster-a', key, status, patch, commit: 'c0ffee1', patchDigest: 'd'.repeat(64), ...(resolves === undefined ? {} : { resolves }) }),
  });
  const replicas = [
    { op: 'test', path: '/spec/replicas', value: 5 },
    { op: 'replace', path: '/spec/replicas', value: 3 },
  ];
  await post(base, token, 'sync', drift('default/Deployment/web', 'drift.modified', 'MODIFIED', replicas));
  await post(base, token, 'sync', drift('default/ConfigMap/flags', 'drift.added_in_cluster', 'ADDED_IN_CLUSTER', [{ op: 'remove', path: '' }]));
  await new Promise((r) => setTimeout(r, 300));
  await post(base, token, 'sync', drift('default/Deployment/web', 'drift.resolved', 'RESOLVED', [], 0));
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('the console, against a real node and from a file, in chromium', async (t) => {
  await mkdir(ARTIFACTS, { recursive: true });
  const dir = await tempDir('cairn-console-');
  t.teardown(dir.remove);
  const auditor = createToken('auditor');
  await writeFile(join(dir.path, 'policy.yaml'), ['tenants:', '  audit: [append:*, read:*, anchor:read]', 'identities:', "  - { match: 'token:auditor', tenant: audit }", ''].join('\n'));
  await writeFile(join(dir.path, 'tokens'), `${auditor.line}\n`);
  const settings = { 'policy-file': join(dir.path, 'policy.yaml'), 'tokens-file': join(dir.path, 'tokens'), 'anchor-backend': 'local', 'anchor-interval-ms': '100' };
  const dataDir = join(dir.path, 'node');
  let tn: TestNode = await startTestNode(settings, dataDir);
  t.teardown(() => tn.stop());
  let base = tn.node.httpAddress!;
  const pem = await readFile(tn.pubkeyPath, 'utf8');
  const cliEnv = { CAIRN_TOKEN: auditor.token };
  await seed(base, auditor.token);
  await waitFor('an anchor window with the whole log', async () => {
    const r = (await (await fetch(`${base}/v1/logs/prod/anchors`, { headers: { authorization: `Bearer ${auditor.token}` } })).json()) as { anchors: { state: string; checkpoints: { size: number }[] }[] };
    return r.anchors.some((a) => a.state === 'committed' && a.checkpoints.some((c) => c.size === N));
  });

  const { browser, close } = await launchChromium();
  t.teardown(close);
  const requests: string[] = [];
  const cspViolations: string[] = [];
  const watch = (page: Page): void => {
    page.on('request', (r) => void requests.push(r.url()));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
  };
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  watch(page);

  const downloads = join(dir.path, 'downloads');
  await mkdir(downloads);
  const session = await browser.target().createCDPSession();
  await session.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  /** Clicks Download report and returns the file the browser saved. */
  const downloadedReport = async (p: Page, what: string): Promise<Buffer> => {
    const name = await p.$eval('#download-report', (a) => a.getAttribute('download')!);
    await rm(join(downloads, name), { force: true });
    await p.click('#download-report');
    await waitFor(`the ${what} report download`, async () => existsSync(join(downloads, name)) && !existsSync(join(downloads, `${name}.crdownload`)));
    return readFile(join(downloads, name));
  };
  /** What `cairn report` writes for `source` (`--bundle FILE` or `--log NAME --server ADDRESS`). */
  const cliReport = async (source: string[], what: string): Promise<Buffer> => {
    const out = join(dir.path, `cli-${what}.html`);
    await runCli(['report', ...source, '--pubkey', tn.pubkeyPath, '--out', out], cliEnv);
    return readFile(out);
  };
  await t.test('the page loads without a credential, with the strict policy, and asks for one', async (t) => {
    const res = await page.goto(`${base}/console/`, { waitUntil: 'load' });
    t.equal(res?.status(), 200);
    t.equal(res?.headers()['content-security-policy'], CONSOLE_CSP);
    t.match(CONSOLE_CSP, /script-src 'self'/);
    t.notMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|blob:|\*/, 'no inline script, no eval, no other origin');
    await page.waitForSelector('p.error[data-error="UNAUTHENTICATED"]');
    t.match(await page.$eval('p.error', (e) => e.textContent), /401 UNAUTHENTICATED.*give a bearer token/);
    const asset = await fetch(`${base}/console/console.js`);
    t.equal(asset.status, 200, 'assets need no credential');
    t.match(asset.headers.get('content-type') ?? '', /javascript/);
    t.equal((await fetch(`${base}/console/../v1/logs`)).status, 401, 'the API behind it still does');
    t.equal((await fetch(`${base}/console/secrets.txt`)).status, 404, 'only the built files are served');
    const spec = (await (await fetch(`${base}/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    t.notOk(Object.keys(spec.paths).some((p) => p.startsWith('/console')), 'the static files are not API operations');
  });

  await t.test('logs: size, last change and anchoring, with the token', async (t) => {
    await page.type('#token', auditor.token);
    await page.click('#use-token');
    await page.waitForSelector('tr[data-log="prod"]');
    await page.waitForFunction(`!document.querySelector('#logs')?.textContent?.includes('…')`);
    const row = await page.$eval('tr[data-log="prod"]', (r) => [...r.querySelectorAll('td')].map((c) => c.textContent));
    t.equal(row[1], String(N), 'size');
    t.match(row[2], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(/, 'last change');
    t.match(row[3], new RegExp(`^${N} entries, window \\d+$`), 'anchored size and window');
    t.match(row[4], /^\d+\.\d s$/, 'anchor lag');
    t.equal(row[5], '—', 'no witness cosigned this node\'s checkpoints: a dash, not a claim');
    await shot(page, '1-logs');
  });

  await t.test('entries: the newest page, each one verified in a worker against the pinned key', async (t) => {
    t.match(await page.$eval('.where', (e) => e.textContent), /Web Worker/);
    await page.click('details summary');
    await page.type('#pin-pem', pem);
    await page.click('#pin');
    await page.waitForFunction(`document.querySelector('#key-status')?.textContent?.startsWith('pinned key')`);
    await page.goto(`${base}/console/#/log/prod`);
    await page.waitForSelector('tr.entry');
    await page.waitForFunction(`!document.querySelector('td.mark.pending')`);
    const rows = await page.$$eval('tr.entry', (rs) => rs.map((r) => [Number((r as unknown as El).dataset.seq), (r as unknown as El).dataset.verified]));
    t.equal(rows.length, 50);
    t.same(rows.map((r) => r[0]), Array.from({ length: 50 }, (_, i) => N - 1 - i), 'newest first');
    t.ok(rows.every((r) => r[1] === 'ok'), 'every mark is green');
    t.match(await page.$eval('#payload', (e) => e.textContent), /"n": 129/, 'the newest entry is decoded with its payload');
    await shot(page, '2-entries-verified');
    await page.click('#older');
    await page.waitForFunction(`document.querySelector('tr.entry')?.getAttribute('data-seq') === '79'`);
    await page.waitForFunction(`!document.querySelector('td.mark.pending')`);
    t.ok((await page.$$eval('tr.entry', (rs) => rs.map((r) => (r as unknown as El).dataset.verified))).every((v) => v === 'ok'), 'the older page verifies too');
  });

  await t.test('filters: action, operator and commit, server-side', async (t) => {
    await page.goto(`${base}/console/#/log/prod`);
    await page.waitForSelector('#filters');
    await page.type('input[name="action"]', 'rollback');
    await page.type('input[name="operator"]', 'alice');
    await page.click('#apply-filters');
    await page.waitForFunction(`location.hash.includes('action=rollback')`);
    await page.waitForFunction(`!document.querySelector('.loading') && document.querySelectorAll('tr.entry').length > 0`);
    await page.waitForFunction(`!document.querySelector('td.mark.pending')`);
    const rows = await page.$$eval('tr.entry', (rs) => rs.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)));
    const expected = Array.from({ length: N }, (_, i) => i).filter((i) => i % 10 === 3 && i % 2 === 1).reverse();
    t.same(rows.map((r) => Number(r[0])), expected, 'exactly the matching entries, newest first');
    t.ok(rows.every((r) => r[2] === 'rollback' && r[4] === 'alice'));
    t.ok(rows.every((r) => r[7] === '✓ verified'), 'filtered entries are verified too (chain links fetched)');
    await shot(page, '3-entries-filtered');
    await page.goto(`${base}/console/#/log/prod?commit=abc0042`);
    await page.waitForFunction(`document.querySelectorAll('tr.entry').length === 1`);
    t.equal(await page.$eval('tr.entry', (r) => r.getAttribute('data-seq')), '42');
  });

  await t.test('sync entries: the drift as a readable diff, the timeline and the open drifts', async (t) => {
    await page.goto(`${base}/console/#/log/sync?action=drift.modified`);
    await page.waitForSelector('tr.entry');
    await page.waitForSelector('#drift-diff');
    t.match(await page.$eval('#drift-diff', (e) => e.textContent), /drift\.modified on default\/Deployment\/web.*~ \/spec\/replicas: 5 -> 3/s);
    await page.waitForSelector('tr.entry[data-verified="ok"]');
    await shot(page, '4-sync-entry-diff');
    await page.goto(`${base}/console/#/log/sync/drift`);
    await page.waitForSelector('svg.chart');
    t.equal(await page.$$eval('svg.chart rect.bar.resolved', (b) => b.length), 1, 'one resolved episode');
    t.equal(await page.$$eval('svg.chart rect.bar.open', (b) => b.length), 1, 'one open episode');
    t.match(await page.$eval('.target', (e) => e.textContent), /Open drifts now: 1.*default\/ConfigMap\/flags.*ADDED_IN_CLUSTER/s);
    await shot(page, '5-drift-timeline');
  });

  await t.test('anchors: the windows and the lag chart', async (t) => {
    await page.goto(`${base}/console/#/log/prod/anchors`);
    await page.waitForSelector('#anchors tbody tr');
    t.ok((await page.$$eval('svg.chart circle.dot', (d) => d.length)) >= 1, 'a point per committed window');
    t.match(await page.$eval('#anchors tbody tr', (r) => r.textContent), new RegExp(`committed${N}`));
    await shot(page, '6-anchors');
  });

  const verifyInPage = async (p: Page, b: string): Promise<Record<string, unknown>> => {
    await p.goto(`${b}/console/#/log/prod/verify`);
    await p.waitForSelector('#verify-log:not([disabled])');
    await p.click('#verify-log');
    await p.waitForSelector('.outcome', { timeout: 30_000 });
    return p.$eval('.outcome', (e) => ({ ...(e as unknown as El).dataset, text: e.textContent }));
  };

  await t.test('verify the whole log: the same result as cairn verify --anchors, and the same report as cairn report', async (t) => {
    const o = await verifyInPage(page, base);
    t.equal(o.outcome, 'ok');
    const cli = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'prod', '--pubkey', tn.pubkeyPath, '--anchors'], cliEnv);
    t.equal(cli.code, 0);
    const shown = JSON.parse(await page.$eval('.outcome pre', (e) => e.textContent!)) as Record<string, unknown>;
    t.same(shown, JSON.parse(cli.stdout), 'field for field what cairn verify --anchors prints');
    t.ok((shown.anchorsVerified as number) > 0, 'the anchor windows were checked');
    t.same(await downloadedReport(page, 'log'), await cliReport(['--log', 'prod', '--server', tn.node.grpcAddress], 'log'), 'Download report: byte for byte what cairn report --log writes');
    t.equal(await page.$eval('#progress', (e) => [(e as unknown as Bar).value, (e as unknown as Bar).max].join('/')), `${N}/${N}`, 'the progress bar ran to the end');
    await shot(page, '7-verify-ok');
  });

  const bundle = join(dir.path, 'prod.jsonl');
  t.equal((await runCli(['export', '--server', tn.node.grpcAddress, '--log', 'prod', '--out', bundle], cliEnv)).code, 0);
  const lines = (await readFile(bundle, 'utf8')).split('\n');
  const o = JSON.parse(lines[TAMPERED + 1]!) as { signature: string };
  const sig = fromBase64(o.signature);
  sig[sig.length - 5]! ^= 0x01;
  lines[TAMPERED + 1] = JSON.stringify({ ...o, signature: toBase64(sig) });
  const badBundle = join(dir.path, 'prod-tampered.jsonl');
  await writeFile(badBundle, lines.join('\n'));

  await t.test('one stored byte changed: the page names the seq, as cairn verify does', async (t) => {
    await tn.stop();
    const store = await LedgerStore.open(join(dataDir, 'ledger'));
    const key = entryKey('prod', TAMPERED);
    const v = Uint8Array.from((await store.rawDb.get(key))!);
    v[v.length - 40]! ^= 0x01; // inside the DER signature
    await store.rawDb.put(key, v);
    await store.close();
    tn = await startTestNode(settings, dataDir);
    base = tn.node.httpAddress!;
    // A new port is a new origin: the token and the key are given again.
    await page.goto(`${base}/console/`);
    await page.type('#token', auditor.token);
    await page.click('#use-token');
    await page.click('details summary');
    await page.type('#pin-pem', pem);
    await page.click('#pin');
    const o = await verifyInPage(page, base);
    const cli = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'prod', '--pubkey', tn.pubkeyPath, '--anchors'], cliEnv);
    t.equal(cli.code, 1);
    t.equal(o.outcome, 'failed');
    t.equal(o.seq, String(TAMPERED), `names entry ${TAMPERED}`);
    t.match(cli.stderr, new RegExp(`\\[${o.code}\\] entry ${TAMPERED}:`), 'the same code and seq as cairn verify');
    t.match(o.text, new RegExp(`VERIFICATION FAILED \\[SIGNATURE_INVALID\\] at entry ${TAMPERED}`));
    await shot(page, '8-verify-tampered');
    t.same(await downloadedReport(page, 'tampered log'), await cliReport(['--log', 'prod', '--server', tn.node.grpcAddress], 'tampered-log'), 'the tampered log\'s report: the CLI\'s bytes too');
    await page.goto(`${base}/console/#/log/prod?config_id=cfg/${TAMPERED}`);
    await page.waitForSelector(`tr.entry[data-seq="${TAMPERED}"][data-verified]`);
    t.match(await page.$eval(`tr.entry[data-seq="${TAMPERED}"] td.mark`, (e) => e.textContent), /^✗ signature/, 'the entry shown is marked, naming the check');
    await shot(page, '9-entry-failed');
  });

  await t.test('offline: the page opened from a file verifies a good and a tampered bundle with no server', async (t) => {
    await tn.stop();
    const saved = join(dir.path, 'saved-console');
    await mkdir(saved);
    for (const f of ['index.html', 'console.js', 'console.css', 'verify-worker.js']) await copyFile(join(DIST, f), join(saved, f));
    const off = await browser.newPage();
    await off.setViewport({ width: 1280, height: 900 });
    watch(off);
    await off.goto(pathToFileURL(join(saved, 'index.html')).href);
    await off.waitForSelector('#bundle-file');
    t.match(await off.$eval('.where', (e) => e.textContent), /this page/, 'from file:// the checks run in the page');
    t.equal(await off.evaluate(() => typeof crypto.subtle), 'object', 'file:// is a secure context: WebCrypto is there');
    await off.click('details summary');
    await off.type('#pin-pem', pem);
    await off.click('#pin');
    const verifyFile = async (path: string): Promise<Record<string, string | undefined>> => {
      const input = await off.$('#bundle-file');
      await input!.uploadFile(path);
      await off.waitForSelector('.outcome', { timeout: 30_000 });
      const r = await off.$eval('.outcome', (e) => ({ ...(e as unknown as El).dataset, text: e.textContent ?? '' }));
      return r;
    };
    const good = await verifyFile(bundle);
    t.equal(good.outcome, 'ok');
    t.equal(good.primitive, 'webcrypto');
    const cli = await runCli(['verify-bundle', bundle, '--pubkey', tn.pubkeyPath]);
    t.equal(cli.code, 0);
    const shown = JSON.parse(await off.$eval('.outcome pre', (e) => e.textContent!)) as Record<string, unknown>;
    t.same(shown, JSON.parse(cli.stdout), 'what cairn verify-bundle prints');
    t.equal(shown.anchorsVerified, (JSON.parse(lines[0]!) as { anchors: unknown[] }).anchors.length, 'the anchor proofs were checked');
    await shot(off, '10-offline-bundle-ok');
    t.same(await downloadedReport(off, 'good'), await cliReport(['--bundle', bundle], 'good'), 'Download report: byte for byte what cairn report --bundle writes');
    await off.reload();
    await off.waitForSelector('#bundle-file');
    const bad = await verifyFile(badBundle);
    t.equal(bad.outcome, 'failed');
    t.equal(bad.seq, String(TAMPERED));
    const cliBad = await runCli(['verify-bundle', badBundle, '--pubkey', tn.pubkeyPath]);
    t.match(cliBad.stderr, new RegExp(`\\[${bad.code}\\] entry ${TAMPERED}:`), 'the same code and seq as cairn verify-bundle');
    await shot(off, '11-offline-bundle-tampered');
    const badReport = await downloadedReport(off, 'tampered');
    t.same(badReport, await cliReport(['--bundle', badBundle], 'tampered'), 'a tampered bundle\'s report: the same bytes as the CLI\'s too');
    t.match(badReport.toString('utf8'), new RegExp(`<title>[^<]*(FAILED|failed)[^<]*</title>`), 'and it says first that verification failed');
    t.ok(requests.filter((u) => u.startsWith('file:')).length >= 3, 'the file page loaded its own files');
  });

  t.test('no request left the node or the file', async (t) => {
    const origins = new Set(requests.map((u) => (u.startsWith('file:') ? 'file:' : new URL(u).origin)));
    const nodes = [...origins].filter((o) => /^http:\/\/127\.0\.0\.1:\d+$/.test(o));
    t.ok(requests.length > 50, `${requests.length} requests seen`);
    t.ok(requests.some((u) => u.includes('/proofs/inclusion')), 'the worker\'s requests are seen too (only the worker asks for proofs)');
    t.same([...origins].filter((o) => o !== 'file:' && !nodes.includes(o)), [], 'only the node (two runs: two ports) and the saved file');
    t.ok(nodes.length <= 2);
    t.same(cspViolations, [], 'the page never ran into its own policy');
  });
});

t.test('cairn serve prints the console address: on stdout, and in the node started log line', async (t) => {
  const dir = await tempDir('cairn-console-start-');
  t.teardown(dir.remove);
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, CLI, 'serve', '--data-dir', dir.path, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--metrics-listen', '', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  child.channel?.unref();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no console line: ${out} ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const url = /^cairn: the auditor's console is at (http:\/\/127\.0\.0\.1:\d+\/console\/)\n$/.exec(out)?.[1];
  t.ok(url, `stdout: ${out}`);
  const started = err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; console?: string }).find((l) => l.msg === 'node started');
  t.equal(started?.console, url, 'the same address in the JSON log line');
  const page = await fetch(url!);
  t.equal(page.status, 200);
  t.match(await page.text(), /<script defer src="console.js"><\/script>/);
});
