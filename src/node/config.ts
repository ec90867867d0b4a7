/**
 * Node settings. Precedence: command-line flags > environment > config file
 * ($CONFIG_PATH or --config, JSON) > embedded defaults, resolved once into a
 * frozen object. Every setting is validated here and an error names it.
 *
 * The Fabric anchor backend's settings sit in the file's nested `fabric`
 * object (`{"fabric": {"endpoint": ...}}`, exactly what `npm run
 * fabric:test-peer` prints), in the environment as `CAIRN_FABRIC_*` and as
 * `--fabric-*` flags. An auditor's `--fabric-config FILE` is the same
 * section with the auditor's own identity ({@link loadFabricSettings}).
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { isLogLevel, type LogLevel } from './logger.js';
import type { FabricSettings } from '../anchoring/fabric-connection.js';
import { validateSyncTargetConfig, type SyncTargetConfig } from '../sync/run-target.js';
import { Secret } from '../keys/secret.js';
import { SIGNING_KEY_ENV } from '../keys/signing-key.js';
import { validatePeers, type PeerConfig } from '../federation/peers.js';

export type { FabricSettings, PeerConfig };

export interface NodeConfig {
  /** GitOps sync targets run inside the node (config file key `sync_targets`, a list). */
  syncTargets: readonly SyncTargetConfig[];
  /** Federation peers (config file key `peers`, a list; src/federation/peers.ts, docs/federation.md). */
  peers: readonly PeerConfig[];
  dataDir: string;
  listen: string;
  /** The HTTP JSON API (src/http/); empty: off. */
  httpListen: string;
  metricsListen: string;
  /** Empty: metrics/health HTTP endpoint off. */
  nodeName: string;
  keyFile: string;
  /**
   * The signing key as a PKCS#8 PEM from $CAIRN_SIGNING_KEY_PEM (environment
   * only: never a flag, which `ps` shows, nor the config file). When set it
   * takes precedence over keyFile and no key file is created.
   */
  signingKeyPem?: Secret | undefined;
  logLevel: LogLevel;
  maxBatch: number;
  maxQueue: number;
  maxLogs: number;
  maxPayloadBytes: number;
  /** Where entries are signed: a worker thread (default) or the main thread. */
  signing: 'worker' | 'inline';
  /** Where checkpoints are anchored: `local` (embedded default), `fabric`, or `off`. */
  anchorBackend: 'local' | 'fabric' | 'off';
  anchorIntervalMs: number;
  /** Gateway peer `host:port` (`fabric.endpoint`); empty when not set. */
  fabricEndpoint: string;
  /** PEM of the CA that issued the peer's TLS certificate. */
  fabricTlsCaFile: string;
  /** Host name the peer's TLS certificate names when it differs from the endpoint's host; empty: the endpoint's host. */
  fabricTlsServerName: string;
  fabricMspId: string;
  /** The node's Fabric identity: X.509 certificate (PEM) and its private key (PEM, PKCS#8 or SEC1). */
  fabricCertFile: string;
  fabricKeyFile: string;
  fabricChannel: string;
  fabricChaincode: string;
  fabricContract: string;
  /** Deadline of each Evaluate, Endorse and Submit call. */
  fabricTimeoutMs: number;
  /** Deadline of the wait for a transaction's commit status. */
  fabricCommitTimeoutMs: number;
  /** The node's TLS certificate chain and key (PEM); TLS is on when both are set. Re-read on change. */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** CA (PEM) that issues client certificates: mutual TLS is on when set. */
  tlsClientCaFile: string;
  /** `required`: a handshake without a valid client certificate fails; `optional`: such a caller may still use a token. */
  tlsClientCert: 'optional' | 'required';
  /** The authorization policy (YAML, src/auth/policy.ts): authentication and authorization are on when set. */
  policyFile: string;
  /** Bearer token hashes (src/auth/tokens.ts); needs policy_file. */
  tokensFile: string;
  /** How often policy, tokens and TLS files are checked for changes (SIGHUP reloads at once). */
  authReloadMs: number;
  /** Appends per second per identity (token bucket); 0: no limit. */
  rateLimitAppends: number;
  /** Bucket size: appends an identity may send at once after being idle. */
  rateLimitBurst: number;
  /** Streams (AppendStream, ListEntries, Watch) one identity may have open at once. */
  maxStreamsPerIdentity: number;
  /** Per-tenant quota defaults, for tenants the policy's `quotas:` sets none for (src/server/quotas.ts). */
  tenantMaxLogs: number;
  tenantMaxQueuedAppends: number;
  tenantMaxStreams: number;
  tenantRateLimitAppends: number;
  tenantRateLimitBurst: number;
  /** Deadline of every unary handler. */
  requestTimeoutMs: number;
  /** A stream whose reader takes no data for this long is ended (DEADLINE_EXCEEDED). */
  streamStallMs: number;
  /** Serve metrics on a non-loopback address (metrics name logs and have no authentication). */
  metricsRemote: boolean;
  /** The HMAC key of Flux's generic-hmac provider (`POST /v1/hooks/flux`); empty: that intake is off. */
  fluxHmacKeyFile: string;
  /** The witness key (PKCS#8 PEM, 0600) that cosigns peers' checkpoints; resolved: `<data_dir>/witness-key.pem` when unset. */
  witnessKeyFile: string;
  /** How often witnesses exchange what they cosigned (split-view detection). */
  witnessExchangeMs: number;
  /** Least time between two submissions of the node's checkpoints to one witness. */
  witnessSubmitIntervalMs: number;
  /** How often each followed peer's version vector is read (docs/federation.md). */
  federationPollMs: number;
  /** Entries of a mirrored log verified and stored per batch at most. */
  mirrorMaxBatch: number;
}


interface Setting {
  key: keyof NodeConfig;
  file: string;
  env: string;
  flag: string;
  kind: 'string' | 'string?' | 'path?' | 'hostport' | 'hostport?' | 'int' | 'level' | 'name' | 'signing' | 'anchor' | 'channel?' | 'chaincode?' | 'clientcert' | 'bool';
  min?: number;
  max?: number;
  /** What the setting does, for people: scripts/settings-table.ts prints it into docs/operations.md. */
  meaning: string;
}

export const SETTINGS: readonly Setting[] = [
  { key: 'dataDir', file: 'data_dir', env: 'CAIRN_DATA_DIR', flag: 'data-dir', kind: 'string', meaning: 'Where the node keeps its data: `ledger/` (LevelDB), the signing key, `anchors/`, `anchors-local/`, `git-cache/`, `sync-mask.key`.' },
  { key: 'listen', file: 'listen', env: 'CAIRN_LISTEN', flag: 'listen', kind: 'hostport', meaning: 'gRPC address. An address beyond loopback needs TLS and a policy (the node refuses to start otherwise).' },
  { key: 'httpListen', file: 'http_listen', env: 'CAIRN_HTTP_LISTEN', flag: 'http-listen', kind: 'hostport?', meaning: 'HTTP JSON API address (docs/api.md); empty turns it off. Same rule as `listen`: beyond loopback it needs TLS and a policy, which it shares with gRPC.' },
  { key: 'metricsListen', file: 'metrics_listen', env: 'CAIRN_METRICS_LISTEN', flag: 'metrics-listen', kind: 'hostport?', meaning: 'Prometheus metrics and health (`/metrics`, `/healthz`, `/readyz`); empty turns it off. An address beyond loopback needs `metrics_remote`.' },
  { key: 'nodeName', file: 'node_name', env: 'CAIRN_NODE_NAME', flag: 'node-name', kind: 'name', meaning: 'Key name on checkpoint signatures; log origins are `<node_name>/<log>`. Unset: `cairn-<key id of the node\'s first key>`, kept across key rotations.' },
  { key: 'keyFile', file: 'key_file', env: 'CAIRN_KEY_FILE', flag: 'key-file', kind: 'string', meaning: 'The signing key (PKCS#8 PEM, mode 0600). Unset: `<data_dir>/signing-key.pem`, created if missing; another path must exist. `CAIRN_SIGNING_KEY_PEM` wins over it.' },
  { key: 'logLevel', file: 'log_level', env: 'CAIRN_LOG_LEVEL', flag: 'log-level', kind: 'level', meaning: 'JSON log lines on stderr at this level and above.' },
  { key: 'maxBatch', file: 'max_batch', env: 'CAIRN_MAX_BATCH', flag: 'max-batch', kind: 'int', min: 1, max: 4096, meaning: 'Most appends in one group commit.' },
  { key: 'maxQueue', file: 'max_queue', env: 'CAIRN_MAX_QUEUE', flag: 'max-queue', kind: 'int', min: 1, max: 1_000_000, meaning: 'Appends waiting per log; past it an append fails with RESOURCE_EXHAUSTED and a retry hint.' },
  { key: 'maxLogs', file: 'max_logs', env: 'CAIRN_MAX_LOGS', flag: 'max-logs', kind: 'int', min: 1, max: 1_000_000, meaning: 'Most logs the node hosts; a first append past it fails with RESOURCE_EXHAUSTED.' },
  { key: 'signing', file: 'signing', env: 'CAIRN_SIGNING', flag: 'signing', kind: 'signing', meaning: '`worker`: entries are signed on a worker thread (the chain heads live there); `inline`: on the main thread.' },
  { key: 'anchorBackend', file: 'anchor_backend', env: 'CAIRN_ANCHOR_BACKEND', flag: 'anchor-backend', kind: 'anchor', meaning: 'Where checkpoints are anchored (docs/anchoring.md); `off` disables anchoring.' },
  { key: 'anchorIntervalMs', file: 'anchor_interval_ms', env: 'CAIRN_ANCHOR_INTERVAL_MS', flag: 'anchor-interval-ms', kind: 'int', min: 50, max: 86_400_000, meaning: 'How often a window is built when any log has grown.' },
  { key: 'maxPayloadBytes', file: 'max_payload_bytes', env: 'CAIRN_MAX_PAYLOAD_BYTES', flag: 'max-payload-bytes', kind: 'int', min: 0, max: 16 * 1024 * 1024, meaning: 'Largest `payload_json` of an append, in UTF-8 bytes.' },
  // A dot in the file key: a field of a nested object in the config file.
  { key: 'fabricEndpoint', file: 'fabric.endpoint', env: 'CAIRN_FABRIC_ENDPOINT', flag: 'fabric-endpoint', kind: 'hostport?', meaning: 'Gateway peer `host:port`. Required for `anchor_backend` `fabric`, as are the other `fabric.*` keys without a default.' },
  { key: 'fabricTlsCaFile', file: 'fabric.tls_ca_file', env: 'CAIRN_FABRIC_TLS_CA_FILE', flag: 'fabric-tls-ca-file', kind: 'path?', meaning: 'PEM of the CA(s) that issued the peer\'s TLS certificate.' },
  { key: 'fabricTlsServerName', file: 'fabric.tls_server_name', env: 'CAIRN_FABRIC_TLS_SERVER_NAME', flag: 'fabric-tls-server-name', kind: 'string?', meaning: 'The name in the peer\'s TLS certificate. Unset: the endpoint\'s host.' },
  { key: 'fabricMspId', file: 'fabric.msp_id', env: 'CAIRN_FABRIC_MSP_ID', flag: 'fabric-msp-id', kind: 'string?', meaning: 'MSP ID of the node\'s Fabric identity.' },
  { key: 'fabricCertFile', file: 'fabric.cert_file', env: 'CAIRN_FABRIC_CERT_FILE', flag: 'fabric-cert-file', kind: 'path?', meaning: 'The node\'s Fabric identity: X.509 certificate (PEM).' },
  { key: 'fabricKeyFile', file: 'fabric.key_file', env: 'CAIRN_FABRIC_KEY_FILE', flag: 'fabric-key-file', kind: 'path?', meaning: 'Its private key (PEM, PKCS#8 or SEC1; must match the certificate).' },
  { key: 'fabricChannel', file: 'fabric.channel', env: 'CAIRN_FABRIC_CHANNEL', flag: 'fabric-channel', kind: 'channel?', meaning: 'The channel the chaincode runs on.' },
  { key: 'fabricChaincode', file: 'fabric.chaincode', env: 'CAIRN_FABRIC_CHAINCODE', flag: 'fabric-chaincode', kind: 'chaincode?', meaning: 'The chaincode\'s name (`cairn-anchor` in the deployment guide).' },
  { key: 'fabricContract', file: 'fabric.contract', env: 'CAIRN_FABRIC_CONTRACT', flag: 'fabric-contract', kind: 'string', meaning: 'The contract inside the chaincode.' },
  { key: 'fabricTimeoutMs', file: 'fabric.timeout_ms', env: 'CAIRN_FABRIC_TIMEOUT_MS', flag: 'fabric-timeout-ms', kind: 'int', min: 100, max: 600_000, meaning: 'Deadline of each evaluate, endorse and submit call.' },
  { key: 'fabricCommitTimeoutMs', file: 'fabric.commit_timeout_ms', env: 'CAIRN_FABRIC_COMMIT_TIMEOUT_MS', flag: 'fabric-commit-timeout-ms', kind: 'int', min: 100, max: 3_600_000, meaning: 'Deadline of the wait for a transaction\'s commit status.' },
  { key: 'tlsCertFile', file: 'tls_cert_file', env: 'CAIRN_TLS_CERT_FILE', flag: 'tls-cert-file', kind: 'path?', meaning: 'The node\'s TLS certificate chain (PEM). TLS is on when it and `tls_key_file` are set; both are re-read on change.' },
  { key: 'tlsKeyFile', file: 'tls_key_file', env: 'CAIRN_TLS_KEY_FILE', flag: 'tls-key-file', kind: 'path?', meaning: 'The key of `tls_cert_file` (PEM).' },
  { key: 'tlsClientCaFile', file: 'tls_client_ca_file', env: 'CAIRN_TLS_CLIENT_CA_FILE', flag: 'tls-client-ca-file', kind: 'path?', meaning: 'CA (PEM) that issues client certificates: mutual TLS is on when set (needs `tls_cert_file`).' },
  { key: 'tlsClientCert', file: 'tls_client_cert', env: 'CAIRN_TLS_CLIENT_CERT', flag: 'tls-client-cert', kind: 'clientcert', meaning: '`optional`: a caller without a valid certificate may still use a token; `required`: the handshake fails instead.' },
  { key: 'policyFile', file: 'policy_file', env: 'CAIRN_POLICY_FILE', flag: 'policy-file', kind: 'path?', meaning: 'The tenants policy (YAML, docs/security.md). Authentication and authorization are on when set.' },
  { key: 'tokensFile', file: 'tokens_file', env: 'CAIRN_TOKENS_FILE', flag: 'tokens-file', kind: 'path?', meaning: 'Bearer token hashes, one `name sha256:salt:digest` line each (`cairn token create`); needs `policy_file`.' },
  { key: 'authReloadMs', file: 'auth_reload_ms', env: 'CAIRN_AUTH_RELOAD_MS', flag: 'auth-reload-ms', kind: 'int', min: 100, max: 3_600_000, meaning: 'How often policy, tokens and TLS files are checked for changes (SIGHUP: at once).' },
  { key: 'rateLimitAppends', file: 'rate_limit_appends', env: 'CAIRN_RATE_LIMIT_APPENDS', flag: 'rate-limit-appends', kind: 'int', min: 0, max: 10_000_000, meaning: 'Appends per second per identity (token bucket); 0: no limit.' },
  { key: 'rateLimitBurst', file: 'rate_limit_burst', env: 'CAIRN_RATE_LIMIT_BURST', flag: 'rate-limit-burst', kind: 'int', min: 1, max: 100_000_000, meaning: 'Appends an identity may send at once after being idle (the bucket\'s size).' },
  { key: 'tenantMaxLogs', file: 'tenant_max_logs', env: 'CAIRN_TENANT_MAX_LOGS', flag: 'tenant-max-logs', kind: 'int', min: 0, max: 1_000_000_000, meaning: 'Logs one tenant may create, unless the policy\'s `quotas:` sets its `logs`; keep the sum over tenants under `max_logs`.' },
  { key: 'tenantMaxQueuedAppends', file: 'tenant_max_queued_appends', env: 'CAIRN_TENANT_MAX_QUEUED_APPENDS', flag: 'tenant-max-queued-appends', kind: 'int', min: 1, max: 1_000_000_000, meaning: 'Appends of one tenant waiting for the ledger at once, over all its identities (policy quota `queued_appends`).' },
  { key: 'tenantMaxStreams', file: 'tenant_max_streams', env: 'CAIRN_TENANT_MAX_STREAMS', flag: 'tenant-max-streams', kind: 'int', min: 1, max: 1_000_000_000, meaning: 'Streams one tenant may have open at once, over all its identities (policy quota `streams`).' },
  { key: 'tenantRateLimitAppends', file: 'tenant_rate_limit_appends', env: 'CAIRN_TENANT_RATE_LIMIT_APPENDS', flag: 'tenant-rate-limit-appends', kind: 'int', min: 0, max: 1_000_000_000, meaning: 'Appends per second of one tenant, over all its identities; 0: no limit (policy quota `appends_per_second`).' },
  { key: 'tenantRateLimitBurst', file: 'tenant_rate_limit_burst', env: 'CAIRN_TENANT_RATE_LIMIT_BURST', flag: 'tenant-rate-limit-burst', kind: 'int', min: 1, max: 1_000_000_000, meaning: 'Appends one tenant may send at once after being idle (policy quota `append_burst`).' },
  { key: 'maxStreamsPerIdentity', file: 'max_streams_per_identity', env: 'CAIRN_MAX_STREAMS_PER_IDENTITY', flag: 'max-streams-per-identity', kind: 'int', min: 1, max: 1_000_000, meaning: 'Streams (AppendStream, ListEntries, Watch) one identity may have open at once.' },
  { key: 'requestTimeoutMs', file: 'request_timeout_ms', env: 'CAIRN_REQUEST_TIMEOUT_MS', flag: 'request-timeout-ms', kind: 'int', min: 100, max: 3_600_000, meaning: 'Deadline of every unary handler.' },
  { key: 'streamStallMs', file: 'stream_stall_ms', env: 'CAIRN_STREAM_STALL_MS', flag: 'stream-stall-ms', kind: 'int', min: 100, max: 3_600_000, meaning: 'A stream whose reader takes no data this long is ended (DEADLINE_EXCEEDED).' },
  { key: 'metricsRemote', file: 'metrics_remote', env: 'CAIRN_METRICS_REMOTE', flag: 'metrics-remote', kind: 'bool', meaning: 'Allows a non-loopback `metrics_listen`: metrics name every log and have no authentication.' },
  { key: 'federationPollMs', file: 'federation_poll_ms', env: 'CAIRN_FEDERATION_POLL_MS', flag: 'federation-poll-ms', kind: 'int', min: 50, max: 3_600_000, meaning: 'How often each followed peer\'s version vector is read (GetFederationStatus): new logs are found at this pace; their entries arrive pushed, on a Watch (docs/federation.md).' },
  { key: 'mirrorMaxBatch', file: 'mirror_max_batch', env: 'CAIRN_MIRROR_MAX_BATCH', flag: 'mirror-max-batch', kind: 'int', min: 1, max: 100_000, meaning: 'Most entries of a mirrored log verified and stored in one synced batch.' },
  { key: 'fluxHmacKeyFile', file: 'flux_hmac_key_file', env: 'CAIRN_FLUX_HMAC_KEY_FILE', flag: 'flux-hmac-key-file', kind: 'path?', meaning: 'The key of Flux\'s `generic-hmac` provider (docs/integrations/flux.md); `POST /v1/hooks/flux` is off without it.' },
  { key: 'witnessKeyFile', file: 'witness_key_file', env: 'CAIRN_WITNESS_KEY_FILE', flag: 'witness-key-file', kind: 'path?', meaning: 'The witness key that cosigns peers\' checkpoints (PKCS#8 PEM, mode 0600; docs/federation.md#witnessing). Unset: `<data_dir>/witness-key.pem`, created with `witness-key.pub.pem` beside it when the node has peers; another path must exist.' },
  { key: 'witnessExchangeMs', file: 'witness_exchange_ms', env: 'CAIRN_WITNESS_EXCHANGE_MS', flag: 'witness-exchange-ms', kind: 'int', min: 100, max: 3_600_000, meaning: 'How often the node asks each peer what it last cosigned, to catch an origin that shows different histories to different witnesses.' },
  { key: 'witnessSubmitIntervalMs', file: 'witness_submit_interval_ms', env: 'CAIRN_WITNESS_SUBMIT_INTERVAL_MS', flag: 'witness-submit-interval-ms', kind: 'int', min: 10, max: 3_600_000, meaning: 'Least time between two rounds of submissions of the node\'s checkpoints to one witness: the checkpoints a busy log makes meanwhile coalesce into one (docs/design.md, "Witnesses are asked after the commit").' },
];

/** Fabric settings without a default: all must be set for anchor_backend fabric (and in an auditor's --fabric-config). */
const FABRIC_REQUIRED: readonly (keyof NodeConfig)[] = ['fabricEndpoint', 'fabricTlsCaFile', 'fabricMspId', 'fabricCertFile', 'fabricKeyFile', 'fabricChannel', 'fabricChaincode'];

export const DEFAULTS: Readonly<Omit<NodeConfig, 'keyFile'>> & { keyFile: string } = {
  syncTargets: [],
  peers: [],
  dataDir: './data',
  listen: '127.0.0.1:7700',
  httpListen: '127.0.0.1:7701',
  metricsListen: '127.0.0.1:9464',
  nodeName: '',
  keyFile: '',
  logLevel: 'warn',
  maxBatch: 256,
  maxQueue: 8192,
  maxLogs: 10_000,
  maxPayloadBytes: 64 * 1024,
  signing: 'worker',
  anchorBackend: 'local',
  anchorIntervalMs: 5000,
  fabricEndpoint: '',
  fabricTlsCaFile: '',
  fabricTlsServerName: '',
  fabricMspId: '',
  fabricCertFile: '',
  fabricKeyFile: '',
  fabricChannel: '',
  fabricChaincode: '',
  fabricContract: 'CairnAnchor',
  fabricTimeoutMs: 10_000,
  fabricCommitTimeoutMs: 30_000,
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsClientCaFile: '',
  tlsClientCert: 'optional',
  policyFile: '',
  tokensFile: '',
  authReloadMs: 5000,
  rateLimitAppends: 10_000,
  rateLimitBurst: 20_000,
  maxStreamsPerIdentity: 128,
  tenantMaxLogs: 1000,
  tenantMaxQueuedAppends: 8192,
  tenantMaxStreams: 512,
  tenantRateLimitAppends: 20_000,
  tenantRateLimitBurst: 40_000,
  requestTimeoutMs: 30_000,
  streamStallMs: 30_000,
  metricsRemote: false,
  witnessKeyFile: '',
  witnessExchangeMs: 10_000,
  witnessSubmitIntervalMs: 1000,
  fluxHmacKeyFile: '',
  federationPollMs: 1000,
  mirrorMaxBatch: 2000,
};

function bad(where: string, name: string, problem: string): CairnError {
  return new CairnError('INVALID_ARGUMENT', `setting ${name} (${where}): ${problem}`, { field: name });
}

/** host:port with a numeric port; IPv6 as [::1]:7700. */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2]!;
  if (m[1] && isIP(m[1]) !== 6) return undefined;
  return { host, port };
}

function convert(s: Setting, raw: unknown, where: string): unknown {
  const name = where === 'flag' ? `--${s.flag}` : where === 'env' ? s.env : s.file;
  switch (s.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw bad(where, name, 'must be a non-empty string');
      return raw;
    case 'string?':
    case 'path?':
      if (typeof raw !== 'string' || /[\u0000-\u001f\u007f]/.test(raw)) throw bad(where, name, 'must be a string without control characters');
      return raw;
    case 'channel?':
      // Fabric channel names (configtxgen): lowercase, start with a letter, at most 249 characters.
      if (typeof raw !== 'string' || (raw !== '' && !/^[a-z][a-z0-9.-]{0,248}$/.test(raw))) throw bad(where, name, 'must be a Fabric channel name ([a-z][a-z0-9.-]*, at most 249 characters)');
      return raw;
    case 'chaincode?':
      // Fabric chaincode names (peer lifecycle): letters and digits, joined by single - or _.
      if (typeof raw !== 'string' || (raw !== '' && !/^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$/.test(raw))) throw bad(where, name, 'must be a Fabric chaincode name ([A-Za-z0-9]+ joined by - or _)');
      return raw;
    case 'name':
      if (typeof raw !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(raw)) {
        throw bad(where, name, 'must be 1-128 of [A-Za-z0-9._/-] (a C2SP note key name: no spaces, no +)');
      }
      return raw;
    case 'hostport':
    case 'hostport?':
      if (s.kind === 'hostport?' && raw === '') return '';
      if (typeof raw !== 'string' || !parseHostPort(raw)) throw bad(where, name, 'must be HOST:PORT (IPv6 as [addr]:port)');
      return raw;
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < (s.min ?? 0) || n > (s.max ?? Number.MAX_SAFE_INTEGER)) {
        throw bad(where, name, `must be an integer in [${s.min}, ${s.max}]`);
      }
      return n;
    }
    case 'anchor':
      if (raw !== 'local' && raw !== 'fabric' && raw !== 'off') throw bad(where, name, 'must be local, fabric or off');
      return raw;
    case 'signing':
      if (raw !== 'worker' && raw !== 'inline') throw bad(where, name, 'must be worker or inline');
      return raw;
    case 'level':
      if (typeof raw !== 'string' || !isLogLevel(raw)) throw bad(where, name, 'must be one of debug, info, warn, error, silent');
      return raw;
    case 'clientcert':
      if (raw !== 'optional' && raw !== 'required') throw bad(where, name, 'must be optional or required');
      return raw;
    case 'bool':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw bad(where, name, 'must be true or false');
  }
}

export interface ConfigSources {
  flags?: Partial<Record<string, string>>;
  env?: NodeJS.ProcessEnv;
  configPath?: string;
}

/** @throws CairnError INVALID_ARGUMENT naming the setting and where it came from */
export async function loadConfig(src: ConfigSources = {}): Promise<Readonly<NodeConfig>> {
  const env = src.env ?? {};
  const flags = src.flags ?? {};
  const out: Record<string, unknown> = { ...DEFAULTS };
  const path = flags.config ?? src.configPath ?? env.CONFIG_PATH;
  if (path) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch (cause) {
      throw new CairnError('INVALID_ARGUMENT', `config file ${path}: ${(cause as Error).message}`, { field: 'config', cause });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CairnError('INVALID_ARGUMENT', `config file ${path}: must be a JSON object`, { field: 'config' });
    const { sync_targets: rawTargets, peers: rawPeers, ...rest } = parsed as Record<string, unknown>;
    if (rawPeers !== undefined) {
      try {
        out.peers = validatePeers(rawPeers);
      } catch (cause) {
        const c = cause as CairnError;
        throw new CairnError('INVALID_ARGUMENT', `config file ${path}: ${c.message}`, { field: c.field ?? 'peers', cause });
      }
    }
    if (rawTargets !== undefined) {
      if (!Array.isArray(rawTargets)) throw new CairnError('INVALID_ARGUMENT', `config file ${path}: sync_targets must be a list`, { field: 'sync_targets' });
      const targets = rawTargets.map((t, i) => validateSyncTargetConfig(t, `sync_targets[${i}]`));
      const names = new Set<string>();
      for (const [i, t] of targets.entries()) {
        if (names.has(t.name)) throw new CairnError('INVALID_ARGUMENT', `config file ${path}: sync_targets[${i}].name "${t.name}" is used twice`, { field: `sync_targets[${i}].name` });
        names.add(t.name);
      }
      out.syncTargets = targets;
    }
    const flat = flattenSections(rest, path);
    const known = new Set(SETTINGS.map((s) => s.file));
    for (const k of Object.keys(flat)) {
      if (!known.has(k)) throw new CairnError('INVALID_ARGUMENT', `config file ${path}: unknown setting "${k}"`, { field: k });
    }
    for (const s of SETTINGS) {
      const v = flat[s.file];
      if (v !== undefined) out[s.key] = convert(s, v, `file ${path}`);
    }
  }
  for (const s of SETTINGS) {
    const v = env[s.env];
    if (v !== undefined) out[s.key] = convert(s, v, 'env');
  }
  for (const s of SETTINGS) {
    const v = flags[s.flag];
    if (v !== undefined) out[s.key] = convert(s, v, 'flag');
  }
  const cfg = out as unknown as NodeConfig;
  const pem = env[SIGNING_KEY_ENV];
  if (pem !== undefined && pem !== '') cfg.signingKeyPem = new Secret(pem);
  cfg.dataDir = resolve(cfg.dataDir);
  // Absolute, like dataDir: node.ts recognises the default key location by path.
  cfg.keyFile = cfg.keyFile ? resolve(cfg.keyFile) : resolve(cfg.dataDir, 'signing-key.pem');
  for (const k of ['fabricTlsCaFile', 'fabricCertFile', 'fabricKeyFile', 'tlsCertFile', 'tlsKeyFile', 'tlsClientCaFile', 'policyFile', 'tokensFile', 'fluxHmacKeyFile', 'witnessKeyFile'] as const) if (cfg[k]) cfg[k] = resolve(cfg[k]);
  if (cfg.anchorBackend === 'fabric') requireFabric(cfg, 'anchor_backend is fabric');
  const self = cfg.peers.findIndex((p) => p.name === cfg.nodeName);
  if (self >= 0) throw new CairnError('INVALID_ARGUMENT', `setting peers[${self}].name: "${cfg.nodeName}" is this node's own node_name`, { field: `peers[${self}].name` });
  checkExposure(cfg);
  return Object.freeze(cfg);
}

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/.test(host);
}

/**
 * Safe defaults: without TLS and authentication the node answers anyone who
 * reaches the port, so it may listen on loopback only. The settings that
 * depend on each other are checked here too, each error naming a setting.
 */
function checkExposure(cfg: NodeConfig): void {
  if (!cfg.tlsCertFile !== !cfg.tlsKeyFile) {
    const missing = cfg.tlsCertFile ? 'tls_key_file' : 'tls_cert_file';
    throw new CairnError('INVALID_ARGUMENT', `setting ${missing}: tls_cert_file and tls_key_file go together`, { field: missing });
  }
  if (cfg.tlsClientCaFile && !cfg.tlsCertFile) {
    throw new CairnError('INVALID_ARGUMENT', 'setting tls_client_ca_file: mutual TLS needs the node\'s own tls_cert_file and tls_key_file', { field: 'tls_client_ca_file' });
  }
  if (cfg.tokensFile && !cfg.policyFile) {
    throw new CairnError('INVALID_ARGUMENT', 'setting tokens_file: tokens name tenants only through a policy; set policy_file too', { field: 'tokens_file' });
  }
  // gRPC and the HTTP API answer the same calls with the same access control: one rule for both.
  for (const [setting, address] of [['listen', cfg.listen], ['http_listen', cfg.httpListen]] as const) {
    if (address === '' || isLoopbackHost(parseHostPort(address)!.host) || (cfg.tlsCertFile && cfg.policyFile)) continue;
    const lacking = [cfg.tlsCertFile ? '' : 'TLS (tls_cert_file, tls_key_file)', cfg.policyFile ? '' : 'authentication (policy_file)'].filter(Boolean).join(' and ');
    throw new CairnError(
      'INVALID_ARGUMENT',
      `setting ${setting}: ${address} is not a loopback address and the node has no ${lacking}; ` +
        'anyone who reached the port could read and write every log. Listen on 127.0.0.1, or configure TLS and a policy',
      { field: setting },
    );
  }
  if (cfg.metricsListen && !isLoopbackHost(parseHostPort(cfg.metricsListen)!.host) && !cfg.metricsRemote) {
    throw new CairnError(
      'INVALID_ARGUMENT',
      `setting metrics_listen: ${cfg.metricsListen} is not a loopback address; metrics name every log and have no authentication. ` +
        'Set metrics_remote to true to serve them there anyway',
      { field: 'metrics_listen' },
    );
  }
}

/**
 * The config file's nested sections (`{"fabric": {"endpoint": ...}}`) as
 * dotted keys (`fabric.endpoint`); a section must be an object.
 */
function flattenSections(parsed: Record<string, unknown>, path: string): Record<string, unknown> {
  const sections = new Set(SETTINGS.filter((s) => s.file.includes('.')).map((s) => s.file.slice(0, s.file.indexOf('.'))));
  const flat: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!sections.has(k)) {
      flat[k] = v;
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CairnError('INVALID_ARGUMENT', `config file ${path}: "${k}" must be an object of settings`, { field: k });
    for (const [k2, v2] of Object.entries(v)) flat[`${k}.${k2}`] = v2;
  }
  return flat;
}

/** @throws CairnError INVALID_ARGUMENT naming the first required Fabric setting that is not set */
function requireFabric(cfg: NodeConfig, why: string): void {
  for (const key of FABRIC_REQUIRED) {
    if (cfg[key] !== '') continue;
    const s = SETTINGS.find((x) => x.key === key)!;
    throw new CairnError('INVALID_ARGUMENT', `setting ${s.file}: required when ${why} (file key ${s.file} in the "fabric" object, env ${s.env} or --${s.flag})`, { field: s.file });
  }
}

/** The Fabric part of a resolved config. */
export function fabricSettings(cfg: Readonly<NodeConfig>): FabricSettings {
  return {
    endpoint: cfg.fabricEndpoint,
    tlsCaFile: cfg.fabricTlsCaFile,
    tlsServerName: cfg.fabricTlsServerName,
    mspId: cfg.fabricMspId,
    certFile: cfg.fabricCertFile,
    keyFile: cfg.fabricKeyFile,
    channel: cfg.fabricChannel,
    chaincode: cfg.fabricChaincode,
    contract: cfg.fabricContract,
    timeoutMs: cfg.fabricTimeoutMs,
    commitTimeoutMs: cfg.fabricCommitTimeoutMs,
  };
}

/**
 * An auditor's Fabric settings file (`--fabric-config FILE`): a JSON object
 * whose `fabric` section has the node config's keys, with the auditor's own
 * identity. Only the file is read (no environment, no flags).
 * @throws CairnError INVALID_ARGUMENT naming the setting at fault
 */
export async function loadFabricSettings(path: string): Promise<FabricSettings> {
  const cfg = await loadConfig({ configPath: path, env: {} });
  requireFabric(cfg as NodeConfig, `reading anchors from Fabric (${path})`);
  return fabricSettings(cfg);
}
