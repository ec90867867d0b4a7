/**
 * A running Cairn node: storage, signing key, ledger, gRPC and the HTTP
 * endpoint for metrics and health. `startNode` resolves once every port is
 * bound; `close` drains gracefully (in-flight groups finish, then storage
 * closes).
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server as HttpServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LedgerStore } from '../storage/ledger-store.js';
import { Ledger } from '../ledger/ledger.js';
import { createGrpcServer } from '../server/grpc-server.js';
import { Access } from '../server/access.js';
import { CallerLimits } from '../server/limits.js';
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

export interface RunningNode {
  readonly config: Readonly<NodeConfig>;
  readonly ledger: Ledger;
  readonly key: SigningKey;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** host:port actually bound (port 0 resolved). */
  readonly grpcAddress: string;
  readonly metricsAddress: string | undefined;
  /** The anchoring stage, unless anchor_backend is off. */
  readonly anchors: AnchorPipeline | undefined;
  /** Re-reads policy, tokens and TLS files now (what SIGHUP does). */
  reloadAuth(): Promise<void>;
  close(): Promise<void>;
}

export async function startNode(config: Readonly<NodeConfig>, logger: Logger = createLogger(config.logLevel)): Promise<RunningNode> {
  // Access and TLS first: a bad policy or certificate refuses the start before anything is opened.
  const access = await Access.open({ policyFile: config.policyFile, tokensFile: config.tokensFile, reloadMs: config.authReloadMs }, logger);
  let tls: Awaited<ReturnType<typeof reloadingServerCredentials>> | undefined;
  try {
    if (config.tlsCertFile) {
      tls = await reloadingServerCredentials(
        { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile, requireClientCert: config.tlsClientCert === 'required', reloadMs: config.authReloadMs },
        logger,
      );
    }
  } catch (err) {
    access.close();
    throw err;
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { key, created, source } = await loadNodeKey({ keyFile: config.keyFile, dataDir: config.dataDir, envPem: config.signingKeyPem }, true);
  if (created) logger.warn('created a new signing key', { publicKey: join(config.dataDir, 'signing-key.pub.pem'), keyId: key.keyIdHex });
  const store = await LedgerStore.open(join(config.dataDir, 'ledger'));
  let keyChain;
  let firstKey: Uint8Array;
  try {
    keyChain = await store.getKeyChain();
    // After rotations the key must be the chain's last; verifiers pin its first.
    firstKey = checkNodeKeyChain(keyChain, key);
  } catch (err) {
    await store.close();
    throw err;
  }
  const nodeName = config.nodeName || defaultNodeName(firstKey);
  const metrics = new Metrics({ defaultMetrics: true });
  let pipeline: AnchorPipeline | undefined;
  const chain = config.signing === 'worker' ? new WorkerChainSigner(key) : new InlineChainSigner(key);
  const ledger = new Ledger(
    store,
    key,
    { nodeName, maxBatch: config.maxBatch, maxQueue: config.maxQueue, maxLogs: config.maxLogs, limits: { maxPayloadBytes: config.maxPayloadBytes }, keyChain },
    {
      committed(log, cp, n, startNs) {
        metrics.appends.inc({ log }, n);
        metrics.groupSize.observe(n);
        metrics.groupCommitSeconds.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
        metrics.logSize.set({ log }, cp.size);
        pipeline?.noteCommit(log);
      },
    },
    chain,
  );
  let anchorStore: AnchorStore | undefined;
  let anchorBackend: AnchorBackend | undefined;
  if (config.anchorBackend !== 'off') {
    anchorStore = await AnchorStore.open(join(config.dataDir, 'anchors'));
    // The pipeline's own deadline is a backstop: each Fabric call has its deadline (endorse and submit, then the commit status).
    let submitTimeoutMs = 10_000;
    try {
      if (config.anchorBackend === 'local') {
        anchorBackend = await LocalAnchorBackend.open(join(config.dataDir, 'anchors-local'));
      } else {
        // Loaded on use: fabric-gateway and its protobufs take about 0.25 s to import (measured).
        const { FabricAnchorBackend } = await import('../anchoring/fabric-backend.js');
        anchorBackend = await FabricAnchorBackend.open(fabricSettings(config), { node: nodeName });
        submitTimeoutMs = 2 * config.fabricTimeoutMs + config.fabricCommitTimeoutMs + 1000;
      }
    } catch (err) {
      await anchorStore.close();
      await ledger.close();
      await chain.close();
      await store.close();
      throw err;
    }
    pipeline = new AnchorPipeline(ledger, anchorStore, anchorBackend, logger, { intervalMs: config.anchorIntervalMs, submitTimeoutMs, backoffBaseMs: 200, backoffMaxMs: 30_000 }, {
      committed: (w, lagMs) => {
        metrics.anchorLag.observe(lagMs / 1000);
        metrics.anchorWindows.inc({ result: 'committed' });
        metrics.anchoredWindow.set(w.window.window);
      },
      failed: () => metrics.anchorWindows.inc({ result: 'failed_attempt' }),
    });
  }
  const { server, health } = createGrpcServer(ledger, logger, metrics, {
    anchorStore,
    // Well above the payload limit, so an oversized payload reaches validation and
    // is refused as INVALID_ARGUMENT naming payload_json; grpc-js would answer
    // RESOURCE_EXHAUSTED, which clients take for overload and retry.
    maxReceiveMessageLength: Math.max(4 * 1024 * 1024, 2 * config.maxPayloadBytes + 64 * 1024),
    access,
    limits: new CallerLimits({ appendsPerSecond: config.rateLimitAppends, burst: config.rateLimitBurst, maxStreams: config.maxStreamsPerIdentity }),
    requestTimeoutMs: config.requestTimeoutMs,
    streamStallMs: config.streamStallMs,
  });

  const listen = parseHostPort(config.listen)!;
  let grpcPort: number;
  try {
    grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(config.listen, tls?.credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  } catch (err) {
    access.close();
    tls?.close();
    await ledger.close();
    await chain.close();
    await store.close();
    throw err;
  }
  pipeline?.start();
  const syncAbort = new AbortController();
  const syncTargets: { name: string; done: Promise<void> }[] = [];
  if (config.syncTargets.length > 0) {
    const ctx: SyncContext = {
      recorder: ledgerRecorder(ledger),
      maskKey: await loadOrCreateMaskKey(join(config.dataDir, MASK_KEY_FILE)),
      gitCacheDir: join(config.dataDir, 'git-cache'),
      metrics: createSyncMetrics(metrics.registry),
      logger: logger.child({ component: 'sync' }),
      maxPayloadBytes: config.maxPayloadBytes,
    };
    for (const t of config.syncTargets) {
      const started = await startSyncTarget(t, ctx, syncAbort.signal);
      syncTargets.push({ name: t.name, done: started.done.catch((err: unknown) => logger.error('sync target stopped', { target: t.name, err })) });
    }
  }
  health.setStatus('', 'SERVING');
  health.setStatus(LEDGER_SERVICE, 'SERVING');
  const grpcAddress = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${grpcPort}`;

  let http: HttpServer | undefined;
  let metricsAddress: string | undefined;
  let serving = true;
  if (config.metricsListen) {
    const m = parseHostPort(config.metricsListen)!;
    http = createServer((req, res) => {
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
        res.writeHead(serving ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: serving ? 'SERVING' : 'NOT_SERVING' }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      http!.once('error', reject);
      http!.listen(m.port, m.host, () => resolve());
    });
    const addr = http.address();
    metricsAddress = typeof addr === 'object' && addr ? `${m.host.includes(':') ? `[${m.host}]` : m.host}:${addr.port}` : undefined;
  }
  logger.info('node started', { grpc: grpcAddress, metrics: metricsAddress, dataDir: config.dataDir, nodeName, keyId: key.keyIdHex, keySource: source, rotations: keyChain.length, tls: tls !== undefined, auth: access.enabled });
  if (!access.enabled) {
    // Said at the default log level: an operator must know the node answers anyone on this machine.
    logger.warn('authentication is off (no policy_file): every local client may read and write every log; serving loopback only', { grpc: grpcAddress });
  }
  const reloadAuth = async (): Promise<void> => {
    await Promise.all([access.reload(true), tls?.reload()]);
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      serving = false;
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(LEDGER_SERVICE, 'NOT_SERVING');
      syncAbort.abort();
      await Promise.all(syncTargets.map((t) => t.done));
      await pipeline?.close();
      await ledger.close();
      await chain.close();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()));
      http?.closeAllConnections();
      await store.close();
      await anchorBackend?.close();
      await anchorStore?.close();
      access.close();
      tls?.close();
      logger.info('node stopped');
    })();
    return closing;
  };
  return { config, ledger, key, metrics, logger, grpcAddress, metricsAddress, anchors: pipeline, reloadAuth, close };
}
