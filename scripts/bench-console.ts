/**
 * The console section of `npm run bench`: the auditor's console in Debian's
 * chromium (headless), against a real node.
 *
 * - Verification in the browser of an exported 100,000-entry bundle, with
 *   WebCrypto and with @noble/curves, in the same run, in the page's Web
 *   Worker (the page served by the node over http://127.0.0.1, a secure
 *   context). The time is the worker's: reading the file, parsing every
 *   line, and every check `cairn verify-bundle` makes.
 * - The first view of a log of 10^6 entries: from navigation to the newest
 *   page of entries on screen (User Timing mark `cairn:entries-shown`), and
 *   to the logs table (`cairn:logs-shown`); a fresh page each time.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { percentile } from './bench-lib.js';
import { ROOT, runCli, spawnNode } from '../test/helpers/node.js';
import { launchChromium } from '../test/helpers/browser.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { Ledger } from '../src/ledger/ledger.js';
import { SigningKey, writeKeyFiles } from '../src/keys/signing-key.js';
import { readdir, readFile } from 'node:fs/promises';

export interface BenchTable {
  title: string;
  header: string[];
  rows: (string | number)[][];
}

/** A log of `n` entries in a cached directory (built in-process once: the append path is not what is measured here). */
export async function cachedLog(name: string, log: string, n: number): Promise<string> {
  const dir = join(ROOT, '.bench-data', name);
  if (existsSync(join(dir, 'ready'))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const key = SigningKey.generate();
  await writeKeyFiles(dir, key);
  const store = await LedgerStore.open(join(dir, 'ledger'));
  const ledger = new Ledger(store, key, { nodeName: 'bench', maxBatch: 4096, maxQueue: 20_000, maxLogs: 10, limits: { maxPayloadBytes: 65536 } });
  let done = 0;
  await Promise.all(
    Array.from({ length: 4096 }, async () => {
      while (done < n) {
        const i = done++;
        await ledger.append({ log, configId: `svc/web-${i % 50}`, operator: i % 3 ? 'ci' : 'alice', action: i % 10 ? 'update' : 'rollback', payloadJson: `{"n":${i}}` });
      }
    }),
  );
  await ledger.close();
  await store.close();
  await writeFile(join(dir, 'ready'), '');
  return dir;
}

/** User plus system CPU seconds of a process and all its descendants (Linux /proc; 100 ticks a second). */
async function treeCpuSeconds(root: number): Promise<number> {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // Fields after the command (which may hold spaces) start at state: ppid is the 2nd, utime the 12th, stime the 13th.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (f.length > 13) stats.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 32; hops++) {
      if (p === root) return true;
      p = stats.get(p)?.ppid ?? 0;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of stats) if (inTree(pid)) ticks += s.ticks;
  return ticks / 100;
}

async function pin(page: Page, pem: string): Promise<void> {
  await page.click('details summary');
  await page.type('#pin-pem', pem);
  await page.click('#pin');
  await page.waitForFunction(`document.querySelector('#key-status')?.textContent?.startsWith('pinned key')`);
}

export async function consoleBench(opts: { quick: boolean; millionDir: string }): Promise<BenchTable[]> {
  const BUNDLE_N = 100_000;
  const bundleDir = await cachedLog(`bundle-${BUNDLE_N}`, 'hundredk', BUNDLE_N);
  const bundle = join(bundleDir, 'hundredk.jsonl');
  const { browser, close } = await launchChromium(1_800_000);
  const tables: BenchTable[] = [];
  try {
    // Verification of a 100,000-entry bundle, WebCrypto and @noble, in the same run.
    const node = await spawnNode(bundleDir, ['--node-name', 'bench', '--anchor-backend', 'off']);
    try {
      if (!existsSync(bundle)) {
        const r = await runCli(['export', '--server', node.address, '--log', 'hundredk', '--out', bundle]);
        if (r.code !== 0) throw new Error(`export: ${r.stderr}`);
      }
      const pem = await readFile(join(bundleDir, 'signing-key.pub.pem'), 'utf8');
      const page = await browser.newPage();
      await page.goto(`${node.httpAddress}/console/#/offline`);
      await pin(page, pem);
      const rows: (string | number)[][] = [];
      const pid = browser.process()?.pid;
      for (const [primitive, helpers] of [['webcrypto', ''], ['webcrypto', '0'], ['noble', '']] as const) {
        await page.goto(`${node.httpAddress}/console/#/offline${helpers ? `?helpers=${helpers}` : ''}`);
        await page.reload();
        await page.waitForSelector('#bundle-file');
        await page.select('#primitive', primitive);
        const input = await page.$('#bundle-file');
        const cpu0 = pid ? await treeCpuSeconds(pid) : NaN;
        await input!.uploadFile(bundle);
        await page.waitForSelector('.outcome', { timeout: 900_000 });
        const cpu = (pid ? await treeCpuSeconds(pid) : NaN) - cpu0;
        const r = await page.$eval('.outcome', (e) => ({ ...(e as unknown as { dataset: Record<string, string> }).dataset }));
        const ms = Number(r.ms);
        const by = primitive === 'webcrypto' ? 'WebCrypto (crypto.subtle.verify)' : '@noble/curves p256.verify';
        const where = r.helpers === '0' ? 'in line, one worker' : `${r.helpers} helper workers`;
        process.stderr.write(`  console: ${by}, ${where}: ${ms} ms\n`);
        rows.push([by, where, r.outcome === 'ok' ? 'yes' : 'NO', ms / 1000, Math.round(BUNDLE_N / (ms / 1000)), cpu, Math.round(BUNDLE_N / cpu)]);
      }
      tables.push({
        title: `In-browser verification of a ${BUNDLE_N.toLocaleString('en-US')}-entry bundle (chromium headless, page served by the node; every check of cairn verify-bundle; CPU: all of chromium's processes)`,
        header: ['signatures by', 'signatures checked', 'ok', 'seconds', 'entries/s', 'CPU s', 'entries per CPU s'],
        rows,
      });
      await page.close();
    } finally {
      await node.stop();
    }

    // The first view of a 10^6-entry log.
    const million = await spawnNode(opts.millionDir, ['--node-name', 'bench', '--anchor-backend', 'off']);
    try {
      const entries: number[] = [];
      const logs: number[] = [];
      const runs = opts.quick ? 3 : 7;
      for (let i = 0; i < runs; i++) {
        const page = await browser.newPage();
        await page.goto(`${million.httpAddress}/console/#/log/million`);
        await page.waitForSelector('tr.entry');
        entries.push(await page.evaluate(`performance.getEntriesByName('cairn:entries-shown')[0].startTime`) as number);
        await page.goto(`${million.httpAddress}/console/#/`, { waitUntil: 'load' });
        await page.reload();
        await page.waitForSelector('tr[data-log="million"]');
        logs.push(await page.evaluate(`performance.getEntriesByName('cairn:logs-shown')[0].startTime`) as number);
        await page.close();
      }
      const size = await fetch(`${million.httpAddress}/v1/logs/million/checkpoint`).then(async (r) => ((await r.json()) as { size: number }).size);
      entries.sort((a, b) => a - b);
      logs.sort((a, b) => a - b);
      tables.push({
        title: `Console first view of a ${size.toLocaleString('en-US')}-entry log (navigation start to on screen, ${runs} fresh pages)`,
        header: ['view', 'p50 ms', 'max ms'],
        rows: [
          ['entries: the newest 50 (order=desc page from the end)', percentile(entries, 50), entries.at(-1)!],
          ['logs: sizes of every log', percentile(logs, 50), logs.at(-1)!],
        ],
      });
    } finally {
      await million.stop();
    }
  } finally {
    await close();
  }
  return tables;
}
