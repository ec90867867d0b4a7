/**
 * How Kubernetes identifies the elements of a list, for the diff.
 *
 * The API declares it per field (https://kubernetes.io/docs/reference/using-api/server-side-apply/#merge-strategy):
 * `x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys` (containers
 * by `name`, ports by `containerPort` and `protocol`), `x-kubernetes-list-type:
 * set` (scalars identified by value), or, for strategic merge patch,
 * `x-kubernetes-patch-merge-key`. Every other list is atomic: a whole,
 * compared by position.
 *
 * Built-in kinds read the table extracted from the Kubernetes OpenAPI
 * document (list-keys.generated.ts, scripts/extract-list-keys.ts); a custom
 * resource reads its CustomResourceDefinition's `openAPIV3Schema` when the
 * live source can fetch it ({@link schemaFromCrd}).
 *
 * Both become one tree, {@link SchemaNode}, walked beside the objects: one
 * map look-up per field, no path strings.
 *
 * Pure module: no Node-only imports.
 */
import { BUILTIN_LIST_KEYS } from './list-keys.generated.js';

/** A keyed list: elements identified by `keys` (a missing key takes its default), or a set of scalars. */
export type ListSpec = { type: 'map'; keys: readonly string[]; defaults: readonly (string | undefined)[] } | { type: 'set' };

export interface SchemaNode {
  /** Object fields that lead to a keyed list. */
  fields?: Map<string, SchemaNode>;
  /** Any value of a map (`additionalProperties`). */
  values?: SchemaNode;
  /** This field is a keyed list. */
  list?: ListSpec;
  /** The elements of a keyed list. */
  items?: SchemaNode;
}

/** Where the diff finds the list keys of a kind. */
export interface ListKeySource {
  /** The schema tree of `apiVersion Kind`, or undefined when every list of it is atomic or unknown. */
  schemaFor(apiVersion: string | undefined, kind: string): SchemaNode | undefined;
}

/** Lists compared by position, whatever the API says: the diff before keyed lists, kept for comparison. */
export const POSITIONAL_LISTS: ListKeySource = { schemaFor: () => undefined };

/** `set` or `map:k1,k2=default` (the generated table's form). */
export function parseListSpec(text: string): ListSpec {
  if (text === 'set') return { type: 'set' };
  if (!text.startsWith('map:')) throw new Error(`list spec "${text}" is neither "set" nor "map:KEYS"`);
  const parts = text.slice(4).split(',');
  return { type: 'map', keys: parts.map((p) => p.split('=')[0]!), defaults: parts.map((p) => (p.includes('=') ? p.slice(p.indexOf('=') + 1) : undefined)) };
}

/** A tree from `path -> spec` (`spec.template.spec.containers[].env`, `*` a map value). */
export function compilePaths(paths: Readonly<Record<string, string>>): SchemaNode {
  const root: SchemaNode = {};
  for (const [path, spec] of Object.entries(paths)) {
    let node = root;
    for (const part of path.split('.')) {
      const elements = part.endsWith('[]');
      const name = elements ? part.slice(0, -2) : part;
      let next: SchemaNode;
      if (name === '*') next = node.values ??= {};
      else {
        node.fields ??= new Map();
        next = node.fields.get(name) ?? {};
        node.fields.set(name, next);
      }
      node = elements ? (next.items ??= {}) : next;
    }
    node.list = parseListSpec(spec);
  }
  return root;
}

class TableSource implements ListKeySource {
  readonly #table: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly #compiled = new Map<string, SchemaNode | undefined>();
  /** Kind -> its only `apiVersion Kind` entry, for objects that carry no apiVersion. */
  readonly #byKind = new Map<string, string | null>();

  constructor(table: Readonly<Record<string, Readonly<Record<string, string>>>>) {
    this.#table = table;
    for (const k of Object.keys(table)) {
      const kind = k.slice(k.indexOf(' ') + 1);
      this.#byKind.set(kind, this.#byKind.has(kind) ? null : k);
    }
  }

  schemaFor(apiVersion: string | undefined, kind: string): SchemaNode | undefined {
    let id = apiVersion === undefined ? undefined : `${apiVersion} ${kind}`;
    if (id === undefined || !Object.hasOwn(this.#table, id)) id = this.#byKind.get(kind) ?? undefined;
    if (id === undefined) return undefined;
    if (!this.#compiled.has(id)) this.#compiled.set(id, compilePaths(this.#table[id]!));
    return this.#compiled.get(id);
  }

  has(apiVersion: string, kind: string): boolean {
    return Object.hasOwn(this.#table, `${apiVersion} ${kind}`);
  }
}

/** The built-in kinds, from the Kubernetes OpenAPI table. */
export const BUILTIN_LIST_KEYS_SOURCE: ListKeySource & { has(apiVersion: string, kind: string): boolean } = new TableSource(BUILTIN_LIST_KEYS);

/** Custom schemas by `apiVersion Kind` first, then the built-in table. */
export function withCustomSchemas(custom: ReadonlyMap<string, SchemaNode>, base: ListKeySource = BUILTIN_LIST_KEYS_SOURCE): ListKeySource {
  return { schemaFor: (apiVersion, kind) => (apiVersion !== undefined ? custom.get(`${apiVersion} ${kind}`) : undefined) ?? base.schemaFor(apiVersion, kind) };
}

const MAX_SCHEMA_DEPTH = 32;
const MAX_SCHEMA_NODES = 10_000;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The keyed lists of one OpenAPI v3 schema (a CRD version's
 * `openAPIV3Schema`), or undefined when it has none. The schema comes from
 * the cluster: depth and size are bounded, and anything malformed is
 * treated as atomic.
 */
export function schemaFromOpenApiV3(schema: unknown): SchemaNode | undefined {
  let budget = MAX_SCHEMA_NODES;
  const walk = (s: unknown, depth: number): SchemaNode | undefined => {
    if (!isObject(s) || depth > MAX_SCHEMA_DEPTH || --budget < 0) return undefined;
    const node: SchemaNode = {};
    if (s.type === 'array') {
      const items = s.items;
      const type = s['x-kubernetes-list-type'];
      if (type === 'set') node.list = { type: 'set' };
      else if (type === 'map') {
        const keys = s['x-kubernetes-list-map-keys'];
        if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) return undefined;
        const props = isObject(items) && isObject(items.properties) ? items.properties : {};
        const required = isObject(items) && Array.isArray(items.required) ? items.required : [];
        const defaults = keys.map((k: string) => {
          const p = props[k];
          if (required.includes(k) || !isObject(p)) return undefined;
          return typeof p.default === 'string' || typeof p.default === 'number' ? String(p.default) : undefined;
        });
        node.list = { type: 'map', keys: keys as string[], defaults };
        const inner = walk(items, depth + 1);
        if (inner) node.items = inner;
      } else return undefined;
      return node;
    }
    if (isObject(s.properties)) {
      for (const [k, v] of Object.entries(s.properties)) {
        const child = walk(v, depth + 1);
        if (child) (node.fields ??= new Map()).set(k, child);
      }
    }
    if (isObject(s.additionalProperties)) {
      const child = walk(s.additionalProperties, depth + 1);
      if (child) node.values = child;
    }
    return node.fields || node.values ? node : undefined;
  };
  return walk(schema, 0);
}

/**
 * The keyed lists of `version` of a CustomResourceDefinition
 * (apiextensions.k8s.io/v1: `spec.versions[].schema.openAPIV3Schema`).
 */
export function schemaFromCrd(crd: unknown, version: string): SchemaNode | undefined {
  if (!isObject(crd) || !isObject(crd.spec) || !Array.isArray(crd.spec.versions)) return undefined;
  const v = crd.spec.versions.find((x: unknown) => isObject(x) && x.name === version) as Record<string, unknown> | undefined;
  const schema = v && isObject(v.schema) ? v.schema.openAPIV3Schema : undefined;
  return schemaFromOpenApiV3(schema);
}
