/**
 * Prometheus metrics of one node, on a registry of its own (two nodes in one
 * process, as in tests, do not mix their figures).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly appends: Counter<'log'>;
  readonly appendSeconds: Histogram;
  readonly groupSize: Histogram;
  readonly groupCommitSeconds: Histogram;
  readonly rpcs: Counter<'method' | 'code'>;
  readonly logSize: Gauge<'log'>;
  readonly anchorLag: Histogram;
  readonly anchorWindows: Counter<'result'>;
  readonly anchoredWindow: Gauge;
  readonly configReloadFailures: Counter<'file'>;
  readonly configStale: Gauge<'file'>;
  readonly quotaRefusals: Counter<'quota'>;
  readonly mirrorEntries: Counter<'origin'>;
  readonly mirrorRejectedBatches: Counter<'peer' | 'origin'>;
  readonly equivocations: Counter<'origin' | 'kind'>;
  readonly cosignaturesGiven: Counter<'origin'>;
  readonly witnessRefusals: Counter<'reason'>;
  readonly cosignaturesReceived: Counter<'witness'>;
  readonly witnessSubmitFailures: Counter<'witness'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.appends = new Counter({ name: 'cairn_appends_total', help: 'Entries durably appended', labelNames: ['log'], registers });
    this.appendSeconds = new Histogram({
      name: 'cairn_append_duration_seconds',
      help: 'Append latency, request received to receipt ready (entry durable)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.groupSize = new Histogram({
      name: 'cairn_group_commit_entries',
      help: 'Entries per group commit (one synced batch and one checkpoint signature each)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers,
    });
    this.groupCommitSeconds = new Histogram({
      name: 'cairn_group_commit_duration_seconds',
      help: 'Group build start to durable',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.mirrorEntries = new Counter({ name: 'cairn_mirror_entries_total', help: 'Entries of other origins verified and stored in this node\'s mirrors', labelNames: ['origin'], registers });
    this.mirrorRejectedBatches = new Counter({ name: 'cairn_mirror_rejected_batches_total', help: 'Batches a peer relayed that failed verification (nothing of them stored)', labelNames: ['peer', 'origin'], registers });
    this.equivocations = new Counter({ name: 'cairn_federation_equivocations_total', help: 'Split views caught: two signed checkpoints of one origin and log that cannot both be true', labelNames: ['origin', 'kind'], registers });
    this.rpcs = new Counter({ name: 'cairn_grpc_requests_total', help: 'gRPC requests by method and status code', labelNames: ['method', 'code'], registers });
    this.logSize = new Gauge({ name: 'cairn_log_size', help: 'Entries in each log (latest durable checkpoint)', labelNames: ['log'], registers });
    this.cosignaturesGiven = new Counter({ name: 'cairn_witness_cosignatures_total', help: 'Checkpoints this node cosigned as a witness, by origin', labelNames: ['origin'], registers });
    this.witnessRefusals = new Counter({ name: 'cairn_witness_refusals_total', help: 'AddCheckpoint requests this witness refused, by reason', labelNames: ['reason'], registers });
    this.cosignaturesReceived = new Counter({ name: 'cairn_cosignatures_received_total', help: 'Cosignatures of this node\'s checkpoints received, by witness', labelNames: ['witness'], registers });
    this.witnessSubmitFailures = new Counter({ name: 'cairn_witness_submit_failures_total', help: 'Checkpoint submissions to a witness that failed (retried with backoff), by witness', labelNames: ['witness'], registers });
    this.anchorLag = new Histogram({
      name: 'cairn_anchor_lag_seconds',
      help: 'First checkpoint of a window issued to the window committed on the anchor backend',
      buckets: [0.5, 1, 2, 5, 6, 10, 30, 60, 300, 1800],
      registers,
    });
    this.anchorWindows = new Counter({ name: 'cairn_anchor_windows_total', help: 'Anchor windows committed, and failed submit attempts', labelNames: ['result'], registers });
    this.anchoredWindow = new Gauge({ name: 'cairn_anchor_last_window', help: 'Number of the last committed anchor window', registers });
    this.configReloadFailures = new Counter({ name: 'cairn_config_reload_failures_total', help: 'Polls at which a policy, tokens or TLS file changed but did not load', labelNames: ['file'], registers });
    this.configStale = new Gauge({ name: 'cairn_config_stale', help: '1 while the file in force is older than the file on disk, which does not load', labelNames: ['file'], registers });
    this.quotaRefusals = new Counter({ name: 'cairn_tenant_quota_refusals_total', help: 'Calls refused because a tenant was at one of its quotas (no tenant label: tenants are not named in metrics)', labelNames: ['quota'], registers });
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'cairn_' });
  }
}
