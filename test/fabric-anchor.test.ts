/**
 * The `fabric` anchor backend against the Gateway test peer running the real
 * CairnAnchor chaincode: windows land on the channel under the node's name
 * and an auditor with its own Fabric identity verifies a log against them;
 * a log rewritten and re-signed with the node's own key after anchoring is
 * caught, naming the window and the seqs; through a peer outage, a restart
 * mid-window, MVCC conflicts and a commit status that times out after the
 * transaction committed, every window is recorded exactly once, in order,
 * and none is submitted twice. The peer's ledger is the witness: its blocks
 * hold every transaction, valid or not.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { TestPeer, type Identity } from './fabric/test-peer.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { AnchorStore } from '../src/anchoring/store.js';
import { Ledger } from '../src/ledger/ledger.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { AnchorPipeline } from '../src/anchoring/pipeline.js';
import { AnchorSubmitError, type AnchorBackend } from '../src/anchoring/backend.js';
import { FabricAnchorBackend } from '../src/anchoring/fabric-backend.js';
import { createLogger } from '../src/node/logger.js';
import { loadConfig, loadFabricSettings } from '../src/node/config.js';
import { startNode } from '../src/node/node.js';
import { FabricAnchorReader } from '../src/anchoring/fabric-reader.js';
import { verifyBundleFile, verifyLogOnline } from '../src/client/verify-log.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import type { AnchorWindow } from '../src/core/anchor.js';
import type { BundleHeader } from '../src/core/bundle.js';

const VALID = 0; // peer.TxValidationCode.VALID
const MVCC_READ_CONFLICT = 11;

const peer = await TestPeer.start({ otherMspIds: ['Org2MSP'], batchTimeoutMs: 10 });
t.teardown(() => peer.close());
const work = await tempDir('cairn-fabric-anchor-');
t.teardown(work.remove);
t.afterEach(() => peer.faults.clear());

/** Writes `identity`'s files and a config file whose `fabric` section connects with it; returns its path. */
async function fabricConfig(name: string, identity: Identity, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = join(work.path, name);
  await mkdir(dir, { recursive: true });
  const s = peer.settings(identity);
  await writeFile(join(dir, 'tls-ca.pem'), s.tlsCaPem);
  await writeFile(join(dir, 'cert.pem'), s.certPem);
  await writeFile(join(dir, 'key.pem'), s.keyPem, { mode: 0o600 });
  const config = {
    fabric: {
      endpoint: s.endpoint,
      tls_ca_file: join(dir, 'tls-ca.pem'),
      tls_server_name: s.tlsServerName,
      msp_id: s.mspId,
      cert_file: join(dir, 'cert.pem'),
      key_file: join(dir, 'key.pem'),
      channel: s.channel,
      chaincode: s.chaincode,
      contract: s.contract,
      ...extra,
    },
  };
  const path = join(dir, 'config.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}

async function waitFor<T>(f: () => Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface LedgerTx {
  txId: string;
  block: number;
  code: number;
}

/** Every transaction in the peer's blocks from `fromBlock` on, valid or not. */
function txsSince(fromBlock: number): LedgerTx[] {
  const out: LedgerTx[] = [];
  for (let n = fromBlock; n < peer.ledger.height; n++) for (const tx of peer.ledger.block(n)!.txs) out.push({ txId: tx.txId, block: n, code: tx.code });
  return out;
}

/** The valid RecordAnchor transactions of `node` on the channel (from the AnchorRecorded events), in commit order. */
function anchoredOnChannel(node: string): { window: number; txId: string; block: number }[] {
  const out: { window: number; txId: string; block: number }[] = [];
  for (let n = 0; n < peer.ledger.height; n++) {
    for (const ev of peer.ledger.block(n)!.events) {
      const rec = JSON.parse(Buffer.from(ev.getPayload_asU8()).toString('utf8')) as { node: string; window: number; txId: string };
      if (rec.node === node) out.push({ window: rec.window, txId: rec.txId, block: n });
    }
  }
  return out;
}

const auditor = await peer.newIdentity('Org2MSP', 'auditor');
const auditorConfig = await fabricConfig('auditor', auditor);
const auditorSettings = await loadFabricSettings(auditorConfig);
const pinned = async (path: string): Promise<Uint8Array> => pemToDer(await readFile(path, 'utf8'), 'PUBLIC KEY', 'pubkey');

t.test('windows land on the channel and cairn verify --anchors passes with the auditor\'s own identity', async (t) => {
  const nodeConfig = await fabricConfig('node-one', await peer.newIdentity('Org1MSP', 'node-one'));
  const tn = await startTestNode({ config: nodeConfig, 'anchor-backend': 'fabric', 'anchor-interval-ms': '100', 'node-name': 'node-one' });
  t.teardown(() => tn.close());
  for (let i = 0; i < 20; i++) await tn.client.append({ log: i % 2 ? 'team-a' : 'team-b', configId: `c${i}`, operator: 'ci', action: 'set' });
  await waitFor(async () => {
    const a = await tn.client.listAnchors('team-a');
    return a.some((w) => w.state === 'committed' && w.checkpoints.some((c) => c.log === 'team-a' && c.size === 10)) && a.every((w) => w.state === 'committed') ? true : undefined;
  }, 'team-a anchored at size 10');

  const proof = await tn.client.anchorProof('team-a');
  t.equal(proof.receipt.backend, 'fabric');
  const tx = peer.ledger.committed(proof.receipt.txId);
  t.equal(tx?.code, VALID, 'the receipt names a valid transaction on the peer\'s ledger');
  t.equal(tx?.blockNumber, proof.receipt.block, 'in the block the receipt names');
  const onChannel = anchoredOnChannel('node-one');
  t.same(onChannel.map((a) => a.window), onChannel.map((_, i) => i + 1), 'windows 1, 2, ... each recorded once, in order');

  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'team-a', '--pubkey', tn.pubkeyPath, '--anchors', '--fabric-config', auditorConfig]);
  t.equal(r.code, 0, r.stderr);
  t.ok(JSON.parse(r.stdout).anchorsVerified >= 1, 'anchors checked against the channel');
  t.notMatch(r.stderr, /local backend/, 'no local-backend warning: the roots came from the channel');

  // The bundle carries the anchor proofs and verifies with no server, and against the channel.
  const bundle = join(work.path, 'team-a.jsonl');
  const ex = await runCli(['export', '--server', tn.node.grpcAddress, '--log', 'team-a', '--out', bundle]);
  t.equal(ex.code, 0, ex.stderr);
  const lines = (await readFile(bundle, 'utf8')).split('\n');
  const header = JSON.parse(lines[0]!) as BundleHeader;
  t.ok((header.anchors?.length ?? 0) >= 1, 'the header has anchor proofs');
  t.match(header.anchors![0], { window: Number, root: /^[0-9a-f]{64}$/, index: Number, count: Number, path: Array, checkpoint: /^node-one\/team-a\n/, txId: /^[0-9a-f]{64}$/, block: Number, backend: 'fabric' });
  const offline = await runCli(['verify-bundle', bundle, '--pubkey', tn.pubkeyPath]);
  t.equal(offline.code, 0, offline.stderr);
  t.equal(JSON.parse(offline.stdout).anchorsVerified, header.anchors!.length, 'every anchor proof checked offline');
  const online = await runCli(['verify-bundle', bundle, '--pubkey', tn.pubkeyPath, '--fabric-config', auditorConfig]);
  t.equal(online.code, 0, online.stderr);

  // An altered proof fails, naming the window (in-process: the CLI path is the same function).
  const a0 = header.anchors![0]!;
  const key = await pinned(tn.pubkeyPath);
  const alter = async (name: string, anchor: Record<string, unknown>): Promise<string> => {
    const path = join(work.path, name);
    await writeFile(path, [JSON.stringify({ ...header, anchors: [anchor, ...header.anchors!.slice(1)] }), ...lines.slice(1)].join('\n'));
    return path;
  };
  const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
  const notInWindow = { code: 'INCLUSION_PROOF_INVALID', message: `checkpoint is not in anchor window ${a0.window}` };
  const verifyAltered = async (name: string, anchor: Record<string, unknown>): Promise<unknown> => verifyBundleFile(await alter(name, anchor), { publicKeySpki: key, progress: false, signatureThreads: 0 });
  await t.rejects(verifyAltered('bad-root.jsonl', { ...a0, root: flip(a0.root) }), notInWindow, 'an altered root fails');
  await t.rejects(verifyAltered('bad-count.jsonl', { ...a0, count: a0.count + 1 }), notInWindow, 'an altered leaf count fails');
  await t.rejects(verifyAltered('bad-index.jsonl', { ...a0, index: a0.count, count: a0.count + 1 }), notInWindow, 'an altered index fails');
  // A window of one checkpoint has an empty path: then a sibling slipped into it must fail.
  const badPath = a0.path.length > 0 ? [flip(a0.path[0]!), ...a0.path.slice(1)] : ['00'.repeat(32)];
  await t.rejects(verifyAltered('bad-path.jsonl', { ...a0, path: badPath }), notInWindow, 'an altered audit path fails');
  await t.rejects(verifyAltered('bad-type.jsonl', { ...a0, window: '1' }), { code: 'BUNDLE_MALFORMED', message: /anchors\[0\]\.window is not a non-negative integer/ }, 'a malformed anchor is named');
});

t.test('a log rewritten and re-signed with the node\'s own key after anchoring is caught through the channel', async (t) => {
  const nodeConfig = await fabricConfig('rewrite-node', await peer.newIdentity('Org1MSP', 'rewrite-node'));
  const flags = { config: nodeConfig, 'anchor-backend': 'fabric', 'node-name': 'rewrite-node' };
  const honest = join(work.path, 'honest');
  let tn: TestNode = await startTestNode({ ...flags, 'anchor-interval-ms': '100' }, honest);
  for (let i = 0; i < 10; i++) await tn.client.append({ log: 'prod', configId: `c${i}`, operator: 'alice', action: 'set' });
  await waitFor(async () => ((await tn.client.listAnchors('prod')).some((a) => a.state === 'committed' && a.checkpoints[0]!.size === 10) ? true : undefined), 'window with size 10');
  const first = (await tn.client.listAnchors('prod')).find((a) => a.state === 'committed')!;
  const firstSize = first.checkpoints[0]!.size;
  await tn.stop();

  // The operator keeps the signing key, the Fabric identity and the anchor queue, and writes a different history.
  const forge = async (name: string, keepAnchors: boolean): Promise<TestNode> => {
    const dir = join(work.path, name);
    await cp(join(honest, 'signing-key.pem'), join(dir, 'signing-key.pem'));
    await cp(join(honest, 'signing-key.pub.pem'), join(dir, 'signing-key.pub.pem'));
    if (keepAnchors) await cp(join(honest, 'anchors'), join(dir, 'anchors'), { recursive: true });
    const node = await startTestNode({ ...flags, 'anchor-interval-ms': '600000' }, dir);
    for (let i = 0; i < 12; i++) await node.client.append({ log: 'prod', configId: `c${i}`, operator: i === 3 ? 'mallory' : 'alice', action: 'set' });
    return node;
  };
  const pub = join(honest, 'signing-key.pub.pem');
  const key = await pinned(pub);
  const reader = await FabricAnchorReader.open(auditorSettings, 'rewrite-node');
  t.teardown(() => reader.close());
  const opts = { publicKeySpki: key, progress: false, signatureThreads: 0 };
  tn = await forge('forged', true);
  t.teardown(() => tn.stop());
  t.equal((await verifyLogOnline(tn.client, 'prod', opts)).size, 12, 'without anchors the forged log verifies: same key, consistent history');
  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'prod', '--pubkey', pub, '--anchors', '--fabric-config', auditorConfig]);
  t.equal(r.code, 1, 'with the channel\'s anchors the rewrite is found');
  t.match(r.stderr, /ROOT_MISMATCH/);
  t.match(r.stderr, new RegExp(`entries 0\\.\\.${firstSize - 1} no longer hash to the root anchored in window ${first.window}`), 'naming the window and the seq range');

  // A bundle of the forged log that leaves its anchors out passes offline, not against the channel.
  const bundle = join(work.path, 'forged.jsonl');
  t.equal((await runCli(['export', '--server', tn.node.grpcAddress, '--log', 'prod', '--out', bundle])).code, 0);
  const lines = (await readFile(bundle, 'utf8')).split('\n');
  const { anchors: _dropped, ...bare } = JSON.parse(lines[0]!) as BundleHeader;
  const stripped = join(work.path, 'forged-stripped.jsonl');
  await writeFile(stripped, [JSON.stringify(bare), ...lines.slice(1)].join('\n'));
  const rewritten = { code: 'ROOT_MISMATCH', message: `entries 0..${firstSize - 1} no longer hash to the root anchored in window ${first.window}`, evidence: { window: first.window, seqFrom: 0, seqTo: firstSize - 1 } };
  await t.rejects(verifyBundleFile(bundle, opts), rewritten, 'its own anchors give the forged bundle away');
  t.equal((await verifyBundleFile(stripped, opts)).size, 12, 'stripped of them it verifies offline');
  const vb = await runCli(['verify-bundle', stripped, '--pubkey', pub, '--fabric-config', auditorConfig]);
  t.equal(vb.code, 1, 'but not against the channel');
  t.match(vb.stderr, new RegExp(`no longer hash to the root anchored in window ${first.window}`));
  await tn.stop();

  // Without the anchor queue the node lists no anchors, but the channel still has them.
  tn = await forge('forged-bare', false);
  await t.rejects(verifyLogOnline(tn.client, 'prod', { ...opts, anchors: reader }), { code: 'ROLLBACK', message: new RegExp(`anchor window ${first.window} on Fabric channel mychannel .* covers log prod but the node does not list it`) }, 'a node that hides its anchors is caught');
});

/** Wraps the real backend: counts submissions, and can hang after the transaction committed (a crash there). */
class WatchedBackend implements AnchorBackend {
  readonly name = 'fabric' as const;
  readonly inner: FabricAnchorBackend;
  readonly submitted: number[] = [];
  hangAfterCommit = false;
  constructor(inner: FabricAnchorBackend) {
    this.inner = inner;
  }
  async submit(w: AnchorWindow, signal?: AbortSignal): Promise<{ txId: string; block: number; backend: string }> {
    this.submitted.push(w.window);
    const r = await this.inner.submit(w, signal);
    if (this.hangAfterCommit) return new Promise(() => undefined);
    return r;
  }
  get(window: number): ReturnType<FabricAnchorBackend['get']> {
    return this.inner.get(window);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

t.test('through an outage, a restart mid-window, MVCC conflicts and an unknown outcome, each window is recorded exactly once, in order', async (t) => {
  const NODE = 'pipe-node';
  const settings = await loadFabricSettings(await fabricConfig(NODE, await peer.newIdentity('Org1MSP', NODE), { timeout_ms: 1000, commit_timeout_ms: 400 }));
  const openBackend = async (): Promise<WatchedBackend> => new WatchedBackend(await FabricAnchorBackend.open(settings, { node: NODE, reconnectBackoffMs: { initial: 50, max: 200 } }));
  const dir = await tempDir();
  t.teardown(dir.remove);
  const store = await LedgerStore.open(join(dir.path, 'ledger'));
  const ledger = new Ledger(store, SigningKey.generate(), { nodeName: NODE, maxBatch: 64, maxQueue: 1000, maxLogs: 10, limits: { maxPayloadBytes: 1024 } });
  const silent = createLogger('silent');
  const PIPE = { intervalMs: 30, submitTimeoutMs: 5000, backoffBaseMs: 20, backoffMaxMs: 200 };
  let anchors = await AnchorStore.open(join(dir.path, 'anchors'));
  let backend = await openBackend();
  const failures: AnchorSubmitError[] = [];
  let onFailure: ((e: AnchorSubmitError) => void) | undefined;
  const hooks = { failed: (_w: AnchorWindow, e: unknown) => {
    failures.push(e as AnchorSubmitError);
    onFailure?.(e as AnchorSubmitError);
  } };
  let pipe = new AnchorPipeline(ledger, anchors, backend, silent, PIPE, hooks);
  const append = async (log: string, id: string): Promise<number> => {
    const started = Date.now();
    await ledger.append({ log, configId: id, operator: 'o', action: 'x' });
    return Date.now() - started;
  };
  const allCommitted = async (): Promise<true | undefined> => {
    const last = await anchors.lastWindow();
    if ((await anchors.pending()).length > 0 || !last) return undefined;
    for (const cp of await ledger.listLogs()) {
      const w = await anchors.lastForLog(cp.log);
      if (w?.window.checkpoints.find((c) => c.log === cp.log)?.size !== cp.size) return undefined;
    }
    return true;
  };

  // 1. The peer goes away for a while; the node keeps appending.
  await append('log-a', 'first');
  await pipe.runOnce();
  await peer.stop();
  pipe.start();
  const slowest: number[] = [];
  for (let i = 0; i < 12; i++) {
    slowest.push(await append(`log-${'abc'[i % 3]}`, `outage-${i}`));
    await new Promise((r) => setTimeout(r, 60));
  }
  t.ok(Math.max(...slowest) < 1000, `appends never waited for the anchor backend (slowest ${Math.max(...slowest)} ms)`);
  t.ok(failures.length > 0 && failures.every((e) => e.code === 'UNAVAILABLE' && e.retryable), 'every attempt failed UNAVAILABLE, retryable');
  t.ok((await anchors.pending()).length === 1, 'one window waits in the queue');
  await peer.start();
  await waitFor(allCommitted, 'every log anchored after the peer came back');
  await pipe.close();

  // 2. Restarted mid-window: a window waits in the queue (endorsements failing), the node stops, a new one resumes.
  await append('log-b', 'before-restart');
  peer.faults.failNext('Endorse', grpc.status.UNAVAILABLE, 1000);
  failures.length = 0;
  pipe = new AnchorPipeline(ledger, anchors, backend, silent, PIPE, hooks);
  pipe.start();
  await waitFor(async () => ((await anchors.pending()).length === 1 && failures.length > 0 ? true : undefined), 'a pending window');
  t.ok(failures.every((e) => e.code === 'UNAVAILABLE' && e.retryable && !e.outcomeUnknown && /^endorsing/.test(e.message)), 'refused endorsements: retryable, outcome known (nothing reached the orderer)');
  await pipe.close();
  await backend.close();
  await anchors.close();
  peer.faults.clear();
  anchors = await AnchorStore.open(join(dir.path, 'anchors'));
  backend = await openBackend();
  pipe = new AnchorPipeline(ledger, anchors, backend, silent, PIPE, hooks);
  t.equal(await pipe.runOnce(), undefined, 'nothing new to build after resuming');
  t.same(await anchors.pending(), [], 'the pending window was submitted after the restart');

  // 3. Restarted after the transaction committed but before the node recorded it: found on the channel, not resubmitted.
  await append('log-c', 'crash-after-commit');
  backend.hangAfterCommit = true;
  void pipe.runOnce().catch(() => undefined);
  const crashedWindow = await waitFor(async () => (await anchors.pending())[0]?.window.window, 'the window in flight');
  await waitFor(async () => (anchoredOnChannel(NODE).some((a) => a.window === crashedWindow) ? true : undefined), 'the window on the channel');
  await pipe.close();
  await backend.close();
  await anchors.close();
  anchors = await AnchorStore.open(join(dir.path, 'anchors'));
  t.equal((await anchors.get(crashedWindow))?.state, 'pending', 'the node had not recorded the commit');
  backend = await openBackend();
  pipe = new AnchorPipeline(ledger, anchors, backend, silent, PIPE, hooks);
  await pipe.runOnce();
  t.same(backend.submitted, [], 'after the restart the window was looked up, not submitted again');
  const crashed = (await anchors.get(crashedWindow))!;
  t.equal(crashed.state, 'committed');
  t.equal(crashed.receipt?.txId, anchoredOnChannel(NODE).find((a) => a.window === crashedWindow)?.txId, 'with the transaction found on the channel');
  t.equal(crashed.receipt?.block, peer.ledger.committed(crashed.receipt!.txId)?.blockNumber, 'and its block');

  // 4. MVCC conflicts at commit: endorsed again, recorded once.
  await append('log-a', 'mvcc');
  peer.faults.mvccConflict(2);
  const beforeMvcc = peer.ledger.height;
  failures.length = 0;
  const mvccWindow = (await pipe.runOnce())!;
  t.equal(mvccWindow.state, 'committed');
  t.equal(failures.filter((e) => /MVCC_READ_CONFLICT/.test(e.message) && e.retryable && !e.outcomeUnknown).length, 2, 'two conflicts, each retried with a new endorsement');
  t.same(txsSince(beforeMvcc).map((x) => x.code), [MVCC_READ_CONFLICT, MVCC_READ_CONFLICT, VALID], 'the ledger holds the two invalidated transactions and one valid one');

  // 5. The commit status times out after the transaction committed: looked up, not submitted twice.
  await append('log-b', 'slow-status');
  peer.faults.setLatency(1500, ['CommitStatus']);
  onFailure = (e) => {
    if (e.outcomeUnknown) peer.faults.setLatency(0, ['CommitStatus']);
  };
  const beforeTimeout = peer.ledger.height;
  const submittedBefore = backend.submitted.length;
  failures.length = 0;
  const slow = (await pipe.runOnce())!;
  onFailure = undefined;
  t.equal(slow.state, 'committed');
  t.ok(failures.some((e) => e.code === 'DEADLINE_EXCEEDED' && e.outcomeUnknown), 'the commit status deadline passed: outcome unknown');
  t.equal(backend.submitted.length - submittedBefore, 1, 'submitted once');
  const txs = txsSince(beforeTimeout);
  t.same(txs.map((x) => x.code), [VALID], 'the peer\'s ledger holds exactly one transaction for the window');
  t.equal(slow.receipt?.txId, txs[0]?.txId, 'and the node\'s receipt names it');

  // Every window exactly once, in order, on the channel and in the node's queue.
  const onChannel = anchoredOnChannel(NODE);
  const last = (await anchors.lastWindow())!.window.window;
  t.same(onChannel.map((a) => a.window), Array.from({ length: last }, (_, i) => i + 1), `windows 1..${last} each recorded exactly once, in order`);
  t.ok(onChannel.every((a, i) => i === 0 || a.block > onChannel[i - 1]!.block), 'in increasing blocks');
  for (const a of onChannel) t.equal((await anchors.get(a.window))?.receipt?.txId, a.txId, `window ${a.window}: the node's receipt is the channel's transaction`);

  // The rest of the error mapping, straight from the backend.
  const w1 = (await anchors.get(1))!.window;
  await t.rejects(backend.inner.submit(w1), { code: 'ALREADY_EXISTS', exists: true, retryable: false }, 'a window already on the channel: exists (the pipeline then looks it up)');
  await t.rejects(backend.inner.submit({ ...w1, window: 0 }), { code: 'FAILED_PRECONDITION', retryable: false, outcomeUnknown: false, message: /refused at endorsement: .*WINDOW_OUT_OF_ORDER/ }, 'a chaincode refusal: not retried');
  await t.rejects(backend.inner.submit({ ...w1, node: 'someone-else' }), { code: 'INVALID_ARGUMENT', retryable: false }, 'another node\'s window is not submitted');
  t.equal(await backend.inner.get(last + 1), undefined, 'a window never anchored: undefined');

  await pipe.close();
  await backend.close();
  await ledger.close();
  await anchors.close();
  await store.close();
});

t.test('Fabric settings are validated by name', async (t) => {
  const node = await fabricConfig('bad', await peer.newIdentity('Org1MSP', 'bad'));
  const cfg = JSON.parse(await readFile(node, 'utf8')) as { fabric: Record<string, unknown> };
  const dir = await tempDir();
  t.teardown(dir.remove);
  const start = async (name: string, fabric: Record<string, unknown>): Promise<unknown> => {
    const path = join(work.path, `${name}.json`);
    await writeFile(path, JSON.stringify({ anchor_backend: 'fabric', fabric }));
    const config = await loadConfig({ flags: { config: path, 'data-dir': join(dir.path, name), listen: '127.0.0.1:0', 'http-listen': '', 'metrics-listen': '' }, env: {} });
    const n = await startNode(config, createLogger('silent'));
    await n.close();
    return n;
  };
  const { endpoint: _e, ...noEndpoint } = cfg.fabric;
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['missing-endpoint', noEndpoint, 'fabric.endpoint', /^setting fabric\.endpoint: required when anchor_backend is fabric/],
    ['bad-channel', { ...cfg.fabric, channel: 'My Channel' }, 'fabric.channel', /^setting fabric\.channel .*must be a Fabric channel name/],
    ['unknown-key', { ...cfg.fabric, peer: 'x' }, 'fabric.peer', /unknown setting "fabric\.peer"/],
    ['missing-key-file', { ...cfg.fabric, key_file: join(work.path, 'nope.pem') }, 'fabric.key_file', /^setting fabric\.key_file: cannot read/],
    ['key-of-another-cert', { ...cfg.fabric, key_file: join(work.path, 'auditor', 'key.pem') }, 'fabric.key_file', /^setting fabric\.key_file: .* is not the key of the certificate in fabric\.cert_file/],
  ];
  for (const [what, fabric, field, message] of cases) {
    await t.rejects(start(what, fabric), { code: 'INVALID_ARGUMENT', field, message }, `${what}: refused at start, naming ${field}`);
  }
  const v = await runCli(['verify', '--server', '127.0.0.1:1', '--log', 'x', '--pubkey', join(work.path, 'auditor', 'cert.pem'), '--fabric-config', auditorConfig]);
  t.equal(v.code, 2, '--fabric-config without --anchors is a usage error');
  t.match(v.stderr, /--fabric-config reads anchors: use it with --anchors/);
});
