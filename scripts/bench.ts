/**
 * `npm run bench`: the figures docs/benchmarks.md holds, measured on this
 * machine in one run, alternatives side by side as ratios.
 *
 *   node dist/scripts/bench.js [--quick] [--only crypto,merkle,policy,diff,append,http,anchors,proofs,report,federation,witness,console] [--out FILE]
 *
 * A full run (no --quick, no --only) writes its tables, headed by the commit,
 * date, Node version and CPU, between the bench markers of docs/benchmarks.md.
 * A --quick or --only run only prints them, or writes them to --out FILE.
 *
 * - signatures: @noble/curves vs node:crypto (sign, verify), same key and message
 * - Merkle: the own RFC 6962 CompactRange vs merkletreejs rebuilding per append
 * - the authorization policy at 1,000 tenants: compile, can() and tenantOf() rates
 * - the sync diff of 10,000 Deployments: lists matched by Kubernetes' keys vs by position
 * - durable appends/s over gRPC (server in a child process) at concurrency 1, 16, 64, p50/p99
 * - the HTTP JSON API against unary gRPC Append at concurrency 64, both driven by h2load (bench-http.ts)
 * - full-log verification entries/s, online (gRPC) and offline (bundle)
 * - inclusion and consistency proof latency at 10^6 entries (log cached in .bench-data/)
 * - audit reports: `cairn report` against `cairn verify` of the same log (bench-report.ts)
 * - federation (bench-federation.ts): the five-node ring's convergence over 50-200 ms links,
 *   a mirror's verified entries/s, the origin's appends/s with 0 and 4 mirrors
 * - the console in chromium: a 100,000-entry bundle verified in the browser with WebCrypto and
 *   with @noble, and the first view of the 10^6-entry log (bench-console.ts)
 */
import { generateKeyPairSync, sign as nodeSign, verify as nodeVerify, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { MerkleTree } from 'merkletreejs';
import { percentile, machine, table, opsPerSec, processCpuSeconds, ownCpuSeconds, writeBenchSection } from './bench-lib.js';
import { ROOT, spawnNode, tempDir, runCli } from '../test/helpers/node.js';
import { leanAppendStream } from './lean-load.js';
import { policyBench } from './bench-policy.js';
import { benchDiff } from './bench-diff.js';
import { httpBench } from './bench-http.js';
import { reportBench } from './bench-report.js';
import { witnessBench } from './bench-witness.js';
import { federationBench } from './bench-federation.js';
import { consoleBench } from './bench-console.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { CompactRange, leafHash, verifyInclusion, rootFromLeafHashes } from '../src/core/merkle.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { Ledger } from '../src/ledger/ledger.js';
import { SigningKey, writeKeyFiles } from '../src/keys/signing-key.js';
import { openLogCheckpoint } from '../src/core/log-verifier.js';
import { entryHash, decodeBody } from '../src/core/entry.js';
import { fromHex, bytesEqual } from '../src/core/bytes.js';
import { derToP1363, p1363ToDer, normalizeLowS, spkiToRawP256 } from '../src/core/ecdsa-der.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new Set(args[onlyArg + 1]!.split(',')) : undefined;
const want = (s: string): boolean => !only || only.has(s);
const outArg = args.indexOf('--out');
// Only a full run replaces the figures in docs/benchmarks.md.
const outFile = outArg >= 0 ? args[outArg + 1]! : !quick && !only ? join(ROOT, 'docs', 'benchmarks.md') : undefined;
const out: string[] = [];
const print = (s: string): void => {
  out.push(s);
  console.log(s);
};

const host = machine(ROOT);
console.log('# Cairn benchmark');
print(`Run of commit \`${host.commit}\`, ${host.date.slice(0, 10)}, Node ${host.node}, CPU ${host.cpu}.`);
print(table('Machine', ['what', 'value'], Object.entries(host)));

const PAYLOAD = JSON.stringify({ image: 'registry.example/team/app:1.24.3', replicas: 3, env: { LOG_LEVEL: 'info', REGION: 'eu-west-1' }, note: 'x'.repeat(256) });
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

function cryptoBench(): void {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const raw = spkiToRawP256(spki);
  const jwk = privateKey.export({ format: 'jwk' }) as { d: string };
  const d = Buffer.from(jwk.d, 'base64url');
  const msg = Buffer.alloc(600, 7);
  const derSig = p1363ToDer(normalizeLowS(new Uint8Array(nodeSign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' }))));
  const rows: (string | number)[][] = [];
  const nodeSignOps = opsPerSec(() => nodeSign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  const nobleSignOps = opsPerSec(() => p256.sign(msg, d, { format: 'der' }), 1000);
  rows.push(['P-256 sign (600 B)', nobleSignOps, nodeSignOps, `${(nodeSignOps / nobleSignOps).toFixed(1)}x`]);
  const nodeVerOps = opsPerSec(() => nodeVerify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, derSig));
  const nobleVerOps = opsPerSec(() => p256.verify(derSig, msg, raw, { format: 'der', lowS: false }), 1000);
  rows.push(['P-256 verify (600 B)', nobleVerOps, nodeVerOps, `${(nodeVerOps / nobleVerOps).toFixed(1)}x`]);
  const kb = Buffer.alloc(1024, 1);
  const nobleHash = opsPerSec(() => nobleSha256(kb));
  const nodeHash = opsPerSec(() => createHash('sha256').update(kb).digest());
  rows.push(['SHA-256 (1 KiB)', nobleHash, nodeHash, `${(nodeHash / nobleHash).toFixed(1)}x`]);
  // Interop in the same run: noble accepts node's low-S DER, node accepts noble's.
  const nobleDer = p256.sign(msg, d, { format: 'der' });
  const ok1 = p256.verify(derSig, msg, raw, { format: 'der' });
  const ok2 = nodeVerify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, nobleDer);
  derToP1363(nobleDer);
  print(table('Signatures and hashing (ops/s, median of 5 slices)', ['operation', '@noble', 'node:crypto', 'node/noble'], rows));
  print(`interop: noble verifies node's low-S DER: ${ok1}; node verifies noble's DER: ${ok2}`);
}

function merkleBench(): void {
  const n = quick ? 1024 : 2048;
  const leaves = Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(i & 255, i >> 8)));
  let t0 = performance.now();
  const range = CompactRange.empty();
  for (const l of leaves) {
    range.append(l);
    range.root();
  }
  const own = performance.now() - t0;
  t0 = performance.now();
  const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
  const tree = new MerkleTree([], sha, { hashLeaves: false, concatenator: (bufs: Buffer[]) => Buffer.concat([Buffer.of(1), ...bufs]) });
  let mtRoot: Uint8Array = new Uint8Array(0);
  for (const l of leaves) {
    tree.addLeaf(Buffer.from(l));
    mtRoot = tree.getRoot();
  }
  const mt = performance.now() - t0;
  const same = bytesEqual(mtRoot, range.root()) && bytesEqual(range.root(), rootFromLeafHashes(leaves));
  print(
    table(`Merkle tree: append ${n} leaves, root after each (the log's access pattern)`, ['implementation', 'total ms', 'us / append', 'ratio'], [
      ['own CompactRange (RFC 6962)', own, (own * 1000) / n, '1.0x'],
      ['merkletreejs addLeaf + getRoot', mt, (mt * 1000) / n, `${(mt / own).toFixed(0)}x slower`],
    ]),
  );
  print(`same root: ${same}`);
}

interface Rate {
  rate: number;
  p50: number;
  p99: number;
  /** The server process's CPU per call or message, all threads. */
  cpuUs: number;
  /** This (client) process's CPU per call or message. */
  clientUs: number;
}


/** Raw grpc-js ceilings on this machine with the same message sizes: a trivial handler, no ledger. */
async function transportCeiling(
  reqBytes: number,
  resBytes: number,
  seconds: number,
  concs = [1, 16, 64],
  mode: 'echo' | 'bare' | 'floor' = 'echo',
): Promise<{ unary: Map<number, Rate>; stream: Map<number, Rate> }> {
  const grpc = await import('@grpc/grpc-js');
  const { fork } = await import('node:child_process');
  const floorDir = mode === 'floor' ? await tempDir('cairn-bench-floor-') : undefined;
  const modeArgs = mode === 'bare' ? ['--bare'] : floorDir ? ['--floor', floorDir.path] : [];
  const child = fork(join(ROOT, 'dist', 'scripts', 'echo-server.js'), [String(resBytes), ...modeArgs], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  const id = (b: Buffer): Buffer => b;
  const def = {
    Unary: { path: '/e.E/Unary', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
    Stream: { path: '/e.E/Stream', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  };
  const Client = grpc.makeGenericClientConstructor(def, 'E');
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => unknown>;
  const req = Buffer.alloc(reqBytes, 1);
  const unary = new Map<number, Rate>();
  const stream = new Map<number, Rate>();
  for (const conc of concs) {
    const lat: number[] = [];
    const until = performance.now() + seconds * 1000;
    const cpu0 = processCpuSeconds(child.pid);
    const own0 = ownCpuSeconds();
    await Promise.all(Array.from({ length: conc }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await new Promise((r, j) => (c.Unary as (b: Buffer, cb: (e: unknown, v: unknown) => void) => void).call(c, req, (e, v) => (e ? j(e) : r(v))));
        lat.push(performance.now() - t0);
      }
    }));
    lat.sort((a, b) => a - b);
    unary.set(conc, { rate: lat.length / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99), cpuUs: ((processCpuSeconds(child.pid) - cpu0) * 1e6) / lat.length, clientUs: ((ownCpuSeconds() - own0) * 1e6) / lat.length });
    if (mode === 'bare') continue;
    // `conc` messages in flight on one stream; replies come in request order, so send times queue up.
    const call = (c.Stream as () => import('@grpc/grpc-js').ClientDuplexStream<Buffer, Buffer>).call(c);
    const sentAt: number[] = [];
    const slat: number[] = [];
    const end = performance.now() + seconds * 1000;
    const scpu0 = processCpuSeconds(child.pid);
    const sown0 = ownCpuSeconds();
    const send = (): void => {
      sentAt.push(performance.now());
      call.write(req);
    };
    await new Promise<void>((resolve) => {
      call.on('data', () => {
        slat.push(performance.now() - sentAt[slat.length]!);
        if (performance.now() < end) send();
        else if (slat.length === sentAt.length) resolve();
      });
      for (let i = 0; i < conc; i++) send();
    });
    call.on('error', () => undefined);
    const closed = new Promise((r) => call.on('status', r));
    call.end();
    await closed;
    slat.sort((a, b) => a - b);
    stream.set(conc, { rate: slat.length / seconds, p50: percentile(slat, 50), p99: percentile(slat, 99), cpuUs: ((processCpuSeconds(child.pid) - scpu0) * 1e6) / slat.length, clientUs: ((ownCpuSeconds() - sown0) * 1e6) / slat.length });
  }
  (c as unknown as { close(): void }).close();
  child.kill();
  await new Promise((r) => child.once('exit', r));
  await floorDir?.remove();
  return { unary, stream };
}

/** `cairn verify` online and `cairn verify-bundle` offline of one log, as a user runs them (CLI start-up included). */
async function verifyBench(address: string, log: string, pub: string, bundle: string, note: string): Promise<string> {
  let t0 = performance.now();
  const v = await runCli(['verify', '--server', address, '--log', log, '--pubkey', pub]);
  const onlineMs = performance.now() - t0;
  const size = JSON.parse(v.stdout).size as number;
  await runCli(['export', '--server', address, '--log', log, '--out', bundle]);
  t0 = performance.now();
  const vb = await runCli(['verify-bundle', bundle, '--pubkey', pub]);
  const offlineMs = performance.now() - t0;
  await rm(bundle, { force: true });
  return table(`Full-log verification (${size.toLocaleString('en-US')} entries, pinned key; ${note})`, ['mode', 'ok', 'seconds', 'entries/s'], [
    ['online: cairn verify (gRPC stream)', v.code === 0 ? 'yes' : 'NO', onlineMs / 1000, size / (onlineMs / 1000)],
    ['offline: cairn verify-bundle', vb.code === 0 ? 'yes' : 'NO', offlineMs / 1000, size / (offlineMs / 1000)],
  ]);
}

async function appendBench(): Promise<string> {
  const seconds = quick ? 2 : 4;
  const rows: (string | number)[][] = [];
  let verifyTarget: { dir: { path: string; remove(): Promise<void> }; node: Awaited<ReturnType<typeof spawnNode>> } | undefined;
  let sample: { req: number; res: number } | undefined;
  for (const signing of ['worker', 'inline']) {
    const dir = await tempDir('cairn-bench-');
    const node = await spawnNode(dir.path, ['--signing', signing]);
    const client = new LedgerClient(node.address);
    // A CI job that retries safely sends a request_id with every append: that costs a lookup each.
    const modes = signing === 'worker' ? (['unary', 'stream', 'stream with ids'] as const) : (['unary', 'stream'] as const);
    for (const mode of modes) {
      for (const conc of mode === 'stream with ids' ? [16, 64] : [1, 16, 64]) {
        const lat: number[] = [];
        let n = 0;
        let ids = 0;
        let cpu = NaN;
        let own = NaN;
        for (const measure of [false, true]) {
          const until = performance.now() + (measure ? seconds * 1000 : 400);
          const s = mode === 'unary' ? undefined : client.appendStream();
          const cpu0 = processCpuSeconds(node.child.pid);
          const own0 = ownCpuSeconds();
          await Promise.all(
            Array.from({ length: conc }, async () => {
              while (performance.now() < until) {
                const t0 = performance.now();
                const requestId = mode === 'stream with ids' ? `bench-${process.pid}-${conc}-${ids++}` : undefined;
                const input = { log: 'bench', configId: 'svc/web', operator: 'ci-bench', action: 'update', commit: COMMIT, payloadJson: PAYLOAD, requestId };
                const r = s ? await s.append(input) : await client.append(input);
                sample ??= { req: PAYLOAD.length + 80, res: r.entry.body.length + r.entry.signature.length + r.checkpoint.note.length + 32 * (r.inclusionProof.length + 2) };
                if (measure) {
                  lat.push(performance.now() - t0);
                  n++;
                }
              }
            }),
          );
          await s?.end();
          if (measure) {
            cpu = ((processCpuSeconds(node.child.pid) - cpu0) * 1e6) / n;
            own = ((ownCpuSeconds() - own0) * 1e6) / n;
          }
        }
        lat.sort((a, b) => a - b);
        const path = mode === 'unary' ? 'Append (unary)' : mode === 'stream' ? 'AppendStream' : 'AppendStream, a request_id on every append';
        rows.push([`${path}, signing ${signing}`, String(conc), n / seconds, percentile(lat, 50), percentile(lat, 99), cpu, own]);
      }
    }
    if (signing === 'worker') {
      // The same appends from a client that costs little (see lean-load.ts): the node's own capacity.
      const request = { log: 'bench', configId: 'svc/web', operator: 'ci-bench', action: 'update', commit: COMMIT, payloadJson: PAYLOAD };
      for (const conc of [64, 256]) {
        const r = await leanAppendStream(node.address, node.child.pid, request, conc, seconds);
        rows.push([`AppendStream, lean load generator (node:http2, pre-encoded), signing ${signing}`, String(conc), r.rate, r.p50, r.p99, r.cpuUs, r.clientUs]);
      }
    }
    client.close();
    if (!verifyTarget) verifyTarget = { dir, node };
    else {
      await node.stop();
      await dir.remove();
    }
  }
  const ceiling = await transportCeiling(sample!.req, sample!.res, quick ? 1 : 2);
  for (const conc of [1, 16, 64]) {
    const u = ceiling.unary.get(conc)!;
    rows.push(['grpc-js echo ceiling, unary (same sizes, no ledger)', String(conc), u.rate, u.p50, u.p99, u.cpuUs, u.clientUs]);
  }
  for (const conc of [1, 16, 64]) {
    const st = ceiling.stream.get(conc)!;
    rows.push(['grpc-js echo ceiling, bidi stream (same sizes, no ledger)', String(conc), st.rate, st.p50, st.p99, st.cpuUs, st.clientUs]);
  }
  // The least any durable signed append costs with this stack: sign + synced batch, nothing else.
  const floor = await transportCeiling(sample!.req, sample!.res, seconds, [64], 'floor');
  for (const [what, r] of [
    ['floor: grpc-js + P-256 sign per message + synced LevelDB batch, no ledger, unary', floor.unary.get(64)!],
    ['floor: the same, bidi stream', floor.stream.get(64)!],
  ] as const) {
    rows.push([what, '64', r.rate, r.p50, r.p99, r.cpuUs, r.clientUs]);
  }
  // Would another gRPC server do better? A bare node:http2 responder, same grpc-js client.
  const bare = await transportCeiling(sample!.req, sample!.res, quick ? 1 : 2, [1, 64], 'bare');
  for (const conc of [1, 64]) {
    const u = bare.unary.get(conc)!;
    rows.push(['bare node:http2 responder, unary (grpc-js client; no gRPC server library)', String(conc), u.rate, u.p50, u.p99, u.cpuUs, u.clientUs]);
  }
  print(table(`Durable signed appends over gRPC (loopback; server in a child process; one client process; ${seconds} s each; request ~${sample!.req} B, receipt ~${sample!.res} B)`, ['path', 'concurrency', 'appends/s', 'p50 ms', 'p99 ms', 'server CPU us/op', 'client CPU us/op'], rows));
  const { dir, node } = verifyTarget!;

  // Verification of what was just written.
  print(await verifyBench(node.address, 'bench', join(dir.path, 'signing-key.pub.pem'), join(dir.path, 'bench.bundle'), 'includes CLI start-up'));
  await node.stop();
  await dir.remove();
  return '';
}

/** Append throughput with anchoring every second against anchoring off, and the anchor lag it achieves. */
async function anchorBench(): Promise<void> {
  const seconds = quick ? 3 : 6;
  const rows: (string | number)[][] = [];
  let lags: number[] = [];
  // Alternate the two settings twice so drift in machine speed hits both.
  const results = new Map<string, number[]>();
  for (const setting of ['off', 'local', 'off', 'local']) {
    const dir = await tempDir('cairn-bench-anchor-');
    const node = await spawnNode(dir.path, ['--anchor-backend', setting, '--anchor-interval-ms', '1000']);
    const client = new LedgerClient(node.address);
    const s = client.appendStream();
    let n = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        while (performance.now() < until) {
          await s.append({ log: `bench-${w % 4}`, configId: 'svc/web', operator: 'ci-bench', action: 'update', commit: COMMIT, payloadJson: PAYLOAD });
          n++;
        }
      }),
    );
    await s.end();
    // Let the last window land before measuring lag.
    await new Promise((r) => setTimeout(r, 1500));
    client.close();
    await node.stop();
    results.set(setting, [...(results.get(setting) ?? []), n / seconds]);
    if (setting === 'local') {
      const { AnchorStore } = await import('../src/anchoring/store.js');
      const st = await AnchorStore.open(join(dir.path, 'anchors'));
      for (let w = 1; ; w++) {
        const x = await st.get(w);
        if (!x) break;
        if (x.committedAtMs) lags.push(x.committedAtMs - x.oldestCheckpointAtMs);
      }
      await st.close();
    }
    await dir.remove();
  }
  lags = lags.sort((a, b) => a - b);
  const off = results.get('off')!.reduce((a, b) => a + b) / 2;
  const on = results.get('local')!.reduce((a, b) => a + b) / 2;
  rows.push(['anchoring off', off, '1.00']);
  rows.push(['anchoring every 1 s (local backend)', on, (on / off).toFixed(2)]);
  print(table(`Anchoring cost: AppendStream at concurrency 64 over 4 logs, ${seconds} s x 2 runs each, interleaved`, ['setting', 'appends/s', 'ratio'], rows));
  print(table('Anchor lag (first checkpoint of a window issued -> window committed), interval 1 s', ['windows', 'p50 ms', 'p99 ms', 'max ms'], [[String(lags.length), percentile(lags, 50), percentile(lags, 99), lags.at(-1) ?? NaN]]));
}

/** The big log the proofs and console sections read (10^6 entries, 10^5 with --quick), built once into .bench-data/. */
async function bigLog(): Promise<string> {
  const N = quick ? 100_000 : 1_000_000;
  const dir = join(ROOT, '.bench-data', `log-${N}`);
  if (!existsSync(join(dir, 'ready'))) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const key = SigningKey.generate();
    await writeKeyFiles(dir, key);
    const store = await LedgerStore.open(join(dir, 'ledger'));
    const ledger = new Ledger(store, key, { nodeName: 'bench', maxBatch: 4096, maxQueue: 20_000, maxLogs: 10, limits: { maxPayloadBytes: 65536 } });
    const t0 = performance.now();
    let done = 0;
    let last = 0;
    await Promise.all(
      Array.from({ length: 4096 }, async () => {
        while (done < N) {
          done++;
          await ledger.append({ log: 'million', configId: 'svc/web', operator: 'ci', action: 'update', payloadJson: '{"n":1}' });
          if (done - last >= 100_000) {
            last = done;
            process.stderr.write(`  building the ${N}-entry log: ${done} (${Math.round(done / ((performance.now() - t0) / 1000))}/s)\n`);
          }
        }
      }),
    );
    await ledger.close();
    await store.close();
    await import('node:fs/promises').then((fs) => fs.writeFile(join(dir, 'ready'), ''));
  }
  return dir;
}

async function proofBench(): Promise<void> {
  const dir = await bigLog();
  // In-process: proof generation from LevelDB alone (plan, node reads, hashing).
  const roStore = await LedgerStore.open(join(dir, 'ledger'));
  const roLedger = new Ledger(roStore, SigningKey.generate(), { nodeName: 'bench', maxBatch: 1, maxQueue: 1, maxLogs: 10, limits: { maxPayloadBytes: 1 } });
  const size = (await roLedger.getCheckpoint('million')).size;
  const genIncl: number[] = [];
  const genCons: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const seq = Math.floor(Math.random() * size);
    let t0 = performance.now();
    await roLedger.inclusionProof('million', seq);
    genIncl.push(performance.now() - t0);
    t0 = performance.now();
    await roLedger.consistencyProof('million', 1 + Math.floor(Math.random() * (size - 1)));
    genCons.push(performance.now() - t0);
  }
  await roLedger.close();
  await roStore.close();

  const node = await spawnNode(dir, ['--node-name', 'bench']);
  const client = new LedgerClient(node.address);
  const cp = await client.getCheckpoint('million');
  const opened = openLogCheckpoint(cp.note, 'million', (await client.publicKey()).spki);
  const incl: number[] = [];
  const cons: number[] = [];
  const verifyUs: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const seq = Math.floor(Math.random() * size);
    const e = await client.getEntry('million', seq);
    let t0 = performance.now();
    const p = await client.inclusionProof('million', seq, size);
    incl.push(performance.now() - t0);
    t0 = performance.now();
    const body = decodeBody(e.body);
    verifyInclusion(leafHash(entryHash(fromHex(body.prevHash), e.body, e.signature)), seq, size, p.hashes, opened.rootHash);
    verifyUs.push((performance.now() - t0) * 1000);
    const from = 1 + Math.floor(Math.random() * (size - 1));
    t0 = performance.now();
    const c = await client.consistencyProof('million', from, size);
    cons.push(performance.now() - t0);
    if (c.hashes.length === 0 && from !== size) throw new Error('empty consistency proof');
  }
  for (const a of [incl, cons, genIncl, genCons, verifyUs]) a.sort((x, y) => x - y);
  // The same round trip with a handler that does nothing: what gRPC alone costs here.
  const proofBytes = 32 * Math.ceil(Math.log2(size)) + cp.note.length + 64;
  const echo = (await transportCeiling(40, proofBytes, 3, [1])).unary.get(1)!;
  print(
    table(`Proofs at ${size.toLocaleString('en-US')} entries (random index / old size; LevelDB node reads, no cache)`, ['what', 'p50 ms', 'p99 ms'], [
      ['inclusion proof, generated in-process (2,000)', percentile(genIncl, 50), percentile(genIncl, 99)],
      ['consistency proof, generated in-process (2,000)', percentile(genCons, 50), percentile(genCons, 99)],
      ['GetInclusionProof over gRPC, round trip (1,000)', percentile(incl, 50), percentile(incl, 99)],
      ['GetConsistencyProof over gRPC, round trip (1,000)', percentile(cons, 50), percentile(cons, 99)],
      ['client-side inclusion check (leaf recomputed from the entry)', percentile(verifyUs, 50) / 1000, percentile(verifyUs, 99) / 1000],
      ['grpc-js echo, unary, same sizes, no ledger (the transport alone)', echo.p50, echo.p99],
    ]),
  );
  client.close();
  // The same verification at this size: the CLI's fixed start-up (about 0.5 s,
  // plus the signature threads) no longer dominates.
  print(await verifyBench(node.address, 'million', join(dir, 'signing-key.pub.pem'), join(dir, 'million.bundle'), 'includes CLI start-up'));
  await node.stop();
}

if (want('crypto')) cryptoBench();
if (want('merkle')) merkleBench();
if (want('policy')) {
  const p = policyBench(1000, quick ? 100_000 : 400_000);
  print(table(p.title, p.header, p.rows));
}
if (want('diff')) print(benchDiff(quick));
if (want('append')) await appendBench();
if (want('http')) {
  const h = await httpBench({ seconds: quick ? 3 : 6, concurrency: 64, payloadJson: PAYLOAD, commit: COMMIT });
  print(table(h.title, h.header, h.rows));
}
if (want('anchors')) await anchorBench();
if (want('proofs')) await proofBench();
if (want('report')) {
  const r = await reportBench({ entries: quick ? 5_000 : 50_000, payloadJson: PAYLOAD, commit: COMMIT });
  print(table(r.title, r.header, r.rows));
}
if (want('witness')) print(await witnessBench(quick));
if (want('federation')) for (const f of await federationBench(quick)) print(table(f.title, f.header, f.rows));
if (want('console')) for (const c of await consoleBench({ quick, millionDir: await bigLog() })) print(table(c.title, c.header, c.rows));
print(`\n(${quick ? 'quick' : 'full'} run; numbers vary up to 1.5x between runs on this machine: compare ratios within a run)`);
if (outFile) {
  // Blank lines between the printed pieces, so a note after a table is not read as a row of it.
  writeBenchSection(outFile, out.join('\n\n'));
  console.log(`(tables written to ${outFile})`);
}
