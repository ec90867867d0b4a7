/**
 * The federation section of `npm run bench` (`--only federation`), real
 * node processes on loopback (test/helpers/federation.ts):
 *
 * - the ring of five, each link through a proxy adding 50-200 ms per chunk,
 *   each node witnessed by the next two: time from the last of 1,000 concurrent appends (spread over the five
 *   nodes' logs) to every node holding the same vector, p50 and max over
 *   repeated runs;
 * - a mirror catching up with one busy peer: entries verified and stored
 *   per second;
 * - the origin's append throughput (AppendStream, 64 in flight) alone, and
 *   with 4 mirrors following it, in the same run.
 */
import { percentile, processCpuSeconds } from './bench-lib.js';
import { ringWitnesses, startFederation, vectorText } from '../test/helpers/federation.js';
import type { LedgerClient } from '../src/client/ledger-client.js';

export interface BenchTable {
  title: string;
  header: string[];
  rows: (string | number)[][];
}

async function appendSpread(clients: readonly LedgerClient[], log: string, total: number): Promise<void> {
  const per = total / clients.length;
  await Promise.all(
    clients.map(async (c, n) => {
      for (let i = 0; i < per; i += 8) {
        await Promise.all(Array.from({ length: Math.min(8, per - i) }, (_, k) => c.append({ log, configId: `cfg/${i + k}`, operator: `node${n}`, action: 'update', payloadJson: '{"replicas":3}' })));
      }
    }),
  );
}

/** Polls every node's vector every `pollMs` until all equal and every log is `size`; ms since `since`. */
async function converged(clients: readonly LedgerClient[], logs: number, size: number, since: number, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    const v = (await Promise.all(clients.map((c) => c.federationStatus()))).map(vectorText);
    const lines = v[0]!.split('\n').filter(Boolean);
    if (v.every((x) => x === v[0]) && lines.length === logs && lines.every((l) => Number(l.split(' ')[1]) === size)) return Date.now() - since;
    if (Date.now() - since > timeoutMs) throw new Error(`no convergence within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function ringConvergence(runs: number): Promise<BenchTable> {
  const names = ['a', 'b', 'c', 'd', 'e'];
  // As in test/federation.test.ts: each node also asks the next two to witness it (their calls share the delayed links).
  const fed = await startFederation(names, names.map((from, i) => ({ from, to: names[(i + 1) % names.length]! })), { pollMs: 200, witnesses: ringWitnesses(names, 2) });
  try {
    const clients = names.map((n) => fed.nodes.get(n)!.client);
    // The logs exist and are followed everywhere before the clock runs: what is measured is entries travelling, not discovery.
    await appendSpread(clients, 'ring', names.length);
    await converged(clients, names.length, 1, Date.now());
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      await appendSpread(clients, 'ring', 1000);
      times.push(await converged(clients, names.length, 1 + (r + 1) * 200, Date.now()));
    }
    times.sort((x, y) => x - y);
    return {
      title: `Five-node ring, each link 50-200 ms per chunk (A follows B ... E follows A; each witnessed by the next two): convergence after the last of 1,000 concurrent appends (${runs} runs)`,
      header: ['p50 ms', 'max ms', 'each run (ms)'],
      rows: [[percentile(times, 50), times[times.length - 1]!, times.join(', ')]],
    };
  } finally {
    await fed.close();
  }
}

async function fill(c: LedgerClient, log: string, n: number): Promise<number> {
  const s = c.appendStream();
  const inflight = new Set<Promise<unknown>>();
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const p = s.append({ log, configId: `cfg/${i}`, operator: 'ci', action: 'update', payloadJson: '{"replicas":3}' }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 64) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await s.end();
  return (n * 1000) / (Date.now() - t0);
}

async function mirrorRate(n: number): Promise<BenchTable> {
  const fed = await startFederation(['origin', 'mirror'], [{ from: 'mirror', to: 'origin', delayed: false }], { pollMs: 100 });
  try {
    const origin = fed.nodes.get('origin')!;
    const mirror = fed.nodes.get('mirror')!;
    // The mirror is stopped while the origin fills the log, then catches up from zero.
    await mirror.proc.stop();
    await fill(origin.client, 'busy', n);
    const t0 = Date.now();
    await mirror.start();
    const started = Date.now() - t0;
    for (;;) {
      const size = await mirror.client.withOrigin('origin').getCheckpoint('busy').then((c) => c.size, () => 0);
      if (size === n) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = Date.now() - t0 - started;
    return {
      title: `A mirror catching up with one peer: ${n.toLocaleString('en-US')} entries verified (signature, chain, tree, from the origin's pinned key) and stored`,
      header: ['entries/s', 'seconds'],
      rows: [[Math.round((n * 1000) / ms), (ms / 1000).toFixed(2)]],
    };
  } finally {
    await fed.close();
  }
}

async function originWithMirrors(n: number): Promise<BenchTable> {
  const mirrors = ['m1', 'm2', 'm3', 'm4'];
  const fed = await startFederation(['o', ...mirrors], mirrors.map((m) => ({ from: m, to: 'o', delayed: false })), { pollMs: 100 });
  try {
    const o = fed.nodes.get('o')!;
    const ms = mirrors.map((m) => fed.nodes.get(m)!);
    await Promise.all(ms.map((m) => m.proc.stop()));
    const pid = o.proc.child.pid;
    let cpu = processCpuSeconds(pid);
    const alone = await fill(o.client, 'solo', n);
    const cpuAlone = processCpuSeconds(pid) - cpu;
    await Promise.all(ms.map((m) => m.start()));
    // Followed from here on: the mirrors catch up with 'solo' and watch 'load' while it is written.
    await o.client.append({ log: 'load', configId: 'c', operator: 'ci', action: 'update' });
    for (const m of ms) {
      for (;;) {
        const size = await m.client.withOrigin('o').getCheckpoint('load').then((c) => c.size, () => 0);
        if (size >= 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    cpu = processCpuSeconds(pid);
    const followed = await fill(o.client, 'load', n);
    const cpuFollowed = processCpuSeconds(pid) - cpu;
    return {
      title: `The origin's append throughput (AppendStream, 64 in flight, ${n.toLocaleString('en-US')} entries), alone and with 4 mirrors following it live`,
      header: ['mirrors', 'appends/s', 'vs alone', 'origin CPU ms per 1,000 appends'],
      rows: [
        ['0', Math.round(alone), '1.00x', Math.round((cpuAlone * 1e6) / n)],
        ['4', Math.round(followed), `${(followed / alone).toFixed(2)}x`, Math.round((cpuFollowed * 1e6) / n)],
      ],
    };
  } finally {
    await fed.close();
  }
}

export async function federationBench(quick: boolean): Promise<BenchTable[]> {
  return [await ringConvergence(quick ? 2 : 5), await mirrorRate(quick ? 20_000 : 50_000), await originWithMirrors(quick ? 10_000 : 20_000)];
}
