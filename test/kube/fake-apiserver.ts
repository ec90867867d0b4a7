/**
 * A small Kubernetes API server for tests: just enough of the list/watch
 * protocol (https://kubernetes.io/docs/reference/using-api/api-concepts/)
 * for a real `@kubernetes/client-node` to drive it.
 *
 * - One resourceVersion counter for every resource (like etcd's revision);
 *   lists carry it in `metadata.resourceVersion`, paged with limit/continue.
 *   Every page of a paged list comes from the snapshot its first page was
 *   taken from, as the API server serves them from etcd at the list's
 *   revision: objects created or deleted meanwhile neither shift nor skip
 *   items. A continue token whose snapshot is gone (only the latest 64 are
 *   kept) is answered 410 Expired, as an expired token is.
 * - `?watch=true&resourceVersion=N` replays every change after N, then
 *   streams live ones as JSON lines (ADDED, MODIFIED, DELETED, BOOKMARK when
 *   `allowWatchBookmarks=true`, ERROR).
 * - History before {@link FakeApiServer.compact} is gone: a watch from before
 *   it is answered with 410, as an HTTP status or as an ERROR event
 *   ({@link FakeApiServer.goneAs}); {@link FakeApiServer.expireWatches} sends
 *   the 410 ERROR event to open watches.
 * - Faults: {@link FakeApiServer.failNext} answers the next requests with a
 *   status (500 by default); {@link FakeApiServer.closeWatches} ends open
 *   watches cleanly; {@link FakeApiServer.silence} keeps watches open but
 *   sends them nothing (a half-dead connection).
 * - Server-side apply: PATCH `application/apply-patch+yaml` with
 *   `fieldManager` is recorded and applied; DELETE removes.
 * - GET of one object by name (a CustomResourceDefinition, for its schema).
 * - Optional bearer token; every request is recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';

export interface FakeResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface KubeObj {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
}

type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface Change {
  rv: number;
  resource: FakeResource;
  type: WatchType;
  object: KubeObj;
}

interface OpenWatch {
  resource: FakeResource;
  namespace: string | undefined;
  res: ServerResponse;
  bookmarks: boolean;
}

const apiVersionOf = (r: FakeResource): string => (r.group ? `${r.group}/${r.version}` : r.version);
const basePath = (r: FakeResource): string => (r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`);

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** How a watch from a compacted resourceVersion is refused. */
  goneAs: 'http' | 'event' = 'http';
  #server: Server;
  #resources: FakeResource[];
  #token: string | undefined;
  #rv = 1;
  #compactedBefore = 0;
  #history: Change[] = [];
  #objects = new Map<FakeResource, Map<string, KubeObj>>();
  #watches = new Set<OpenWatch>();
  #silent = false;
  #faults: { status: number; match: (r: RecordedRequest) => boolean }[] = [];
  /** Paged lists in progress: snapshot id -> the objects of the first page's moment. */
  #snapshots = new Map<number, { rv: string; items: object[] }>();
  #nextSnapshot = 1;

  private constructor(resources: FakeResource[], token: string | undefined) {
    this.#resources = resources;
    this.#token = token;
    for (const r of resources) this.#objects.set(r, new Map());
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(resources: FakeResource[], opts: { token?: string } = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(resources, opts.token);
    await new Promise<void>((resolve) => s.#server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** A kubeconfig for this server (client-node only speaks plain http with insecure-skip-tls-verify). */
  kubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tester', user: this.#token ? { token: this.#token } : {} }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester', namespace: 'default' } }],
      'current-context': 'fake',
    });
  }

  get openWatches(): number {
    return this.#watches.size;
  }

  watchRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.query.watch === 'true');
  }

  /** Creates or replaces an object, as a controller or `kubectl` would. */
  upsert(resource: FakeResource, object: KubeObj): string {
    const store = this.#objects.get(resource)!;
    const k = this.#key(resource, object.metadata.namespace, object.metadata.name);
    const type: WatchType = store.has(k) ? 'MODIFIED' : 'ADDED';
    const rv = ++this.#rv;
    const stored: KubeObj = { ...structuredClone(object), apiVersion: apiVersionOf(resource), kind: resource.kind, metadata: { ...structuredClone(object.metadata), resourceVersion: String(rv) } };
    store.set(k, stored);
    this.#record({ rv, resource, type, object: stored });
    return String(rv);
  }

  remove(resource: FakeResource, namespace: string | undefined, name: string): boolean {
    const store = this.#objects.get(resource)!;
    const k = this.#key(resource, namespace, name);
    const old = store.get(k);
    if (!old) return false;
    store.delete(k);
    const rv = ++this.#rv;
    this.#record({ rv, resource, type: 'DELETED', object: { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } } });
    return true;
  }

  get(resource: FakeResource, namespace: string | undefined, name: string): KubeObj | undefined {
    return this.#objects.get(resource)!.get(this.#key(resource, namespace, name));
  }

  /** Forgets history up to now: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.#compactedBefore = this.#rv;
    this.#history = [];
  }

  /** Sends every open watch an ERROR event with code 410 and closes it (history compacted under it). */
  expireWatches(): void {
    this.compact();
    for (const w of this.#watches) {
      this.#send(w, { type: 'ERROR', object: status(410, 'Expired', 'too old resource version') });
      w.res.end();
    }
    this.#watches.clear();
  }

  /** Ends every open watch normally (as the API server does after its timeout). */
  closeWatches(): void {
    for (const w of this.#watches) w.res.end();
    this.#watches.clear();
  }

  /** Sends a BOOKMARK at the current resourceVersion to watches that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.#watches) {
      if (w.bookmarks) this.#send(w, { type: 'BOOKMARK', object: { kind: w.resource.kind, apiVersion: apiVersionOf(w.resource), metadata: { resourceVersion: String(this.#rv) } } });
    }
  }

  /** While silent, watches stay open (headers sent) but receive nothing. */
  silence(on: boolean): void {
    this.#silent = on;
  }

  /** Answers the next `count` matching requests with `status` (default 500). */
  failNext(count: number, opts: { status?: number; watch?: boolean } = {}): void {
    for (let i = 0; i < count; i++) {
      this.#faults.push({
        status: opts.status ?? 500,
        match: (r) => opts.watch === undefined || (r.query.watch === 'true') === opts.watch,
      });
    }
  }

  async close(): Promise<void> {
    for (const w of this.#watches) w.res.destroy();
    this.#watches.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #key(r: FakeResource, namespace: string | undefined, name: string): string {
    return r.namespaced ? `${namespace ?? 'default'}/${name}` : name;
  }

  #record(c: Change): void {
    this.#history.push(c);
    if (this.#silent) return;
    for (const w of this.#watches) {
      if (w.resource === c.resource && (w.namespace === undefined || w.namespace === c.object.metadata.namespace)) this.#send(w, { type: c.type, object: c.object });
    }
  }

  #send(w: OpenWatch, event: object): void {
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  /** `/api/v1[/namespaces/NS]/PLURAL[/NAME]` or `/apis/G/V[/namespaces/NS]/PLURAL[/NAME]`. */
  #route(path: string): { resource: FakeResource; namespace: string | undefined; name: string | undefined } | undefined {
    for (const r of this.#resources) {
      const base = basePath(r);
      if (!path.startsWith(`${base}/`)) continue;
      const rest = path.slice(base.length + 1).split('/').map(decodeURIComponent);
      let namespace: string | undefined;
      if (rest[0] === 'namespaces' && r.namespaced && rest.length >= 3) {
        namespace = rest[1];
        rest.splice(0, 2);
      }
      if (rest[0] !== r.plural || rest.length > 2) continue;
      return { resource: r, namespace, name: rest[1] };
    }
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body = '';
    for await (const chunk of req) body += (chunk as Buffer).toString();
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body };
    this.requests.push(rec);
    const reply = (code: number, obj: object): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    if (this.#token && req.headers.authorization !== `Bearer ${this.#token}`) return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
    const fault = this.#faults.findIndex((f) => f.match(rec));
    if (fault >= 0) {
      const { status: code } = this.#faults.splice(fault, 1)[0]!;
      return reply(code, status(code, 'InternalError', 'injected failure'));
    }
    const route = this.#route(url.pathname);
    if (!route) return reply(404, status(404, 'NotFound', `no route for ${url.pathname}`));
    const { resource, namespace, name } = route;

    if (rec.method === 'GET' && name === undefined && rec.query.watch === 'true') return this.#watch(rec, resource, namespace, res);
    if (rec.method === 'GET' && name === undefined) {
      const list = this.#list(rec, resource, namespace);
      return list ? reply(200, list) : reply(410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
    }
    if (rec.method === 'GET' && name !== undefined) {
      const obj = this.get(resource, namespace, name);
      return obj ? reply(200, obj) : reply(404, status(404, 'NotFound', `${resource.plural} "${name}" not found`));
    }
    if (rec.method === 'PATCH' && name !== undefined) {
      if (req.headers['content-type'] !== 'application/apply-patch+yaml') return reply(415, status(415, 'UnsupportedMediaType', 'only server-side apply is served'));
      if (!rec.query.fieldManager) return reply(422, status(422, 'Invalid', 'fieldManager is required for apply requests'));
      const obj = parseYaml(body) as KubeObj;
      if (obj.metadata?.name !== name || (resource.namespaced && (obj.metadata.namespace ?? namespace) !== namespace)) return reply(400, status(400, 'BadRequest', 'the name of the object does not match the URL'));
      this.upsert(resource, { ...obj, metadata: { ...obj.metadata, namespace } });
      return reply(200, this.get(resource, namespace, name)!);
    }
    if (rec.method === 'DELETE' && name !== undefined) {
      const old = this.get(resource, namespace, name);
      if (!old) return reply(404, status(404, 'NotFound', `${resource.plural} "${name}" not found`));
      this.remove(resource, namespace, name);
      return reply(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    }
    return reply(405, status(405, 'MethodNotAllowed', `${rec.method} is not served`));
  }

  /** One page of a list, or undefined for a continue token whose snapshot is gone. */
  #list(rec: RecordedRequest, resource: FakeResource, namespace: string | undefined): object | undefined {
    const cont = rec.query.continue ? (JSON.parse(Buffer.from(rec.query.continue, 'base64url').toString()) as { snapshot: number; offset: number }) : undefined;
    let snap = cont ? this.#snapshots.get(cont.snapshot) : undefined;
    if (cont && !snap) return undefined;
    let id = cont?.snapshot ?? 0;
    if (!snap) {
      // Items of a typed list carry neither apiVersion nor kind, as from a real API server.
      const items = [...this.#objects.get(resource)!.values()]
        .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
        .sort((a, b) => this.#key(resource, a.metadata.namespace, a.metadata.name).localeCompare(this.#key(resource, b.metadata.namespace, b.metadata.name)))
        .map(({ apiVersion: _a, kind: _k, ...rest }) => structuredClone(rest));
      snap = { rv: String(this.#rv), items };
      id = this.#nextSnapshot++;
      this.#snapshots.set(id, snap);
      if (this.#snapshots.size > 64) this.#snapshots.delete(this.#snapshots.keys().next().value!);
    }
    const offset = cont?.offset ?? 0;
    const limit = rec.query.limit ? Number(rec.query.limit) : snap.items.length;
    const page = snap.items.slice(offset, offset + limit);
    const more = offset + limit < snap.items.length;
    const metadata: Record<string, string> = { resourceVersion: snap.rv };
    if (more) metadata.continue = Buffer.from(JSON.stringify({ snapshot: id, offset: offset + limit })).toString('base64url');
    else this.#snapshots.delete(id);
    return { kind: `${resource.kind}List`, apiVersion: apiVersionOf(resource), metadata, items: page };
  }

  #watch(rec: RecordedRequest, resource: FakeResource, namespace: string | undefined, res: ServerResponse): void {
    const from = Number(rec.query.resourceVersion ?? '0');
    if (from < this.#compactedBefore) {
      if (this.goneAs === 'http') {
        res.writeHead(410, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status(410, 'Expired', `too old resource version: ${from} (${this.#compactedBefore})`)));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.#compactedBefore})`) })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: OpenWatch = { resource, namespace, res, bookmarks: rec.query.allowWatchBookmarks === 'true' };
    this.#watches.add(w);
    res.on('close', () => this.#watches.delete(w));
    if (this.#silent) return;
    for (const c of this.#history) {
      if (c.rv > from && c.resource === resource && (namespace === undefined || c.object.metadata.namespace === namespace)) this.#send(w, { type: c.type, object: c.object });
    }
  }
}
