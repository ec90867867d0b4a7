/**
 * The Kubernetes deployment (deploy/kubernetes, the kustomize base, and
 * deploy/overlays/in-cluster-sync): kubectl builds both; every object is
 * valid against the Kubernetes API schemas (kubernetes-models, generated
 * from the Kubernetes OpenAPI document, and the Prometheus Operator's CRDs)
 * with no field the API types lack; the pod meets the `restricted` Pod
 * Security profile; every setting, environment variable and flag the
 * manifests give the node is one it accepts, and the node's own loader
 * accepts the config as a whole; the manifests agree with the Dockerfile;
 * the sync overlay's ClusterRole reads exactly the kinds its target follows;
 * and Cairn's sync engine, with deploy/kubernetes in Git as desired state
 * and the built objects as live state, finds no drift.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPairSync } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { ROOT, runCli, tempDir } from './helpers/node.js';
import { createRepo } from './sync-helpers.js';
import { loadConfig, parseHostPort, SETTINGS } from '../src/node/config.js';
import { SIGNING_KEY_ENV } from '../src/keys/signing-key.js';
import { validateSyncTargetConfig } from '../src/sync/run-target.js';
import { DEFAULT_RESOURCES } from '../src/sync/kube-resources.js';

const exec = promisify(execFile);

const BASE = 'deploy/kubernetes';
const OVERLAY = 'deploy/overlays/in-cluster-sync';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };
/** A parsed manifest, navigated freely: the schema test in this file vouches for its shape. */
type Json = Record<string, any>;

/** Every document of a YAML stream, read the way Kubernetes reads YAML (1.1). */
function parseYaml(text: string, where: string): Obj[] {
  const out: Obj[] = [];
  for (const [i, doc] of parseAllDocuments(text, { version: '1.1', uniqueKeys: true }).entries()) {
    if (doc.errors.length > 0) throw new Error(`${where} document ${i + 1}: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as Obj | null;
    if (v !== null) out.push(v);
  }
  return out;
}

const keyOf = (o: Obj): string => `${o.metadata.namespace ?? ''}/${o.kind}/${o.metadata.name}`;
const byKey = (objs: Obj[]): Map<string, Obj> => new Map(objs.map((o) => [keyOf(o), o]));

/** The objects of the base's files, in the order its Kustomization lists them. */
async function baseFiles(): Promise<{ files: string[]; objects: Obj[] }> {
  const kustomization = parseYaml(await readFile(join(ROOT, BASE, 'Kustomization'), 'utf8'), 'Kustomization')[0] as unknown as { resources: string[] };
  const objects: Obj[] = [];
  for (const f of kustomization.resources) objects.push(...parseYaml(await readFile(join(ROOT, BASE, f), 'utf8'), f));
  return { files: kustomization.resources, objects };
}

/** `kubectl kustomize DIR`, parsed. */
async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await exec('kubectl', ['kustomize', join(ROOT, dir)], { maxBuffer: 16 * 1024 * 1024 });
  return parseYaml(stdout, `kubectl kustomize ${dir}`);
}

const built = { base: kustomize(BASE), overlay: kustomize(OVERLAY) };
// Failures are reported by the tests that await them.
built.base.catch(() => {});
built.overlay.catch(() => {});

function only(objs: Obj[], kind: string, name?: string): Json {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as Json;
}

/** The node's config file as the ConfigMap holds it. */
const nodeConfig = (objs: Obj[]): Json => JSON.parse(only(objs, 'ConfigMap', 'cairn-config').data['config.json']);
const container = (objs: Obj[]): Json => only(objs, 'StatefulSet', 'cairn').spec.template.spec.containers[0];

t.test('kubectl kustomize builds the base into exactly the objects its files hold', async (t) => {
  const { files, objects } = await baseFiles();
  const listed = new Set(['Kustomization', ...files]);
  const stray = (await readdir(join(ROOT, BASE))).filter((f) => !listed.has(f));
  t.same(stray, [], 'every file of the base is listed in its Kustomization (nothing is left out of a build)');
  const fromFiles = byKey(objects);
  const fromBuild = byKey(await built.base);
  t.same([...fromBuild.keys()].sort(), [...fromFiles.keys()].sort());
  const problems: string[] = [];
  for (const [k, o] of fromFiles) if (JSON.stringify(sortKeys(o)) !== JSON.stringify(sortKeys(fromBuild.get(k)))) problems.push(`${k} differs once built`);
  t.same(problems, [], 'kustomize adds nothing the files do not say');
  t.same(
    [...fromFiles.keys()].map((k) => k.split('/')[1]).sort(),
    ['ConfigMap', 'Namespace', 'NetworkPolicy', 'Service', 'Service', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor', 'StatefulSet'],
  );
});

t.test('kubectl kustomize builds the overlay: the base, its RBAC and egress rule, the ConfigMap and StatefulSet patched', async (t) => {
  const base = byKey(await built.base);
  const overlay = byKey(await built.overlay);
  const added = [...overlay.keys()].filter((k) => !base.has(k)).sort();
  t.same(added, ['/ClusterRole/cairn-sync-reader', '/ClusterRoleBinding/cairn-sync-reader', 'cairn/NetworkPolicy/cairn-sync-egress']);
  t.same([...base.keys()].filter((k) => !overlay.has(k)), [], 'nothing of the base is lost');
  const changed = [...base.keys()].filter((k) => JSON.stringify(sortKeys(base.get(k))) !== JSON.stringify(sortKeys(overlay.get(k)))).sort();
  t.same(changed, ['cairn/ConfigMap/cairn-config', 'cairn/StatefulSet/cairn']);
});

/** Sorted object keys, so two renderings of one object compare equal. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Json)[k])]));
  return v;
}

/** The kubernetes-models class for an object's apiVersion and kind. */
async function modelOf(o: Obj): Promise<(new (data: unknown) => { validate(): void }) | undefined> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const spec = group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/${group}/${version}` : group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  const mod = (await import(spec).catch(() => ({}))) as Record<string, unknown>;
  return mod[o.kind] as (new (data: unknown) => { validate(): void }) | undefined;
}

/**
 * Fields the API types do not have, found by walking the object along
 * @kubernetes/client-node's type map (generated from the same OpenAPI
 * document). The schemas allow unknown fields, the API server does not
 * (kubectl's strict field validation): a misspelt `readOnlyRootFileSystem`
 * would otherwise pass every check and do nothing.
 */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, arr[1]!, `${path}/${i}`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(value as Json)) unknownFields(v, map[1]!, `${path}/${k}`, out);
    return;
  }
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] }>)[type];
  if (!cls?.getAttributeTypeMap || typeof value !== 'object') return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value as Json)) {
    const sub = attrs.get(k);
    if (sub === undefined) out.push(`${path}/${k} is not a field of ${type}`);
    else unknownFields(v, sub, `${path}/${k}`, out);
  }
}

t.test('every object of the base and the overlay is valid against the Kubernetes API schemas, with no unknown field', async (t) => {
  const objects = [...(await built.base), ...(await built.overlay)];
  const problems: string[] = [];
  let strict = 0;
  for (const o of objects) {
    const Model = await modelOf(o);
    if (!Model) {
      problems.push(`${keyOf(o)}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      problems.push(`${keyOf(o)}: ${(e as Error).message}`);
    }
    if (o.apiVersion === 'monitoring.coreos.com/v1') continue; // a CRD: no client-node type
    const version = o.apiVersion.split('/').pop()!;
    const type = `${version[0]!.toUpperCase()}${version.slice(1)}${o.kind}`;
    if (!(type in k8s)) problems.push(`${keyOf(o)}: no API type ${type}`);
    unknownFields(o, type, keyOf(o), problems);
    strict++;
  }
  t.same(problems, []);
  t.ok(strict >= 18, `checked field by field: ${strict} objects`);
});

t.test('the schema check and the field check catch a broken object', async (t) => {
  const sts = structuredClone(only(await built.base, 'StatefulSet')) as Obj;
  ((sts as Json).spec.template.spec.containers[0].ports[0] as Json).containerPort = 'grpc';
  const Model = (await modelOf(sts))!;
  t.throws(() => new Model(sts).validate(), /containerPort/);
  const misspelt = structuredClone(only(await built.base, 'StatefulSet')) as Json;
  misspelt.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  const found: string[] = [];
  unknownFields(misspelt, 'V1StatefulSet', 'sts', found);
  t.same(found, ['sts/spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem is not a field of V1SecurityContext']);
});

/**
 * The `restricted` Pod Security Standard (kubernetes.io/docs/concepts/security/pod-security-standards),
 * control by control, plus what the issue adds: a read-only root filesystem
 * and resource requests and limits.
 */
function restrictedProblems(pod: Json): string[] {
  const p: string[] = [];
  const podSc = pod.securityContext ?? {};
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[f]) p.push(`${f} is set`);
  const allowedVolumes = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  for (const v of pod.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name')!;
    if (!allowedVolumes.includes(type)) p.push(`volume ${v.name} is a ${type} volume`);
  }
  if (podSc.runAsUser === 0) p.push('pod runAsUser is 0');
  const seccomp = (sc: Json | undefined): string | undefined => sc?.seccompProfile?.type;
  const okSeccomp = (t: string | undefined): boolean => t === 'RuntimeDefault' || t === 'Localhost';
  if (seccomp(podSc) !== undefined && !okSeccomp(seccomp(podSc))) p.push(`pod seccompProfile is ${seccomp(podSc)}`);
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    const n = `container ${c.name}`;
    if (sc.privileged) p.push(`${n} is privileged`);
    if (sc.allowPrivilegeEscalation !== false) p.push(`${n}: allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) p.push(`${n}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') p.push(`${n} adds capability ${cap}`);
    if (!(sc.runAsNonRoot ?? podSc.runAsNonRoot)) p.push(`${n}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0) p.push(`${n}: runAsUser is 0`);
    const s = seccomp(sc) ?? seccomp(podSc);
    if (!okSeccomp(s)) p.push(`${n}: seccompProfile is ${s ?? 'unset'}`);
    for (const port of c.ports ?? []) if (port.hostPort) p.push(`${n}: hostPort ${port.hostPort}`);
    if (sc.readOnlyRootFilesystem !== true) p.push(`${n}: readOnlyRootFilesystem is not true`);
    for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) if (!c.resources?.[kind]?.[r]) p.push(`${n}: no ${r} ${kind}`);
  }
  return p;
}

t.test('the pod meets the restricted Pod Security profile, which its namespace enforces', async (t) => {
  for (const [name, objs] of [['base', await built.base], ['overlay', await built.overlay]] as const) {
    t.same(restrictedProblems(only(objs, 'StatefulSet').spec.template.spec), [], name);
    t.equal(only(objs, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted', `${name}: enforced at admission`);
  }
  const weakened = structuredClone(only(await built.base, 'StatefulSet').spec.template.spec) as Json;
  weakened.containers[0].securityContext.allowPrivilegeEscalation = true;
  delete weakened.securityContext.seccompProfile;
  delete weakened.containers[0].securityContext.seccompProfile;
  weakened.volumes.push({ name: 'host', hostPath: { path: '/' } });
  t.same(restrictedProblems(weakened), ['volume host is a hostPath volume', 'container cairn: allowPrivilegeEscalation is not false', 'container cairn: seccompProfile is unset'], 'the check sees a weakened pod');
});

/**
 * Listener settings and the container port each is published on. A
 * listener setting missing here fails the test below: a new one (the HTTP
 * API's `http_listen`) must be set in the manifests' config and given a port.
 */
const LISTENER_PORTS: Record<string, string> = { listen: 'grpc', metrics_listen: 'metrics', http_listen: 'http' };

/** What the manifests give the node, checked against the settings definition; returns problems. */
async function settingsProblems(objs: Obj[]): Promise<string[]> {
  const problems: string[] = [];
  const cfg = nodeConfig(objs);
  const c = container(objs);
  const fileKeys = new Set(SETTINGS.map((s) => s.file.split('.')[0]!));
  for (const k of Object.keys(cfg)) if (k !== 'sync_targets' && !fileKeys.has(k)) problems.push(`config key ${k} is not a setting`);
  const envNames = new Set([...SETTINGS.map((s) => s.env), SIGNING_KEY_ENV]);
  for (const e of c.env ?? []) if (!envNames.has(e.name)) problems.push(`environment variable ${e.name} is not a setting`);
  if ((c.envFrom ?? []).length > 0) problems.push('envFrom imports variables no one checks');
  const flags = new Set([...SETTINGS.map((s) => `--${s.flag}`), '--config']);
  const [command, ...rest] = c.args as string[];
  if (command !== 'serve') problems.push(`args start with ${command}, not serve`);
  for (const a of rest) if (a.startsWith('-') && !flags.has(a.split('=')[0]!)) problems.push(`flag ${a} is not a setting`);
  // The config file the flag names is the ConfigMap's, where it is mounted.
  const configPath = rest[rest.indexOf('--config') + 1];
  const cfgMount = (c.volumeMounts as Json[]).find((m) => m.name === 'config');
  if (configPath !== `${cfgMount?.mountPath}/config.json`) problems.push(`--config ${configPath} is not the mounted ConfigMap's config.json`);
  // Every file the node reads or writes is on a mounted volume.
  for (const s of SETTINGS) {
    const v = cfg[s.file];
    if (typeof v !== 'string' || !(s.kind === 'path?' || s.file === 'data_dir')) continue;
    if (!(c.volumeMounts as Json[]).some((m) => v === m.mountPath || v.startsWith(`${m.mountPath}/`))) problems.push(`${s.file} ${v} is on no mounted volume`);
  }
  // Every listener of the node serves the pod network on a named container port.
  for (const s of SETTINGS.filter((s) => s.kind.startsWith('hostport') && s.file.endsWith('listen'))) {
    const portName = LISTENER_PORTS[s.file];
    if (!portName) {
      problems.push(`${s.file}: a listener with no container port in this test's LISTENER_PORTS`);
      continue;
    }
    const hp = typeof cfg[s.file] === 'string' ? parseHostPort(cfg[s.file]) : undefined;
    if (!hp) {
      problems.push(`${s.file} is not set in the config (its default serves loopback only)`);
      continue;
    }
    if (hp.host !== '0.0.0.0') problems.push(`${s.file} ${cfg[s.file]}: not on every address of the pod`);
    const port = (c.ports as Json[]).find((p) => p.name === portName);
    if (port?.containerPort !== hp.port) problems.push(`${s.file} port ${hp.port} is not container port ${portName} (${port?.containerPort})`);
  }
  // The node's own loader accepts it all (unknown keys, values, the exposure rule, sync targets).
  const dir = await tempDir('cairn-deploy-config-');
  try {
    await writeFile(join(dir.path, 'config.json'), JSON.stringify(cfg));
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const env = Object.fromEntries((c.env as Json[]).map((e) => [e.name, e.name === SIGNING_KEY_ENV ? pem : e.value]));
    await loadConfig({ configPath: join(dir.path, 'config.json'), env });
  } catch (e) {
    problems.push(`the node refuses the config: ${(e as Error).message}`);
  } finally {
    await dir.remove();
  }
  return problems;
}

t.test('every setting, environment variable and flag in the manifests is one the node accepts', async (t) => {
  t.same(await settingsProblems(await built.base), [], 'base');
  t.same(await settingsProblems(await built.overlay), [], 'overlay');
});

t.test('the settings check refuses what the node would refuse or ignore', async (t) => {
  const objs = structuredClone(await built.base);
  const cm = only(objs, 'ConfigMap', 'cairn-config');
  const cfg = JSON.parse(cm.data['config.json']);
  delete cfg.policy_file;
  delete cfg.tokens_file;
  cfg.metrics_port = 1;
  cm.data['config.json'] = JSON.stringify(cfg);
  const c = container(objs);
  c.env.push({ name: 'CAIRN_LISTEN_ADDRESS', value: '0.0.0.0:7700' });
  c.ports.find((p: Json) => p.name === 'grpc').containerPort = 7000;
  const problems = await settingsProblems(objs);
  t.same(problems.slice(0, 3), [
    'config key metrics_port is not a setting',
    'environment variable CAIRN_LISTEN_ADDRESS is not a setting',
    'listen port 7700 is not container port grpc (7000)',
  ]);
  t.match(problems[problems.length - 1], /the node refuses the config: .*metrics_port/);
  delete cfg.metrics_port;
  cm.data['config.json'] = JSON.stringify(cfg);
  t.match((await settingsProblems(objs)).pop(), /the node refuses the config: setting listen: 0\.0\.0\.0:7700 is not a loopback address and the node has no authentication/);
});

t.test('the manifests agree with the Dockerfile: user, data volume, entry point, ports, image version', async (t) => {
  const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const user = /^USER ([0-9]+):([0-9]+)$/m.exec(dockerfile);
  const volume = /^VOLUME \["([^"]+)"\]$/m.exec(dockerfile);
  const exposed = /^EXPOSE ([0-9 ]+)$/m.exec(dockerfile)![1]!.split(' ').map(Number);
  const objs = await built.base;
  const sts = only(objs, 'StatefulSet');
  const pod = sts.spec.template.spec;
  const c = container(objs);
  t.equal(pod.securityContext.runAsUser, Number(user![1]));
  t.equal(pod.securityContext.runAsGroup, Number(user![2]));
  t.equal(pod.securityContext.fsGroup, Number(user![2]), 'the data volume is writable by the image group');
  t.equal((c.volumeMounts as Json[]).find((m) => m.name === 'data')?.mountPath, volume![1]);
  t.equal(nodeConfig(objs).data_dir, volume![1]);
  t.same(sts.spec.volumeClaimTemplates.map((v: Json) => v.metadata.name), ['data'], 'the data directory is a PersistentVolumeClaim');
  t.equal(c.command, undefined, 'the image entry point (node flags included) is kept');
  t.equal(c.image, `cairn:${pkg.version}`);
  for (const p of exposed) t.ok((c.ports as Json[]).some((x) => x.containerPort === p), `EXPOSE ${p} is a container port`);
  t.equal(pod.enableServiceLinks, false, 'no CAIRN_* variables injected from Service names');
});

t.test('every Service, probe and network policy port names a container port', async (t) => {
  for (const objs of [await built.base, await built.overlay]) {
    const c = container(objs);
    const ports = new Map((c.ports as Json[]).map((p) => [p.name, p.containerPort]));
    const problems: string[] = [];
    for (const svc of objs.filter((o) => o.kind === 'Service') as Json[]) {
      for (const p of svc.spec.ports) if (ports.get(p.targetPort) !== p.port) problems.push(`Service ${svc.metadata.name} port ${p.port} -> ${p.targetPort}`);
    }
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const g = c[probe]?.httpGet;
      if (g?.port !== 'metrics' || !['/healthz', '/readyz'].includes(g.path)) problems.push(`${probe} is not /healthz or /readyz on the metrics listener`);
    }
    const np = only(objs, 'NetworkPolicy', 'cairn');
    const admitted = new Set((np.spec.ingress as Json[]).flatMap((r) => r.ports.map((p: Json) => p.port)));
    for (const name of ports.keys()) if (!admitted.has(name)) problems.push(`NetworkPolicy admits nothing to ${name}`);
    const sm = only(objs, 'ServiceMonitor');
    const metricsSvc = (objs as Json[]).filter((o) => o.kind === 'Service' && Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v));
    if (metricsSvc.length !== 1 || !metricsSvc[0]!.spec.ports.some((p: Json) => p.name === sm.spec.endpoints[0].port)) problems.push('the ServiceMonitor selects no single Service with its port');
    const selector = only(objs, 'StatefulSet').spec.selector.matchLabels;
    for (const svc of objs.filter((o) => o.kind === 'Service') as Json[]) if (JSON.stringify(sortKeys(svc.spec.selector)) !== JSON.stringify(sortKeys(selector))) problems.push(`Service ${svc.metadata.name} selects other pods`);
    t.same(problems, []);
  }
});

t.test('the overlay: a sync target on its own cluster, read with a ClusterRole that gets, lists and watches exactly the kinds it follows', async (t) => {
  const base = await built.base;
  const overlay = await built.overlay;
  const cfg = nodeConfig(overlay);
  const { sync_targets: targets, ...rest } = cfg;
  t.same(rest, nodeConfig(base), 'the node settings are the base\'s');
  t.equal(targets.length, 1);
  const target = validateSyncTargetConfig(targets[0], 'sync_targets[0]');
  t.equal(target.target, 'kubernetes', 'the in-cluster configuration of the pod');
  t.equal(target.apply, false, 'report-only, as the read-only role requires');
  const followed = (target.kubeResources ?? DEFAULT_RESOURCES).map((r) => `${r.group}/${r.plural}`).sort();
  const role = only(overlay, 'ClusterRole');
  const granted: string[] = [];
  const problems: string[] = [];
  for (const rule of role.rules as Json[]) {
    if (JSON.stringify([...rule.verbs].sort()) !== JSON.stringify(['get', 'list', 'watch'])) problems.push(`verbs ${rule.verbs.join(',')} on ${rule.resources.join(',')}`);
    if (rule.resourceNames || rule.nonResourceURLs) problems.push('a rule with resourceNames or nonResourceURLs');
    for (const g of rule.apiGroups) for (const r of rule.resources) granted.push(`${g}/${r}`);
  }
  t.same(problems, []);
  t.same(granted.sort(), followed);
  const binding = only(overlay, 'ClusterRoleBinding');
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  const sts = only(overlay, 'StatefulSet');
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: sts.spec.template.spec.serviceAccountName, namespace: sts.metadata.namespace }]);
  t.equal(sts.spec.template.spec.automountServiceAccountToken, true, 'the overlay mounts the token');
  t.equal(only(base, 'StatefulSet').spec.template.spec.automountServiceAccountToken, false, 'the base does not');
  const egress = only(overlay, 'NetworkPolicy', 'cairn-sync-egress');
  t.ok((egress.spec.egress as Json[]).some((r) => r.ports.some((p: Json) => p.port === 443)), 'HTTPS egress to the API server and the Git remote');
});

/**
 * Live state as the API server would hold the applied objects: server-set
 * metadata, status, and a few defaults it fills in.
 */
function asLive(o: Obj, i: number): Json {
  const live = structuredClone(o) as Json;
  Object.assign(live.metadata, { uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resourceVersion: String(1000 + i), creationTimestamp: '2026-01-01T00:00:00Z', generation: 1 });
  if (o.kind === 'Service') Object.assign(live.spec, { sessionAffinity: 'None', ipFamilies: ['IPv4'], ...(live.spec.clusterIP ? {} : { clusterIP: `10.96.0.${10 + i}` }) });
  if (o.kind === 'StatefulSet') {
    Object.assign(live.spec, { podManagementPolicy: 'OrderedReady', revisionHistoryLimit: 10 });
    Object.assign(live.spec.template.spec, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' });
    live.spec.template.spec.containers[0].terminationMessagePath = '/dev/termination-log';
    live.status = { replicas: 1, readyReplicas: 1, currentRevision: 'cairn-5d8f7c9b6' };
  }
  return live;
}

t.test("Cairn's sync engine finds no drift between deploy/kubernetes in Git and the objects applied from it", async (t) => {
  const repo = await createRepo();
  const live = await tempDir('cairn-deploy-live-');
  t.teardown(async () => {
    await repo.close();
    await live.remove();
  });
  await cp(join(ROOT, 'deploy'), join(repo.path, 'deploy'), { recursive: true });
  const commit = await repo.commit('deploy');
  const objects = await built.base;
  await mkdir(join(live.path, 'objects'));
  for (const [i, o] of objects.entries()) await writeFile(join(live.path, 'objects', `${i}-${o.kind}-${o.metadata.name}.yaml`), stringify(asLive(o, i)));
  const diff = (): Promise<{ code: number; stdout: string; stderr: string }> =>
    runCli(['diff', '--repo', repo.path, '--path', BASE, '--target', `dir:${live.path}`, '--json', '--exit-code']);
  const clean = await diff();
  t.equal(clean.code, 0, clean.stderr);
  const report = JSON.parse(clean.stdout) as { commit: string; changes: unknown[] };
  t.equal(report.commit, commit);
  t.same(report.changes, [], 'no drift');

  // The same comparison sees a change made in the cluster.
  const cmFile = join(live.path, 'objects', `${objects.findIndex((o) => o.kind === 'ConfigMap')}-ConfigMap-cairn-config.yaml`);
  const cm = parseYaml(await readFile(cmFile, 'utf8'), cmFile)[0] as Json;
  cm.data['config.json'] = cm.data['config.json'].replace('"log_level": "info"', '"log_level": "debug"');
  await writeFile(cmFile, stringify(cm));
  const drifted = await diff();
  t.equal(drifted.code, 1, 'exit code: drift');
  t.same((JSON.parse(drifted.stdout) as { changes: { key: string; status: string }[] }).changes.map((c) => [c.key, c.status]), [['cairn/ConfigMap/cairn-config', 'MODIFIED']]);
});
