/**
 * Resource quantities: the API server stores them canonically (`0.5` ->
 * `"500m"`, `1024Mi` -> `"1Gi"`), so the diff compares them by amount, and
 * only where Kubernetes puts quantities.
 */
import t from 'tap';
import fc from 'fast-check';
import { isQuantityPath, quantityNanos, sameQuantity } from '../src/sync/quantity.js';
import { diffObject } from '../src/sync/diff.js';
import type { KubeObject } from '../src/sync/live-source.js';

t.test('amounts in nano units, for every suffix kind', async (t) => {
  const cases: [unknown, bigint][] = [
    ['1', 1_000_000_000n],
    [1, 1_000_000_000n],
    ['500m', 500_000_000n],
    [0.5, 500_000_000n],
    ['.5', 500_000_000n],
    ['5.', 5_000_000_000n],
    ['+2', 2_000_000_000n],
    ['-2', -2_000_000_000n],
    ['1Ki', 1024n * 1_000_000_000n],
    ['1.5Gi', 1536n * 1024n * 1024n * 1_000_000_000n],
    ['1k', 1000n * 1_000_000_000n],
    ['1e3', 1000n * 1_000_000_000n],
    ['1E-3', 1_000_000n],
    [1e21, 10n ** 30n],
    ['3n', 3n],
    ['7u', 7000n],
    ['2M', 2n * 10n ** 15n],
    ['1E', 10n ** 27n],
    ['0', 0n],
  ];
  for (const [v, want] of cases) t.equal(quantityNanos(v), want, `${JSON.stringify(v)}`);
});

t.test('finer than a nano rounds up, as the API server does', async (t) => {
  t.equal(quantityNanos('0.1n'), 1n);
  t.equal(quantityNanos('1.0000000001'), 1_000_000_001n);
  t.ok(sameQuantity('0.1n', '1n'));
});

t.test('what is not a quantity is undefined, so it is compared as plain JSON', async (t) => {
  for (const v of ['', '.', '-', 'm', '1.2.3', '1 Gi', '1gi', '1Kib', 'abc', '0x10', '1e', '1e1000', 'Infinity', 'x'.repeat(65), NaN, Infinity, null, true, {}, []]) {
    t.equal(quantityNanos(v), undefined, JSON.stringify(v) ?? String(v));
  }
});

t.test('spellings of one amount are the same quantity; different amounts are not', async (t) => {
  const same: [unknown, unknown][] = [
    [0.5, '500m'],
    [1, '1'],
    ['1024Mi', '1Gi'],
    ['1.5Gi', '1536Mi'],
    ['1000m', '1'],
    ['1k', '1000'],
    ['1e3', '1k'],
    ['0.1', '100m'],
    ['1Ki', '1024'],
    [2, '2000m'],
  ];
  for (const [a, b] of same) t.ok(sameQuantity(a, b), `${JSON.stringify(a)} = ${JSON.stringify(b)}`);
  const different: [unknown, unknown][] = [
    ['100m', '0.2'],
    ['1Gi', '1G'],
    ['1Mi', '1M'],
    [1, '1001m'],
    ['abc', 'abc'],
    ['-1', '1'],
  ];
  for (const [a, b] of different) t.notOk(sameQuantity(a, b), `${JSON.stringify(a)} != ${JSON.stringify(b)}`);
});

t.test('property: a quantity and its amount rewritten in milli units are the same', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.constantFrom('', 'k', 'M', 'Ki', 'Mi', 'Gi'), (n, suffix) => {
      const mult = { '': 1n, k: 1000n, M: 1_000_000n, Ki: 1024n, Mi: 1024n ** 2n, Gi: 1024n ** 3n }[suffix]!;
      return sameQuantity(`${n}${suffix}`, `${n * mult * 1000n}m`) && !sameQuantity(`${n}${suffix}`, `${n * mult * 1000n + 1n}m`);
    }),
    { numRuns: 1000, seed: 20261126 },
  );
});

t.test('quantity paths: resource maps and emptyDir.sizeLimit, nothing else', async (t) => {
  for (const p of [
    '/spec/template/spec/containers/0/resources/limits/cpu',
    '/spec/template/spec/containers/1/resources/requests/memory',
    '/spec/resources/requests/storage',
    '/spec/hard/requests.cpu',
    '/spec/capacity/storage',
    '/spec/limits/0/defaultRequest/cpu',
    '/spec/template/spec/volumes/0/emptyDir/sizeLimit',
    '/overhead/podFixed/memory',
    '/spec/metrics/0/resource/target/averageValue',
    '/spec/metrics/1/object/target/value',
  ]) {
    t.ok(isQuantityPath(p), p);
  }
  for (const p of ['/spec/replicas', '/metadata/labels/cpu', '/spec/template/spec/containers/0/image', '/data/limits', '/spec/template/spec/containers/0/env/0/value', '/spec/metrics/0/resource/target/averageUtilization', 'cpu', '']) {
    t.notOk(isQuantityPath(p), p);
  }
});

function pod(resources: Record<string, unknown>, env: unknown[] = []): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [{ name: 'c', image: 'c:1', resources, env }] } };
}

t.test('the diff: the server\'s canonical spelling of a quantity is no drift', async (t) => {
  const desired = pod({ limits: { cpu: 0.5, memory: '1024Mi' }, requests: { cpu: 1, memory: '512Mi' } });
  const live = pod({ limits: { cpu: '500m', memory: '1Gi' }, requests: { cpu: '1', memory: '512Mi' } });
  t.equal(diffObject('ns/Pod/p', desired, live), null);
});

t.test('the diff: a changed amount is still drift, with the live spelling in the test op', async (t) => {
  const desired = pod({ limits: { cpu: 0.5 } });
  const live = pod({ limits: { cpu: '250m' } });
  t.same(diffObject('ns/Pod/p', desired, live)!.patch, [
    { op: 'test', path: '/spec/containers/0/resources/limits/cpu', value: '250m' },
    { op: 'replace', path: '/spec/containers/0/resources/limits/cpu', value: 0.5 },
  ]);
});

t.test('the diff: outside quantity fields, equal amounts spelled differently are drift', async (t) => {
  const desired = pod({}, [{ name: 'WORKERS', value: '1k' }]);
  const live = pod({}, [{ name: 'WORKERS', value: '1000' }]);
  t.equal(diffObject('ns/Pod/p', desired, live)?.status, 'MODIFIED');
});
