/**
 * The sync engine's metrics. Prometheus through prom-client when the engine
 * runs in a node (on the node's registry, so /metrics shows them); a no-op
 * for `cairn diff` and tests that do not look.
 *
 * - `cairn_sync_latency_seconds{target,trigger}`: a new commit seen or a live
 *   event received, to its ledger entry durable.
 * - `cairn_sync_drifts{target,status}`: drifts open now, by status.
 * - `cairn_sync_entries_total{target,action}`: entries recorded.
 * - `cairn_sync_reconcile_errors_total{target,stage}`: failures of git, the
 *   live source, recording or applying (each retried).
 * - `cairn_sync_watch_restarts_total{target}`: live watches restarted after a
 *   failure, by the engine or by the source itself (a watch reopened after an
 *   error or a silence, a relist after 410 Gone or a compaction, a reconnect).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type SyncTrigger = 'commit' | 'live';
export type SyncStage = 'git' | 'live' | 'record' | 'apply' | 'history';

export interface SyncMetrics {
  latency(target: string, trigger: SyncTrigger, seconds: number): void;
  openDrifts(target: string, counts: Readonly<Record<string, number>>): void;
  recorded(target: string, action: string): void;
  reconcileError(target: string, stage: SyncStage): void;
  watchRestart(target: string): void;
}

export const NO_METRICS: SyncMetrics = {
  latency() {},
  openDrifts() {},
  recorded() {},
  reconcileError() {},
  watchRestart() {},
};

const byRegistry = new WeakMap<Registry, SyncMetrics>();

/** The metrics on `registry`; every engine of a node shares one set (labelled by target). */
export function createSyncMetrics(registry: Registry): SyncMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const latency = new Histogram({
    name: 'cairn_sync_latency_seconds',
    help: 'New commit seen or live event received, to its ledger entry durable',
    labelNames: ['target', 'trigger'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const drifts = new Gauge({ name: 'cairn_sync_drifts', help: 'Drifts open now, by status', labelNames: ['target', 'status'], registers });
  const entries = new Counter({ name: 'cairn_sync_entries_total', help: 'Sync entries recorded, by action', labelNames: ['target', 'action'], registers });
  const errors = new Counter({ name: 'cairn_sync_reconcile_errors_total', help: 'Reconcile failures by stage (each retried with backoff)', labelNames: ['target', 'stage'], registers });
  const restarts = new Counter({ name: 'cairn_sync_watch_restarts_total', help: 'Live watches restarted after a failure', labelNames: ['target'], registers });
  const m: SyncMetrics = {
    latency: (target, trigger, s) => latency.observe({ target, trigger }, s),
    openDrifts: (target, counts) => {
      for (const status of ['ADDED_IN_CLUSTER', 'REMOVED_FROM_CLUSTER', 'MODIFIED']) drifts.set({ target, status }, counts[status] ?? 0);
    },
    recorded: (target, action) => entries.inc({ target, action }),
    reconcileError: (target, stage) => errors.inc({ target, stage }),
    watchRestart: (target) => restarts.inc({ target }),
  };
  byRegistry.set(registry, m);
  return m;
}
