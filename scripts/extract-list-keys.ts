/**
 * Extracts, from the Kubernetes OpenAPI v2 document (`api/openapi-spec/swagger.json`
 * of kubernetes/kubernetes), how each list of each built-in kind identifies
 * its elements, and writes `src/sync/list-keys.generated.ts`:
 *
 *   node dist/scripts/extract-list-keys.js SWAGGER_JSON --version release-1.36 [--via TEXT] [--out FILE]
 *
 * It downloads nothing: fetch the file first, e.g. from a kubernetes/kubernetes
 * checkout at the release branch (`api/openapi-spec/swagger.json`), or from
 * `kubectl get --raw /openapi/v2` against a cluster of that version.
 *
 * For every definition that names a kind (`x-kubernetes-group-version-kind`)
 * the script walks the fields from the kind's root, following `$ref`s into
 * objects, keyed-list elements (`[]`) and map values (`*`), and records each
 * list that is not atomic (https://kubernetes.io/docs/reference/using-api/server-side-apply/#merge-strategy):
 * - `x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`: `map:k1,k2`;
 * - `x-kubernetes-list-type: set`: `set`;
 * - no list type but `x-kubernetes-patch-merge-key` (strategic merge patch): `map:key`.
 * A key field the element does not require may carry the default the API
 * server fills in (`protocol=TCP` for ports): the OpenAPI `default`, or the
 * "Defaults to X" / "Default is X" of its description.
 *
 * Not walked: the root `status` (never compared), the inside of atomic lists
 * (Kubernetes treats them whole), and a definition already on the path
 * (JSONSchemaProps nests itself).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Prop {
  $ref?: string;
  type?: string;
  items?: Prop;
  additionalProperties?: Prop | boolean;
  description?: string;
  default?: unknown;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-patch-merge-key'?: string;
}

interface Definition {
  properties?: Record<string, Prop>;
  required?: string[];
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
}

const MAX_DEPTH = 24;

const refName = (ref: string): string => ref.replace(/^#\/definitions\//, '');

/** The default of an element's key field, as text for the table, or undefined. */
function keyDefault(item: Definition | undefined, key: string): string | undefined {
  if (!item || (item.required ?? []).includes(key)) return undefined;
  const p = item.properties?.[key];
  if (!p) return undefined;
  if (p.default !== undefined && (typeof p.default === 'string' || typeof p.default === 'number')) return String(p.default);
  const m = /Defaults? (?:to|is) "?([A-Za-z0-9]+)"?/.exec(p.description ?? '');
  return m?.[1];
}

/** `set`, `map:k1,k2=default`, or undefined for an atomic list. */
function listSpec(p: Prop, defs: Record<string, Definition>): string | undefined {
  const type = p['x-kubernetes-list-type'];
  const mergeKey = p['x-kubernetes-patch-merge-key'];
  if (type === 'set') return 'set';
  let keys: string[] | undefined;
  if (type === 'map') keys = p['x-kubernetes-list-map-keys'] ?? (mergeKey ? [mergeKey] : undefined);
  else if (type === undefined && mergeKey) keys = [mergeKey];
  if (!keys || keys.length === 0) return undefined;
  const item = p.items?.$ref ? defs[refName(p.items.$ref)] : undefined;
  return (
    'map:' +
    keys
      .map((k) => {
        const d = keyDefault(item, k);
        return d === undefined ? k : `${k}=${d}`;
      })
      .join(',')
  );
}

function walk(defs: Record<string, Definition>, name: string, prefix: string, onPath: string[], out: Map<string, string>): void {
  const def = defs[name];
  if (!def?.properties || onPath.length > MAX_DEPTH) return;
  const stack = [...onPath, name];
  for (const [field, p] of Object.entries(def.properties)) {
    if (prefix === '' && (field === 'status' || field === 'apiVersion' || field === 'kind')) continue;
    const path = prefix ? `${prefix}.${field}` : field;
    const follow = (ref: string | undefined, at: string): void => {
      if (!ref) return;
      const next = refName(ref);
      if (!stack.includes(next)) walk(defs, next, at, stack, out);
    };
    if (p.type === 'array') {
      const spec = listSpec(p, defs);
      if (spec === undefined) continue;
      out.set(path, spec);
      follow(p.items?.$ref, `${path}[]`);
    } else if (p.$ref) follow(p.$ref, path);
    else if (p.type === 'object' && typeof p.additionalProperties === 'object') follow(p.additionalProperties.$ref, `${path}.*`);
  }
}

export function extractListKeys(swagger: { definitions?: Record<string, Definition> }): Map<string, Map<string, string>> {
  const defs = swagger.definitions;
  if (!defs || typeof defs !== 'object') throw new Error('swagger: no "definitions": not a Kubernetes OpenAPI v2 document');
  const kinds = new Map<string, Map<string, string>>();
  for (const name of Object.keys(defs).sort()) {
    const def = defs[name]!;
    for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
      // `FooList` wraps items of a kind listed on its own; never a manifest's kind.
      if (gvk.kind.endsWith('List') && def.properties?.items) continue;
      const out = new Map<string, string>();
      walk(defs, name, '', [], out);
      if (out.size === 0) continue;
      kinds.set(`${gvk.group ? `${gvk.group}/` : ''}${gvk.version} ${gvk.kind}`, out);
    }
  }
  return new Map([...kinds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function render(kinds: Map<string, Map<string, string>>, source: { version: string; sha256: string; via: string | undefined }): string {
  const lines = [
    '/**',
    ' * How the lists of each built-in kind identify their elements, from the',
    ` * Kubernetes OpenAPI document of ${source.version} (api/openapi-spec/swagger.json,`,
    ` * SHA-256 ${source.sha256}).`,
    ...(source.via ? [` * Copy read: ${source.via}.`] : []),
    ' *',
    ' * Generated by scripts/extract-list-keys.ts; do not edit (docs/sync.md says how',
    ' * to regenerate). Keys: `apiVersion Kind`; inside, a field path from the',
    ' * kind\'s root (`[]` an element of a keyed list, `*` any value of a map) to',
    ' * `map:KEY,...` (elements identified by those fields, `KEY=DEFAULT` when the',
    ' * API server fills in a missing key) or `set` (scalar elements, identified',
    ' * by value). Lists not named are atomic: compared by position.',
    ' */',
    `export const LIST_KEYS_SOURCE = ${JSON.stringify({ kubernetes: source.version, file: 'api/openapi-spec/swagger.json', sha256: source.sha256 })} as const;`,
    '',
    'export const BUILTIN_LIST_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {',
  ];
  for (const [kind, paths] of kinds) {
    lines.push(`  '${kind}': {`);
    for (const [path, spec] of paths) lines.push(`    '${path}': '${spec}',`);
    lines.push('  },');
  }
  lines.push('};', '');
  return lines.join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { version: { type: 'string' }, via: { type: 'string' }, out: { type: 'string' } } });
  const file = positionals[0];
  if (!file || !values.version) {
    process.stderr.write('usage: extract-list-keys SWAGGER_JSON --version KUBERNETES_VERSION [--via TEXT] [--out FILE]\n');
    process.exit(2);
  }
  const bytes = readFileSync(file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const text = render(extractListKeys(JSON.parse(bytes.toString('utf8')) as { definitions?: Record<string, Definition> }), { version: values.version, sha256, via: values.via });
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
