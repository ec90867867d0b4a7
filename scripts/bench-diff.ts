/**
 * The diff of 10,000 Deployments, with lists matched by Kubernetes' keys
 * (the default) and by position (the diff before keys, POSITIONAL_LISTS),
 * on the same objects in the same run:
 *
 *   node dist/scripts/bench-diff.js [--quick]
 *
 * `npm run bench:sync` runs it as one of its sections. Three live states:
 * as the API server returns the Git objects (defaults filled in, 1% with
 * another image: both modes find the same drift), the same with env in
 * another order (drift only by position), and the same with a sidecar
 * injected into every pod template (every object drifts, both ways).
 */
import { diffStates, hmacMasker, POSITIONAL_LISTS } from '../src/sync/diff.js';
import type { KubeObject } from '../src/sync/live-source.js';
import { percentile, table } from './bench-lib.js';

const N = 10_000;

function gitDeployment(i: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `app-${i}`, namespace: `team-${i % 10}`, labels: { app: 'web', tier: 'backend' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: `registry.example/team/app-${i}:1.24.3`,
              ports: [{ containerPort: 8080 }],
              env: [
                { name: 'LOG_LEVEL', value: 'info' },
                { name: 'REGION', value: 'eu-west-1' },
              ],
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
              volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
            },
          ],
          volumes: [{ name: 'cache', emptyDir: {} }],
        },
      },
    },
  };
}

/** As an API server returns it: bookkeeping, defaults, status; 1% run another image. */
function servedDeployment(i: number, { sidecar, reorder }: { sidecar: boolean; reorder: boolean }): KubeObject {
  const d = gitDeployment(i);
  const c = (d.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers[0]!;
  const app = {
    ...c,
    image: i % 100 === 0 ? `registry.example/team/app-${i}:1.24.2` : c.image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
    env: reorder ? [...(c.env as unknown[])].reverse() : c.env,
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
  const proxy = { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.2', args: ['proxy', 'sidecar'], ports: [{ containerPort: 15090, protocol: 'TCP', name: 'http-envoy-prom' }] };
  return {
    ...d,
    metadata: { ...d.metadata, uid: `uid-${i}`, resourceVersion: String(1000 + i), generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      ...(d.spec as object),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: sidecar ? [proxy, app] : [app],
          volumes: [{ name: 'cache', emptyDir: {} }],
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
          terminationGracePeriodSeconds: 30,
        },
      },
    },
    status: { replicas: 2, readyReplicas: 2 },
  };
}

export function benchDiff(quick: boolean): string {
  const desired = new Map<string, KubeObject>();
  const plain = new Map<string, KubeObject>();
  const reordered = new Map<string, KubeObject>();
  const injected = new Map<string, KubeObject>();
  for (let i = 0; i < N; i++) {
    const key = `team-${i % 10}/Deployment/app-${i}`;
    desired.set(key, gitDeployment(i));
    plain.set(key, servedDeployment(i, { sidecar: false, reorder: false }));
    reordered.set(key, servedDeployment(i, { sidecar: false, reorder: true }));
    injected.set(key, servedDeployment(i, { sidecar: true, reorder: false }));
  }
  const mask = hmacMasker(new Uint8Array(32));
  const rounds = quick ? 3 : 7;
  const rows: [string, number, number, string][] = [];
  for (const [what, live] of [
    ['as served (defaults filled in, 1% another image)', plain],
    ['the same, env in another order', reordered],
    ['a sidecar injected into every pod template', injected],
  ] as const) {
    const runs = { keyed: [] as number[], positional: [] as number[] };
    const found = { keyed: 0, positional: 0 };
    for (let k = 0; k < rounds; k++) {
      // Alternate the two, so that neither always runs on a warmer heap.
      for (const mode of k % 2 === 0 ? (['keyed', 'positional'] as const) : (['positional', 'keyed'] as const)) {
        const t0 = performance.now();
        found[mode] = diffStates(desired, live, { mask, ...(mode === 'positional' ? { listKeys: POSITIONAL_LISTS } : {}) }).length;
        runs[mode].push(performance.now() - t0);
      }
    }
    runs.keyed.sort((a, b) => a - b);
    runs.positional.sort((a, b) => a - b);
    const keyed = percentile(runs.keyed, 50);
    const positional = percentile(runs.positional, 50);
    rows.push([`${what}; drifting: keyed ${found.keyed}, positional ${found.positional}`, keyed, positional, (keyed / positional).toFixed(2)]);
  }
  return table(`Diff of ${N.toLocaleString('en-US')} Deployments: lists by Kubernetes' keys against by position (median of ${rounds}, same run)`, ['live state', 'keyed ms', 'positional ms', 'keyed / positional'], rows);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  console.log(benchDiff(process.argv.includes('--quick')));
}
