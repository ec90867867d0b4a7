/**
 * The node's TLS credentials, re-read while it runs: a renewed certificate,
 * key or client CA takes effect for new connections without a restart
 * (existing connections keep the context they were opened with).
 *
 * grpc-js has a file-watching certificate provider, but it publishes whatever
 * it read: a file caught half-written, or a key that does not match the new
 * certificate, would reach the server as a broken TLS context. This provider
 * publishes a set of files only after `tls.createSecureContext` accepted them
 * together, and otherwise keeps serving the last good set and logs why.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { CairnError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ConfigHealth } from './config-health.js';

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Empty: no client certificates are asked for. */
  clientCaFile: string;
  /** Whether a handshake without a valid client certificate fails. */
  requireClientCert: boolean;
  reloadMs: number;
}

/** One set of TLS files that load together. */
export interface TlsFileSet {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
}
type Loaded = TlsFileSet;

/** A grpc-js CertificateProvider over files, publishing only sets that load together. */
class ReloadingCertificateProvider {
  readonly #files: TlsFiles;
  readonly #log: Logger;
  readonly #health: ConfigHealth | undefined;
  #current: Loaded;
  readonly #ca = new Set<CaListener>();
  readonly #identity = new Set<IdentityListener>();
  /** Servers other than grpc-js (the HTTP API) that follow the same files. */
  readonly #sets = new Set<(files: TlsFileSet) => void>();
  readonly #timer: NodeJS.Timeout;
  /** Reloads run one after another, so a reload asked for after a change always reads it. */
  #queue: Promise<boolean> = Promise.resolve(false);

  constructor(files: TlsFiles, first: Loaded, log: Logger, health?: ConfigHealth) {
    this.#files = files;
    this.#current = first;
    this.#log = log;
    this.#health = health;
    health?.watch('tls_files');
    this.#timer = setInterval(() => void this.reload(), files.reloadMs);
    this.#timer.unref();
  }

  // The first update is delivered on a microtask: grpc-js registers the server's
  // watcher only after adding these listeners, and would miss a synchronous one
  // (the server then drops every connection as having no credentials).
  addCaCertificateListener(l: CaListener): void {
    this.#ca.add(l);
    queueMicrotask(() => l(this.#current.ca ? { caCertificate: this.#current.ca } : null));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.#ca.delete(l);
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.#identity.add(l);
    queueMicrotask(() => l({ certificate: this.#current.cert, privateKey: this.#current.key }));
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.#identity.delete(l);
  }

  get current(): TlsFileSet {
    return this.#current;
  }
  addFileSetListener(l: (files: TlsFileSet) => void): void {
    this.#sets.add(l);
  }

  /** Re-reads the files; publishes them when they changed and load together. Returns whether they changed. */
  reload(): Promise<boolean> {
    this.#queue = this.#queue.then(() => this.#reloadOnce());
    return this.#queue;
  }

  async #reloadOnce(): Promise<boolean> {
    try {
      const next = await loadTlsFiles(this.#files);
      this.#health?.loaded('tls_files');
      const c = this.#current;
      if (sameBytes(next.cert, c.cert) && sameBytes(next.key, c.key) && sameBytes(next.ca, c.ca)) return false;
      this.#current = next;
      for (const l of this.#identity) l({ certificate: next.cert, privateKey: next.key });
      for (const l of this.#ca) l(next.ca ? { caCertificate: next.ca } : null);
      for (const l of this.#sets) l(next);
      this.#log.info('TLS files reloaded', { cert: this.#files.certFile, notAfter: notAfter(next.cert) });
      return true;
    } catch (err) {
      // The message names the file and the reason, never key material. Logged and counted each poll.
      if (this.#health) this.#health.failed('tls_files', (err as Error).message, 'serving the previous ones');
      else this.#log.error('TLS files not reloaded; serving the previous ones', { reason: (err as Error).message });
      return false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

/** Equal contents, or both absent. */
function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

function notAfter(cert: Buffer): string {
  try {
    return new X509Certificate(cert).validTo;
  } catch {
    return 'unknown';
  }
}

/**
 * Reads and checks the TLS files as one set.
 * @throws CairnError INVALID_ARGUMENT naming the setting whose file is missing or does not load
 */
export async function loadTlsFiles(files: TlsFiles): Promise<Loaded> {
  const read = async (path: string, setting: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      throw new CairnError('INVALID_ARGUMENT', `setting ${setting}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { field: setting });
    }
  };
  const cert = await read(files.certFile, 'tls_cert_file');
  const key = await read(files.keyFile, 'tls_key_file');
  const ca = files.clientCaFile ? await read(files.clientCaFile, 'tls_client_ca_file') : undefined;
  try {
    createSecureContext({ cert, key });
  } catch {
    // OpenSSL's message may quote the PEM it choked on: say only which setting failed.
    throw new CairnError('INVALID_ARGUMENT', 'setting tls_cert_file / tls_key_file: the certificate and key do not load together (PEM, and the key must match the certificate)', { field: 'tls_cert_file' });
  }
  if (ca) {
    try {
      createSecureContext({ ca });
      new X509Certificate(ca);
    } catch {
      throw new CairnError('INVALID_ARGUMENT', `setting tls_client_ca_file: ${files.clientCaFile} is not a PEM CA certificate`, { field: 'tls_client_ca_file' });
    }
  }
  return { cert, key, ca };
}

/**
 * Server credentials that follow the files; `reload()` re-reads at once (SIGHUP).
 * `files()` and `onReload` give the same sets to a server that is not grpc-js.
 */
export async function reloadingServerCredentials(
  files: TlsFiles,
  log: Logger,
  health?: ConfigHealth,
): Promise<{ credentials: grpc.ServerCredentials; files(): TlsFileSet; onReload(l: (files: TlsFileSet) => void): void; reload(): Promise<boolean>; close(): void }> {
  const provider = new ReloadingCertificateProvider(files, await loadTlsFiles(files), log, health);
  const ca = files.clientCaFile ? provider : null;
  // grpc-js declares this function's first two parameters with swapped names; it passes the
  // first on as the identity (certificate + key) provider and the second as the CA provider.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, ca, files.requireClientCert);
  return { credentials, files: () => provider.current, onReload: (l) => provider.addFileSetListener(l), reload: () => provider.reload(), close: () => provider.close() };
}
