/**
 * Manifests are read as Kubernetes reads them (YAML 1.1 through go-yaml v2),
 * keyed `namespace/kind/name`, and nothing is dropped silently: every bad
 * document is an error naming its file and document.
 */
import t from 'tap';
import { parseManifestFile, parseManifests, formatManifestError } from '../src/sync/manifests.js';

const opts = { defaultNamespace: 'apps' };

t.test('YAML 1.1 as Kubernetes reads it', async (t) => {
  const { objects, errors } = parseManifestFile(
    'cm.yaml',
    ['kind: ConfigMap', 'metadata: {name: flags}', 'data:', '  a: yes', '  b: on', '  c: 0755', '  d: "yes"', '  e: No', '  f: 2001-12-14', '  g: 190:20:30', '  h: 0x1F', '  i: ~'].join('\n'),
    opts,
  );
  t.same(errors, []);
  t.same(objects[0]!.object.data, { a: true, b: true, c: 493, d: 'yes', e: false, f: '2001-12-14', g: '190:20:30', h: 31, i: null });
});

t.test('keys: namespace/kind/name, the default namespace, cluster-scoped kinds', async (t) => {
  const text = [
    'kind: ConfigMap\nmetadata:\n  name: a',
    'kind: ConfigMap\nmetadata:\n  name: b\n  namespace: other',
    'kind: Namespace\nmetadata:\n  name: apps',
    'kind: ClusterRole\nmetadata:\n  name: reader\n  namespace: ignored',
    'kind: Widget\nmetadata:\n  name: w',
  ].join('\n---\n');
  const { objects, errors } = parseManifestFile('all.yaml', text, { ...opts, clusterScopedKinds: ['Widget'] });
  t.same(errors, []);
  t.same(objects.map((o) => o.key), ['apps/ConfigMap/a', 'other/ConfigMap/b', '/Namespace/apps', '/ClusterRole/reader', '/Widget/w']);
  t.equal(objects[0]!.object.metadata.namespace, 'apps', 'the default namespace is written into the object');
  t.notOk('namespace' in objects[3]!.object.metadata, 'a cluster-scoped object has no namespace');
  t.same(objects.map((o) => o.document), [1, 2, 3, 4, 5]);
});

t.test('empty documents are skipped; numbering counts them', async (t) => {
  const { objects, errors } = parseManifestFile('e.yaml', '---\n# just a comment\n---\n---\nkind: ConfigMap\nmetadata: {name: x}\n---\n~\n', opts);
  t.same(errors, []);
  t.equal(objects.length, 1);
  t.equal(objects[0]!.document, 3);
  t.same(parseManifestFile('empty.yaml', '', opts), { objects: [], errors: [] });
  t.same(parseManifestFile('comments.yaml', '# nothing\n', opts), { objects: [], errors: [] });
});

t.test('kind: List is expanded into its items', async (t) => {
  const { objects, errors } = parseManifestFile('list.yaml', 'kind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: a}\n- kind: Secret\n  metadata: {name: b}\n', opts);
  t.same(errors, []);
  t.same(objects.map((o) => o.key), ['apps/ConfigMap/a', 'apps/Secret/b']);
});

t.test('malformed YAML is an error naming the file and the document; the other documents stand', async (t) => {
  const { objects, errors } = parseManifestFile('bad.yaml', 'kind: ConfigMap\nmetadata: {name: ok}\n---\nkind: ConfigMap\nmetadata: {name: [broken\n---\nkind: ConfigMap\nmetadata: {name: ok2}\n', opts);
  t.same(objects.map((o) => o.key), ['apps/ConfigMap/ok', 'apps/ConfigMap/ok2']);
  t.equal(errors.length, 1);
  t.match(errors[0], { code: 'YAML_INVALID', file: 'bad.yaml', document: 2 });
  t.match(formatManifestError(errors[0]!), /^bad\.yaml document 2: .*line \d+, column \d+/);
});

t.test('a duplicate mapping key inside a document is an error, not a silent overwrite', async (t) => {
  const { errors } = parseManifestFile('dup.yaml', 'kind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: "1"\n  x: "2"\n', opts);
  t.match(errors, [{ code: 'YAML_INVALID', file: 'dup.yaml', document: 1 }]);
});

t.test('errors never quote the source text (a malformed Secret must not leak)', async (t) => {
  const text = 'kind: Secret\nmetadata: {name: s}\nstringData:\n  password: hunter2-very-secret\n  token: [unclosed hunter2-very-secret\n';
  const { errors } = parseManifestFile('secret.yaml', text, opts);
  t.equal(errors.length, 1);
  t.notMatch(JSON.stringify(errors), /hunter2/);
});

t.test('documents that are not objects, or lack kind or name, are errors', async (t) => {
  const text = ['- a\n- b', 'kind: ConfigMap', 'metadata: {name: x}', 'kind: ConfigMap\nmetadata: {name: "../etc"}', 'kind: ConfigMap\nmetadata: {name: "a/b"}', 'kind: ConfigMap\nmetadata: {name: x, namespace: "Bad_NS"}', 'kind: ConfigMap\nmetadata: {name: x, labels: {a: 1}}', 'kind: ConfigMap\nmetadata: {name: x}\ndata: {n: .inf}'].join('\n---\n');
  const { objects, errors } = parseManifestFile('odd.yaml', text, opts);
  t.same(objects, []);
  t.same(errors.map((e) => [e.document, e.code]), [
    [1, 'NOT_AN_OBJECT'],
    [2, 'FIELD_INVALID'],
    [3, 'FIELD_INVALID'],
    [4, 'FIELD_INVALID'],
    [5, 'FIELD_INVALID'],
    [6, 'FIELD_INVALID'],
    [7, 'FIELD_INVALID'],
    [8, 'YAML_INVALID'],
  ]);
});

t.test('a key defined twice is an error naming both places; the first (in path order) is kept', async (t) => {
  const set = parseManifests(
    [
      { path: 'b.yaml', text: 'kind: ConfigMap\nmetadata: {name: x}\ndata: {from: b}\n' },
      { path: 'a.yaml', text: 'kind: ConfigMap\nmetadata: {name: yy}\n---\nkind: ConfigMap\nmetadata: {name: x}\ndata: {from: a}\n' },
    ],
    opts,
  );
  t.equal(set.objects.get('apps/ConfigMap/x')!.object.data && (set.objects.get('apps/ConfigMap/x')!.object.data as { from: string }).from, 'a');
  t.same(set.errors, [{ code: 'DUPLICATE_KEY', file: 'b.yaml', document: 1, message: 'apps/ConfigMap/x is already defined in a.yaml document 2' }]);
});

t.test('aliases are bounded (no billion laughs)', async (t) => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
  const text = 'kind: ConfigMap\nmetadata: {name: x}\ndata:\n' + lines.map((l) => '  ' + l).join('\n') + '\n';
  const { errors } = parseManifestFile('bomb.yaml', text, opts);
  t.match(errors, [{ code: 'YAML_INVALID', file: 'bomb.yaml', document: 1 }]);
});
