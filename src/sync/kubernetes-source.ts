/**
 * Live state from a Kubernetes API server, for a configured list of resource
 * kinds, with `@kubernetes/client-node` 1.4 (its KubeConfig for endpoint, TLS
 * and credentials, its Watch for the watch streams). Lists and applies are
 * plain HTTP requests authenticated by the same KubeConfig: the typed
 * clients deserialize into model classes (timestamps become Dates, fields
 * the model does not know are dropped), which would show as drift.
 *
 * Protocol (https://kubernetes.io/docs/reference/using-api/api-concepts/):
 * - `list()` reads every kind (paged with limit/continue) and returns, as its
 *   version, each kind's list resourceVersion (JSON: list path to
 *   resourceVersion).
 * - `watch(from)` runs one watch per kind (events are in order within a
 *   kind, as in Kubernetes; not across kinds) with `resourceVersion` and
 *   `allowWatchBookmarks=true`. Every event and bookmark moves that kind's
 *   resume point to the object's resourceVersion; a watch that ends or fails
 *   is reopened from there (after a jittered exponential backoff on 5xx, 429
 *   and connection errors, at once after a normal close that made progress).
 * - A watch silent for longer than `watchdogMs` (no event, no bookmark) is
 *   presumed dead and reopened from the resume point.
 * - 410 Gone (HTTP status, or an ERROR event with code 410: the resume point
 *   was compacted away) stops every kind's watch, relists everything, emits
 *   `resync` with the whole state and watches again from the new list
 *   resourceVersions. Relisting all kinds keeps `resync` the whole live state.
 * - 400, 401, 403, 404, 405, 406, 415 and 422 are configuration errors:
 *   `watch` rejects with FAILED_PRECONDITION.
 *
 * Custom resources: on every list, the source reads the
 * CustomResourceDefinition of each configured kind that is not built in
 * (`GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/PLURAL.GROUP`)
 * and hands the list keys of its version's `openAPIV3Schema` to the diff
 * ({@link LiveSource.listKeys}). A CRD it may not read (403) or cannot find
 * leaves that kind's lists compared by position, with a warning.
 *
 * `apply()` is server-side apply: PATCH with `application/apply-patch+yaml`
 * (the body is JSON, which is YAML), `fieldManager` (default `cairn`) and
 * `force=true`; null deletes the object (already gone is fine).
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { CairnError } from '../core/errors.js';
import { checkKubeResources, DEFAULT_RESOURCES, type KubeResource } from './kube-resources.js';
import type { Logger } from '../core/logger.js';
import { backoffDelay, sleep } from './backoff.js';
import { objectKey, type KubeObject, type LiveEvent, type LiveSnapshot, type LiveSource, type ObjectKey } from './live-source.js';
import { BUILTIN_LIST_KEYS_SOURCE, schemaFromCrd, withCustomSchemas, type ListKeySource, type SchemaNode } from './merge-keys.js';

export { DEFAULT_RESOURCES, type KubeResource } from './kube-resources.js';

export interface KubernetesSourceOptions {
  /** Cluster, credentials and TLS (its current context). Default: the default kubeconfig (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeConfig?: KubeConfig;
  /** With the default kubeconfig: this context instead of the current one. */
  context?: string;
  /** Default {@link DEFAULT_RESOURCES}. */
  resources?: readonly KubeResource[];
  /** Only objects with these labels (`app.kubernetes.io/managed-by=cairn`), for list and watch. */
  labelSelector?: string;
  /** Warnings: watches reopened after errors. */
  logger?: Logger;
  /** A watch that sends nothing (no event, no bookmark) for this long is reopened. Default 5 minutes. */
  watchdogMs?: number;
  /** Reconnect backoff: first delay and cap, in ms. Defaults 500 and 30,000. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Server-side apply field manager. Default `cairn`. */
  fieldManager?: string;
  /** Items per list page. Default 500. */
  pageSize?: number;
  /** Timeout of one list page or apply request, in ms. Default 60,000. */
  requestTimeoutMs?: number;
  /** Largest response body read, in bytes. Default 64 MiB. */
  maxResponseBytes?: number;
}

/** A non-2xx answer (or a watch ERROR event) with its status code. */
class KubeStatusError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'KubeStatusError';
    this.status = status;
  }
}

const FATAL_STATUS: ReadonlySet<number> = new Set([400, 401, 403, 404, 405, 406, 415, 422]);

type WatchEnd =
  | { kind: 'closed'; progressed: boolean }
  | { kind: 'silent' }
  | { kind: 'gone' }
  | { kind: 'error'; error: unknown; progressed: boolean }
  /** onEvent threw, or the server sent an object without name or namespace: not retried. */
  | { kind: 'failed'; error: unknown }
  | { kind: 'aborted' };

const now = (): bigint => process.hrtime.bigint();

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('aborted', 'AbortError');
}

function loadDefaultKubeConfig(context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new CairnError('INVALID_ARGUMENT', 'kubeConfig: the default kubeconfig cannot be read', { field: 'kubeConfig', cause: e });
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) throw new CairnError('INVALID_ARGUMENT', `context: the kubeconfig has no context "${context.slice(0, 100)}"`, { field: 'context' });
    kc.setCurrentContext(context);
  }
  return kc;
}

function statusOf(e: unknown): number | undefined {
  if (e instanceof KubeStatusError) return e.status;
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

const apiVersionOf = (r: KubeResource): string => (r.group ? `${r.group}/${r.version}` : r.version);

/** The collection path: `/api/v1/configmaps`, `/apis/apps/v1/namespaces/shop/deployments`. */
function collectionPath(r: KubeResource, namespace = r.namespace): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced && namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${r.plural}` : `${base}/${r.plural}`;
}

class KubernetesSource implements LiveSource {
  readonly kind = 'kubernetes' as const;
  readonly describe: string;
  readonly #kc: KubeConfig;
  readonly #resources: readonly KubeResource[];
  readonly #opts: Readonly<Required<Omit<KubernetesSourceOptions, 'kubeConfig' | 'resources' | 'context' | 'labelSelector' | 'logger'>>>;
  readonly #labelSelector: string | undefined;
  readonly #logger: Logger | undefined;
  readonly #closed = new AbortController();
  /** `apiVersion Kind` -> the keyed lists of its CRD, as of the last list. */
  readonly #crdSchemas = new Map<string, SchemaNode>();
  readonly listKeys: ListKeySource = withCustomSchemas(this.#crdSchemas);

  constructor(opts: KubernetesSourceOptions) {
    const resources = opts.resources ?? DEFAULT_RESOURCES;
    checkKubeResources(resources);
    const kc = opts.kubeConfig ?? loadDefaultKubeConfig(opts.context);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new CairnError('INVALID_ARGUMENT', 'kubeConfig: the current context names no cluster', { field: 'kubeConfig' });
    this.#kc = kc;
    this.#resources = resources.map((r) => ({ ...r }));
    this.#labelSelector = opts.labelSelector;
    this.#logger = opts.logger;
    this.#opts = {
      watchdogMs: opts.watchdogMs ?? 5 * 60_000,
      backoffInitialMs: opts.backoffInitialMs ?? 500,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      fieldManager: opts.fieldManager ?? 'cairn',
      pageSize: opts.pageSize ?? 500,
      requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
      maxResponseBytes: opts.maxResponseBytes ?? 64 * 1024 * 1024,
    };
    let server = '(invalid server URL)';
    try {
      const u = new URL(cluster.server);
      server = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
    } catch {
      // keep the placeholder: never echo a URL that may carry credentials
    }
    this.describe = `kubernetes ${server} (${this.#resources.map((r) => collectionPath(r)).join(', ')})`;
  }

  async list(signal?: AbortSignal): Promise<LiveSnapshot> {
    try {
      const { objects, versions } = await this.#listAll(signal ?? this.#closed.signal);
      return { objects, version: JSON.stringify(Object.fromEntries(versions)) };
    } catch (e) {
      throw this.#wrap(e, 'list');
    }
  }

  async watch(from: string, onEvent: (e: LiveEvent) => void, signal: AbortSignal, onRestart: (reason: string) => void = () => undefined): Promise<void> {
    let versions = this.#parseVersion(from);
    const stop = AbortSignal.any([signal, this.#closed.signal]);
    for (;;) {
      // One round: every kind watched until one of them needs a relist (or fails).
      const round = new AbortController();
      const roundSignal = AbortSignal.any([stop, round.signal]);
      const kinds = this.#resources.map((r) => this.#followKind(r, versions, onEvent, roundSignal, onRestart));
      let relist: boolean;
      try {
        relist = await Promise.race(kinds);
      } finally {
        round.abort();
        await Promise.allSettled(kinds);
      }
      if (stop.aborted) throw abortError(stop);
      if (!relist) continue;
      onRestart('gone');
      for (let attempt = 0; ; attempt++) {
        try {
          const snap = await this.#listAll(stop);
          versions = snap.versions;
          onEvent({ type: 'resync', objects: snap.objects, receivedAt: now() });
          break;
        } catch (e) {
          if (stop.aborted) throw abortError(stop);
          if (FATAL_STATUS.has(statusOf(e) ?? 0) || e instanceof CairnError) throw this.#wrap(e, 'relist');
          const delay = backoffDelay(attempt, { baseMs: this.#opts.backoffInitialMs, maxMs: this.#opts.backoffMaxMs });
          this.#logger?.warn('sync: kubernetes relist failed, retrying', { source: this.describe, retryInMs: delay, error: e });
          onRestart('relist failed');
          await sleep(delay, stop);
        }
      }
    }
  }

  async apply(key: ObjectKey, object: KubeObject | null): Promise<void> {
    const [namespace = '', kind = '', name = '', ...extra] = key.split('/');
    const resource = this.#resources.find((r) => r.kind === kind && r.namespaced === (namespace !== '') && (object === null || object.apiVersion === undefined || object.apiVersion === apiVersionOf(r)));
    if (extra.length > 0 || !name) throw new CairnError('INVALID_ARGUMENT', `key: "${key}" is not namespace/kind/name`, { field: 'key' });
    if (!resource) throw new CairnError('INVALID_ARGUMENT', `key: ${key} is not of a configured resource kind`, { field: 'key' });
    const path = `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`;
    try {
      if (object === null) {
        await this.#request('DELETE', path, { ok404: true });
        return;
      }
      const own = objectKey(object.metadata?.namespace, object.kind, object.metadata?.name);
      if (own !== key) throw new CairnError('INVALID_ARGUMENT', `object: its metadata names ${own}, not ${key}`, { field: 'object' });
      await this.#request('PATCH', path, {
        query: { fieldManager: this.#opts.fieldManager, force: 'true' },
        contentType: 'application/apply-patch+yaml',
        body: JSON.stringify({ ...object, apiVersion: apiVersionOf(resource), kind: resource.kind }),
      });
    } catch (e) {
      throw this.#wrap(e, `apply ${key}`);
    }
  }

  async close(): Promise<void> {
    this.#closed.abort(new CairnError('UNAVAILABLE', 'kubernetes source closed'));
  }

  #parseVersion(from: string): Map<string, string> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(from);
    } catch {
      parsed = undefined;
    }
    const map = new Map<string, string>();
    for (const r of this.#resources) {
      const path = collectionPath(r);
      const rv = (parsed as Record<string, unknown> | undefined)?.[path];
      if (typeof rv !== 'string' || rv === '') throw new CairnError('INVALID_ARGUMENT', `version: has no resourceVersion for ${path}; pass the version of this source's list()`, { field: 'version' });
      map.set(path, rv);
    }
    return map;
  }

  async #listAll(signal: AbortSignal): Promise<{ objects: Map<ObjectKey, KubeObject>; versions: Map<string, string> }> {
    const objects = new Map<ObjectKey, KubeObject>();
    const versions = new Map<string, string>();
    await this.#readCrdSchemas(signal);
    for (const r of this.#resources) {
      const { items, resourceVersion } = await this.#listKind(r, signal);
      for (const item of items) objects.set(this.#keyOf(r, item), item);
      versions.set(collectionPath(r), resourceVersion);
    }
    return { objects, versions };
  }

  /** The list keys of every configured custom kind, from its CustomResourceDefinition; one that cannot be read is left out. */
  async #readCrdSchemas(signal: AbortSignal): Promise<void> {
    for (const r of this.#resources) {
      const id = `${apiVersionOf(r)} ${r.kind}`;
      if (!r.group || BUILTIN_LIST_KEYS_SOURCE.has(apiVersionOf(r), r.kind)) continue;
      const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(`${r.plural}.${r.group}`)}`;
      try {
        const schema = schemaFromCrd(await this.#request('GET', path, { signal }), r.version);
        if (schema) this.#crdSchemas.set(id, schema);
        else this.#crdSchemas.delete(id);
      } catch (e) {
        if (signal.aborted) throw e;
        this.#crdSchemas.delete(id);
        this.#logger?.warn('sync: kubernetes: cannot read a CustomResourceDefinition; its lists are compared by position', { source: this.describe, path, error: e });
      }
    }
  }

  /** One kind, every page. A continue token that expired (410) restarts the list. */
  async #listKind(r: KubeResource, signal: AbortSignal): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    for (let restarts = 0; ; restarts++) {
      const items: KubeObject[] = [];
      let cont: string | undefined;
      let resourceVersion: string | undefined;
      try {
        do {
          const query: Record<string, string> = { limit: String(this.#opts.pageSize) };
          if (this.#labelSelector) query.labelSelector = this.#labelSelector;
          if (cont) query.continue = cont;
          const page = (await this.#request('GET', collectionPath(r), { query, signal })) as { metadata?: { resourceVersion?: unknown; continue?: unknown }; items?: unknown };
          if (!Array.isArray(page?.items) || typeof page.metadata?.resourceVersion !== 'string') throw new KubeStatusError(502, `${collectionPath(r)}: the list response is not a list`);
          resourceVersion ??= page.metadata.resourceVersion;
          for (const item of page.items) items.push(this.#normalize(r, item));
          cont = typeof page.metadata.continue === 'string' && page.metadata.continue !== '' ? page.metadata.continue : undefined;
        } while (cont);
        return { items, resourceVersion: resourceVersion! };
      } catch (e) {
        if (statusOf(e) !== 410 || cont === undefined || restarts >= 3) throw e;
      }
    }
  }

  /**
   * Follows one kind until it needs a relist (resolves true) or the round is
   * aborted (resolves false); rejects on a configuration error.
   */
  async #followKind(r: KubeResource, versions: Map<string, string>, onEvent: (e: LiveEvent) => void, signal: AbortSignal, onRestart: (reason: string) => void): Promise<boolean> {
    const path = collectionPath(r);
    let attempt = 0;
    for (;;) {
      const end = await this.#watchOnce(r, versions, onEvent, signal);
      if (signal.aborted || end.kind === 'aborted') return false;
      if (end.kind === 'gone') return true;
      if (end.kind === 'failed') throw end.error instanceof KubeStatusError ? this.#wrap(end.error, `watch ${path}`) : end.error;
      if (end.kind === 'error') {
        const status = statusOf(end.error);
        if (status === 410) return true;
        if (FATAL_STATUS.has(status ?? 0)) throw this.#wrap(end.error, `watch ${path}`);
      }
      if ((end.kind === 'closed' || end.kind === 'error') && end.progressed) attempt = 0;
      // A normal close that made progress reopens at once; anything else backs off.
      if (end.kind === 'closed' && end.progressed) continue;
      const delay = backoffDelay(attempt++, { baseMs: this.#opts.backoffInitialMs, maxMs: this.#opts.backoffMaxMs });
      // A normal close is routine (the API server ends watches after its timeout); anything else is a failure retried.
      if (end.kind !== 'closed') onRestart(end.kind);
      if (end.kind !== 'closed') this.#logger?.warn('sync: kubernetes watch reopened', { source: this.describe, path, resourceVersion: versions.get(path), why: end.kind, retryInMs: delay, ...(end.kind === 'error' ? { error: end.error } : {}) });
      try {
        await sleep(delay, signal);
      } catch {
        return false;
      }
    }
  }

  /** One watch request, from the kind's resume point, until it ends, fails, goes silent or the signal aborts. */
  #watchOnce(r: KubeResource, versions: Map<string, string>, onEvent: (e: LiveEvent) => void, signal: AbortSignal): Promise<WatchEnd> {
    const path = collectionPath(r);
    return new Promise<WatchEnd>((resolve) => {
      let settled = false;
      let progressed = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve(end);
      };
      const onAbort = (): void => finish({ kind: 'aborted' });
      const arm = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish({ kind: 'silent' }), this.#opts.watchdogMs);
      };
      if (signal.aborted) return finish({ kind: 'aborted' });
      signal.addEventListener('abort', onAbort, { once: true });
      arm();
      const onLine = (type: string, obj: unknown): void => {
        if (settled) return;
        arm();
        try {
          if (type === 'ERROR') {
            const s = obj as { code?: unknown; message?: unknown } | null;
            const code = typeof s?.code === 'number' ? s.code : 500;
            finish(code === 410 ? { kind: 'gone' } : { kind: 'error', error: new KubeStatusError(code, `${path}: watch error ${code}: ${String(s?.message ?? '')}`), progressed });
            return;
          }
          const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
          if (type === 'BOOKMARK') {
            if (typeof rv === 'string' && rv !== '') versions.set(path, rv);
            progressed = true;
            return;
          }
          if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
          const object = this.#normalize(r, obj);
          const key = this.#keyOf(r, object);
          if (type === 'DELETED') onEvent({ type: 'delete', key, receivedAt: now() });
          else onEvent({ type: 'upsert', key, object, receivedAt: now() });
          if (typeof object.metadata.resourceVersion === 'string') versions.set(path, object.metadata.resourceVersion);
          progressed = true;
        } catch (error) {
          finish({ kind: 'failed', error });
        }
      };
      const onDone = (err: unknown): void => {
        if (err === null || err === undefined) finish({ kind: 'closed', progressed });
        else if (statusOf(err) === 410) finish({ kind: 'gone' });
        else finish({ kind: 'error', error: err, progressed });
      };
      new Watch(this.#kc)
        .watch(path, { resourceVersion: versions.get(path), allowWatchBookmarks: true, labelSelector: this.#labelSelector }, onLine, onDone)
        .then((c) => {
          controller = c;
          // Settled (watchdog, abort) before the response arrived: drop the request now.
          if (settled) c.abort();
        })
        .catch((error: unknown) => finish({ kind: 'error', error, progressed }));
    });
  }

  /** Items of a typed list carry no apiVersion or kind; every object gets its resource's. */
  #normalize(r: KubeResource, item: unknown): KubeObject {
    const o = item as Partial<KubeObject> | null;
    const name = o?.metadata?.name;
    if (o === null || typeof o !== 'object' || typeof name !== 'string' || name === '') throw new KubeStatusError(502, `${collectionPath(r)}: an object without metadata.name`);
    if (r.namespaced && typeof o.metadata?.namespace !== 'string') throw new KubeStatusError(502, `${collectionPath(r)}: ${name} has no namespace`);
    return { ...o, apiVersion: apiVersionOf(r), kind: r.kind, metadata: o.metadata! } as KubeObject;
  }

  #keyOf(r: KubeResource, o: KubeObject): ObjectKey {
    return objectKey(r.namespaced ? o.metadata.namespace : undefined, r.kind, o.metadata.name);
  }

  /** One request with the KubeConfig's endpoint, TLS and credentials; resolves with the parsed JSON body. */
  async #request(method: string, path: string, opts: { query?: Record<string, string>; body?: string; contentType?: string; signal?: AbortSignal; ok404?: boolean }): Promise<unknown> {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new CairnError('INVALID_ARGUMENT', 'kubeConfig: the current context names no cluster', { field: 'kubeConfig' });
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.contentType) headers['content-type'] = opts.contentType;
    const reqOpts: RequestOptions = { method, headers };
    await this.#kc.applyToHTTPSOptions(reqOpts);
    const signal = AbortSignal.any([AbortSignal.timeout(this.#opts.requestTimeoutMs), this.#closed.signal, ...(opts.signal ? [opts.signal] : [])]);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { ...reqOpts, signal }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.#opts.maxResponseBytes) {
            req.destroy(new KubeStatusError(502, `${path}: response larger than ${this.#opts.maxResponseBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    });
    if (status === 404 && opts.ok404) return undefined;
    if (status < 200 || status > 299) {
      let message = '';
      try {
        const s = JSON.parse(text) as { message?: unknown };
        if (typeof s.message === 'string') message = `: ${s.message.slice(0, 300)}`;
      } catch {
        // not a Status: say nothing about the body
      }
      throw new KubeStatusError(status, `${method} ${path}: HTTP ${status}${message}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new KubeStatusError(502, `${method} ${path}: the response is not JSON (${(e as Error).message})`);
    }
  }

  #wrap(e: unknown, what: string): unknown {
    if (e instanceof CairnError) return e;
    const status = statusOf(e);
    if (status !== undefined && FATAL_STATUS.has(status)) return new CairnError('FAILED_PRECONDITION', `${this.describe}: ${what}: ${(e as Error).message}`, { cause: e });
    return new CairnError('UNAVAILABLE', `${this.describe}: ${what} failed${status ? ` (HTTP ${status})` : ''}`, { cause: e });
  }
}

/** A {@link LiveSource} over the given resource kinds of a Kubernetes cluster. */
export function createKubernetesSource(opts: KubernetesSourceOptions): LiveSource {
  return new KubernetesSource(opts);
}
