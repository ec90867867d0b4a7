/**
 * A running Cairn node: storage, signing key, ledger, gRPC, the HTTP JSON
 * API (src/http/) and the HTTP endpoint for metrics and health. `startNode` resolves once every port is
 * bound; `close` drains gracefully (in-flight groups finish, then storage
 * closes).
 *
 * Every resource registers its disposer in one stack (disposers.ts) right
 * after it is opened. A start that fails at any step releases the stack, so
 * what the earlier steps opened is closed and the error is the step's; a
 * normal `close` releases the same stack.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LedgerStore } from '../storage/ledger-store.js';
import { Ledger } from '../ledger/ledger.js';
import { createGrpcServer } from '../server/grpc-server.js';
import { Access } from '../server/access.js';
import { CallerLimits } from '../server/limits.js';
import { TenantQuotas } from '../server/quotas.js';
import { ConfigHealth } from '../server/config-health.js';
import { routeGrpcLogs } from '../server/grpc-log.js';
import { reloadingServerCredentials } from '../server/tls.js';
import { Metrics } from '../server/metrics.js';
import { createLogger, type Logger } from './logger.js';
import { loadNodeKey, type SigningKey } from '../keys/signing-key.js';
import { checkNodeKeyChain, defaultNodeName } from '../ledger/key-rotation.js';
import { fabricSettings, parseHostPort, type NodeConfig } from './config.js';
import { LEDGER_SERVICE } from '../api/proto.js';
import { InlineChainSigner, WorkerChainSigner } from '../ledger/chain-signer.js';
import { AnchorStore } from '../anchoring/store.js';
import { AnchorPipeline } from '../anchoring/pipeline.js';
import { LocalAnchorBackend } from '../anchoring/local-backend.js';
import type { AnchorBackend } from '../anchoring/backend.js';
import { startSyncTarget, type SyncContext } from '../sync/run-target.js';
import { ledgerRecorder } from './ledger-recorder.js';
import { loadOrCreateMaskKey, MASK_KEY_FILE } from '../sync/mask-key.js';
import { createSyncMetrics } from '../sync/metrics.js';
import { Disposers } from './disposers.js';
import { HttpApi } from '../http/http-server.js';
import { CONSOLE_PATH } from '../http/console-assets.js';
import { createRoutes } from '../http/routes.js';
import { HmacKey } from '../http/hmac-key.js';
import { AppendHandlers, APPEND_DEADLINE_HINT } from '../server/append-handlers.js';
import { ReadHandlers } from '../server/read-handlers.js';
import { KeyHandlers } from '../server/key-handlers.js';
import { AnchorHandlers } from '../server/anchor-handlers.js';
import { FederationHandlers } from '../server/federation-handlers.js';
import { StoreAnchorQueries } from '../anchoring/queries.js';
import { connectPeer, loadPeerKey, type PeerConfig } from '../federation/peers.js';
import { Federation } from '../federation/federation.js';
import { MirrorLogs, type MirrorLogsOptions } from '../ledger/mirror-logs.js';
import { Witness, type PinnedOrigin } from '../federation/witness.js';
import { CosignatureCollector } from '../federation/witness-submitter.js';
import { WitnessExchange } from '../federation/witness-exchange.js';
import { EquivocationRecorder, evidenceFromMirror, witnessedEquivocation } from '../federation/witness-evidence.js';
import { WitnessStore } from '../storage/witness-store.js';
import { loadOrCreateWitnessKey, WITNESS_KEY_FILE } from '../keys/witness-key.js';
import type { LedgerClient } from '../client/ledger-client.js';
import type { FederationView } from '../server/federation-handlers.js';
import type { Equivocation } from '../core/federation.js';
import { CairnError } from '../core/errors.js';

export interface RunningNode {
  readonly config: Readonly<NodeConfig>;
  readonly ledger: Ledger;
  readonly key: SigningKey;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** host:port actually bound (port 0 resolved). */
  readonly grpcAddress: string;
  /** `http://host:port` or `https://...` of the HTTP API; undefined when http_listen is empty. */
  readonly httpAddress: string | undefined;
  /** The auditor's console (`<httpAddress>/console/`, docs/console.md); undefined when http_listen is empty. */
  readonly consoleUrl: string | undefined;
  readonly metricsAddress: string | undefined;
  /** The anchoring stage, unless anchor_backend is off. */
  readonly anchors: AnchorPipeline | undefined;
  /** Mirrors of peers' logs, vectors and caught split views (docs/federation.md). */
  readonly federation: Federation;
  readonly mirrors: MirrorLogs;
  /** Witnessing (docs/federation.md#witnessing), when the node has peers. */
  readonly witnessing: Witnessing | undefined;
  /** Re-reads policy, tokens and TLS files now (what SIGHUP does). */
  reloadAuth(): Promise<void>;
  /** Drains and releases everything; rejects with the first resource that failed to close (each failure is logged). */
  close(): Promise<void>;
}

/** Releases a resource ahead of its place in the stack (`Disposers.push`). */
type Release = () => Promise<void>;

/**
 * Starts a node. A failure at any step closes what the steps before it
 * opened, then rejects with that step's error.
 */
export async function startNode(config: Readonly<NodeConfig>, logger: Logger = createLogger(config.logLevel)): Promise<RunningNode> {
  const disposers = new Disposers(logger);
  try {
    return await start(config, logger, disposers);
  } catch (err) {
    await disposers.release();
    throw err;
  }
}

async function start(config: Readonly<NodeConfig>, logger: Logger, disposers: Disposers): Promise<RunningNode> {
  // grpc-js prints through its own logger, quoting what it refuses (credentials included): route it through ours, redacted.
  routeGrpcLogs(logger.child({ component: 'grpc-js' }), config.logLevel);
  const metrics = new Metrics({ defaultMetrics: true });
  const configHealth = new ConfigHealth(logger, metrics);
  // Access and TLS first: a bad policy or certificate refuses the start before anything is opened.
  const { access, tls } = await openAccess(config, logger, configHealth, disposers);
  const storage = await openStorage(config, logger, disposers);
  const nodeName = config.nodeName || defaultNodeName(storage.firstKey);
  const peerKeys = await loadPeerKeys(config, nodeName);
  let pipeline: AnchorPipeline | undefined;
  let witnessing: Witnessing | undefined;
  const ledger = openLedger(config, storage, nodeName, metrics, (log) => {
    pipeline?.noteCommit(log);
    witnessing?.collector.noteCommit(log);
  }, disposers);
  const anchoring = config.anchorBackend === 'off' ? undefined : await startAnchoring(config, nodeName, ledger.ledger, metrics, logger, disposers);
  // A split view a mirror meets is recorded as the witness's are: one place keeps the evidence (federation/witness-evidence.ts).
  const { mirrors, federation } = await openFederation(config, nodeName, peerKeys, storage.store, ledger.ledger, metrics, logger, {
    conflict: (e) => {
      void witnessing?.recorder.record(evidenceFromMirror(e), `mirror:${e.peer}`).catch((err: unknown) => logger.error('split view from a mirror not recorded', { origin: e.origin, log: e.log, err: (err as Error).message }));
    },
    // Cosignatures that come with mirrored checkpoints are gathered where the witness keeps its own (served with the mirror's checkpoints).
    cosignatures: (note, lines, by) => witnessing?.witness.noteCosignatures(note, lines, by) ?? Promise.resolve(),
  });
  pipeline = anchoring?.pipeline;
  witnessing = await startWitnessing(config, nodeName, ledger.ledger, peerKeys, metrics, logger, disposers);
  const quotas = new TenantQuotas(
    { logs: config.tenantMaxLogs, queuedAppends: config.tenantMaxQueuedAppends, streams: config.tenantMaxStreams, appendsPerSecond: config.tenantRateLimitAppends, appendBurst: config.tenantRateLimitBurst },
    access,
    metrics,
  );
  // Who created each stored log, for the tenants' log quotas; also loads the ledger's index of log names.
  if (access.enabled) quotas.setCreators(await ledger.ledger.logCreators());
  // One set of per-identity limits: an identity has one append rate and one stream count over gRPC and HTTP together.
  const limits = new CallerLimits({ appendsPerSecond: config.rateLimitAppends, burst: config.rateLimitBurst, maxStreams: config.maxStreamsPerIdentity });
  const view = federationView(federation, witnessing);
  const api: ApiDeps = { ledger: ledger.ledger, anchorStore: anchoring?.store, access, quotas, tls, limits, metrics, logger, mirrors, federation: view, witnessing };
  const server = await startGrpc(config, api, disposers);
  const http = await startHttp(config, api, disposers);
  pipeline?.start();
  federation.start();
  await witnessing?.start();
  const stopSync = await startSync(config, ledger.ledger, metrics, logger, disposers);
  let serving = true;
  const metricsAddress = await startMetrics(config, metrics, () => serving, configHealth, disposers);

  server.health.setStatus('', 'SERVING');
  server.health.setStatus(LEDGER_SERVICE, 'SERVING');
  // Pushed last, so released first: the writers drain before the gRPC server
  // waits for its calls, and an open stream ends with UNAVAILABLE when the
  // ledger closes instead of holding the shutdown until its deadline. The
  // metrics endpoint stays up meanwhile, answering 503.
  disposers.push('serving', async () => {
    serving = false;
    server.health.setStatus('', 'NOT_SERVING');
    server.health.setStatus(LEDGER_SERVICE, 'NOT_SERVING');
    const stopFederation = async (): Promise<void> => {
      mirrors.close();
      await federation.close();
    };
    await releaseInOrder([stopSync, witnessing?.stop, stopFederation, anchoring?.closePipeline, ledger.closeLedger, ledger.closeChain, server.shutdown, http?.shutdown]);
  });

  const consoleUrl = http ? `${http.address}${CONSOLE_PATH}` : undefined;
  logger.info('node started', {
    grpc: server.address, http: http?.address, console: consoleUrl, metrics: metricsAddress, dataDir: config.dataDir, nodeName, keyId: storage.key.keyIdHex,
    keySource: storage.keySource, rotations: storage.keyChain.length, tls: tls !== undefined, auth: access.enabled, peers: config.peers.length,
  });
  if (!access.enabled) {
    // Said at the default log level: an operator must know the node answers anyone on this machine.
    logger.warn('authentication is off (no policy_file): every local client may read and write every log; serving loopback only', { grpc: server.address });
  }
  const reloadAuth = async (): Promise<void> => {
    await Promise.all([access.reload(true), tls?.reload(), http?.reloadFluxKey()]);
  };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const failures = await disposers.release();
      if (failures.length > 0) throw failures[0];
      logger.info('node stopped');
    })();
    return closing;
  };
  return { config, ledger: ledger.ledger, key: storage.key, metrics, logger, grpcAddress: server.address, httpAddress: http?.address, consoleUrl, metricsAddress, anchors: pipeline, federation, mirrors, witnessing, reloadAuth, close };
}

/**
 * Every peer's pinned key, by origin name: a key that does not load refuses
 * the start, naming the peer and its public_key_file.
 */
async function loadPeerKeys(config: Readonly<NodeConfig>, nodeName: string): Promise<Map<string, Uint8Array>> {
  const keys = new Map<string, Uint8Array>();
  for (const [i, peer] of config.peers.entries()) {
    if (peer.name === nodeName) throw new CairnError('INVALID_ARGUMENT', `setting peers[${i}].name: "${nodeName}" is this node's own origin name`, { field: `peers[${i}].name` });
    keys.set(peer.name, await loadPeerKey(peer));
  }
  return keys;
}

/**
 * The mirrors of peers' logs and the federation that fills them. A caught
 * split view is a JSON log line, a metric and a row of the status (which
 * the federation keeps with its evidence).
 */
async function openFederation(
  config: Readonly<NodeConfig>,
  nodeName: string,
  peerKeys: ReadonlyMap<string, Uint8Array>,
  store: LedgerStore,
  ledger: Ledger,
  metrics: Metrics,
  logger: Logger,
  report: { conflict(e: Equivocation): void; cosignatures(note: string, lines: readonly string[], by: string): Promise<void> },
): Promise<{ mirrors: MirrorLogs; federation: Federation }> {
  const mirrors = await MirrorLogs.open(store, { originKeys: peerKeys, ...testHooks(logger) });
  const log = logger.child({ component: 'federation' });
  const federation = await Federation.open({
    nodeName,
    peers: config.peers,
    peerKeys,
    ledger,
    mirrors,
    store: store.mirrors,
    logger: log,
    pollMs: config.federationPollMs,
    maxBatch: config.mirrorMaxBatch,
    backoffBaseMs: 200,
    backoffMaxMs: 30_000,
    hooks: {
      stored: (origin, n) => metrics.mirrorEntries.inc({ origin }, n),
      rejected: (peer, origin) => metrics.mirrorRejectedBatches.inc({ peer, origin }),
    },
    onConflict: (e) => {
      metrics.equivocations.inc({ origin: e.origin, kind: e.kind });
      log.error('split view caught: stopped mirroring this log; both signed checkpoints kept', { origin: e.origin, log: e.log, kind: e.kind, peer: e.peer, reason: e.reason });
      report.conflict(e);
    },
    noteCosignatures: (note, lines, by) => report.cosignatures(note, lines, by),
  });
  return { mirrors, federation };
}

/**
 * TEST ONLY: with CAIRN_TEST_HOOKS=1, CAIRN_TEST_TAMPER_RELAY
 * (`{"origin":..,"log":..,"seq":..}`) makes this node serve that mirrored
 * entry with one byte changed, as a dishonest relay would
 * (docs/federation.md, "Test hooks"). Never read otherwise.
 */
function testHooks(logger: Logger): MirrorLogsOptions {
  if (process.env.CAIRN_TEST_HOOKS !== '1' || !process.env.CAIRN_TEST_TAMPER_RELAY) return {};
  const t = JSON.parse(process.env.CAIRN_TEST_TAMPER_RELAY) as { origin: string; log: string; seq: number };
  logger.warn('TEST HOOK: this node alters a relayed entry', t);
  return { tamperRelay: t };
}

/**
 * Runs each release in turn, each even if one before it failed.
 * @throws the failure, or an AggregateError of several
 */
async function releaseInOrder(releases: readonly (Release | undefined)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const release of releases) {
    try {
      await release?.();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, 'several resources failed to close');
}

type ReloadingTls = Awaited<ReturnType<typeof reloadingServerCredentials>>;

/** The policy and tokens, and the node's TLS credentials, each with the watcher that reloads them. */
async function openAccess(config: Readonly<NodeConfig>, logger: Logger, health: ConfigHealth, disposers: Disposers): Promise<{ access: Access; tls: ReloadingTls | undefined }> {
  const access = await Access.open({ policyFile: config.policyFile, tokensFile: config.tokensFile, reloadMs: config.authReloadMs }, logger, health);
  disposers.push('policy and tokens watcher', () => access.close());
  if (!config.tlsCertFile) return { access, tls: undefined };
  const tls = await reloadingServerCredentials(
    { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile, requireClientCert: config.tlsClientCert === 'required', reloadMs: config.authReloadMs },
    logger,
    health,
  );
  disposers.push('TLS watcher', () => tls.close());
  return { access, tls };
}

interface Storage {
  key: SigningKey;
  keySource: 'env' | 'file';
  store: LedgerStore;
  keyChain: Awaited<ReturnType<LedgerStore['getKeyChain']>>;
  /** The chain's first key, which verifiers pin. */
  firstKey: Uint8Array;
}

/** The data directory, the signing key and the ledger's LevelDB, the key checked against the stored key chain. */
async function openStorage(config: Readonly<NodeConfig>, logger: Logger, disposers: Disposers): Promise<Storage> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { key, created, source } = await loadNodeKey({ keyFile: config.keyFile, dataDir: config.dataDir, envPem: config.signingKeyPem }, true);
  if (created) logger.warn('created a new signing key', { publicKey: join(config.dataDir, 'signing-key.pub.pem'), keyId: key.keyIdHex });
  const store = await LedgerStore.open(join(config.dataDir, 'ledger'));
  disposers.push('ledger store', () => store.close());
  const keyChain = await store.getKeyChain();
  // After rotations the key must be the chain's last; verifiers pin its first.
  const firstKey = checkNodeKeyChain(keyChain, key);
  return { key, keySource: source, store, keyChain, firstKey };
}

/** The ledger over the store, with its signer (a worker thread unless signing is inline). */
function openLedger(
  config: Readonly<NodeConfig>,
  storage: Storage,
  nodeName: string,
  metrics: Metrics,
  afterCommit: (log: string) => void,
  disposers: Disposers,
): { ledger: Ledger; closeLedger: Release; closeChain: Release } {
  const chain = config.signing === 'worker' ? new WorkerChainSigner(storage.key) : new InlineChainSigner(storage.key);
  const closeChain = disposers.push('signer', () => chain.close());
  const ledger = new Ledger(
    storage.store,
    storage.key,
    { nodeName, maxBatch: config.maxBatch, maxQueue: config.maxQueue, maxLogs: config.maxLogs, limits: { maxPayloadBytes: config.maxPayloadBytes }, keyChain: storage.keyChain },
    {
      committed(log, cp, n, startNs) {
        metrics.appends.inc({ log }, n);
        metrics.groupSize.observe(n);
        metrics.groupCommitSeconds.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
        metrics.logSize.set({ log }, cp.size);
        afterCommit(log);
      },
    },
    chain,
  );
  const closeLedger = disposers.push('ledger', () => ledger.close());
  return { ledger, closeLedger, closeChain };
}

/**
 * The federation status with witnessing's part: cosignatures given to and
 * received from each peer, and the split views the witness caught (a split
 * view a mirror met is listed once).
 */
function federationView(federation: Federation, witnessing: Witnessing | undefined): FederationView {
  return {
    async status(canRead) {
      const st = await federation.status(canRead);
      if (!witnessing) return st;
      const listed = new Set(st.equivocations.map((e) => `${e.origin}/${e.log}`));
      const caught = (await witnessing.recorder.list()).filter((r) => canRead(r.evidence.log) && !listed.has(r.evidence.origin)).map(witnessedEquivocation);
      return {
        ...st,
        peers: st.peers.map((p) => ({ ...p, cosignaturesGiven: witnessing.given.get(p.name) ?? 0, cosignaturesReceived: witnessing.received.get(p.name) ?? 0 })),
        equivocations: [...st.equivocations, ...caught],
      };
    },
  };
}

/** The witnessing side of a node with peers: what node.ts starts and stops. */
export interface Witnessing {
  witness: Witness;
  collector: CosignatureCollector;
  exchange: WitnessExchange;
  /** Where any part of the node (the witness, a mirror) reports a split view it caught. */
  recorder: EquivocationRecorder;
  /** Cosignatures given to each peer's checkpoints, and received from each peer, since start. */
  given: ReadonlyMap<string, number>;
  received: ReadonlyMap<string, number>;
  start(): Promise<void>;
  stop: Release;
}

/**
 * Witnessing (docs/federation.md#witnessing), when the node has peers: the
 * witness key, the witness store, the witness that cosigns the peers'
 * checkpoints, the collector that asks the peers to cosign ours, and the
 * exchange of what each witness cosigned.
 */
async function startWitnessing(
  config: Readonly<NodeConfig>,
  nodeName: string,
  ledger: Ledger,
  peerKeys: ReadonlyMap<string, Uint8Array>,
  metrics: Metrics,
  logger: Logger,
  disposers: Disposers,
): Promise<Witnessing | undefined> {
  if (config.peers.length === 0) return undefined;
  const log = logger.child({ component: 'witness' });
  const keyPath = config.witnessKeyFile ? resolve(config.witnessKeyFile) : join(config.dataDir, WITNESS_KEY_FILE);
  const { key, created, publicPath } = await loadOrCreateWitnessKey(keyPath, !config.witnessKeyFile);
  if (created) log.warn('created a new witness key', { publicKey: publicPath });
  const store = await WitnessStore.open(join(config.dataDir, 'witness'));
  disposers.push('witness store', () => store.close());
  const clients = new Map<string, Promise<LedgerClient>>();
  disposers.push('peer clients', async () => {
    for (const c of clients.values()) (await c.catch(() => undefined))?.close();
  });
  const clientOf = (peer: PeerConfig) => (): Promise<LedgerClient> => {
    let c = clients.get(peer.name);
    if (!c) {
      c = connectPeer(peer);
      c.catch(() => clients.delete(peer.name));
      clients.set(peer.name, c);
    }
    return c;
  };
  // Mirrors count their own (openFederation); the witness's are counted here.
  const recorder = await EquivocationRecorder.open(store, ledger, log, (ev, source) => {
    if (!source.startsWith('mirror:')) metrics.equivocations.inc({ origin: ev.origin.slice(0, ev.origin.lastIndexOf('/')), kind: ev.kind });
  });
  const given = new Map<string, number>();
  const received = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
  const origins = new Map<string, PinnedOrigin>();
  for (const p of config.peers) origins.set(p.name, { name: p.name, publicKey: peerKeys.get(p.name)!, ...(p.endpoint ? { client: clientOf(p) } : {}) });
  const witness = new Witness({
    store,
    key,
    name: nodeName,
    origins,
    sink: recorder,
    logger: log,
    hooks: {
      cosigned: (origin) => {
        metrics.cosignaturesGiven.inc({ origin });
        bump(given, origin.slice(0, origin.lastIndexOf('/')));
      },
      refused: (reason) => metrics.witnessRefusals.inc({ reason }),
    },
  });
  const withEndpoint = config.peers.filter((p) => p.endpoint);
  const collector = new CosignatureCollector(
    ledger,
    store,
    withEndpoint.filter((p) => p.witness).map((p) => ({ name: p.name, client: clientOf(p) })),
    log,
    {
      received: (w) => {
        metrics.cosignaturesReceived.inc({ witness: w });
        bump(received, w);
      },
      failed: (w) => metrics.witnessSubmitFailures.inc({ witness: w }),
    },
    { intervalMs: config.witnessSubmitIntervalMs },
  );
  collector.foreignCosigned = (origin, log, min) => witness.foreignCosigned(origin, log, min);
  const exchange = new WitnessExchange(witness, withEndpoint.map((p) => ({ name: p.name, client: clientOf(p) })), log, config.witnessExchangeMs);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await exchange.close();
      await collector.close();
    })();
    return stopping;
  };
  // Before the ledger and the store close, whether the start completes or not.
  disposers.push('witnessing', stop);
  return {
    witness,
    collector,
    exchange,
    recorder,
    given,
    received,
    async start() {
      await collector.start();
      exchange.start();
    },
    stop,
  };
}

/** The anchor store, the backend (local or Fabric) and the pipeline between them; the pipeline is started once the node serves. */
async function startAnchoring(
  config: Readonly<NodeConfig>,
  nodeName: string,
  ledger: Ledger,
  metrics: Metrics,
  logger: Logger,
  disposers: Disposers,
): Promise<{ store: AnchorStore; pipeline: AnchorPipeline; closePipeline: Release }> {
  const store = await AnchorStore.open(join(config.dataDir, 'anchors'));
  disposers.push('anchor store', () => store.close());
  // The pipeline's own deadline is a backstop: each Fabric call has its deadline (endorse and submit, then the commit status).
  let submitTimeoutMs = 10_000;
  let backend: AnchorBackend;
  if (config.anchorBackend === 'local') {
    backend = await LocalAnchorBackend.open(join(config.dataDir, 'anchors-local'));
  } else {
    // Loaded on use: fabric-gateway and its protobufs take about 0.25 s to import (docs/design.md, "The CLI loads only what a command uses").
    const { FabricAnchorBackend } = await import('../anchoring/fabric-backend.js');
    backend = await FabricAnchorBackend.open(fabricSettings(config), { node: nodeName });
    submitTimeoutMs = 2 * config.fabricTimeoutMs + config.fabricCommitTimeoutMs + 1000;
  }
  disposers.push('anchor backend', () => backend.close());
  const pipeline = new AnchorPipeline(ledger, store, backend, logger, { intervalMs: config.anchorIntervalMs, submitTimeoutMs, backoffBaseMs: 200, backoffMaxMs: 30_000 }, {
    committed: (w, lagMs) => {
      metrics.anchorLag.observe(lagMs / 1000);
      metrics.anchorWindows.inc({ result: 'committed' });
      metrics.anchoredWindow.set(w.window.window);
    },
    failed: () => metrics.anchorWindows.inc({ result: 'failed_attempt' }),
  });
  const closePipeline = disposers.push('anchor pipeline', () => pipeline.close());
  return { store, pipeline, closePipeline };
}

interface GrpcServing {
  health: ReturnType<typeof createGrpcServer>['health'];
  /** host:port bound (port 0 resolved). */
  address: string;
  shutdown: Release;
}

/** What both APIs serve from and check with: one ledger, one access, one set of limits and quotas. */
interface ApiDeps {
  ledger: Ledger;
  anchorStore: AnchorStore | undefined;
  access: Access;
  quotas: TenantQuotas;
  tls: ReloadingTls | undefined;
  limits: CallerLimits;
  metrics: Metrics;
  logger: Logger;
  mirrors: MirrorLogs;
  federation: FederationView;
  witnessing: Witnessing | undefined;
}

/** The gRPC server, bound to `listen`. */
async function startGrpc(
  config: Readonly<NodeConfig>,
  { ledger, anchorStore, access, quotas, tls, limits, metrics, logger, mirrors, federation, witnessing }: ApiDeps,
  disposers: Disposers,
): Promise<GrpcServing> {
  const { server, health } = createGrpcServer(ledger, logger, metrics, {
    anchorStore,
    mirrors,
    federation,
    ...(witnessing ? { witness: witnessing.witness, cosignatures: witnessing.collector, witnessSpki: witnessing.witness.key.spki } : {}),
    maxReceiveMessageLength: maxRequestBytes(config),
    access,
    limits,
    quotas,
    requestTimeoutMs: config.requestTimeoutMs,
    streamStallMs: config.streamStallMs,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(config.listen, tls?.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const shutdown = disposers.push('gRPC server', () =>
    new Promise<void>((resolve) => {
      // Calls get 2 s to finish, then are cut.
      const t = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    }),
  );
  const { host } = parseHostPort(config.listen)!;
  return { health, address: `${host.includes(':') ? `[${host}]` : host}:${port}`, shutdown };
}

/**
 * The largest request either API reads. Well above the payload limit, so an
 * oversized payload reaches validation and is refused as INVALID_ARGUMENT
 * naming payload_json; grpc-js would answer RESOURCE_EXHAUSTED, which clients
 * take for overload and retry.
 */
function maxRequestBytes(config: Readonly<NodeConfig>): number {
  return Math.max(4 * 1024 * 1024, 2 * config.maxPayloadBytes + 64 * 1024);
}

interface HttpServing {
  /** `http://host:port` (or https), port 0 resolved. */
  address: string;
  shutdown: Release;
  /** Re-reads flux_hmac_key_file (SIGHUP); a file that does not load leaves the key in force. */
  reloadFluxKey(): Promise<void>;
}

/**
 * The HTTP JSON API on `http_listen` (undefined when it is empty): the gRPC
 * handlers behind other routes, with the same access, limits and TLS files.
 */
async function startHttp(
  config: Readonly<NodeConfig>,
  { ledger, anchorStore, access, quotas, tls, limits, metrics, logger, mirrors, federation, witnessing }: ApiDeps,
  disposers: Disposers,
): Promise<HttpServing | undefined> {
  if (!config.httpListen) return undefined;
  let fluxKey = config.fluxHmacKeyFile ? await HmacKey.load(config.fluxHmacKeyFile) : undefined;
  const routes = createRoutes({
    ledger,
    appends: new AppendHandlers({ ledger, access, limits, quotas, metrics, streamStallMs: config.streamStallMs }),
    reads: new ReadHandlers(ledger, access, mirrors, witnessing?.collector),
    keys: new KeyHandlers(ledger, mirrors, witnessing?.witness.key.spki),
    federation: new FederationHandlers(federation, access),
    anchors: new AnchorHandlers(anchorStore ? new StoreAnchorQueries(anchorStore) : undefined, access),
    fluxKey: () => fluxKey,
    appendDeadlineHint: APPEND_DEADLINE_HINT,
  });
  const api = new HttpApi({
    access,
    limits,
    quotas,
    metrics,
    log: logger,
    routes,
    maxBodyBytes: maxRequestBytes(config),
    requestTimeoutMs: config.requestTimeoutMs,
    streamStallMs: config.streamStallMs,
    tls: tls && { files: tls.files, onReload: tls.onReload, requireClientCert: config.tlsClientCert === 'required' },
  });
  const { host, port } = parseHostPort(config.httpListen)!;
  const bound = await api.listen(host, port).catch(async (err: unknown) => {
    await api.close().catch(() => undefined);
    throw err;
  });
  const shutdown = disposers.push('HTTP API', () => api.close());
  const reloadFluxKey = async (): Promise<void> => {
    if (!config.fluxHmacKeyFile) return;
    try {
      fluxKey = await HmacKey.load(config.fluxHmacKeyFile);
    } catch (err) {
      logger.error('Flux key not reloaded; the previous key stays in force', { reason: (err as Error).message });
    }
  };
  return { address: `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound}`, shutdown, reloadFluxKey };
}

/**
 * The configured sync targets, recording into the node's own ledger.
 * Returns what stops them (undefined without targets).
 */
async function startSync(config: Readonly<NodeConfig>, ledger: Ledger, metrics: Metrics, logger: Logger, disposers: Disposers): Promise<Release | undefined> {
  if (config.syncTargets.length === 0) return undefined;
  const ctx: SyncContext = {
    recorder: ledgerRecorder(ledger),
    maskKey: await loadOrCreateMaskKey(join(config.dataDir, MASK_KEY_FILE)),
    gitCacheDir: join(config.dataDir, 'git-cache'),
    metrics: createSyncMetrics(metrics.registry),
    logger: logger.child({ component: 'sync' }),
    maxPayloadBytes: config.maxPayloadBytes,
  };
  const abort = new AbortController();
  const running: Promise<void>[] = [];
  // One disposer for the targets started so far: they stop together, as one abort.
  const stop = disposers.push('sync targets', async () => {
    abort.abort();
    await Promise.all(running);
  });
  for (const t of config.syncTargets) {
    const started = await startSyncTarget(t, ctx, abort.signal);
    running.push(started.done.catch((err: unknown) => logger.error('sync target stopped', { target: t.name, err })));
  }
  return stop;
}

/** The HTTP endpoint for /metrics, /healthz and /readyz, if metrics_listen is set. Resolves with its address. */
async function startMetrics(config: Readonly<NodeConfig>, metrics: Metrics, serving: () => boolean, health: ConfigHealth, disposers: Disposers): Promise<string | undefined> {
  if (!config.metricsListen) return undefined;
  const m = parseHostPort(config.metricsListen)!;
  const http = createServer((req, res) => {
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
    } else if (req.url === '/healthz' || req.url === '/readyz') {
      const up = serving();
      // A file that did not reload leaves the node serving on an older one: DEGRADED, still 200 on
      // /healthz, so a supervisor does not restart the node into a start the same file would refuse.
      const problems = req.url === '/healthz' ? health.problems() : [];
      res.writeHead(up ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(!up ? { status: 'NOT_SERVING' } : problems.length > 0 ? { status: 'DEGRADED', problems } : { status: 'SERVING' }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(m.port, m.host, () => resolve());
  });
  disposers.push('metrics endpoint', async () => {
    await new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeAllConnections();
  });
  const addr = http.address();
  return typeof addr === 'object' && addr ? `${m.host.includes(':') ? `[${m.host}]` : m.host}:${addr.port}` : undefined;
}
