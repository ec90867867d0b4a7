/**
 * How a CLI command reaches a node: the address, TLS and a bearer token, each
 * from a flag or its environment variable. The token is read from a file or
 * the environment, never from a flag, so it does not show in `ps` output or
 * shell history.
 */
import { readFileSync } from 'node:fs';
import { clientOptions, LedgerClient, type ClientAuth } from '../client/ledger-client.js';
import { UsageError } from './output.js';

type Values = Record<string, string | boolean | string[] | undefined>;

/** The flags every command that talks to a node accepts. */
export const CONNECT_OPTIONS = {
  server: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
  'token-file': { type: 'string' },
  origin: { type: 'string' },
} as const;

function setting(v: Values, flag: string, env: string): string | undefined {
  const x = v[flag];
  if (typeof x === 'string' && x !== '') return x;
  const e = process.env[env];
  return e === undefined || e === '' ? undefined : e;
}

function file(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function serverAddress(v: Values): string {
  return setting(v, 'server', 'CAIRN_SERVER') ?? '127.0.0.1:7700';
}

export function clientAuth(v: Values): ClientAuth {
  const auth: ClientAuth = {};
  const ca = file(setting(v, 'tls-ca', 'CAIRN_TLS_CA'), 'tls-ca');
  const cert = file(setting(v, 'tls-cert', 'CAIRN_TLS_CERT'), 'tls-cert');
  const key = file(setting(v, 'tls-key', 'CAIRN_TLS_KEY'), 'tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (cert && !ca) throw new UsageError('--tls-cert needs --tls-ca (the CA of the node\'s certificate)');
  if (ca) auth.caPem = ca;
  if (cert) auth.certPem = cert;
  if (key) auth.keyPem = key;
  const serverName = setting(v, 'tls-server-name', 'CAIRN_TLS_SERVER_NAME');
  if (serverName) auth.serverName = serverName;
  const tokenFile = file(setting(v, 'token-file', 'CAIRN_TOKEN_FILE'), 'token-file');
  const token = tokenFile ? tokenFile.toString('utf8').trim() : process.env.CAIRN_TOKEN;
  if (token) auth.token = token;
  return auth;
}

/**
 * A client of the node at --server; with --origin NAME every read names that
 * origin, so the node answers from its verified mirror of NAME's log
 * (docs/federation.md) and the caller verifies with NAME's pinned key.
 */
export function connect(v: Values): LedgerClient {
  const opts = clientOptions(clientAuth(v));
  const origin = v.origin;
  if (typeof origin === 'string' && origin !== '') opts.origin = origin;
  return new LedgerClient(serverAddress(v), opts);
}
