/**
 * Semantic diff of desired (Git) against live objects, as RFC 6902 JSON
 * Patches, with Secret values masked.
 *
 * What counts as drift
 * - Only what the desired object sets is compared (a field the desired
 *   object leaves out is the server's business: defaults are not drift),
 *   except `metadata.labels` and `metadata.annotations`, compared whole.
 *   Inside a list of the same length elements are compared the same way
 *   (a container keeps its server-defaulted fields); a list of another
 *   length is replaced whole.
 * - Always dropped, on both sides: `status`, and metadata `uid`,
 *   `resourceVersion`, `generation`, `creationTimestamp`, `managedFields`,
 *   `selfLink`, plus a few annotations and labels that tools and the server
 *   write ({@link DROPPED_ANNOTATIONS}, {@link DROPPED_LABELS}).
 * - An empty list or map that Git sets and the live object lacks is no drift:
 *   the API server drops empty lists and maps (`env: []`, `nodeSelector: {}`).
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
 * The comparable form of an object: without the always-dropped fields and
 * the ignored pointers. Empty labels/annotations maps are removed, so
 * `labels: {}` and no labels are the same. The input is not modified; the
 * result shares whatever it does not drop with it.
 */
export function normalizeForDiff(obj: KubeObject, ignore: CompiledIgnore = NO_IGNORE): KubeObject {
  const { status: _status, metadata: meta, ...rest } = obj;
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

/** Desired-subset comparison of `d` (desired) against `l` (live) at `path`; `whole` also reports keys only `l` has. */
function subset(d: unknown, l: unknown, path: string, ops: JsonPatchOp[], whole: boolean): void {
  if (isObject(d)) {
    if (!isObject(l)) {
      ops.push({ op: 'test', path, value: l }, { op: 'replace', path, value: d });
      return;
    }
    for (const k of Object.keys(d)) {
      const p = `${path}/${escapeSegment(k)}`;
      const dv = d[k];
      if (!Object.hasOwn(l, k)) {
        // `null` in a manifest asks for the field to be absent (kubectl apply
        // semantics); an empty list or map is what the API server drops
        // (omitempty), so its absence is no drift either.
        if (dv !== null && !isEmptyCollection(dv)) ops.push({ op: 'add', path: p, value: dv });
        continue;
      }
      if (dv === null) {
        if (l[k] !== null) ops.push({ op: 'test', path: p, value: l[k] }, { op: 'remove', path: p });
        continue;
      }
      subset(dv, l[k], p, ops, whole);
    }
    if (whole) {
      for (const k of Object.keys(l)) {
        if (Object.hasOwn(d, k)) continue;
        const p = `${path}/${escapeSegment(k)}`;
        ops.push({ op: 'test', path: p, value: l[k] }, { op: 'remove', path: p });
      }
    }
    return;
  }
  if (Array.isArray(d)) {
    if (!Array.isArray(l) || l.length !== d.length) {
      ops.push({ op: 'test', path, value: l }, { op: 'replace', path, value: d });
      return;
    }
    for (let i = 0; i < d.length; i++) subset(d[i], l[i], `${path}/${i}`, ops, whole);
    return;
  }
  if (jsonEqual(d, l)) return;
  // The server rewrites quantities canonically (`0.5` -> `"500m"`): the same amount is no drift.
  if (isQuantityPath(path) && sameQuantity(d, l)) return;
  ops.push({ op: 'test', path, value: l }, { op: 'replace', path, value: d });
}

/**
 * The unmasked patch from live to desired, both already normalized; `[]`
 * when they agree. Never put its values anywhere: see {@link maskPatch}.
 */
export function objectPatch(desired: KubeObject | undefined, live: KubeObject | undefined): JsonPatchOp[] {
  if (!desired && !live) return [];
  if (!live) return [{ op: 'add', path: '', value: desired }];
  if (!desired) return [{ op: 'test', path: '', value: live }, { op: 'remove', path: '' }];
  const ops: JsonPatchOp[] = [];
  const { labels: dLabels, annotations: dAnnotations, ...dMeta } = desired.metadata;
  const { labels: lLabels, annotations: lAnnotations, ...lMeta } = live.metadata;
  subset({ ...desired, metadata: dMeta }, { ...live, metadata: lMeta }, '', ops, false);
  // labels and annotations are compared whole: one the desired object does not name must be absent live.
  const maps = [['labels', dLabels, lLabels], ['annotations', dAnnotations, lAnnotations]] as const;
  for (const [f, d, l] of maps) {
    const path = `/metadata/${f}`;
    const dm = isObject(d) ? d : {};
    if (!isObject(l)) {
      if (Object.keys(dm).length > 0) ops.push({ op: 'add', path, value: dm });
      continue;
    }
    subset(dm, l, path, ops, true);
  }
  return ops;
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
  const raw = objectPatch(desired && normalizeForDiff(desired, ignore), live && normalizeForDiff(live, ignore));
  if (raw.length === 0) return null;
  const patch = maskPatch(kind, key, raw, opts.mask ?? PLAIN_MASK);
  const status: DriftStatus = !live ? 'REMOVED_FROM_CLUSTER' : !desired ? 'ADDED_IN_CLUSTER' : 'MODIFIED';
  return { key, kind, status, patch, digest: patchDigest(patch) };
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
