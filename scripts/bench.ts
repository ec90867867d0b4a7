/**
 * `npm run bench`: the figures the README and issues quote, measured on this
 * machine in one run, alternatives side by side as ratios.
 *
 *   node dist/scripts/bench.js [--quick] [--only crypto,merkle,append,verify,proofs]
 *
 * - signatures: @noble/curves vs node:crypto (sign, verify), same key and message
 * - Merkle: the own RFC 6962 CompactRange vs merkletreejs rebuilding per append
 * - durable appends/s over gRPC (server in a child process) at concurrency 1, 16, 64, p50/p99
 * - full-log verification entries/s, online (gRPC) and offline (bundle)
 * - inclusion and consistency proof latency at 10^6 entries (log cached in .bench-data/)
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { MerkleTree } from 'merkletreejs';
import { percentile, machine, table, opsPerSec, fmt } from './bench-lib.js';
import { ROOT, spawnNode, tempDir, runCli } from '../test/helpers/node.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { CompactRange, leafHash, inclusionProofPlan, consistencyProofPlan, verifyInclusion, verifyConsistency, rootFromLeafHashes } from '../src/core/merkle.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { Ledger } from '../src/service/ledger.js';
import { SigningKey } from '../src/service/signing-key.js';
import { openLogCheckpoint } from '../src/core/log-verifier.js';
import { entryHash, decodeBody } from '../src/core/entry.js';
import { fromHex, bytesEqual } from '../src/core/bytes.js';
import { derToP1363, p1363ToDer, normalizeLowS, spkiToRawP256 } from '../src/core/ecdsa-der.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new Set(args[onlyArg + 1]!.split(',')) : undefined;
const want = (s: string): boolean => !only || only.has(s);
const out: string[] = [];
const print = (s: string): void => {
  out.push(s);
  console.log(s);
};

print('# Cairn benchmark');
print(table('Machine', ['what', 'value'], Object.entries(machine())));

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
  void createPrivateKey;
  void createPublicKey;
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

async function appendBench(): Promise<string> {
  const dir = await tempDir('cairn-bench-');
  const node = await spawnNode(dir.path);
  // Two client channels: one grpc-js channel is a single HTTP/2 connection.
  const clients = [new LedgerClient(node.address), new LedgerClient(node.address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } })];
  const seconds = quick ? 2 : 5;
  const rows: (string | number)[][] = [];
  for (const conc of [1, 16, 64]) {
    // Warm-up, then the measured window.
    const lat: number[] = [];
    let n = 0;
    for (const measure of [false, true]) {
      const until = performance.now() + (measure ? seconds * 1000 : 500);
      await Promise.all(
        Array.from({ length: conc }, async (_, w) => {
          const c = clients[w % clients.length]!;
          while (performance.now() < until) {
            const t0 = performance.now();
            await c.append({ log: 'bench', configId: 'svc/web', operator: 'ci-bench', action: 'update', commit: COMMIT, payloadJson: PAYLOAD });
            if (measure) {
              lat.push(performance.now() - t0);
              n++;
            }
          }
        }),
      );
    }
    lat.sort((a, b) => a - b);
    rows.push([String(conc), n / seconds, percentile(lat, 50), percentile(lat, 99)]);
  }
  print(table(`Durable signed appends over gRPC (loopback, server in a child process, ${seconds} s each)`, ['concurrency', 'appends/s', 'p50 ms', 'p99 ms'], rows));

  // Verification of what was just written.
  const pub = join(dir.path, 'signing-key.pub.pem');
  let t0 = performance.now();
  const v = await runCli(['verify', '--server', node.address, '--log', 'bench', '--pubkey', pub]);
  const onlineMs = performance.now() - t0;
  const size = JSON.parse(v.stdout).size as number;
  const bundle = join(dir.path, 'bench.bundle');
  await runCli(['export', '--server', node.address, '--log', 'bench', '--out', bundle]);
  t0 = performance.now();
  const vb = await runCli(['verify-bundle', bundle, '--pubkey', pub]);
  const offlineMs = performance.now() - t0;
  print(
    table(`Full-log verification (${size} entries, pinned key; includes CLI start-up)`, ['mode', 'ok', 'seconds', 'entries/s'], [
      ['online: cairn verify (gRPC stream)', v.code === 0 ? 'yes' : 'NO', onlineMs / 1000, size / (onlineMs / 1000)],
      ['offline: cairn verify-bundle', vb.code === 0 ? 'yes' : 'NO', offlineMs / 1000, size / (offlineMs / 1000)],
    ]),
  );
  for (const c of clients) c.close();
  await node.stop();
  await dir.remove();
  return '';
}

async function proofBench(): Promise<void> {
  const N = quick ? 100_000 : 1_000_000;
  const dir = join(ROOT, '.bench-data', `log-${N}`);
  const key = SigningKey.generate();
  if (!existsSync(join(dir, 'ready'))) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
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
  const node = await spawnNode(dir);
  const client = new LedgerClient(node.address);
  const cp = await client.getCheckpoint('million');
  const pubPem = (await client.publicKey()).spki;
  const opened = openLogCheckpoint(cp.note, 'million', pubPem);
  const size = opened.size;
  const incl: number[] = [];
  const cons: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const seq = Math.floor(Math.random() * size);
    let t0 = performance.now();
    const p = await client.inclusionProof('million', seq);
    const e = await client.getEntry('million', seq);
    const body = decodeBody(e.body);
    verifyInclusion(leafHash(entryHash(fromHex(body.prevHash), e.body, e.signature)), seq, size, p.hashes, opened.rootHash);
    incl.push(performance.now() - t0);
    const from = 1 + Math.floor(Math.random() * (size - 1));
    t0 = performance.now();
    const c = await client.consistencyProof('million', from, size);
    cons.push(performance.now() - t0);
    if (c.hashes.length === 0 && from !== size) throw new Error('empty consistency proof');
  }
  incl.sort((a, b) => a - b);
  cons.sort((a, b) => a - b);
  print(
    table(`Proofs at ${size.toLocaleString('en-US')} entries over gRPC (1,000 random each; inclusion includes GetEntry and client-side verification)`, ['proof', 'p50 ms', 'p99 ms', 'hashes'], [
      ['inclusion', percentile(incl, 50), percentile(incl, 99), inclusionProofPlan(size - 1, size).nodes.length],
      ['consistency', percentile(cons, 50), percentile(cons, 99), consistencyProofPlan(1, size).nodes.length],
    ]),
  );
  void verifyConsistency;
  client.close();
  await node.stop();
}

if (want('crypto')) cryptoBench();
if (want('merkle')) merkleBench();
if (want('append')) await appendBench();
if (want('proofs')) await proofBench();
print(`\n(${quick ? 'quick' : 'full'} run; numbers vary up to 1.5x between runs on this machine: compare ratios within a run)`);
void fmt;
