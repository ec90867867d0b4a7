/**
 * What the API server does to an object on its way in is no drift: each
 * case Argo CD documents as a false positive, with a manifest as
 * repositories write it against the object as the server returns it
 * (docs/sync.md lists the cases handled and those left).
 */
import t from 'tap';
import { diffObject, hmacMasker } from '../src/sync/diff.js';
import { formatChanges } from '../src/sync/diff-format.js';
import { normalizeApiObject } from '../src/sync/api-normalize.js';
import { parseManifestFile } from '../src/sync/manifests.js';
import type { KubeObject } from '../src/sync/live-source.js';

function manifest(yaml: string): KubeObject {
  const r = parseManifestFile('m.yaml', yaml, { defaultNamespace: 'default' });
  if (r.errors.length > 0 || r.objects.length !== 1) throw new Error(`bad test manifest: ${JSON.stringify(r.errors)}`);
  return r.objects[0]!.object;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** The Secret of a Grafana deployment as charts and repositories write it: `stringData`. */
const GIT_SECRET = `
apiVersion: v1
kind: Secret
metadata:
  name: grafana-admin
  namespace: monitoring
type: Opaque
stringData:
  admin-user: admin
  admin-password: "S3cr3t!pa55 w0rd"
  grafana.ini: |
    [security]
    disable_initial_admin_creation = false
`;

/** As the API server stores it: base64 `data`, no `stringData`. */
function servedSecret(password = 'S3cr3t!pa55 w0rd'): KubeObject {
  return manifest(`
apiVersion: v1
kind: Secret
metadata:
  name: grafana-admin
  namespace: monitoring
  uid: 3f1b
  resourceVersion: "1200"
  creationTimestamp: "2026-02-01T08:00:00Z"
type: Opaque
data:
  admin-user: ${b64('admin')}
  admin-password: ${b64(password)}
  grafana.ini: ${b64('[security]\ndisable_initial_admin_creation = false\n')}
`);
}

const SECRET_KEY = 'monitoring/Secret/grafana-admin';

t.test('a Secret written with stringData against the stored base64 data is no drift', async (t) => {
  t.equal(diffObject(SECRET_KEY, manifest(GIT_SECRET), servedSecret()), null);
});

t.test('a changed stringData value is MODIFIED at data.<key>, masked, and never in clear', async (t) => {
  const mask = hmacMasker(new Uint8Array(32).fill(3));
  const c = diffObject(SECRET_KEY, manifest(GIT_SECRET), servedSecret('changed-by-hand'), { mask })!;
  t.equal(c.status, 'MODIFIED');
  t.same(c.patch.map((o) => [o.op, o.path]), [['test', '/data/admin-password'], ['replace', '/data/admin-password']]);
  t.match((c.patch[1] as { value: string }).value, /^\*\*\*:[0-9a-f]{16}$/);
  const text = JSON.stringify(c) + formatChanges([c]);
  t.notMatch(text, /S3cr3t|changed-by-hand/);
  t.notOk(text.includes(b64('S3cr3t!pa55 w0rd')) || text.includes(b64('changed-by-hand')), 'nor in base64');
  t.match(formatChanges([c]), '  ~ data.admin-password: "***:');
});

t.test('stringData overrides data of the same name, as the API server merges them', async (t) => {
  const git = manifest(`apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: ${b64('old')}, b: ${b64('kept')}}\nstringData: {a: new}\n`);
  const live = manifest(`apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: ${b64('new')}, b: ${b64('kept')}}\n`);
  t.equal(diffObject('default/Secret/s', git, live), null);
  t.same(normalizeApiObject(git), { apiVersion: 'v1', kind: 'Secret', metadata: git.metadata, data: { a: b64('new'), b: b64('kept') } });
});

t.test('a TLS Secret whose base64 is wrapped over lines (a YAML block) is the one-line value the server returns', async (t) => {
  const cert = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUFakeCertificateForTestsOnly0123456789abcdefghij\n-----END CERTIFICATE-----\n';
  const wrapped = b64(cert).replace(/(.{76})/g, '$1\n');
  const git = manifest(`apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: |\n${wrapped.split('\n').map((l) => `    ${l}`).join('\n')}\n  tls.key: ""\n`);
  t.ok(((git.data as Record<string, string>)['tls.crt'] ?? '').includes('\n'), 'the manifest value has line breaks');
  const live = manifest(`apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\ntype: kubernetes.io/tls\ndata: {tls.crt: ${b64(cert)}, tls.key: ""}\n`);
  t.equal(diffObject('default/Secret/tls', git, live), null);
});

t.test('a null value in a Secret\'s or ConfigMap\'s data is the empty string the server stores (Argo CD #943)', async (t) => {
  const gitSecret = manifest('apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  empty:\n');
  t.equal(diffObject('default/Secret/s', gitSecret, manifest('apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {empty: ""}\n')), null);
  const gitCm = manifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  feature-flag:\n  mode: fast\n');
  t.equal(diffObject('default/ConfigMap/c', gitCm, manifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {feature-flag: "", mode: fast}\n')), null);
  t.not(diffObject('default/ConfigMap/c', gitCm, manifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {mode: fast}\n')), null, 'a key the live map lacks is still drift');
});

t.test('an aggregated ClusterRole\'s rules are the controller\'s: not compared', async (t) => {
  // https://kubernetes.io/docs/reference/access-authn-authz/rbac/#aggregated-clusterroles
  const git = manifest(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring
aggregationRule:
  clusterRoleSelectors:
  - matchLabels:
      rbac.example.com/aggregate-to-monitoring: "true"
rules: [] # The control plane automatically fills in the rules
`);
  const live = manifest(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring, uid: a1, resourceVersion: "77"}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels:
      rbac.example.com/aggregate-to-monitoring: "true"
rules:
- apiGroups: [""]
  resources: [services, endpointslices, pods]
  verbs: [get, list, watch]
`);
  t.equal(diffObject('/ClusterRole/monitoring', git, live), null);
  const plain = manifest('apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: [{apiGroups: [""], resources: [pods], verbs: [get]}]\n');
  const widened = manifest('apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: [{apiGroups: [""], resources: [pods, secrets], verbs: [get]}]\n');
  t.not(diffObject('/ClusterRole/reader', plain, widened), null, 'a role without aggregationRule keeps its rules compared');
});

t.test('a false the server omits (plain bool with omitempty) equals an absent field; a pointer bool stays compared', async (t) => {
  const crdGit = manifest(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: backups.stash.example.com}
spec:
  group: stash.example.com
  preserveUnknownFields: false
  names: {kind: Backup, plural: backups}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`);
  const crdLive = structuredClone(crdGit);
  delete (crdLive.spec as Record<string, unknown>).preserveUnknownFields;
  (crdLive.spec as Record<string, unknown>).conversion = { strategy: 'None' };
  crdLive.status = { acceptedNames: { kind: 'Backup', plural: 'backups' } };
  t.equal(diffObject('/CustomResourceDefinition/backups.stash.example.com', crdGit, crdLive), null, 'preserveUnknownFields: false (Argo CD 3 reports it OutOfSync)');

  const pod = (extra: string): KubeObject =>
    manifest(`apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n${extra}      containers:\n      - name: api\n        image: api:1\n        tty: false\n        volumeMounts: [{name: cfg, mountPath: /etc/api, readOnly: false}]\n`);
  const live = manifest('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n      - name: api\n        image: api:1\n        volumeMounts: [{name: cfg, mountPath: /etc/api}]\n');
  t.equal(diffObject('default/Deployment/api', pod('      hostNetwork: false\n'), live), null, 'readOnly, tty, hostNetwork: false are absent live');
  const c = diffObject('default/Deployment/api', pod('      automountServiceAccountToken: false\n'), live)!;
  t.same(c.patch, [{ op: 'add', path: '/spec/template/spec/automountServiceAccountToken', value: false }], 'automountServiceAccountToken (absent means true) missing live is drift');
});

t.test('a StatefulSet\'s volumeClaimTemplates as the server returns them (apiVersion, kind, volumeMode, status) are no drift', async (t) => {
  const git = manifest(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgres, namespace: db}
spec:
  serviceName: postgres
  replicas: 1
  selector: {matchLabels: {app: postgres}}
  template:
    metadata:
      labels: {app: postgres}
      creationTimestamp: null
    spec:
      containers:
      - name: postgres
        image: postgres:16
        resources: {requests: {cpu: 0.5, memory: 1024Mi}}
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Gi}}
`);
  const live = manifest(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgres, namespace: db, generation: 1, uid: 99}
spec:
  serviceName: postgres
  replicas: 1
  podManagementPolicy: OrderedReady
  revisionHistoryLimit: 10
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  selector: {matchLabels: {app: postgres}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}
  template:
    metadata:
      labels: {app: postgres}
    spec:
      containers:
      - name: postgres
        image: postgres:16
        imagePullPolicy: IfNotPresent
        resources: {requests: {cpu: 500m, memory: 1Gi}}
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      restartPolicy: Always
  volumeClaimTemplates:
  - apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data, creationTimestamp: null}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Gi}}
      volumeMode: Filesystem
    status: {phase: Pending}
status: {replicas: 1, readyReplicas: 1}
`);
  t.equal(diffObject('db/StatefulSet/postgres', git, live), null);
});

t.test('a webhook CA bundle injected by cert-manager\'s cainjector, into webhooks keyed by name, is no drift', async (t) => {
  const git = manifest(`
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: cert-manager-webhook
  annotations: {cert-manager.io/inject-ca-from-secret: cert-manager/cert-manager-webhook-ca}
webhooks:
- name: webhook.cert-manager.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {name: cert-manager-webhook, namespace: cert-manager, path: /mutate}
  rules:
  - apiGroups: [cert-manager.io]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [certificaterequests]
`);
  const live = structuredClone(git);
  const hook = (live.webhooks as Record<string, unknown>[])[0]!;
  (hook.clientConfig as Record<string, unknown>).caBundle = b64('-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n');
  (hook.clientConfig as { service: Record<string, unknown> }).service.port = 443;
  Object.assign(hook, { failurePolicy: 'Fail', matchPolicy: 'Equivalent', namespaceSelector: {}, objectSelector: {}, reinvocationPolicy: 'Never', timeoutSeconds: 10 });
  t.equal(diffObject('/MutatingWebhookConfiguration/cert-manager-webhook', git, live), null);
});

t.test('resource quantities inside a custom resource (an Argo Rollout\'s pod template) compare by amount', async (t) => {
  const rollout = (cpu: string, memory: string): KubeObject =>
    manifest(`apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        resources: {requests: {cpu: ${cpu}, memory: ${memory}}}\n`);
  t.equal(diffObject('default/Rollout/web', rollout('100m', '512Mi'), rollout('0.1', '0.5Gi')), null);
  t.not(diffObject('default/Rollout/web', rollout('100m', '512Mi'), rollout('0.2', '0.5Gi')), null);
});
