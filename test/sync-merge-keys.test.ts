/**
 * Lists are matched the way Kubernetes identifies their elements: by the
 * merge keys the API declares (the table extracted from the Kubernetes
 * OpenAPI document for built-in kinds, a CRD's schema for custom ones).
 * An injected sidecar is one removal, named; a change inside a keyed
 * element is reported at that element; lists without keys stay positional;
 * every patch applies to the live object and leaves no drift.
 */
import t from 'tap';
import fc from 'fast-check';
import { KubeConfig } from '@kubernetes/client-node';
import { applyPatch, diffObject, normalizeForDiff, objectPatch, POSITIONAL_LISTS } from '../src/sync/diff.js';
import { formatChanges } from '../src/sync/diff-format.js';
import { BUILTIN_LIST_KEYS, LIST_KEYS_SOURCE } from '../src/sync/list-keys.generated.js';
import { BUILTIN_LIST_KEYS_SOURCE, compilePaths, schemaFromCrd, withCustomSchemas } from '../src/sync/merge-keys.js';
import { parseManifestFile } from '../src/sync/manifests.js';
import { extractListKeys } from '../scripts/extract-list-keys.js';
import { createKubernetesSource } from '../src/sync/kubernetes-source.js';
import { FakeApiServer, type FakeResource } from './kube/fake-apiserver.js';
import type { KubeObject } from '../src/sync/live-source.js';

function manifest(yaml: string): KubeObject {
  const r = parseManifestFile('m.yaml', yaml, { defaultNamespace: 'default' });
  if (r.errors.length > 0 || r.objects.length !== 1) throw new Error(`bad test manifest: ${JSON.stringify(r.errors)}`);
  return r.objects[0]!.object;
}

/** A Deployment as a repository holds it. */
const GIT_DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews
  namespace: bookinfo
  labels: {app: reviews}
spec:
  replicas: 2
  selector:
    matchLabels: {app: reviews}
  template:
    metadata:
      labels: {app: reviews}
    spec:
      containers:
      - name: reviews
        image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
        ports:
        - containerPort: 9080
        env:
        - name: LOG_DIR
          value: /tmp/logs
        - name: WLP_OUTPUT_DIR
          value: /opt/ibm/wlp/output
        volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: wlp-output
          mountPath: /opt/ibm/wlp/output
      volumes:
      - name: wlp-output
        emptyDir: {}
      - name: tmp
        emptyDir: {}
`;

/**
 * The same Deployment as the API server returns it after Istio's webhook
 * injected its sidecar into the pod template (istio-proxy first, its init
 * container and volumes), with defaults filled in and env in another order.
 */
function injected(image = 'docker.io/istio/examples-bookinfo-reviews-v1:1.20.2'): KubeObject {
  return manifest(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews
  namespace: bookinfo
  labels: {app: reviews}
  uid: 0c6b3d8e-5d1e-4c55-9a4e-1b2f7d0f9a11
  resourceVersion: "482113"
  generation: 4
  creationTimestamp: "2026-03-02T10:11:12Z"
  annotations: {deployment.kubernetes.io/revision: "4"}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  revisionHistoryLimit: 10
  selector:
    matchLabels: {app: reviews}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: reviews, security.istio.io/tlsMode: istio, service.istio.io/canonical-name: reviews}
      annotations: {sidecar.istio.io/status: '{"initContainers":["istio-init"],"containers":["istio-proxy"]}'}
    spec:
      initContainers:
      - name: istio-init
        image: docker.io/istio/proxyv2:1.24.2
        args: [istio-iptables, -p, "15001", -z, "15006", -u, "1337"]
        securityContext: {capabilities: {add: [NET_ADMIN, NET_RAW]}, runAsUser: 0}
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2:1.24.2
        args: [proxy, sidecar, --domain, $(POD_NAMESPACE).svc.cluster.local]
        ports:
        - {containerPort: 15090, name: http-envoy-prom, protocol: TCP}
        volumeMounts:
        - {name: istio-envoy, mountPath: /etc/istio/proxy}
        - {name: istiod-ca-cert, mountPath: /var/run/secrets/istio}
      - name: reviews
        image: ${image}
        imagePullPolicy: IfNotPresent
        ports:
        - {containerPort: 9080, protocol: TCP}
        env:
        - {name: WLP_OUTPUT_DIR, value: /opt/ibm/wlp/output}
        - {name: LOG_DIR, value: /tmp/logs}
        volumeMounts:
        - {name: wlp-output, mountPath: /opt/ibm/wlp/output}
        - {name: tmp, mountPath: /tmp}
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
      volumes:
      - name: istio-envoy
        emptyDir: {medium: Memory}
      - name: wlp-output
        emptyDir: {}
      - name: tmp
        emptyDir: {}
      - name: istiod-ca-cert
        configMap: {name: istio-ca-root-cert, defaultMode: 420}
status: {replicas: 2, readyReplicas: 2}
`);
}

const KEY = 'bookinfo/Deployment/reviews';

t.test('an injected sidecar is one removal per injected element, each named by key, and nothing else', async (t) => {
  const c = diffObject(KEY, manifest(GIT_DEPLOYMENT), injected())!;
  t.equal(c.status, 'MODIFIED');
  const pairs = c.patch.map((op, i) => [op.op, op.path, c.where![i]]);
  // Git names no initContainers: the injected one is the server's business, like any field Git leaves out.
  t.same(pairs, [
    ['test', '/spec/template/spec/containers/0', 'spec.template.spec.containers[name=istio-proxy]'],
    ['remove', '/spec/template/spec/containers/0', 'spec.template.spec.containers[name=istio-proxy]'],
    ['test', '/spec/template/spec/volumes/3', 'spec.template.spec.volumes[name=istiod-ca-cert]'],
    ['remove', '/spec/template/spec/volumes/3', 'spec.template.spec.volumes[name=istiod-ca-cert]'],
    ['test', '/spec/template/spec/volumes/0', 'spec.template.spec.volumes[name=istio-envoy]'],
    ['remove', '/spec/template/spec/volumes/0', 'spec.template.spec.volumes[name=istio-envoy]'],
  ]);
  const text = formatChanges([c]);
  t.match(text, '  - spec.template.spec.containers[name=istio-proxy]: {"name":"istio-proxy"');
  t.notMatch(text, /containers\[name=reviews\]/, 'the application container is not reported');
  const after = applyPatch(normalizeForDiff(injected()), objectPatch(normalizeForDiff(manifest(GIT_DEPLOYMENT)), normalizeForDiff(injected()))) as KubeObject;
  t.same(objectPatch(normalizeForDiff(manifest(GIT_DEPLOYMENT)), after), [], 'applied to live, the patch leaves no drift');
});

t.test('positionally (the old diff), the same sidecar replaced the whole containers list', async (t) => {
  const c = diffObject(KEY, manifest(GIT_DEPLOYMENT), injected(), { listKeys: POSITIONAL_LISTS })!;
  t.ok(c.patch.some((op) => op.op === 'replace' && op.path === '/spec/template/spec/containers'));
});

t.test('a real change inside a keyed element is reported at that element, at its live index', async (t) => {
  const c = diffObject(KEY, manifest(GIT_DEPLOYMENT), injected('docker.io/istio/examples-bookinfo-reviews-v1:1.19.0'))!;
  const i = c.patch.findIndex((op) => op.path === '/spec/template/spec/containers/1/image');
  t.ok(i >= 0, 'the image op points at the live container (index 1, after the sidecar)');
  t.same(c.patch.slice(i, i + 2), [
    { op: 'test', path: '/spec/template/spec/containers/1/image', value: 'docker.io/istio/examples-bookinfo-reviews-v1:1.19.0' },
    { op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'docker.io/istio/examples-bookinfo-reviews-v1:1.20.2' },
  ]);
  t.equal(c.where![i], 'spec.template.spec.containers[name=reviews].image');
  t.match(formatChanges([c]), '  ~ spec.template.spec.containers[name=reviews].image: "docker.io/istio/examples-bookinfo-reviews-v1:1.19.0" -> "docker.io/istio/examples-bookinfo-reviews-v1:1.20.2"\n');
  const after = applyPatch(normalizeForDiff(injected('x:1')), objectPatch(normalizeForDiff(manifest(GIT_DEPLOYMENT)), normalizeForDiff(injected('x:1')))) as KubeObject;
  t.same(objectPatch(normalizeForDiff(manifest(GIT_DEPLOYMENT)), after), [], 'the patch applies to live and leaves no drift');
});

t.test('env by name, volume mounts by mount path, volumes by name: another order is no drift; a changed value is named', async (t) => {
  const live = injected();
  const spec = (live.spec as { template: { spec: { containers: { env: { name: string; value: string }[] }[]; initContainers?: unknown; volumes: unknown[] } } }).template.spec;
  spec.containers.shift();
  delete spec.initContainers;
  spec.volumes = spec.volumes.filter((v) => ['tmp', 'wlp-output'].includes((v as { name: string }).name));
  t.equal(diffObject(KEY, manifest(GIT_DEPLOYMENT), live), null, 'reordered env, mounts and volumes, defaults filled in: in sync');
  spec.containers[0]!.env[1]!.value = '/var/log';
  const c = diffObject(KEY, manifest(GIT_DEPLOYMENT), live)!;
  t.same(c.patch, [
    { op: 'test', path: '/spec/template/spec/containers/0/env/1/value', value: '/var/log' },
    { op: 'replace', path: '/spec/template/spec/containers/0/env/1/value', value: '/tmp/logs' },
  ]);
  t.same(c.where, ['spec.template.spec.containers[name=reviews].env[name=LOG_DIR].value', 'spec.template.spec.containers[name=reviews].env[name=LOG_DIR].value']);
});

t.test('ports by containerPort and protocol: a missing protocol is TCP, as the API server defaults it', async (t) => {
  const live = injected();
  const spec = (live.spec as { template: { spec: { containers: { ports: unknown[] }[]; volumes: { name: string }[] } } }).template.spec;
  spec.containers.shift();
  spec.volumes = spec.volumes.filter((v) => !v.name.startsWith('istio'));
  t.equal(diffObject(KEY, manifest(GIT_DEPLOYMENT), live), null, 'Git\'s port without protocol is the live TCP port');
  spec.containers[0]!.ports.push({ containerPort: 9080, protocol: 'UDP' });
  const c = diffObject(KEY, manifest(GIT_DEPLOYMENT), live)!;
  t.same(c.where, ['spec.template.spec.containers[name=reviews].ports[containerPort=9080,protocol=UDP]', 'spec.template.spec.containers[name=reviews].ports[containerPort=9080,protocol=UDP]']);
  t.same(c.patch.map((o) => [o.op, o.path]), [['test', '/spec/template/spec/containers/0/ports/1'], ['remove', '/spec/template/spec/containers/0/ports/1']]);
});

t.test('a Service\'s ports by port and protocol: reordered, with allocated nodePorts and defaulted targetPorts, is no drift', async (t) => {
  const git = manifest(`
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  type: LoadBalancer
  selector: {app.kubernetes.io/name: ingress-nginx}
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: https
    port: 443
    targetPort: https
`);
  const live = manifest(`
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx, uid: 7e0a, resourceVersion: "9"}
spec:
  type: LoadBalancer
  clusterIP: 10.96.120.7
  clusterIPs: [10.96.120.7]
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  allocateLoadBalancerNodePorts: true
  selector: {app.kubernetes.io/name: ingress-nginx}
  sessionAffinity: None
  ports:
  - {name: https, port: 443, protocol: TCP, targetPort: https, nodePort: 31443}
  - {name: http, port: 80, protocol: TCP, targetPort: http, nodePort: 30080}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
`);
  t.equal(diffObject('ingress-nginx/Service/ingress-nginx-controller', git, live), null);
  t.not(diffObject('ingress-nginx/Service/ingress-nginx-controller', git, live, { listKeys: POSITIONAL_LISTS }), null, 'by position the reorder was drift');
});

t.test('a set (finalizers): an extra live finalizer is one removal named by value', async (t) => {
  const git = manifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, finalizers: [example.com/a, example.com/b]}\n');
  const live = manifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, finalizers: [example.com/b, kubernetes.io/pv-protection, example.com/a]}\n');
  const c = diffObject('default/ConfigMap/c', git, live)!;
  t.same(c.patch, [
    { op: 'test', path: '/metadata/finalizers/1', value: 'kubernetes.io/pv-protection' },
    { op: 'remove', path: '/metadata/finalizers/1' },
  ]);
  t.equal(c.where![0], 'metadata.finalizers[=kubernetes.io/pv-protection]');
});

t.test('a keyed list with a key twice, or an element without its key, is compared by position', async (t) => {
  const dup = (names: string[]): KubeObject => manifest(`apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        env: [${names.map((n, i) => `{name: ${n}, value: "${i}"}`).join(', ')}]\n`);
  const c = diffObject('default/Deployment/d', dup(['A', 'A']), dup(['A', 'A', 'B']))!;
  t.same(c.patch.map((o) => [o.op, o.path]), [['test', '/spec/template/spec/containers/0/env'], ['replace', '/spec/template/spec/containers/0/env']]);
  const noKey = manifest('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{image: x}]}}}\n');
  t.same(diffObject('default/Deployment/d', noKey, dup(['A']))!.patch.map((o) => o.path), ['/spec/template/spec/containers/0/image']);
});

t.test('a Git-only element is appended; removals run from the highest live index down; the patch applies in order', async (t) => {
  const git = manifest('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a, image: "a:2"}, {name: new, image: "n"}]}}}\n');
  const live = manifest('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: x}, {name: a, image: "a:1"}, {name: y}]}}}\n');
  const c = diffObject('default/Deployment/d', git, live)!;
  t.same(c.patch.map((o) => [o.op, o.path]), [
    ['test', '/spec/template/spec/containers/1/image'],
    ['replace', '/spec/template/spec/containers/1/image'],
    ['test', '/spec/template/spec/containers/2'],
    ['remove', '/spec/template/spec/containers/2'],
    ['test', '/spec/template/spec/containers/0'],
    ['remove', '/spec/template/spec/containers/0'],
    ['add', '/spec/template/spec/containers/-'],
  ]);
  t.equal(c.where![6], 'spec.template.spec.containers[name=new]');
  const after = applyPatch(live, c.patch) as KubeObject;
  t.same((after.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers, [{ name: 'a', image: 'a:2' }, { name: 'new', image: 'n' }]);
});

t.test('the table comes from the Kubernetes OpenAPI document and holds the lists the API keys', async (t) => {
  t.equal(LIST_KEYS_SOURCE.kubernetes, 'release-1.36');
  t.match(LIST_KEYS_SOURCE.sha256, /^[0-9a-f]{64}$/);
  const pod = (kind: string, prefix: string): [string, string, string][] => [
    [kind, `${prefix}containers`, 'map:name'],
    [kind, `${prefix}initContainers`, 'map:name'],
    [kind, `${prefix}ephemeralContainers`, 'map:name'],
    [kind, `${prefix}containers[].env`, 'map:name'],
    [kind, `${prefix}containers[].ports`, 'map:containerPort,protocol=TCP'],
    [kind, `${prefix}containers[].volumeMounts`, 'map:mountPath'],
    [kind, `${prefix}volumes`, 'map:name'],
    [kind, `${prefix}imagePullSecrets`, 'map:name'],
    [kind, `${prefix}topologySpreadConstraints`, 'map:topologyKey,whenUnsatisfiable'],
  ];
  const expected: [string, string, string][] = [
    ...pod('v1 Pod', 'spec.'),
    ...pod('apps/v1 Deployment', 'spec.template.spec.'),
    ...pod('apps/v1 StatefulSet', 'spec.template.spec.'),
    ...pod('apps/v1 DaemonSet', 'spec.template.spec.'),
    ...pod('batch/v1 Job', 'spec.template.spec.'),
    ...pod('batch/v1 CronJob', 'spec.jobTemplate.spec.template.spec.'),
    ['v1 Service', 'spec.ports', 'map:port,protocol=TCP'],
    ['v1 ConfigMap', 'metadata.finalizers', 'set'],
    ['admissionregistration.k8s.io/v1 MutatingWebhookConfiguration', 'webhooks', 'map:name'],
  ];
  const problems = expected.filter(([kind, path, spec]) => BUILTIN_LIST_KEYS[kind]?.[path] !== spec).map(([kind, path, spec]) => `${kind} ${path}: want ${spec}, have ${BUILTIN_LIST_KEYS[kind]?.[path]}`);
  t.same(problems, []);
  t.equal(BUILTIN_LIST_KEYS['apps/v1 Deployment']?.['spec.template.spec.containers[].args'], undefined, 'an atomic list is not in the table');
  t.equal(BUILTIN_LIST_KEYS_SOURCE.schemaFor(undefined, 'Deployment'), BUILTIN_LIST_KEYS_SOURCE.schemaFor('apps/v1', 'Deployment'), 'an object without apiVersion uses its kind\'s only entry');
});

t.test('the extraction script reads list-type map, set, a bare merge key and key defaults, skips atomic lists, status and cycles', async (t) => {
  const ref = (n: string): { $ref: string } => ({ $ref: `#/definitions/${n}` });
  const swagger = {
    definitions: {
      'x.Widget': {
        'x-kubernetes-group-version-kind': [{ group: 'example.com', version: 'v1', kind: 'Widget' }],
        properties: { spec: ref('x.Spec'), status: ref('x.Spec') },
      },
      'x.WidgetList': { 'x-kubernetes-group-version-kind': [{ group: 'example.com', version: 'v1', kind: 'WidgetList' }], properties: { items: { type: 'array', items: ref('x.Widget') } } },
      'x.Spec': {
        properties: {
          parts: { type: 'array', items: ref('x.Part'), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id', 'proto'] },
          tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
          legacy: { type: 'array', items: ref('x.Part'), 'x-kubernetes-patch-merge-key': 'id' },
          atomic: { type: 'array', items: ref('x.Part'), 'x-kubernetes-list-type': 'atomic', 'x-kubernetes-patch-merge-key': 'id' },
          byName: { type: 'object', additionalProperties: ref('x.Spec') },
          self: ref('x.Spec'),
        },
      },
      'x.Part': {
        required: ['id'],
        properties: { id: { type: 'string' }, proto: { type: 'string', description: 'Protocol. Defaults to "TCP".' }, subs: { type: 'array', items: ref('x.Part'), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'] } },
      },
    },
  };
  const got = Object.fromEntries([...extractListKeys(swagger)].map(([k, v]) => [k, Object.fromEntries(v)]));
  t.same(got, {
    'example.com/v1 Widget': {
      'spec.parts': 'map:id,proto=TCP',
      'spec.parts[].subs': 'map:id',
      'spec.tags': 'set',
      'spec.legacy': 'map:id',
      'spec.legacy[].subs': 'map:id',
    },
  });
  t.throws(() => extractListKeys({}), /definitions/);
});

// ------------------------------------------------------------------ CRDs

const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    names: { plural: 'widgets', kind: 'Widget' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  listeners: {
                    type: 'array',
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['port', 'protocol'],
                    items: { type: 'object', required: ['port'], properties: { port: { type: 'integer' }, protocol: { type: 'string', default: 'TCP' }, hostnames: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } } } },
                  },
                  routes: { type: 'array', items: { type: 'object' } },
                },
              },
            },
          },
        },
      },
    ],
  },
};

const widget = (listeners: unknown[]): KubeObject => ({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default' }, spec: { listeners } });

t.test('a CRD\'s openAPIV3Schema gives its lists keys (list-map-keys with their defaults, sets)', async (t) => {
  const schema = schemaFromCrd(WIDGET_CRD, 'v1');
  t.ok(schema);
  t.equal(schemaFromCrd(WIDGET_CRD, 'v2'), undefined, 'another version has no schema here');
  const keys = withCustomSchemas(new Map([['example.com/v1 Widget', schema!]]));
  const git = widget([{ port: 443, hostnames: ['a.example', 'b.example'] }, { port: 80 }]);
  const live = widget([{ port: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP', hostnames: ['b.example', 'a.example', 'c.example'] }]);
  const c = diffObject('default/Widget/w', git, live, { listKeys: keys })!;
  t.same(c.patch, [
    { op: 'test', path: '/spec/listeners/1/hostnames/2', value: 'c.example' },
    { op: 'remove', path: '/spec/listeners/1/hostnames/2' },
  ]);
  t.equal(c.where![0], 'spec.listeners[port=443,protocol=TCP].hostnames[=c.example]');
  t.ok(diffObject('default/Widget/w', git, live)!.patch.some((o) => o.op === 'replace' && o.path === '/spec/listeners/0/port'), 'without the CRD: by position');
});

t.test('the kubernetes source reads the CRD of a custom kind and its diff uses the keys; a CRD it cannot read leaves lists positional', async (t) => {
  const WIDGETS: FakeResource = { group: 'example.com', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };
  const GADGETS: FakeResource = { group: 'example.com', version: 'v1', plural: 'gadgets', kind: 'Gadget', namespaced: true };
  const CRDS: FakeResource = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false };
  const server = await FakeApiServer.start([WIDGETS, GADGETS, CRDS]);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig());
  const warnings: string[] = [];
  const logger = { warn: (m: string) => warnings.push(m), info: () => {}, error: () => {}, debug: () => {}, child: () => logger } as never;
  const src = createKubernetesSource({ kubeConfig, resources: [WIDGETS, GADGETS], logger });
  t.teardown(async () => {
    await src.close();
    await server.close();
  });
  server.upsert(CRDS, WIDGET_CRD as never);
  server.upsert(WIDGETS, { metadata: { name: 'w', namespace: 'default' }, spec: { listeners: [{ port: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP' }] } });
  const snap = await src.list();
  t.ok(server.requests.some((r) => r.method === 'GET' && r.path === '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com'));
  t.ok(src.listKeys, 'the source offers list keys');
  const git = widget([{ port: 443 }, { port: 80 }]);
  t.equal(diffObject('default/Widget/w', git, snap.objects.get('default/Widget/w'), { listKeys: src.listKeys }), null, 'matched by port and protocol: no drift');
  t.not(diffObject('default/Widget/w', git, snap.objects.get('default/Widget/w')), null, 'the built-in table alone compares by position');
  t.match(warnings, [/CustomResourceDefinition/], 'the missing gadgets CRD is a warning');
  t.equal(warnings.length, 1);
});

// ------------------------------------------------------------------ patches

const NAMES = ['app', 'proxy', 'init', 'log'];
const envVar = fc.record({ name: fc.constantFrom('A', 'B', 'C', 'D'), value: fc.constantFrom('1', '2') });
const port = fc.record({ containerPort: fc.constantFrom(80, 443, 9090), protocol: fc.option(fc.constantFrom('TCP', 'UDP'), { nil: undefined }) }).map((p) => (p.protocol === undefined ? { containerPort: p.containerPort } : p));
const uniqueBy = <T>(arb: fc.Arbitrary<T>, key: (x: T) => string): fc.Arbitrary<T[]> => fc.uniqueArray(arb, { selector: key, maxLength: 4 });
const container = fc.record({
  name: fc.constantFrom(...NAMES),
  image: fc.constantFrom('a:1', 'a:2'),
  env: fc.option(uniqueBy(envVar, (e) => e.name), { nil: undefined }),
  ports: fc.option(uniqueBy(port, (p) => `${p.containerPort}/${(p as { protocol?: string }).protocol ?? 'TCP'}`), { nil: undefined }),
  args: fc.option(fc.array(fc.constantFrom('-v', '-q'), { maxLength: 2 }), { nil: undefined }),
});
const deployment = fc
  .record({ containers: uniqueBy(container, (c) => c.name), finalizers: fc.option(fc.uniqueArray(fc.constantFrom('x/a', 'x/b', 'x/c'), { maxLength: 3 }), { nil: undefined }) })
  .map(({ containers, finalizers }): KubeObject => {
    const clean = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'n', ...(finalizers ? { finalizers } : {}) }, spec: { template: { spec: { containers: containers.map(clean) } } } };
  });

t.test('property: each patch applies to the live object (every test op holds) and leaves an object whose desired fields equal Git\'s', async (t) => {
  const failures: string[] = [];
  fc.assert(
    fc.property(deployment, deployment, (git, liveObj) => {
      for (const listKeys of [BUILTIN_LIST_KEYS_SOURCE, POSITIONAL_LISTS]) {
        const d = normalizeForDiff(git);
        const l = normalizeForDiff(liveObj);
        const patch = objectPatch(d, l, listKeys);
        let result: KubeObject;
        try {
          result = applyPatch(l, patch) as KubeObject;
        } catch (e) {
          failures.push(`apply: ${(e as Error).message} ${JSON.stringify({ git, liveObj, patch })}`);
          return false;
        }
        const left = objectPatch(d, result, listKeys);
        if (left.length !== 0) {
          failures.push(`drift left: ${JSON.stringify({ git, liveObj, left })}`);
          return false;
        }
      }
      return true;
    }),
    { numRuns: 400 },
  );
  t.same(failures, []);
});

t.test('property: a keyed list in another order, with its key defaults filled in, is no drift', async (t) => {
  fc.assert(
    fc.property(deployment, fc.infiniteStream(fc.nat()), (git, seeds) => {
      const live = structuredClone(git);
      const containers = (live.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers;
      const shuffle = <T>(xs: T[]): T[] => xs.map((x) => [seeds.next().value as number, x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
      for (const c of containers) {
        if (Array.isArray(c.env)) c.env = shuffle(c.env);
        if (Array.isArray(c.ports)) c.ports = shuffle((c.ports as Record<string, unknown>[]).map((p) => ({ protocol: 'TCP', ...p })));
        c.imagePullPolicy = 'IfNotPresent';
      }
      (live.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers = shuffle(containers);
      return diffObject('n/Deployment/d', git, live) === null;
    }),
    { numRuns: 300 },
  );
  t.pass('300 shuffled deployments are in sync');
});
