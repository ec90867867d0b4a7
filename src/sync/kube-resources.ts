/**
 * Which Kubernetes resource kinds a `kubernetes` target follows: the type,
 * the defaults, and the two ways to name them in configuration, checked
 * before anything connects.
 *
 * - In a config file (`kube_resources`), each item is an object
 *   `{ group, version, plural, kind, namespaced?, namespace? }` or the text form.
 * - On the command line (`--kube-resource`), the text form:
 *   `[GROUP/]VERSION/PLURAL/Kind[@NAMESPACE]`, e.g. `apps/v1/deployments/Deployment`,
 *   `v1/configmaps/ConfigMap@team-a`, `example.com/v1/widgets/Widget`.
 *
 * `namespaced` defaults from the kind: cluster-scoped when it is one of the
 * built-in cluster-scoped kinds or listed in `cluster_scoped_kinds`, the same
 * rule that keys the manifests in Git, so both sides key an object alike.
 *
 * Pure module: no Node-only imports.
 */
import { CairnError } from '../core/errors.js';

/** One resource kind to follow, e.g. `{ group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true }`. */
export interface KubeResource {
  /** API group; `''` for the core group (`/api/v1`). */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** For a namespaced kind: only this namespace (default: all namespaces). */
  namespace?: string;
}

/**
 * Followed when no resources are configured: the common namespaced
 * workload kinds. Cluster-scoped kinds, ServiceAccounts and RBAC are left out
 * (every cluster has many system objects of those kinds that no repository
 * holds), and so are Secrets (reading them needs rights a drift detector
 * should not need by default).
 */
export const DEFAULT_RESOURCES: readonly KubeResource[] = [
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  { group: 'batch', version: 'v1', plural: 'cronjobs', kind: 'CronJob', namespaced: true },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', namespaced: true },
];

const SEGMENT_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KIND_RE = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
const TEXT_FORM = '[GROUP/]VERSION/PLURAL/Kind[@NAMESPACE]';

/**
 * Checks a resource list: well-formed names, a namespace only on namespaced
 * kinds, no collection twice.
 * @throws CairnError INVALID_ARGUMENT naming `field[i].<part>`
 */
export function checkKubeResources(resources: readonly KubeResource[], field = 'resources'): void {
  if (!Array.isArray(resources) || resources.length === 0) throw new CairnError('INVALID_ARGUMENT', `${field}: at least one resource kind is required`, { field });
  const seen = new Set<string>();
  resources.forEach((r, i) => {
    const bad = (what: string): never => {
      throw new CairnError('INVALID_ARGUMENT', `${field}[${i}].${what}`, { field });
    };
    if (typeof r.group !== 'string' || (r.group !== '' && !SEGMENT_RE.test(r.group))) bad('group: not an API group');
    if (typeof r.version !== 'string' || !SEGMENT_RE.test(r.version)) bad('version: not an API version');
    if (typeof r.plural !== 'string' || !SEGMENT_RE.test(r.plural)) bad('plural: not a resource name');
    if (typeof r.kind !== 'string' || !KIND_RE.test(r.kind)) bad('kind: not a Kubernetes kind');
    if (typeof r.namespaced !== 'boolean') bad('namespaced: must be true or false');
    if (r.namespace !== undefined && (!r.namespaced || typeof r.namespace !== 'string' || !SEGMENT_RE.test(r.namespace))) bad('namespace: only for namespaced kinds, a DNS label');
    const id = `${r.group}/${r.version}/${r.plural}@${r.namespace ?? ''}`;
    if (seen.has(id)) bad(`plural: ${r.group ? `${r.group}/` : ''}${r.version}/${r.plural}${r.namespace ? ` in ${r.namespace}` : ''} is listed twice`);
    seen.add(id);
  });
}

/**
 * One resource from its text form `[GROUP/]VERSION/PLURAL/Kind[@NAMESPACE]`.
 * `clusterScoped(kind)` decides `namespaced`.
 * @throws CairnError INVALID_ARGUMENT naming `field`
 */
export function parseKubeResource(text: string, clusterScoped: (kind: string) => boolean, field = 'kube_resource'): KubeResource {
  const at = text.indexOf('@');
  const path = at < 0 ? text : text.slice(0, at);
  const parts = path.split('/');
  if (parts.length !== 3 && parts.length !== 4) throw new CairnError('INVALID_ARGUMENT', `${field}: "${text}" is not ${TEXT_FORM}`, { field });
  const [group, version, plural, kind] = parts.length === 4 ? parts : ['', ...parts];
  const r: KubeResource = { group: group!, version: version!, plural: plural!, kind: kind!, namespaced: !clusterScoped(kind!) };
  if (at >= 0) r.namespace = text.slice(at + 1);
  return r;
}

/**
 * The `kube_resources` setting of a target: a list of objects or text forms.
 * @throws CairnError INVALID_ARGUMENT naming `field[i]`
 */
export function kubeResourcesFromConfig(raw: unknown, clusterScoped: (kind: string) => boolean, field = 'kube_resources'): KubeResource[] {
  if (!Array.isArray(raw)) throw new CairnError('INVALID_ARGUMENT', `${field}: must be a list of ${TEXT_FORM} or {group, version, plural, kind, namespaced?, namespace?}`, { field });
  const out = raw.map((item: unknown, i): KubeResource => {
    if (typeof item === 'string') return parseKubeResource(item, clusterScoped, `${field}[${i}]`);
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new CairnError('INVALID_ARGUMENT', `${field}[${i}]: must be ${TEXT_FORM} or an object`, { field });
    const o = item as Record<string, unknown>;
    const unknownKey = Object.keys(o).find((k) => !['group', 'version', 'plural', 'kind', 'namespaced', 'namespace'].includes(k));
    if (unknownKey) throw new CairnError('INVALID_ARGUMENT', `${field}[${i}].${unknownKey}: unknown setting`, { field });
    const kind = o.kind;
    const r = { group: o.group ?? '', version: o.version, plural: o.plural, kind, namespaced: o.namespaced ?? (typeof kind === 'string' ? !clusterScoped(kind) : undefined) } as KubeResource;
    if (o.namespace !== undefined) r.namespace = o.namespace as string;
    return r;
  });
  checkKubeResources(out, field);
  return out;
}
