/**
 * The gRPC face of a {@link Ledger}: cairn.ledger.v1.Ledger plus the standard
 * grpc.health.v1 service and server reflection (grpcurl works without the
 * .proto). This file only wires: handlers (append-, read-, key- and
 * anchor-handlers.ts) validate and convert, the ledger and the anchoring read
 * side do the work, and every call goes through {@link CallRunner}
 * (authentication, limits, deadline, status via status.ts, metrics).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { ledgerPackageDefinition, ledgerServiceDefinition, LEDGER_SERVICE } from '../api/proto.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../core/logger.js';
import type { AnchorStore } from '../anchoring/store.js';
import { StoreAnchorQueries } from '../anchoring/queries.js';
import type { Access } from './access.js';
import type { CallerLimits } from './limits.js';
import type { Metrics } from './metrics.js';
import { CallRunner } from './call-runner.js';
import { AppendHandlers, APPEND_DEADLINE_HINT } from './append-handlers.js';
import { ReadHandlers } from './read-handlers.js';
import { KeyHandlers } from './key-handlers.js';
import { AnchorHandlers } from './anchor-handlers.js';
import { WitnessHandlers, type CosignatureSource, type WitnessService } from './witness-handlers.js';
import { watchEncoder, wireEntry } from './wire.js';
import { guardAuthorizationHeaders } from './raw-authorization.js';
import type { TenantQuotas } from './quotas.js';
import type { MirrorLogs } from '../ledger/mirror-logs.js';
import { FederationHandlers, type FederationView } from './federation-handlers.js';

export { wireAnchor, wireCheckpoint, wireEntry, wireReceipt } from './wire.js';

export interface GrpcServerOptions {
  /** Bytes; requests above are refused by grpc-js with RESOURCE_EXHAUSTED. */
  maxReceiveMessageLength: number;
  /** The anchor queue, when anchoring is on. */
  anchorStore?: AnchorStore;
  /** Who may call, and what they may do. */
  access: Access;
  limits: CallerLimits;
  quotas: TenantQuotas;
  /** Deadline of every unary handler. */
  requestTimeoutMs: number;
  /** A stream whose reader accepts no data for this long is ended. */
  streamStallMs: number;
  /** The node's mirrors of other origins' logs, read with `origin` set. */
  mirrors?: MirrorLogs;
  /** The federation's status (GetFederationStatus); absent: only this node's own vector. */
  federation?: FederationView;
  /** The witness side (AddCheckpoint, ListWitnessed); absent: those answer FAILED_PRECONDITION. */
  witness?: WitnessService;
  /** Cosignatures collected from this node's witnesses, served with its checkpoints. */
  cosignatures?: CosignatureSource;
  /** The node's witness key, served by GetPublicKey. */
  witnessSpki?: Uint8Array;
}

function newServer(maxReceiveMessageLength: number): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxReceiveMessageLength,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
    // HTTP/2 streams one connection may have open at once: past it the client
    // queues, so one connection cannot pile up calls without bound.
    'grpc.max_concurrent_streams': 1000,
  });
  // grpc-js creates its HTTP/2 server without TCP_NODELAY, so Nagle may hold
  // back small response frames until the client's delayed ACK; it matters on
  // real networks rather than on loopback. The options object reaches
  // http2.createServer -> net.Server, which honours noDelay (Node >= 17.7).
  const common = (server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
  if (common) common.noDelay = true;
  guardAuthorizationHeaders(server);
  return server;
}

/** Watch replies arrive encoded already (wire.ts, watchEncoder): grpc-js sends the bytes as they are. */
function withPreEncodedWatch(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const watch = def.Watch!;
  return { ...def, Watch: { ...watch, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : watch.responseSerialize(v)) } };
}

export function createGrpcServer(ledger: Ledger, log: Logger, metrics: Metrics, opts: GrpcServerOptions): { server: grpc.Server; health: HealthImplementation } {
  const { access, limits, quotas } = opts;
  const calls = new CallRunner({ access, limits, quotas, log, metrics, requestTimeoutMs: opts.requestTimeoutMs, streamStallMs: opts.streamStallMs });
  const appends = new AppendHandlers({ ledger, access, limits, quotas, metrics, streamStallMs: opts.streamStallMs });
  const reads = new ReadHandlers(ledger, access, opts.mirrors, opts.cosignatures);
  const witness = new WitnessHandlers(opts.witness);
  const keys = new KeyHandlers(ledger, opts.mirrors, opts.witnessSpki);
  const federation = new FederationHandlers(opts.federation ?? ownVectorOnly(ledger), access);
  const anchors = new AnchorHandlers(opts.anchorStore ? new StoreAnchorQueries(opts.anchorStore) : undefined, access);

  const server = newServer(opts.maxReceiveMessageLength);
  const service = withPreEncodedWatch(ledgerServiceDefinition());
  const encodeWatch = watchEncoder((w) => ledgerServiceDefinition().Watch!.responseSerialize(w));
  server.addService(service, {
    Append: calls.unary('Append', (req, caller) => appends.append(req, caller), { deadlineHint: APPEND_DEADLINE_HINT }),
    AppendStream: calls.duplex('AppendStream', (call, caller, end) => appends.appendStream(call, caller, end)),
    GetEntry: calls.unary('GetEntry', (req, caller) => reads.getEntry(req, caller)),
    ListEntries: calls.serverStream('ListEntries', (req, signal, caller) => reads.listEntries(req, signal, caller), wireEntry),
    Watch: calls.serverStream('Watch', (req, signal, caller) => reads.watch(req, signal, caller), encodeWatch),
    GetCheckpoint: calls.unary('GetCheckpoint', (req, caller) => reads.getCheckpoint(req, caller)),
    GetInclusionProof: calls.unary('GetInclusionProof', (req, caller) => reads.getInclusionProof(req, caller)),
    GetConsistencyProof: calls.unary('GetConsistencyProof', (req, caller) => reads.getConsistencyProof(req, caller)),
    ListLogs: calls.unary('ListLogs', (req, caller) => reads.listLogs(req, caller)),
    GetPublicKey: calls.unary('GetPublicKey', (req) => keys.getPublicKey(req)),
    GetAnchor: calls.unary('GetAnchor', (req, caller) => anchors.getAnchor(req, caller)),
    ListAnchors: calls.unary('ListAnchors', (req, caller) => anchors.listAnchors(req, caller)),
    GetAnchorProof: calls.unary('GetAnchorProof', (req, caller) => anchors.getAnchorProof(req, caller)),
    GetFederationStatus: calls.unary('GetFederationStatus', (req, caller) => federation.getFederationStatus(req, caller)),
    AddCheckpoint: calls.unary('AddCheckpoint', (req, caller) => witness.addCheckpoint(req, caller)),
    ListWitnessed: calls.unary('ListWitnessed', () => witness.listWitnessed()),
  } satisfies Record<string, grpc.UntypedHandleCall>);

  const health = new HealthImplementation({ '': 'NOT_SERVING', [LEDGER_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(ledgerPackageDefinition()).addToServer(server);
  return { server, health };
}

/** A node outside any federation: its vector is its own logs. */
export function ownVectorOnly(ledger: Ledger): FederationView {
  return {
    async status(canRead) {
      const logs = (await ledger.listLogs()).filter((c) => canRead(c.log));
      return { nodeName: ledger.options.nodeName, vector: logs.map((c) => ({ origin: ledger.options.nodeName, log: c.log, size: c.size, rootHash: c.rootHash, note: c.note, acceptedAtMs: 0 })), peers: [], equivocations: [] };
    },
  };
}
