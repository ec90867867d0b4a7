/**
 * The peers a node federates with (config file key `peers`, a list), and
 * how it reaches one.
 *
 * A peer is another Cairn node, named by its origin: the `node_name` on its
 * checkpoint signatures (C2SP tlog-checkpoint origin `<name>/<log>`), which
 * is the one identity federation knows a node by. `public_key_file` is the
 * peer's FIRST signing key, pinned: every entry and checkpoint of that
 * origin is verified from it (after key rotations, through the key chain
 * that the log's own rotation entries carry), whoever relays them.
 *
 * A node mirrors an origin only if it has that origin's key pinned here.
 * An entry with `follow: false` and `witness: false` needs no endpoint: it
 * only pins an origin that the node reaches through other peers' mirrors
 * (docs/federation.md, "What a node pins").
 *
 * Every key of an entry is checked and an unknown one is refused by name,
 * as for every setting; errors name `peers[i].field`.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CairnError, invalidArgument } from '../core/errors.js';
import { pemToDer, spkiToRawP256 } from '../core/ecdsa-der.js';
import { clientOptions, LedgerClient, type ClientAuth } from '../client/ledger-client.js';

export interface PeerConfig {
  /** The peer's origin name: its `node_name`, the key name on its checkpoints. */
  name: string;
  /** gRPC `host:port`; empty for a pinned origin that is neither followed nor asked to witness. */
  endpoint: string;
  /** PEM of the peer's first signing key (SubjectPublicKeyInfo), pinned. */
  publicKeyFile: string;
  /** PEM of the CA that issued the peer's TLS certificate; TLS is on when set. */
  tlsCaFile?: string;
  /** The name in the peer's TLS certificate, when it differs from the endpoint's host. */
  tlsServerName?: string;
  /** A bearer token (`<name>.<secret>`) the peer's tokens file accepts. */
  tokenFile?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Mirror the logs this peer lets the node read (default true). */
  follow: boolean;
  /** Ask this peer to witness the node's own checkpoints (default true). */
  witness: boolean;
}

/** The keys a `peers` entry may have (file spelling). */
const PEER_KEYS = new Set(['name', 'endpoint', 'public_key_file', 'tls_ca_file', 'tls_server_name', 'token_file', 'tls_cert_file', 'tls_key_file', 'follow', 'witness']);

// A C2SP note key name, as `node_name` (src/node/config.ts).
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
const HOST_PORT_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/**
 * Validates the config file's `peers` list. File paths are resolved against
 * the working directory, as every path setting is.
 * @throws CairnError INVALID_ARGUMENT naming `peers[i].field`
 */
export function validatePeers(raw: unknown, where = 'peers'): PeerConfig[] {
  if (!Array.isArray(raw)) throw invalidArgument(where, 'must be a list of peers');
  const peers = raw.map((p, i) => validatePeer(p, `${where}[${i}]`));
  const seen = new Map<string, number>();
  for (const [i, p] of peers.entries()) {
    const first = seen.get(p.name);
    if (first !== undefined) throw invalidArgument(`${where}[${i}].name`, `"${p.name}" is already the name of ${where}[${first}]`);
    seen.set(p.name, i);
  }
  return peers;
}

function validatePeer(raw: unknown, where: string): PeerConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalidArgument(where, 'must be an object');
  const r = raw as Record<string, unknown>;
  const unknownKey = Object.keys(r).find((k) => !PEER_KEYS.has(k));
  if (unknownKey !== undefined) throw invalidArgument(`${where}.${unknownKey}`, 'unknown setting');
  const path = (k: string, required: boolean): string | undefined => {
    const v = r[k];
    if (v === undefined || v === '') {
      if (required) throw invalidArgument(`${where}.${k}`, 'is required (a file path)');
      return undefined;
    }
    if (typeof v !== 'string' || CONTROL_RE.test(v)) throw invalidArgument(`${where}.${k}`, 'must be a file path');
    return resolve(v);
  };
  const bool = (k: string): boolean => {
    const v = r[k] ?? true;
    if (typeof v !== 'boolean') throw invalidArgument(`${where}.${k}`, 'must be true or false');
    return v;
  };
  const name = r.name;
  if (typeof name !== 'string' || !NAME_RE.test(name)) throw invalidArgument(`${where}.name`, 'is required: the peer\'s node_name, 1-128 of [A-Za-z0-9._/-]');
  const follow = bool('follow');
  const witness = bool('witness');
  const endpoint = r.endpoint ?? '';
  if (typeof endpoint !== 'string' || (endpoint !== '' && !validHostPort(endpoint))) throw invalidArgument(`${where}.endpoint`, 'must be HOST:PORT (IPv6 as [addr]:port)');
  if (endpoint === '' && (follow || witness)) {
    throw invalidArgument(`${where}.endpoint`, 'is required unless follow and witness are both false (an origin pinned only to verify what other peers relay)');
  }
  const serverName = r.tls_server_name;
  if (serverName !== undefined && (typeof serverName !== 'string' || serverName === '' || CONTROL_RE.test(serverName))) throw invalidArgument(`${where}.tls_server_name`, 'must be a host name');
  const peer: PeerConfig = { name, endpoint, publicKeyFile: path('public_key_file', true)!, follow, witness };
  const ca = path('tls_ca_file', false);
  const token = path('token_file', false);
  const cert = path('tls_cert_file', false);
  const key = path('tls_key_file', false);
  if ((cert === undefined) !== (key === undefined)) throw invalidArgument(`${where}.${cert ? 'tls_key_file' : 'tls_cert_file'}`, 'tls_cert_file and tls_key_file go together');
  if (cert && !ca) throw invalidArgument(`${where}.tls_ca_file`, 'is required with tls_cert_file (mutual TLS needs the CA of the peer\'s certificate)');
  if (serverName !== undefined && !ca) throw invalidArgument(`${where}.tls_server_name`, 'needs tls_ca_file');
  if (ca) peer.tlsCaFile = ca;
  if (serverName !== undefined) peer.tlsServerName = serverName as string;
  if (token) peer.tokenFile = token;
  if (cert) peer.tlsCertFile = cert;
  if (key) peer.tlsKeyFile = key;
  return peer;
}

function validHostPort(s: string): boolean {
  return HOST_PORT_RE.test(s) && Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535;
}

/**
 * The peer's pinned first key (DER SubjectPublicKeyInfo, P-256).
 * @throws CairnError INVALID_ARGUMENT naming the peer and its public_key_file
 */
export async function loadPeerKey(peer: PeerConfig): Promise<Uint8Array> {
  const field = `peers ${peer.name}: public_key_file`;
  let pem: string;
  try {
    pem = await readFile(peer.publicKeyFile, 'utf8');
  } catch (cause) {
    throw new CairnError('INVALID_ARGUMENT', `${field} ${peer.publicKeyFile}: ${(cause as NodeJS.ErrnoException).code ?? 'cannot be read'}`, { field: 'public_key_file', cause });
  }
  try {
    const spki = pemToDer(pem, 'PUBLIC KEY', field);
    spkiToRawP256(spki);
    return spki;
  } catch (cause) {
    throw new CairnError('INVALID_ARGUMENT', `${field} ${peer.publicKeyFile}: not a PEM P-256 public key`, { field: 'public_key_file', cause });
  }
}

/** Largest message a peer may send: an entry is at most a few hundred KiB; a bigger message is cut off. */
export const PEER_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

async function readPeerFile(peer: PeerConfig, setting: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new CairnError('INVALID_ARGUMENT', `peers ${peer.name}: ${setting} ${path}: ${(cause as NodeJS.ErrnoException).code ?? 'cannot be read'}`, { field: setting, cause });
  }
}

/**
 * An authenticated client of the peer, as any other client of it: TLS with
 * the peer's CA, a client certificate and/or a bearer token. Messages above
 * {@link PEER_MAX_MESSAGE_BYTES} are refused by the channel.
 * @throws CairnError INVALID_ARGUMENT for a file that cannot be read, FAILED_PRECONDITION for a peer without endpoint
 */
export async function connectPeer(peer: PeerConfig, opts: { timeoutMs?: number } = {}): Promise<LedgerClient> {
  if (!peer.endpoint) throw new CairnError('FAILED_PRECONDITION', `peers ${peer.name}: has no endpoint (a pinned origin only)`);
  const auth: ClientAuth = {};
  if (peer.tlsCaFile) auth.caPem = await readPeerFile(peer, 'tls_ca_file', peer.tlsCaFile);
  if (peer.tlsCertFile) auth.certPem = await readPeerFile(peer, 'tls_cert_file', peer.tlsCertFile);
  if (peer.tlsKeyFile) auth.keyPem = await readPeerFile(peer, 'tls_key_file', peer.tlsKeyFile);
  if (peer.tlsServerName) auth.serverName = peer.tlsServerName;
  if (peer.tokenFile) {
    const token = (await readPeerFile(peer, 'token_file', peer.tokenFile)).toString('utf8').trim();
    if (!token) throw new CairnError('INVALID_ARGUMENT', `peers ${peer.name}: token_file ${peer.tokenFile} is empty`, { field: 'token_file' });
    auth.token = token;
  }
  const options = clientOptions(auth);
  options.channelOptions = { ...options.channelOptions, 'grpc.max_receive_message_length': PEER_MAX_MESSAGE_BYTES };
  if (opts.timeoutMs !== undefined) options.timeoutMs = opts.timeoutMs;
  return new LedgerClient(peer.endpoint, options);
}
