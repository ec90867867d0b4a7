/**
 * The semantic diff: only what Git sets is compared (plus labels and
 * annotations), server-set fields are never drift, ignore rules apply, every
 * patch turns live into desired, and Secret values never appear in a patch.
 */
import t from 'tap';
import fc from 'fast-check';
import { applyPatch, compileIgnore, diffObject, diffStates, hmacMasker, hmacSha256, normalizeForDiff, objectPatch, PLAIN_MASK, parsePointer, type JsonPatchOp } from '../src/sync/diff.js';
import { describeOps, formatChanges } from '../src/sync/diff-format.js';
import { fromHex, toHex, utf8 } from '../src/core/bytes.js';
import type { KubeObject } from '../src/sync/live-source.js';

const KEY = 'apps/Deployment/web';

function deployment(replicas: number, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'apps', labels: { app: 'web' } },
    spec: { replicas, template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } } },
    ...extra,
  };
}

/** What an API server returns for `deployment(2)`: defaults, status, bookkeeping. */
function served(replicas = 2): KubeObject {
  const d = deployment(replicas);
  return {
    ...d,
    metadata: {
      ...d.metadata,
      uid: '6f1c',
      resourceVersion: '4711',
      generation: 3,
      creationTimestamp: '2026-01-01T00:00:00Z',
      managedFields: [{ manager: 'kubectl' }],
      annotations: { 'deployment.kubernetes.io/revision': '3', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    },
    spec: {
      replicas,
      strategy: { type: 'RollingUpdate' },
      revisionHistoryLimit: 10,
      template: { spec: { containers: [{ name: 'web', image: 'web:1', imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log' }], restartPolicy: 'Always' } },
    },
    status: { replicas, readyReplicas: replicas },
  };
}

t.test('server defaults, status and bookkeeping fields are not drift', async (t) => {
  t.equal(diffObject(KEY, deployment(2), served(2)), null);
});

t.test('a changed field Git sets is MODIFIED, with a test of the live value and a replace', async (t) => {
  const c = diffObject(KEY, deployment(2), served(5))!;
  t.equal(c.status, 'MODIFIED');
  t.same(c.patch, [
    { op: 'test', path: '/spec/replicas', value: 5 },
    { op: 'replace', path: '/spec/replicas', value: 2 },
  ]);
  t.match(c.digest, /^[0-9a-f]{64}$/);
});

t.test('an empty list or map that Git sets and the server dropped (omitempty) is not drift; a filled one is', async (t) => {
  const withEmpty = deployment(2);
  (withEmpty.spec as { template: { spec: Record<string, unknown> } }).template.spec = {
    containers: [{ name: 'web', image: 'web:1', args: [], env: [] }],
    nodeSelector: {},
    tolerations: [],
  };
  t.equal(diffObject(KEY, withEmpty, served(2)), null);
  const filled = deployment(2);
  (filled.spec as { template: { spec: Record<string, unknown> } }).template.spec = { containers: [{ name: 'web', image: 'web:1', args: ['--verbose'] }] };
  t.same(diffObject(KEY, filled, served(2))!.patch, [{ op: 'add', path: '/spec/template/spec/containers/0/args', value: ['--verbose'] }]);
});

t.test('labels and annotations are compared whole: an extra live label is drift', async (t) => {
  const live = served(2);
  live.metadata.labels = { app: 'web', debug: 'true' };
  live.metadata.annotations = { ...live.metadata.annotations, note: 'hand-edited' };
  const c = diffObject(KEY, deployment(2), live)!;
  t.same(c.patch, [
    { op: 'test', path: '/metadata/labels/debug', value: 'true' },
    { op: 'remove', path: '/metadata/labels/debug' },
    { op: 'test', path: '/metadata/annotations/note', value: 'hand-edited' },
    { op: 'remove', path: '/metadata/annotations/note' },
  ]);
  const noLabels = served(2);
  delete noLabels.metadata.labels;
  t.same(diffObject(KEY, deployment(2), noLabels)!.patch, [{ op: 'add', path: '/metadata/labels', value: { app: 'web' } }]);
});

t.test('only in Git is REMOVED_FROM_CLUSTER (add ""), only live is ADDED_IN_CLUSTER (remove "")', async (t) => {
  const removed = diffObject(KEY, deployment(2), undefined)!;
  t.equal(removed.status, 'REMOVED_FROM_CLUSTER');
  t.same(removed.patch, [{ op: 'add', path: '', value: deployment(2) }]);
  const added = diffObject(KEY, undefined, served(2))!;
  t.equal(added.status, 'ADDED_IN_CLUSTER');
  t.same(added.patch.map((o) => o.op), ['test', 'remove']);
  t.notOk(JSON.stringify(added.patch).includes('resourceVersion'), 'the recorded live object is normalized');
});

t.test('a container Git does not name is one removal at that container; a list without keys of another length is replaced whole', async (t) => {
  const live = served(2);
  (live.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers.push({ name: 'sidecar', image: 'proxy:1' });
  const c = diffObject(KEY, deployment(2), live)!;
  t.same(c.patch, [
    { op: 'test', path: '/spec/template/spec/containers/1', value: { name: 'sidecar', image: 'proxy:1' } },
    { op: 'remove', path: '/spec/template/spec/containers/1' },
  ]);
  const withArgs = (args: string[]): KubeObject => {
    const d = deployment(2);
    (d.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers[0]!.args = args;
    return d;
  };
  t.same(diffObject(KEY, withArgs(['--a']), withArgs(['--a', '--b']))!.patch.map((o) => [o.op, o.path]), [
    ['test', '/spec/template/spec/containers/0/args'],
    ['replace', '/spec/template/spec/containers/0/args'],
  ]);
});

t.test('ignore rules: a kind, a pointer for every kind, a pointer for one kind, * segments', async (t) => {
  t.equal(diffObject(KEY, deployment(2), served(5), { ignore: compileIgnore([{ kind: 'Deployment' }]) }), null);
  t.equal(diffObject(KEY, deployment(2), served(5), { ignore: compileIgnore([{ pointer: '/spec/replicas' }]) }), null);
  t.equal(diffObject(KEY, deployment(2), served(5), { ignore: compileIgnore([{ kind: 'Deployment', pointer: '/spec/replicas' }]) }), null);
  t.not(diffObject(KEY, deployment(2), served(5), { ignore: compileIgnore([{ kind: 'StatefulSet', pointer: '/spec/replicas' }]) }), null);
  const live = served(2);
  (live.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image = 'web:2';
  t.not(diffObject(KEY, deployment(2), live), null);
  t.equal(diffObject(KEY, deployment(2), live, { ignore: compileIgnore([{ pointer: '/spec/template/spec/containers/*/image' }]) }), null);
  t.equal(diffObject('apps/ConfigMap/x', { kind: 'ConfigMap', metadata: { name: 'x', annotations: { 'a/b': '1' } } }, { kind: 'ConfigMap', metadata: { name: 'x', annotations: { 'a/b': '2' } } }, { ignore: compileIgnore([{ pointer: '/metadata/annotations/a~1b' }]) }), null);
  t.throws(() => compileIgnore([{ pointer: 'spec' }]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => compileIgnore([{ pointer: '/a~2' }]), { code: 'INVALID_ARGUMENT' });
  t.throws(() => compileIgnore([{}]), { code: 'INVALID_ARGUMENT' });
  t.same(parsePointer('/a~1b/c~0d'), ['a/b', 'c~d']);
});

t.test('diffStates covers every key once, in key order', async (t) => {
  const desired = new Map([
    ['apps/Deployment/web', deployment(2)],
    ['apps/Deployment/api', { ...deployment(1), metadata: { name: 'api', namespace: 'apps' } }],
  ]);
  const live = new Map([
    ['apps/Deployment/web', served(3)],
    ['apps/ConfigMap/stray', { kind: 'ConfigMap', metadata: { name: 'stray', namespace: 'apps' } }],
  ]);
  const changes = diffStates(desired, live);
  t.same(changes.map((c) => [c.key, c.status]), [
    ['apps/ConfigMap/stray', 'ADDED_IN_CLUSTER'],
    ['apps/Deployment/api', 'REMOVED_FROM_CLUSTER'],
    ['apps/Deployment/web', 'MODIFIED'],
  ]);
  t.same(diffStates(desired, live, {}, ['apps/Deployment/web']).map((c) => c.key), ['apps/Deployment/web']);
});

// ------------------------------------------------------------------ patches

const scalar = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b', 'x/y', 'p~q', ''), fc.boolean());
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd/e', 'f~g'), tie('v'), { maxKeys: 3 })),
})).v;
const labels = fc.dictionary(fc.constantFrom('app', 'tier', 'x/y'), fc.constantFrom('1', '2'), { maxKeys: 3 });
const object = fc.record({ spec: fc.dictionary(fc.constantFrom('a', 'b', 'c'), value, { maxKeys: 3 }), labels: fc.option(labels, { nil: undefined }), annotations: fc.option(labels, { nil: undefined }) }).map(
  ({ spec, labels, annotations }): KubeObject => ({ kind: 'Thing', metadata: { name: 'n', ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) }, spec }),
);

t.test('property: applying the patch to live gives an object with no drift left', async (t) => {
  fc.assert(
    fc.property(fc.option(object, { nil: undefined }), fc.option(object, { nil: undefined }), (desired, live) => {
      const d = desired && normalizeForDiff(desired);
      const l = live && normalizeForDiff(live);
      const patch = objectPatch(d, l);
      const result = applyPatch(l ?? null, patch) as KubeObject | null;
      const after = objectPatch(d, result ?? undefined);
      if (after.length !== 0) throw new Error(`drift left: ${JSON.stringify(after)}`);
      // Every test op holds against live: the patch records what live had.
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass('500 random pairs converge');
});

t.test('property: no drift between an object and itself plus server-only fields', async (t) => {
  fc.assert(
    fc.property(object, fc.dictionary(fc.constantFrom('x', 'y', 'z'), value, { maxKeys: 2 }), (o, extra) => {
      const live = { ...structuredClone(o), status: { ok: true }, metadata: { ...o.metadata, uid: 'u', resourceVersion: '9' }, spec: { ...extra, ...(o.spec as object) } };
      return diffObject('/Thing/n', o, live) === null;
    }),
  );
  t.pass();
});

// ------------------------------------------------------------------ secrets

const SECRET = 'correct horse battery staple';
const b64 = Buffer.from(SECRET).toString('base64');
const secretObj = (v: string, extra: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'apps' }, data: { password: v, ...extra } });

t.test('Secret values never appear in a patch, wherever the op sits', async (t) => {
  const mask = hmacMasker(new Uint8Array(32).fill(7));
  const cases: [KubeObject | undefined, KubeObject | undefined][] = [
    [secretObj(b64), undefined],
    [undefined, secretObj(b64)],
    [secretObj(b64), secretObj('b3RoZXI=')],
    [secretObj('b3RoZXI='), secretObj(b64)],
    [secretObj(b64), { ...secretObj('x'), data: undefined as never }],
    [{ ...secretObj('x'), data: undefined as never, stringData: { password: SECRET } }, secretObj('x')],
  ];
  for (const [d, l] of cases) {
    for (const m of [mask, PLAIN_MASK, undefined]) {
      const c = diffObject('apps/Secret/s', d, l, m ? { mask: m } : {})!;
      t.ok(c, 'a change is found');
      const text = JSON.stringify(c);
      t.notOk(text.includes(SECRET) || text.includes(b64), `no secret in ${c.status} ${text}`);
    }
  }
});

t.test('HMAC masks tell a changed secret apart without revealing it; the plain mask tells nothing', async (t) => {
  const mask = hmacMasker(new Uint8Array(32).fill(7));
  const live = secretObj('b2xk');
  const a = diffObject('apps/Secret/s', secretObj(b64), live, { mask })!;
  const b = diffObject('apps/Secret/s', secretObj(b64), live, { mask })!;
  const c = diffObject('apps/Secret/s', secretObj('bmV3'), live, { mask })!;
  t.equal(a.digest, b.digest, 'the same drift has the same identity');
  t.not(a.digest, c.digest, 'another secret value is another drift');
  t.match((a.patch[1] as { value: string }).value, /^\*\*\*:[0-9a-f]{16}$/);
  const other = hmacMasker(new Uint8Array(32).fill(8));
  t.not(JSON.stringify(diffObject('apps/Secret/s', secretObj(b64), live, { mask: other })!.patch), JSON.stringify(a.patch), 'masks depend on the key');
  const plain = diffObject('apps/Secret/s', secretObj(b64), live, { mask: PLAIN_MASK })!;
  t.same(plain.patch, [
    { op: 'test', path: '/data/password', value: '***' },
    { op: 'replace', path: '/data/password', value: '***' },
  ]);
  t.throws(() => hmacMasker(new Uint8Array(8)), { code: 'INVALID_ARGUMENT' });
});

t.test('HMAC-SHA256 matches RFC 4231 test cases 1, 2 and 6', async (t) => {
  t.equal(toHex(hmacSha256(new Uint8Array(20).fill(0x0b), utf8('Hi There'))), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  t.equal(toHex(hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?'))), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  t.equal(
    toHex(hmacSha256(new Uint8Array(131).fill(0xaa), utf8('Test Using Larger Than Block-Size Key - Hash Key First'))),
    '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  );
  t.ok(fromHex('00'));
});

t.test('diff output pairs each test with its op, and colors only when asked', async (t) => {
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/spec/replicas', value: 5 },
    { op: 'replace', path: '/spec/replicas', value: 2 },
    { op: 'test', path: '/metadata/labels/x', value: '1' },
    { op: 'remove', path: '/metadata/labels/x' },
    { op: 'add', path: '/data/k', value: 'v' },
  ];
  t.same(describeOps(ops), [
    { sign: '~', text: '/spec/replicas: 5 -> 2' },
    { sign: '-', text: '/metadata/labels/x: "1"' },
    { sign: '+', text: '/data/k: "v"' },
  ]);
  const c = diffObject(KEY, deployment(2), served(5))!;
  const plain = formatChanges([c], { commit: 'abc1234' });
  t.equal(plain, 'MODIFIED apps/Deployment/web\n  ~ spec.replicas: 5 -> 2\n1 drift(s) at abc1234: 0 added in cluster, 0 removed from cluster, 1 modified\n');
  t.match(formatChanges([c], { color: true }), /\u001b\[33m~ spec\.replicas/);
  t.equal(formatChanges([], { commit: 'abc1234' }), 'in sync at abc1234\n');
});
