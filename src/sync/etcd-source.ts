/**
 * Live state from an etcd key prefix: each key under the prefix holds one
 * Kubernetes-shaped object as YAML or JSON (read exactly like a manifest file,
 * `./manifests.ts`). Objects are keyed by their metadata, never by the etcd
 * key; errors name the etcd key.
 *
 * Revisions. `list()` is one range read; its version is the response header
 * revision R (the store revision the read saw). `watch(R)` follows from R + 1
 * and tracks the mod_revision of the last event it processed itself: the
 * etcd3 client's own resume point is `header.revision + 1` of the last
 * response, which during catch-up from an older revision is ahead of the
 * events delivered so far, so a reconnect through the client would skip
 * events. On a disconnect the watcher is dropped and a new one starts at
 * last processed + 1 (after a jittered exponential backoff). etcd never
 * splits one revision's events across watch responses, and events at or
 * below the last processed revision are dropped, so nothing is lost or
 * doubled. Progress notifications are not used as resume points: etcd before
 * 3.4.24 could send them ahead of events still queued for a catching-up
 * watcher.
 *
 * When the watch is cancelled by the server (the start revision was
 * compacted, or any other cancellation) or `from` cannot be read any more,
 * the source relists, emits `resync` with the whole live state and watches
 * from the new header revision + 1.
 *
 * Where `apply()` writes: an object already live is written back to the etcd
 * key that holds it; a new object goes to `<prefix><namespace>/<kind>/<name>`,
 * i.e. the prefix followed by its {@link objectKey} (a cluster-scoped object
 * has an empty namespace: `/config//ClusterRole/admin`).
 */
import { Etcd3, GRPCOutOfRangeError, EtcdAuthenticationFailedError, EtcdPermissionDeniedError, type IOptions, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import { stringify } from 'yaml';
import { CairnError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { backoffDelay, sleep } from './backoff.js';
import { objectKey, type KubeObject, type LiveEvent, type LiveSnapshot, type LiveSource, type ObjectKey } from './live-source.js';
import { formatManifestError, parseManifestFile, type ManifestError } from './manifests.js';

export interface EtcdSourceOptions {
  /** Key prefix, ending in `/` (e.g. `/config/`). */
  prefix: string;
  /** A client to use; it is not closed by the source. */
  client?: Etcd3;
  /**
   * Or endpoints (`http://host:2379`, `https://host:2379` or `host:2379`, which
   * is plain http) for a client the source opens and closes. Also used in `describe`.
   */
  hosts?: string | string[];
  /** Same as `hosts` (the shape `parseTargetSpec` returns). */
  endpoints?: string[];
  /** Further options for the client the source opens (TLS, auth). */
  clientOptions?: Omit<IOptions, 'hosts'>;
  /** Namespace of a namespaced object that names none. Default `default`. */
  defaultNamespace?: string;
  /** Cluster-scoped kinds besides the built-in ones (CRDs). */
  clusterScopedKinds?: Iterable<string>;
  /** How `apply` writes values. Default `json`. */
  format?: 'json' | 'yaml';
  /** Largest value read, in bytes. Default 1 MiB (etcd's default request limit is 1.5 MiB). */
  maxValueBytes?: number;
  /**
   * Receives each value that is not exactly one valid object (its `file` is
   * the etcd key); such a key is left out of the live state. Without it (and
   * without a logger, which then gets a warning instead), `list()` and
   * `watch()` reject with INVALID_ARGUMENT.
   */
  onInvalid?: (error: ManifestError) => void;
  /** Warnings: invalid values (without onInvalid), reconnects. */
  logger?: Logger;
  /** Reconnect backoff: first delay and cap, in ms. Defaults 200 and 10,000. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** Which etcd key holds which object, at some revision. */
class KeyIndex {
  readonly byEtcdKey = new Map<string, ObjectKey>();
  readonly byObject = new Map<ObjectKey, string>();
  set(etcdKey: string, key: ObjectKey): void {
    this.byEtcdKey.set(etcdKey, key);
    this.byObject.set(key, etcdKey);
  }
  remove(etcdKey: string): ObjectKey | undefined {
    const key = this.byEtcdKey.get(etcdKey);
    if (key === undefined) return undefined;
    this.byEtcdKey.delete(etcdKey);
    if (this.byObject.get(key) === etcdKey) this.byObject.delete(key);
    return key;
  }
}

interface Read {
  objects: Map<ObjectKey, KubeObject>;
  index: KeyIndex;
  revision: bigint;
}

/** Why one watcher stopped. */
type WatchEnd = { reason: 'disconnected'; error: unknown } | { reason: 'cancelled'; error: unknown } | { reason: 'failed'; error: unknown };

const now = (): bigint => process.hrtime.bigint();

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('aborted', 'AbortError');
}

function parseRevision(version: string): bigint {
  if (!/^\d{1,19}$/.test(version)) throw new CairnError('INVALID_ARGUMENT', `version: "${version.slice(0, 40)}" is not an etcd revision`, { field: 'version' });
  return BigInt(version);
}

/** `host:port` is plain http, as for etcdctl. */
function normalizeHosts(hosts: string | string[]): string[] {
  return (Array.isArray(hosts) ? hosts : [hosts]).map((h) => (/^https?:\/\//.test(h) ? h : `http://${h}`));
}

/** Endpoints without user info, for logs and ledger entries. */
function describeHosts(hosts: string[] | undefined): string {
  if (hosts === undefined) return '';
  return ` at ${hosts
    .map((h) => {
      try {
        const u = new URL(h);
        return `${u.protocol}//${u.host}`;
      } catch {
        return '(invalid endpoint)';
      }
    })
    .join(',')}`;
}

/** Errors retrying cannot fix: wrong credentials or permissions. */
function isFatalEtcdError(e: unknown): boolean {
  return e instanceof EtcdPermissionDeniedError || e instanceof EtcdAuthenticationFailedError;
}

/** The read revision is gone (compacted) or not there yet (a version from another cluster). */
function isRevisionUnavailable(e: unknown): boolean {
  return e instanceof GRPCOutOfRangeError || (e instanceof Error && /required revision (has been compacted|is a future revision)/.test(e.message));
}

class EtcdSource implements LiveSource {
  readonly kind = 'etcd' as const;
  readonly describe: string;
  readonly #client: Etcd3;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #opts: Readonly<{ defaultNamespace: string; clusterScopedKinds: string[]; format: 'json' | 'yaml'; maxValueBytes: number; backoffInitialMs: number; backoffMaxMs: number }>;
  readonly #onInvalid: ((e: ManifestError) => void) | undefined;
  readonly #logger: Logger | undefined;
  /** Closing the source stops every watch. */
  readonly #closed = new AbortController();
  /** Where live objects are, as of the latest list or watch event: `apply` writes there. */
  #index = new KeyIndex();

  constructor(opts: EtcdSourceOptions) {
    if (typeof opts.prefix !== 'string' || !opts.prefix.endsWith('/') || opts.prefix.length < 2) {
      throw new CairnError('INVALID_ARGUMENT', 'prefix: must be a non-empty etcd key prefix ending in "/"', { field: 'prefix' });
    }
    const given = opts.hosts ?? opts.endpoints;
    const hosts = given === undefined ? undefined : normalizeHosts(given);
    if (!opts.client && !hosts?.length) throw new CairnError('INVALID_ARGUMENT', 'hosts: an etcd client or endpoints are required', { field: 'hosts' });
    this.#prefix = opts.prefix;
    this.#ownsClient = !opts.client;
    this.#client = opts.client ?? new Etcd3({ ...opts.clientOptions, hosts: hosts! });
    this.#logger = opts.logger;
    this.#onInvalid = opts.onInvalid ?? (opts.logger ? (e) => opts.logger!.warn('sync: live etcd value skipped', { key: e.file, code: e.code, problem: e.message }) : undefined);
    this.#opts = {
      defaultNamespace: opts.defaultNamespace ?? 'default',
      clusterScopedKinds: [...(opts.clusterScopedKinds ?? [])],
      format: opts.format ?? 'json',
      maxValueBytes: opts.maxValueBytes ?? 1024 * 1024,
      backoffInitialMs: opts.backoffInitialMs ?? 200,
      backoffMaxMs: opts.backoffMaxMs ?? 10_000,
    };
    this.describe = `etcd prefix ${opts.prefix}${describeHosts(hosts)}`;
  }

  async list(signal?: AbortSignal): Promise<LiveSnapshot> {
    signal?.throwIfAborted();
    let read: Read;
    try {
      read = await this.#read(undefined, true);
    } catch (e) {
      throw this.#wrap(e, 'list');
    }
    signal?.throwIfAborted();
    this.#index = read.index;
    return { objects: read.objects, version: read.revision.toString() };
  }

  async watch(from: string, onEvent: (e: LiveEvent) => void, signal: AbortSignal, onRestart: (reason: string) => void = () => undefined): Promise<void> {
    let revision = parseRevision(from);
    const stop = AbortSignal.any([signal, this.#closed.signal]);
    let index: KeyIndex | undefined;
    let relist = false;
    let attempt = 0;
    const healthy = (): void => {
      attempt = 0;
    };
    for (;;) {
      if (stop.aborted) throw abortError(stop);
      let end: WatchEnd;
      try {
        if (relist) {
          const read = await this.#read(undefined, true);
          if (stop.aborted) throw abortError(stop);
          index = read.index;
          this.#index = index;
          revision = read.revision;
          relist = false;
          healthy();
          onEvent({ type: 'resync', objects: read.objects, receivedAt: now() });
        }
        if (!index) {
          // Which etcd key held which object at `from`: needed to turn a key's
          // deletion (or a put that renames its object) into the right event.
          index = (await this.#read(revision, false)).index;
          this.#index = index;
        }
        end = await this.#follow(revision, index, onEvent, stop, healthy, (r) => (revision = r));
      } catch (e) {
        end = { reason: 'disconnected', error: e };
      }
      if (stop.aborted) throw abortError(stop);
      // onEvent threw, or a value was invalid without onInvalid: not retried.
      if (end.reason === 'failed' || end.error instanceof CairnError) throw end.error;
      if (isFatalEtcdError(end.error)) throw this.#wrap(end.error, 'watch');
      if (end.reason === 'cancelled' || isRevisionUnavailable(end.error)) {
        onRestart('relist');
        relist = true;
        continue;
      }
      // Unreachable or disconnected: resume from the last processed revision after a backoff.
      const delay = backoffDelay(attempt++, { baseMs: this.#opts.backoffInitialMs, maxMs: this.#opts.backoffMaxMs });
      onRestart('disconnected');
      this.#logger?.warn('sync: etcd watch interrupted, resuming', { source: this.describe, revision: revision.toString(), retryInMs: delay, error: end.error });
      await sleep(delay, stop);
    }
  }

  async apply(key: ObjectKey, object: KubeObject | null): Promise<void> {
    const etcdKey = this.#index.byObject.get(key) ?? `${this.#prefix}${key}`;
    const holds = this.#index.byEtcdKey.get(etcdKey);
    if (holds !== undefined && holds !== key) {
      // The scheme's key for this object holds another object (stored there by hand): never overwrite it.
      throw new CairnError('FAILED_PRECONDITION', `${this.describe}: apply ${key}: etcd key ${etcdKey} holds ${holds}`);
    }
    try {
      if (object === null) {
        await this.#client.delete().key(etcdKey).exec();
        return;
      }
      const own = objectKey(object.metadata?.namespace, object.kind, object.metadata?.name);
      if (own !== key) throw new CairnError('INVALID_ARGUMENT', `object: its metadata names ${own}, not ${key}`, { field: 'object' });
      const text = this.#opts.format === 'yaml' ? stringify(object, { version: '1.1' }) : `${JSON.stringify(object, null, 2)}\n`;
      await this.#client.put(etcdKey).value(text).exec();
    } catch (e) {
      throw this.#wrap(e, `apply ${key} to ${etcdKey}`);
    }
  }

  async close(): Promise<void> {
    this.#closed.abort(new CairnError('UNAVAILABLE', 'etcd source closed'));
    if (this.#ownsClient) this.#client.close();
  }

  /** Reads the prefix (at `revision`, or the latest), parsing every value. */
  async #read(revision: bigint | undefined, report: boolean): Promise<Read> {
    let range = this.#client.getAll().prefix(this.#prefix);
    if (revision !== undefined) range = range.revision(revision.toString());
    const res = await range.exec();
    const objects = new Map<ObjectKey, KubeObject>();
    const index = new KeyIndex();
    // etcd returns keys in byte order, so the first key to claim an object wins, as in the dir source.
    for (const kv of res.kvs) {
      const etcdKey = kv.key.toString('utf8');
      const parsed = this.#parse(etcdKey, kv);
      if ('code' in parsed) {
        if (report) this.#invalid(parsed);
        continue;
      }
      const holder = index.byObject.get(parsed.key);
      if (holder !== undefined) {
        if (report) this.#invalid({ code: 'DUPLICATE_KEY', file: etcdKey, document: 0, message: `${parsed.key} is already held by etcd key ${holder}` });
        continue;
      }
      index.set(etcdKey, parsed.key);
      objects.set(parsed.key, parsed.object);
    }
    return { objects, index, revision: BigInt(res.header.revision) };
  }

  /**
   * Runs one etcd watcher from `revision + 1` until it disconnects, is
   * cancelled, `onEvent` throws or `stop` aborts.
   */
  #follow(revision: bigint, index: KeyIndex, onEvent: (e: LiveEvent) => void, stop: AbortSignal, healthy: () => void, processed: (r: bigint) => void): Promise<WatchEnd> {
    // watcher() rather than create(): create() settles only on `connected` or
    // `error`, and would hang while etcd is unreachable (`disconnected`).
    const watcher: Watcher = this.#client.watch().prefix(this.#prefix).startRevision((revision + 1n).toString()).watcher();
    return new Promise<WatchEnd>((resolve, reject) => {
      let done = false;
      const finish = (outcome: WatchEnd | { abort: unknown }): void => {
        if (done) return;
        done = true;
        watcher.removeAllListeners();
        stop.removeEventListener('abort', onAbort);
        // Never wait long on a cancel: with etcd down it waits for a reconnect.
        watcher.on('error', () => {});
        void Promise.race([watcher.cancel(), new Promise((r) => setTimeout(r, 1000).unref())])
          .catch(() => {})
          .then(() => ('abort' in outcome ? reject(outcome.abort) : resolve(outcome)));
      };
      const onAbort = (): void => finish({ abort: abortError(stop) });
      stop.addEventListener('abort', onAbort, { once: true });
      watcher.on('connected', healthy);
      watcher.on('disconnected', (error: unknown) => finish({ reason: 'disconnected', error }));
      watcher.on('error', (error: unknown) => finish({ reason: 'cancelled', error }));
      watcher.on('end', () => finish({ reason: 'cancelled', error: new Error('watch ended by the server') }));
      watcher.on('data', (res: IWatchResponse) => {
        if (done) return;
        try {
          for (const ev of res.events) {
            const rev = BigInt(ev.kv.mod_revision);
            // Already processed before this watcher started. (Compared with the start, not the
            // previous event: one transaction's events share a revision.)
            if (rev <= revision) continue;
            this.#event(ev.type, ev.kv, index, onEvent);
            processed(rev);
          }
          if (res.events.length > 0) healthy();
        } catch (error) {
          finish({ reason: 'failed', error });
        }
      });
    });
  }

  #event(type: 'Put' | 'Delete', kv: IKeyValue, index: KeyIndex, onEvent: (e: LiveEvent) => void): void {
    const etcdKey = kv.key.toString('utf8');
    const receivedAt = now();
    if (type === 'Delete') {
      const key = index.remove(etcdKey);
      if (key !== undefined) onEvent({ type: 'delete', key, receivedAt });
      return;
    }
    const parsed = this.#parse(etcdKey, kv);
    const previous = index.byEtcdKey.get(etcdKey);
    if ('code' in parsed) {
      // The key no longer holds a valid object: whatever it held is gone.
      if (previous !== undefined) {
        index.remove(etcdKey);
        onEvent({ type: 'delete', key: previous, receivedAt });
      }
      this.#invalid(parsed);
      return;
    }
    const holder = index.byObject.get(parsed.key);
    if (holder !== undefined && holder !== etcdKey) {
      if (previous !== undefined) {
        index.remove(etcdKey);
        onEvent({ type: 'delete', key: previous, receivedAt });
      }
      this.#invalid({ code: 'DUPLICATE_KEY', file: etcdKey, document: 0, message: `${parsed.key} is already held by etcd key ${holder}` });
      return;
    }
    if (previous !== undefined && previous !== parsed.key) {
      // The value was edited to name another object: the old one is gone.
      index.remove(etcdKey);
      onEvent({ type: 'delete', key: previous, receivedAt });
    }
    index.set(etcdKey, parsed.key);
    onEvent({ type: 'upsert', key: parsed.key, object: parsed.object, receivedAt });
  }

  /** One value into one object. The value is attacker-controlled: parsed as a manifest, size-bounded, never quoted. */
  #parse(etcdKey: string, kv: IKeyValue): { key: ObjectKey; object: KubeObject } | ManifestError {
    if (kv.value.length > this.#opts.maxValueBytes) {
      return { code: 'FILE_TOO_LARGE', file: etcdKey, document: 0, message: `value is ${kv.value.length} bytes, more than ${this.#opts.maxValueBytes}` };
    }
    const { objects, errors } = parseManifestFile(etcdKey, kv.value.toString('utf8'), {
      defaultNamespace: this.#opts.defaultNamespace,
      clusterScopedKinds: this.#opts.clusterScopedKinds,
    });
    if (errors.length > 0) return errors[0]!;
    if (objects.length !== 1) {
      return { code: 'NOT_AN_OBJECT', file: etcdKey, document: 0, message: `holds ${objects.length} objects; a key holds exactly one` };
    }
    return { key: objects[0]!.key, object: objects[0]!.object };
  }

  #invalid(e: ManifestError): void {
    if (this.#onInvalid) this.#onInvalid(e);
    else throw new CairnError('INVALID_ARGUMENT', `etcd key ${formatManifestError(e)}`, { cause: e });
  }

  #wrap(e: unknown, what: string): unknown {
    if (e instanceof CairnError) return e;
    if (isFatalEtcdError(e)) return new CairnError('FAILED_PRECONDITION', `${this.describe}: ${what}: permission denied or authentication failed`, { cause: e });
    return new CairnError('UNAVAILABLE', `${this.describe}: ${what} failed`, { cause: e });
  }
}

/** A {@link LiveSource} over the objects stored under an etcd key prefix. */
export function createEtcdSource(opts: EtcdSourceOptions): LiveSource {
  return new EtcdSource(opts);
}
