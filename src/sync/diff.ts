/**
 * Semantic diff of desired (Git) against live objects, as RFC 6902 JSON
 * Patches, with Secret values masked.
 *
 * What counts as drift
 * - Only what the desired object sets is compared (a field the desired
 *   object leaves out is the server's business: defaults are not drift),
 *   except `metadata.labels` and `metadata.annotations`, compared whole.
 * - Lists are matched the way Kubernetes identifies their elements
 *   (merge-keys.ts): containers by `name`, ports by `containerPort` and
 *   `protocol`, a set by value, as the API's OpenAPI document or a CRD's
 *   schema declares. An element in both is compared like an object (only
 *   what Git sets); one only live is one removal at that element (an
 *   injected sidecar is one change, named), one only in Git is one add.
 *   Order within a keyed list is not compared. A list without keys (or with
 *   an element lacking its key, or a key twice) is atomic: compared by
 *   position, element by element when both have the same length, replaced
 *   whole otherwise.
 * - Always dropped, on both sides: `status`, and metadata `uid`,
 *   `resourceVersion`, `generation`, `creationTimestamp`, `managedFields`,
 *   `selfLink`, plus a few annotations and labels that tools and the server
 *   write ({@link DROPPED_ANNOTATIONS}, {@link DROPPED_LABELS}).
 * - An empty list or map that Git sets and the live object lacks is no drift:
 *   the API server drops empty lists and maps (`env: []`, `nodeSelector: {}`).
 * - What the API server rewrites on the way in (api-normalize.ts): a
 *   Secret's `stringData` is merged into `data` as base64, null map values
 *   are empty strings, an aggregated ClusterRole's rules are the
 *   controller's; and a `false` that the server omits ({@link OMITTED_WHEN_FALSE})
 *   equals an absent field.
 * - Resource quantities (`resources.requests`, `limits`, quota `hard`, ...)
 *   are compared by amount: the server stores `cpu: 0.5` as `"500m"` and
 *   `1024Mi` as `"1Gi"`, which is no drift (quantity.ts).
 * - Per-target ignore rules: a whole kind, or an RFC 6901 JSON pointer (for
 *   every kind or one), where a `*` segment matches any key or index.
 *
 * The patch
 * Each change carries an RFC 6902 patch that turns the live object into the
 * desired one; an absent object is the `null` document, so an object only in
 * Git is `add ""` and one only in the cluster is `remove ""`. Before every
 * `replace` and `remove` a `test` op carries the live value: the patch says
 * what the cluster had, not only what Git wants, and still applies cleanly.
 * Indexes are the live object's: changes inside matched elements come
 * first, then removals from the highest index down, then additions at the
 * end (`/-`), so every op's path holds when it is applied. Each op also
 * has a name for people ({@link Change.where}):
 * `spec.template.spec.containers[name=app].image`.
 *
 * Secrets
 * Values under a Secret's `data` and `stringData` never leave this module
 * in clear: {@link maskPatch} replaces each with `***:` and the first 64 bits
 * of HMAC-SHA256 under a per-node key (domain-separated by object key and
 * field). Why HMAC and not a plain hash: ledger entries are readable by
 * anyone who can read the log, and an unkeyed SHA-256 of a short password is
 * brute-forced offline in seconds; a keyed MAC reveals only "same as before"
 * or "changed" to whoever lacks the key, which is exactly what an auditor
 * needs. Comparison itself runs on the real values in memory.
 *
 * Pure module: no Node-only imports.
 */
import { canonicalize } from 'json-canonicalize';
import { sha256 } from '#crypto';
import { concatBytes, toHex, utf8 } from '../core/bytes.js';
import { invalidArgument } from '../core/errors.js';
import type { KubeObject, ObjectKey } from './live-source.js';
import { isQuantityPath, sameQuantity } from './quantity.js';
import { BUILTIN_LIST_KEYS_SOURCE, type ListKeySource, type ListSpec, type SchemaNode } from './merge-keys.js';
import { normalizeApiObject, OMITTED_WHEN_FALSE } from './api-normalize.js';

export { POSITIONAL_LISTS, type ListKeySource } from './merge-keys.js';

export type DriftStatus = 'ADDED_IN_CLUSTER' | 'REMOVED_FROM_CLUSTER' | 'MODIFIED';

export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export interface Change {
  key: ObjectKey;
  kind: string;
  status: DriftStatus;
  /** Masked: safe for the ledger, logs and terminals. */
  patch: JsonPatchOp[];
  /** Hex SHA-256 of the RFC 8785 form of `patch`: the identity of this drift. */
  digest: string;
  /**
   * For each op of `patch`, where it applies in the text diff's form, with
   * keyed elements named by key: `spec.template.spec.containers[name=app].image`.
   * Not part of the drift's identity.
   */
  where?: string[];
}

/** A kind to leave out entirely, a pointer to leave out of every kind, or a pointer for one kind. */
export interface IgnoreRule {
  kind?: string;
  pointer?: string;
}

export interface CompiledIgnore {
  kinds: ReadonlySet<string>;
  /** Pointers (split into unescaped segments) for every kind. */
  all: readonly string[][];
  byKind: ReadonlyMap<string, readonly string[][]>;
}

/** Masks one Secret value: `(object key, "data/<name>" or "stringData/<name>", value) -> mask`. */
export type Masker = (key: ObjectKey, field: string, value: unknown) => string;

export interface DiffOptions {
  ignore?: CompiledIgnore;
  /** Default {@link PLAIN_MASK}: values are masked even when no key is configured. */
  mask?: Masker;
  /** How list elements are identified. Default: the built-in kinds' table; {@link POSITIONAL_LISTS} compares every list by position. */
  listKeys?: ListKeySource;
}

const DROPPED_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink'];
/** Written by kubectl and controllers; last-applied-configuration also holds a Secret's values in clear. */
export const DROPPED_ANNOTATIONS: readonly string[] = ['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision'];
/** Set by the API server on every Namespace. */
export const DROPPED_LABELS: readonly string[] = ['kubernetes.io/metadata.name'];
const SECRET_FIELDS = new Set(['data', 'stringData']);

export const NO_IGNORE: CompiledIgnore = { kinds: new Set(), all: [], byKind: new Map() };

/** RFC 6901 section 3: `~1` is `/`, `~0` is `~`; any other `~` is malformed. */
export function parsePointer(pointer: string, field = 'pointer'): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw invalidArgument(field, `JSON pointer "${pointer}" must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => {
      if (/~[^01]|~$/.test(s)) throw invalidArgument(field, `JSON pointer "${pointer}" has a "~" not followed by 0 or 1`);
      return s.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

export function escapeSegment(s: string): string {
  return s.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** @throws CairnError INVALID_ARGUMENT for a rule with neither kind nor pointer, or a malformed pointer */
export function compileIgnore(rules: readonly IgnoreRule[]): CompiledIgnore {
  const kinds = new Set<string>();
  const all: string[][] = [];
  const byKind = new Map<string, string[][]>();
  for (const r of rules) {
    if (r.pointer === undefined) {
      if (!r.kind) throw invalidArgument('ignore', 'a rule needs a kind, a pointer or both');
      kinds.add(r.kind);
      continue;
    }
    const segs = parsePointer(r.pointer, 'ignore');
    if (segs.length === 0) throw invalidArgument('ignore', 'the root pointer "" would ignore everything; ignore the kind instead');
    if (r.kind) {
      const list = byKind.get(r.kind) ?? [];
      list.push(segs);
      byKind.set(r.kind, list);
    } else all.push(segs);
  }
  return { kinds, all, byKind };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * `v` without what `segs[i..]` points at. Copy-on-write: only the containers
 * on the way are copied, everything else is shared (the diff never mutates).
 */
function withoutPath(v: unknown, segs: readonly string[], i: number): unknown {
  if (i >= segs.length) return v;
  const seg = segs[i]!;
  const last = i === segs.length - 1;
  if (Array.isArray(v)) {
    const idx = seg === '*' ? v.map((_, j) => j) : /^(0|[1-9][0-9]*)$/.test(seg) && Number(seg) < v.length ? [Number(seg)] : [];
    if (idx.length === 0) return v;
    if (last) return v.filter((_, j) => !idx.includes(j));
    const out = v.slice();
    for (const j of idx) out[j] = withoutPath(v[j], segs, i + 1);
    return out;
  }
  if (isObject(v)) {
    const keys = seg === '*' ? Object.keys(v) : Object.hasOwn(v, seg) ? [seg] : [];
    if (keys.length === 0) return v;
    const out: Record<string, unknown> = { ...v };
    for (const k of keys) {
      if (last) delete out[k];
      else out[k] = withoutPath(v[k], segs, i + 1);
    }
    return out;
  }
  return v;
}

/**
 * The comparable form of an object: as the API server stores it
 * (api-normalize.ts), without the always-dropped fields and
 * the ignored pointers. Empty labels/annotations maps are removed, so
 * `labels: {}` and no labels are the same. The input is not modified; the
 * result shares whatever it does not drop with it.
 */
export function normalizeForDiff(obj: KubeObject, ignore: CompiledIgnore = NO_IGNORE): KubeObject {
  const { status: _status, metadata: meta, ...rest } = normalizeApiObject(obj);
  let o: Record<string, unknown> = rest;
  if (isObject(meta)) {
    const m: Record<string, unknown> = { ...meta };
    for (const f of DROPPED_METADATA) delete m[f];
    for (const [f, dropped] of [['annotations', DROPPED_ANNOTATIONS], ['labels', DROPPED_LABELS]] as const) {
      const map = m[f];
      if (isObject(map)) {
        if (dropped.some((k) => Object.hasOwn(map, k))) {
          const copy = { ...map };
          for (const k of dropped) delete copy[k];
          m[f] = copy;
        }
        if (Object.keys(m[f] as object).length === 0) delete m[f];
      } else if (map === null) delete m[f];
    }
    o = { ...rest, metadata: m };
  } else if (meta !== undefined) o = { ...rest, metadata: meta };
  for (const p of ignore.all) o = withoutPath(o, p, 0) as Record<string, unknown>;
  for (const p of ignore.byKind.get(obj.kind) ?? []) o = withoutPath(o, p, 0) as Record<string, unknown>;
  return o as KubeObject;
}

function isEmptyCollection(v: unknown): boolean {
  return Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) if (!Object.hasOwn(b, k) || !jsonEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/**
 * A place in the object, built as the comparison descends and turned into
 * text only for an op: a JSON pointer segment (a field or a live index; `-`
 * to append), and for an element of a keyed list, the element it names.
 */
interface At {
  up: At | undefined;
  seg: string | number;
  by?: { spec: ListSpec; el: unknown };
}

const at = (up: At | undefined, seg: string | number, by?: At['by']): At => (by ? { up, seg, by } : { up, seg });

function pointerOf(a: At | undefined): string {
  const segs: string[] = [];
  for (let x = a; x; x = x.up) segs.push(typeof x.seg === 'number' ? String(x.seg) : escapeSegment(x.seg));
  return segs.length === 0 ? '' : '/' + segs.reverse().join('/');
}

const PLAIN_FIELD = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
const PLAIN_VALUE = /^[A-Za-z0-9._/:@+-]+$/;

function keyText(v: unknown): string {
  return typeof v === 'string' && PLAIN_VALUE.test(v) ? v : (JSON.stringify(v) ?? 'null');
}

/** `[name=app]`, `[containerPort=8080,protocol=TCP]`, `[=value]` for a set. */
function elementName(spec: ListSpec, el: unknown): string {
  if (spec.type === 'set') return `[=${keyText(el)}]`;
  const o = el as Record<string, unknown>;
  return `[${spec.keys.map((k, i) => `${k}=${keyText(o[k] ?? spec.defaults[i] ?? null)}`).join(',')}]`;
}

/** `spec.template.spec.containers[name=app].image`, `metadata.labels["app.kubernetes.io/name"]`, `args[0]`. */
function nameOf(a: At | undefined): string {
  const parts: string[] = [];
  for (let x = a; x; x = x.up) {
    if (x.by) parts.push(elementName(x.by.spec, x.by.el));
    else if (typeof x.seg === 'number') parts.push(`[${x.seg}]`);
    else parts.push(PLAIN_FIELD.test(x.seg) ? `.${x.seg}` : `[${JSON.stringify(x.seg)}]`);
  }
  const s = parts.reverse().join('');
  return s.startsWith('.') ? s.slice(1) : s;
}

interface Out {
  ops: JsonPatchOp[];
  where: string[];
}

function emit(out: Out, a: At | undefined, op: 'test' | 'replace' | 'add', value: unknown): void;
function emit(out: Out, a: At | undefined, op: 'remove'): void;
function emit(out: Out, a: At | undefined, op: JsonPatchOp['op'], value?: unknown): void {
  const path = pointerOf(a);
  out.ops.push(op === 'remove' ? { op, path } : { op, path, value });
  out.where.push(nameOf(a));
}

function change(out: Out, a: At | undefined, live: unknown, desired: unknown): void {
  emit(out, a, 'test', live);
  emit(out, a, 'replace', desired);
}

/**
 * The identity of a keyed-list element: its key fields (defaults filled in)
 * or, in a set, its value; undefined when it has none (not an object, a key
 * field missing without default).
 */
function elementKey(spec: ListSpec, el: unknown): string | undefined {
  if (spec.type === 'set') return canonicalize(el ?? null);
  if (!isObject(el)) return undefined;
  let key = '';
  for (let i = 0; i < spec.keys.length; i++) {
    const v = el[spec.keys[i]!] ?? spec.defaults[i];
    if (typeof v === 'string') key += `s${v.length}:${v}`;
    else if (typeof v === 'number') key += `n${v};`;
    else if (v === undefined) return undefined;
    else key += `j${canonicalize(v)};`;
  }
  return key;
}

/** Each element's key, or undefined when one lacks its key or two share one: the list is then compared by position. */
function keysOf(spec: ListSpec, list: readonly unknown[]): string[] | undefined {
  const keys: string[] = new Array(list.length);
  // Most lists hold a few elements: a scan is cheaper than a Set there.
  const seen = list.length > 8 ? new Set<string>() : undefined;
  for (let i = 0; i < list.length; i++) {
    const k = elementKey(spec, list[i]);
    if (k === undefined) return undefined;
    if (seen) {
      if (seen.has(k)) return undefined;
      seen.add(k);
    } else for (let j = 0; j < i; j++) if (keys[j] === k) return undefined;
    keys[i] = k;
  }
  return keys;
}

/**
 * A keyed list: matched elements compared (at their live index), then the
 * live-only elements removed from the highest index down, then the Git-only
 * elements appended. Returns false when the list cannot be keyed.
 */
function keyedList(d: readonly unknown[], l: readonly unknown[], a: At | undefined, out: Out, whole: boolean, node: SchemaNode, spec: ListSpec): boolean {
  const dk = keysOf(spec, d);
  if (!dk) return false;
  const lk = keysOf(spec, l);
  if (!lk) return false;
  if (d.length === l.length && dk.every((k, i) => k === lk[i])) {
    // The same elements in the same order: the common case, without an index.
    if (spec.type === 'map') for (let i = 0; i < d.length; i++) subset(d[i], l[i], at(a, i, { spec, el: l[i] }), out, whole, node.items);
    return true;
  }
  const index = new Map<string, number>();
  for (let j = 0; j < lk.length; j++) index.set(lk[j]!, j);
  const matched = new Uint8Array(l.length);
  const added: number[] = [];
  for (let i = 0; i < d.length; i++) {
    const j = index.get(dk[i]!);
    if (j === undefined) {
      added.push(i);
      continue;
    }
    matched[j] = 1;
    if (spec.type === 'map') subset(d[i], l[j], at(a, j, { spec, el: l[j] }), out, whole, node.items);
  }
  for (let j = l.length - 1; j >= 0; j--) {
    if (matched[j]) continue;
    const e = at(a, j, { spec, el: l[j] });
    emit(out, e, 'test', l[j]);
    emit(out, e, 'remove');
  }
  for (const i of added) emit(out, at(a, '-', { spec, el: d[i] }), 'add', d[i]);
  return true;
}

/**
 * Desired-subset comparison of `d` (desired) against `l` (live) at `a`;
 * `whole` also reports keys only `l` has; `node` is the schema of lists
 * below `a`.
 */
function subset(d: unknown, l: unknown, a: At | undefined, out: Out, whole: boolean, node: SchemaNode | undefined): void {
  if (isObject(d)) {
    if (!isObject(l)) {
      change(out, a, l, d);
      return;
    }
    for (const k of Object.keys(d)) {
      const dv = d[k];
      if (!Object.hasOwn(l, k)) {
        // `null` in a manifest asks for the field to be absent (kubectl apply
        // semantics); an empty list or map is what the API server drops
        // (omitempty), and so is a `false` of a plain bool.
        if (dv !== null && !isEmptyCollection(dv) && !(dv === false && OMITTED_WHEN_FALSE.has(k))) emit(out, at(a, k), 'add', dv);
        continue;
      }
      if (dv === null) {
        if (l[k] !== null) {
          const p = at(a, k);
          emit(out, p, 'test', l[k]);
          emit(out, p, 'remove');
        }
        continue;
      }
      subset(dv, l[k], at(a, k), out, whole, node && (node.fields?.get(k) ?? node.values));
    }
    if (whole) {
      for (const k of Object.keys(l)) {
        if (Object.hasOwn(d, k)) continue;
        const p = at(a, k);
        emit(out, p, 'test', l[k]);
        emit(out, p, 'remove');
      }
    }
    return;
  }
  if (Array.isArray(d)) {
    if (!Array.isArray(l)) {
      change(out, a, l, d);
      return;
    }
    if (node?.list && keyedList(d, l, a, out, whole, node, node.list)) return;
    if (l.length !== d.length) {
      change(out, a, l, d);
      return;
    }
    // Atomic: element by element; a keyed list below an atomic one is atomic too.
    for (let i = 0; i < d.length; i++) subset(d[i], l[i], at(a, i), out, whole, undefined);
    return;
  }
  if (jsonEqual(d, l)) return;
  // The server rewrites quantities canonically (`0.5` -> `"500m"`): the same amount is no drift.
  if (sameQuantity(d, l) && isQuantityPath(pointerOf(a))) return;
  change(out, a, l, d);
}

/** The patch from live to desired (both normalized) with the name of each op. */
function patchAndNames(desired: KubeObject | undefined, live: KubeObject | undefined, listKeys: ListKeySource): Out {
  const out: Out = { ops: [], where: [] };
  if (!desired && !live) return out;
  if (!live) {
    emit(out, undefined, 'add', desired);
    return out;
  }
  if (!desired) {
    emit(out, undefined, 'test', live);
    emit(out, undefined, 'remove');
    return out;
  }
  const schema = listKeys.schemaFor(desired.apiVersion ?? live.apiVersion, desired.kind);
  const { labels: dLabels, annotations: dAnnotations, ...dMeta } = desired.metadata;
  const { labels: lLabels, annotations: lAnnotations, ...lMeta } = live.metadata;
  subset({ ...desired, metadata: dMeta }, { ...live, metadata: lMeta }, undefined, out, false, schema);
  // labels and annotations are compared whole: one the desired object does not name must be absent live.
  const maps = [['labels', dLabels, lLabels], ['annotations', dAnnotations, lAnnotations]] as const;
  for (const [f, d, l] of maps) {
    const a = at(at(undefined, 'metadata'), f);
    const dm = isObject(d) ? d : {};
    if (!isObject(l)) {
      if (Object.keys(dm).length > 0) emit(out, a, 'add', dm);
      continue;
    }
    subset(dm, l, a, out, true, undefined);
  }
  return out;
}

/**
 * The unmasked patch from live to desired, both already normalized; `[]`
 * when they agree. Never put its values anywhere: see {@link maskPatch}.
 */
export function objectPatch(desired: KubeObject | undefined, live: KubeObject | undefined, listKeys: ListKeySource = BUILTIN_LIST_KEYS_SOURCE): JsonPatchOp[] {
  return patchAndNames(desired, live, listKeys).ops;
}

/** A mask that reveals nothing, not even whether a value changed: used when no key is configured. */
export const PLAIN_MASK: Masker = () => '***';

const MASK_DOMAIN = utf8('cairn-sync-mask/v1\u0000');

/** HMAC-SHA256 (RFC 2104) over the core's SHA-256 primitive. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const block = 64;
  const k = key.length > block ? sha256(key) : key;
  const ipad = new Uint8Array(block).fill(0x36);
  const opad = new Uint8Array(block).fill(0x5c);
  for (let i = 0; i < k.length; i++) {
    ipad[i]! ^= k[i]!;
    opad[i]! ^= k[i]!;
  }
  return sha256(concatBytes(opad, sha256(concatBytes(ipad, message))));
}

/**
 * Masks as `***:<16 hex>`, the first 64 bits of HMAC-SHA256(key, domain ||
 * object key || 0 || field || 0 || RFC 8785 value). Equal masks mean equal
 * values of the same field of the same object, with probability 1 - 2^-64.
 */
export function hmacMasker(key: Uint8Array): Masker {
  if (key.length < 16) throw invalidArgument('mask_key', 'must be at least 128 bits');
  const k = new Uint8Array(key);
  return (objectKey, field, value) => {
    const mac = hmacSha256(k, concatBytes(MASK_DOMAIN, utf8(objectKey), new Uint8Array(1), utf8(field), new Uint8Array(1), utf8(canonicalize(value ?? null))));
    return `***:${toHex(mac.subarray(0, 8))}`;
  };
}

/**
 * Masks every Secret value a patch carries, wherever it sits: under
 * `/data/<k>`, in a whole `/data` map, or in a whole object (`""`).
 * Patches of other kinds are returned unchanged.
 */
export function maskPatch(kind: string, key: ObjectKey, ops: readonly JsonPatchOp[], mask: Masker = PLAIN_MASK): JsonPatchOp[] {
  if (kind !== 'Secret') return [...ops];
  const maskMap = (field: string, v: unknown): unknown =>
    isObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(key, `${field}/${k}`, x)])) : mask(key, field, v);
  const maskObject = (v: unknown): unknown => {
    if (!isObject(v)) return v;
    const out: Record<string, unknown> = { ...v };
    for (const f of SECRET_FIELDS) if (Object.hasOwn(out, f)) out[f] = maskMap(f, out[f]);
    return out;
  };
  return ops.map((op) => {
    if (op.op === 'remove') return op;
    const segs = parsePointer(op.path);
    if (segs.length === 0) return { ...op, value: maskObject(op.value) };
    const [top, name, ...rest] = segs;
    if (!SECRET_FIELDS.has(top!)) return op;
    if (name === undefined) return { ...op, value: maskMap(top!, op.value) };
    // A pointer below a value (`/data/k/x`) cannot occur for strings; mask it all the same.
    return { ...op, value: mask(key, `${top}/${name}${rest.length > 0 ? '/' + rest.join('/') : ''}`, op.value) };
  });
}

export function patchDigest(patch: readonly JsonPatchOp[]): string {
  return toHex(sha256(utf8(canonicalize(patch))));
}

/**
 * The change for one key, or null when desired and live agree. Objects of
 * an ignored kind never change.
 */
export function diffObject(key: ObjectKey, desired: KubeObject | undefined, live: KubeObject | undefined, opts: DiffOptions = {}): Change | null {
  const ignore = opts.ignore ?? NO_IGNORE;
  const kind = desired?.kind ?? live?.kind;
  if (kind === undefined || ignore.kinds.has(kind)) return null;
  const raw = patchAndNames(desired && normalizeForDiff(desired, ignore), live && normalizeForDiff(live, ignore), opts.listKeys ?? BUILTIN_LIST_KEYS_SOURCE);
  if (raw.ops.length === 0) return null;
  const patch = maskPatch(kind, key, raw.ops, opts.mask ?? PLAIN_MASK);
  const status: DriftStatus = !live ? 'REMOVED_FROM_CLUSTER' : !desired ? 'ADDED_IN_CLUSTER' : 'MODIFIED';
  return { key, kind, status, patch, digest: patchDigest(patch), where: raw.where };
}

/**
 * Every change between two states, in key order. `keys` limits the diff
 * (the engine passes the keys a live event touched).
 */
export function diffStates(desired: ReadonlyMap<ObjectKey, KubeObject>, live: ReadonlyMap<ObjectKey, KubeObject>, opts: DiffOptions = {}, keys?: Iterable<ObjectKey>): Change[] {
  const all = keys ? new Set(keys) : new Set([...desired.keys(), ...live.keys()]);
  const out: Change[] = [];
  for (const k of [...all].sort()) {
    const c = diffObject(k, desired.get(k), live.get(k), opts);
    if (c) out.push(c);
  }
  return out;
}

/**
 * Applies an RFC 6902 patch to a document (`null` = absent object) and
 * returns the result; the input is not modified. Supports the ops
 * {@link objectPatch} emits. Used to check patches, not by the engine.
 * @throws CairnError INVALID_ARGUMENT when a `test` fails or a path is missing
 */
export function applyPatch(doc: unknown, ops: readonly JsonPatchOp[]): unknown {
  let root: unknown = clone(doc);
  for (const op of ops) {
    const segs = parsePointer(op.path);
    if (segs.length === 0) {
      if (op.op === 'test') {
        if (!jsonEqual(root, op.value)) throw invalidArgument('patch', `test failed at ""`);
      } else root = op.op === 'remove' ? null : clone(op.value);
      continue;
    }
    let parent: unknown = root;
    for (const s of segs.slice(0, -1)) {
      parent = Array.isArray(parent) ? parent[Number(s)] : isObject(parent) ? parent[s] : undefined;
      if (parent === undefined) throw invalidArgument('patch', `path ${op.path} does not exist`);
    }
    const last = segs[segs.length - 1]!;
    const container = parent as Record<string, unknown> | unknown[];
    const exists = Array.isArray(container) ? Number(last) < container.length : Object.hasOwn(container, last);
    if (op.op === 'test') {
      const cur = Array.isArray(container) ? container[Number(last)] : container[last];
      if (!jsonEqual(exists ? cur : undefined, op.value)) throw invalidArgument('patch', `test failed at ${op.path}`);
      continue;
    }
    if (op.op !== 'add' && !exists) throw invalidArgument('patch', `path ${op.path} does not exist`);
    if (Array.isArray(container)) {
      const i = last === '-' ? container.length : Number(last);
      if (op.op === 'remove') container.splice(i, 1);
      else if (op.op === 'add') container.splice(i, 0, clone(op.value));
      else container[i] = clone(op.value);
    } else if (op.op === 'remove') delete container[last];
    else container[last] = clone(op.value);
  }
  return root;
}

export type { Json };
