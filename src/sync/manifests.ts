/**
 * Kubernetes manifests: multi-document YAML files into objects keyed by
 * `namespace/kind/name`.
 *
 * YAML is read the way Kubernetes reads it (sigs.k8s.io/yaml on go-yaml v2,
 * i.e. YAML 1.1): `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0755` is octal
 * (493), `<<` merges. Like go-yaml v2 and unlike the YAML 1.1 spec,
 * timestamps stay strings and `190:20:30` is not a base-60 number: a
 * manifest means what `kubectl apply` would send.
 *
 * Every byte here is attacker-controlled (anyone who can push to the
 * repository writes it): files are size-bounded by the caller, aliases are
 * bounded (no billion laughs), values must be JSON (no `.inf`, no binary),
 * names are checked so a key cannot contain `/` or escape a directory, and
 * an error never quotes the source text (a malformed Secret would otherwise
 * put its value into a ledger entry or a log line).
 *
 * Nothing is dropped silently: an unparsable document, a document that is
 * not an object, a missing kind or name, and a key defined twice are
 * {@link ManifestError}s naming the file and the document (1-based).
 *
 * Pure module: no Node-only imports.
 */
import { LineCounter, parseAllDocuments, type Tags } from 'yaml';
import { objectKey, type KubeObject, type ObjectKey } from './live-source.js';

export type ManifestErrorCode = 'YAML_INVALID' | 'NOT_AN_OBJECT' | 'FIELD_INVALID' | 'DUPLICATE_KEY' | 'FILE_TOO_LARGE' | 'PATH_NOT_FOUND';

export interface ManifestError {
  code: ManifestErrorCode;
  /** Path of the file (relative to the manifest root). */
  file: string;
  /** 1-based document number within the file; 0 for the whole file. */
  document: number;
  /** Never quotes the file's content. */
  message: string;
}

export interface ParsedObject {
  key: ObjectKey;
  object: KubeObject;
  file: string;
  document: number;
}

export interface ManifestSet {
  objects: Map<ObjectKey, ParsedObject>;
  errors: ManifestError[];
}

export interface ManifestOptions {
  /** Namespace of a namespaced object that names none (Kubernetes: the context's namespace). */
  defaultNamespace: string;
  /** Kinds that are cluster-scoped besides {@link CLUSTER_SCOPED_KINDS} (e.g. a CRD's kind). */
  clusterScopedKinds?: Iterable<string>;
}

/** Built-in cluster-scoped kinds (kubectl api-resources --namespaced=false). */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'APIService',
  'CertificateSigningRequest',
  'ClusterRole',
  'ClusterRoleBinding',
  'ComponentStatus',
  'CSIDriver',
  'CSINode',
  'CustomResourceDefinition',
  'FlowSchema',
  'IngressClass',
  'MutatingWebhookConfiguration',
  'Namespace',
  'Node',
  'PersistentVolume',
  'PodSecurityPolicy',
  'PriorityClass',
  'PriorityLevelConfiguration',
  'RuntimeClass',
  'StorageClass',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration',
  'VolumeAttachment',
]);

/** File names read as manifests. */
export const MANIFEST_FILE_RE = /\.(?:ya?ml|json)$/i;

/** Kubernetes' own limit on a name (DNS subdomain) is 253; path-segment names forbid `/`, `%`, `.` and `..`. */
const NAME_MAX = 253;
const NAME_FORBIDDEN = /[\u0000-\u0020\u007f-\u009f/%\\]/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const KIND_RE = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
const MAX_ALIASES = 100;

// go-yaml v2 leaves timestamps and base-60 numbers as strings, and sigs.k8s.io/yaml
// has no JSON form for !!binary; the rest of the YAML 1.1 core schema applies.
const DROPPED_TAGS = new Set(['tag:yaml.org,2002:timestamp', 'tag:yaml.org,2002:binary']);
const kubernetesTags = (tags: Tags): Tags => tags.filter((t) => typeof t === 'string' || (!DROPPED_TAGS.has(t.tag) && (t as { format?: string }).format !== 'TIME'));

/** Checks a name, namespace or kind; returns a problem or undefined. */
export function checkName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'is required';
  if (name.length > NAME_MAX) return `is longer than ${NAME_MAX} characters`;
  if (name === '.' || name === '..') return 'may not be "." or ".."';
  if (NAME_FORBIDDEN.test(name)) return 'contains "/", "%", "\\", white space or a control character';
  return undefined;
}

export function isClusterScoped(kind: string, extra?: ReadonlySet<string>): boolean {
  return CLUSTER_SCOPED_KINDS.has(kind) || (extra?.has(kind) ?? false);
}

/**
 * Checks one parsed document and resolves its key. The namespace is written
 * into the object (a namespaced object without one takes the default, a
 * cluster-scoped object loses one), so the key and the object agree.
 */
export function normalizeObject(value: unknown, opts: { defaultNamespace: string; clusterScoped?: ReadonlySet<string> }): { key: ObjectKey; object: KubeObject } | { problem: string; code: ManifestErrorCode } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { code: 'NOT_AN_OBJECT', problem: 'is not a mapping' };
  const o = value as Record<string, unknown>;
  if (typeof o.kind !== 'string' || !KIND_RE.test(o.kind)) return { code: 'FIELD_INVALID', problem: 'kind is missing or not a Kubernetes kind' };
  if (o.apiVersion !== undefined && typeof o.apiVersion !== 'string') return { code: 'FIELD_INVALID', problem: 'apiVersion is not a string' };
  const meta = o.metadata;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return { code: 'FIELD_INVALID', problem: 'metadata is missing or not a mapping' };
  const m = meta as Record<string, unknown>;
  const nameProblem = checkName(m.name);
  if (nameProblem) return { code: 'FIELD_INVALID', problem: `metadata.name ${nameProblem}` };
  for (const f of ['labels', 'annotations'] as const) {
    const v = m[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
      return { code: 'FIELD_INVALID', problem: `metadata.${f} must map strings to strings` };
    }
  }
  const kind = o.kind;
  let namespace: string | undefined;
  if (isClusterScoped(kind, opts.clusterScoped)) {
    namespace = undefined;
  } else {
    const ns = m.namespace ?? opts.defaultNamespace;
    if (typeof ns !== 'string' || !NAMESPACE_RE.test(ns)) return { code: 'FIELD_INVALID', problem: 'metadata.namespace is not a DNS label' };
    namespace = ns;
  }
  const metadata: KubeObject['metadata'] = { ...m, name: m.name as string };
  if (namespace === undefined) delete metadata.namespace;
  else metadata.namespace = namespace;
  return { key: objectKey(namespace, kind, metadata.name), object: { ...o, kind, metadata } as KubeObject };
}

/** Rejects what JSON cannot carry (what sigs.k8s.io/yaml would refuse), returning the first bad path. */
function nonJsonPath(root: unknown): string | undefined {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: root, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (depth > 64) return `${path} (nested deeper than 64 levels)`;
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return path;
      continue;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: `${path}/${i}`, depth: depth + 1 }));
      continue;
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`, depth: depth + 1 });
      continue;
    }
    return path;
  }
  return undefined;
}

/**
 * Parses one file: every non-empty document, `kind: List` expanded into its
 * items. Keys are not checked for duplicates here (see {@link parseManifests}).
 */
export function parseManifestFile(file: string, text: string, opts: ManifestOptions): { objects: ParsedObject[]; errors: ManifestError[] } {
  const clusterScoped = opts.clusterScopedKinds ? new Set(opts.clusterScopedKinds) : undefined;
  const objects: ParsedObject[] = [];
  const errors: ManifestError[] = [];
  const lines = new LineCounter();
  // prettyErrors: false keeps the source excerpt out of messages (it may be a secret).
  const docs = parseAllDocuments(text, { version: '1.1', customTags: kubernetesTags, prettyErrors: false, lineCounter: lines, uniqueKeys: true });
  if ('empty' in docs) {
    // Nothing but comments or white space; an EmptyStream still carries stream-level errors.
    for (const e of docs.errors) errors.push({ code: 'YAML_INVALID', file, document: 1, message: yamlMessage(e, lines) });
    return { objects, errors };
  }
  docs.forEach((doc, i) => {
    const document = i + 1;
    const err = (code: ManifestErrorCode, message: string): void => {
      errors.push({ code, file, document, message });
    };
    if (doc.errors.length > 0) {
      err('YAML_INVALID', doc.errors.map((e) => yamlMessage(e, lines)).join('; '));
      return;
    }
    if (doc.contents === null) return; // an empty document: comments or a bare `---`
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      err('YAML_INVALID', `cannot be read: ${(e as Error).message.split('\n')[0]}`);
      return;
    }
    if (value === null) return; // `null` / `~`: kubectl skips these too
    const bad = nonJsonPath(value);
    if (bad !== undefined) {
      err('YAML_INVALID', `has a value JSON cannot represent at ${bad || '/'}`);
      return;
    }
    const items: unknown[] =
      value !== null && typeof value === 'object' && !Array.isArray(value) && (value as { kind?: unknown }).kind === 'List' && Array.isArray((value as { items?: unknown }).items)
        ? ((value as { items: unknown[] }).items)
        : [value];
    items.forEach((item, j) => {
      const r = normalizeObject(item, { defaultNamespace: opts.defaultNamespace, clusterScoped });
      const where = items.length > 1 || item !== value ? ` (List item ${j})` : '';
      if ('problem' in r) err(r.code, `${r.problem}${where}`);
      else objects.push({ key: r.key, object: r.object, file, document });
    });
  });
  return { objects, errors };
}

function yamlMessage(e: { code: string; message: string; pos: [number, number] }, lines: LineCounter): string {
  const at = lines.linePos(e.pos[0]);
  // With prettyErrors off the message is the parser's own sentence, without source text.
  const first = e.message.split('\n')[0]!;
  return `${first} (${e.code} at line ${at.line}, column ${at.col})`;
}

/**
 * Parses every file and keys the objects. A key defined twice is an error
 * naming both places; the first definition (in path order) is kept so the
 * result does not depend on file order.
 */
export function parseManifests(files: Iterable<{ path: string; text: string }>, opts: ManifestOptions): ManifestSet {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const set: ManifestSet = { objects: new Map(), errors: [] };
  for (const f of sorted) addParsed(set, parseManifestFile(f.path, f.text, opts));
  return set;
}

/** Adds one file's result to a set (files must come in path order), reporting duplicate keys. */
export function addParsed(set: ManifestSet, parsed: { objects: ParsedObject[]; errors: ManifestError[] }): void {
  set.errors.push(...parsed.errors);
  for (const o of parsed.objects) {
    const first = set.objects.get(o.key);
    if (first) {
      set.errors.push({
        code: 'DUPLICATE_KEY',
        file: o.file,
        document: o.document,
        message: `${o.key} is already defined in ${first.file} document ${first.document}`,
      });
      continue;
    }
    set.objects.set(o.key, o);
  }
}

export function formatManifestError(e: ManifestError): string {
  return e.document > 0 ? `${e.file} document ${e.document}: ${e.message}` : `${e.file}: ${e.message}`;
}
