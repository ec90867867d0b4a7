/**
 * Connects the unmodified `@hyperledger/fabric-gateway` client to a peer:
 * a grpc-js channel with TLS (trusting the given CA), an X.509 identity and
 * a signer from `signers.newPrivateKeySigner`. This is what the node's
 * `fabric` anchor backend will do with its configured settings.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, hash, signers, type Gateway } from '@hyperledger/fabric-gateway';
import { createPrivateKey } from 'node:crypto';
import type { ConnectionSettings } from './test-peer.js';

export interface GatewayConnection {
  gateway: Gateway;
  /** The gRPC channel (the gateway does not close it: "not closed by the gateway"). */
  client: grpc.Client;
  close(): void;
}

export interface ConnectOptions {
  /** Deadline of each Evaluate, Endorse, Submit and CommitStatus call. Default 5 s. */
  timeoutMs?: number;
  /** grpc-js reconnect backoff (a peer coming back is found within about this). Default 100 ms. */
  reconnectBackoffMs?: number;
}

export function connectGateway(settings: ConnectionSettings, options: ConnectOptions = {}): GatewayConnection {
  const timeoutMs = options.timeoutMs ?? 5000;
  const backoff = options.reconnectBackoffMs ?? 100;
  const client = new grpc.Client(settings.endpoint, grpc.credentials.createSsl(Buffer.from(settings.tlsCaPem)), {
    // Verify the certificate for its host name, not the IP address dialled.
    'grpc.ssl_target_name_override': settings.tlsServerName,
    'grpc.initial_reconnect_backoff_ms': backoff,
    'grpc.max_reconnect_backoff_ms': backoff * 5,
  });
  const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + timeoutMs });
  const gateway = connect({
    client,
    identity: { mspId: settings.mspId, credentials: Buffer.from(settings.certPem) },
    signer: signers.newPrivateKeySigner(createPrivateKey(settings.keyPem)),
    hash: hash.sha256,
    evaluateOptions: deadline,
    endorseOptions: deadline,
    submitOptions: deadline,
    commitStatusOptions: deadline,
  });
  return {
    gateway,
    client,
    close: () => {
      gateway.close();
      client.close();
    },
  };
}
