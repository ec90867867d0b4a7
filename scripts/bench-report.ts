/**
 * `cairn report` against `cairn verify` of the same log, as a user runs them
 * (CLI start-up included): what summarizing and rendering an audit report
 * add to the verification it is built on, with the full change table and
 * with `--max-rows`, online and from a bundle.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LedgerClient } from '../src/client/ledger-client.js';
import { runCli, spawnNode, tempDir } from '../test/helpers/node.js';

export interface ReportBench {
  title: string;
  header: string[];
  rows: (string | number)[][];
}

export async function reportBench(opts: { entries: number; payloadJson: string; commit: string }): Promise<ReportBench> {
  const dir = await tempDir('cairn-bench-');
  const node = await spawnNode(dir.path, ['--anchor-backend', 'off']);
  try {
    const client = new LedgerClient(node.address);
    const s = client.appendStream();
    const n = opts.entries;
    for (let i = 0; i < n; i += 512) {
      await Promise.all(
        Array.from({ length: Math.min(512, n - i) }, (_, k) =>
          s.append({ log: 'bench', configId: `svc/${(i + k) % 200}`, operator: `user${(i + k) % 17}`, action: (i + k) % 5 === 0 ? 'rollback' : 'update', commit: opts.commit, payloadJson: opts.payloadJson }),
        ),
      );
    }
    await s.end();
    client.close();
    const pub = join(dir.path, 'signing-key.pub.pem');
    const bundle = join(dir.path, 'bench.bundle');
    const online = ['--server', node.address];
    const runs: [string, string[], string | undefined][] = [
      ['cairn verify (online)', ['verify', ...online, '--log', 'bench', '--pubkey', pub], undefined],
      ['cairn report, every change listed (online)', ['report', ...online, '--log', 'bench', '--pubkey', pub, '--out', join(dir.path, 'full.html')], join(dir.path, 'full.html')],
      ['cairn report --max-rows 1000 (online)', ['report', ...online, '--log', 'bench', '--pubkey', pub, '--max-rows', '1000', '--out', join(dir.path, 'capped.html')], join(dir.path, 'capped.html')],
      ['cairn verify-bundle (offline)', ['verify-bundle', bundle, '--pubkey', pub], undefined],
      ['cairn report --bundle, every change listed (offline)', ['report', '--bundle', bundle, '--pubkey', pub, '--out', join(dir.path, 'bundle.html')], join(dir.path, 'bundle.html')],
    ];
    const exported = await runCli(['export', ...online, '--log', 'bench', '--out', bundle]);
    if (exported.code !== 0) throw new Error(`export failed: ${exported.stderr}`);
    const rows: (string | number)[][] = [];
    for (const [what, args, out] of runs) {
      const t0 = performance.now();
      const r = await runCli(args);
      const secs = (performance.now() - t0) / 1000;
      rows.push([what, r.code === 0 ? 'yes' : 'NO', secs, n / secs, out ? (await stat(out)).size / 1e6 : '']);
    }
    return { title: `Audit reports (${n.toLocaleString('en-US')} entries; includes CLI start-up)`, header: ['command', 'ok', 'seconds', 'entries/s', 'report MB'], rows };
  } finally {
    await node.stop();
    await dir.remove();
  }
}
