/**
 * The sync engine of one target: compares desired state (Git) with live
 * state and records what it finds in the ledger.
 *
 * Guarantees
 * - Triggers: a new commit at the branch head (polled every
 *   `pollIntervalMs`) reconciles every key; a live event reconciles the keys
 *   it touched (a relist, every key).
 * - Each drift is recorded once: the engine remembers, per key, the drift it
 *   last recorded (status and patch digest). A drift that persists is not
 *   recorded again, a drift that changes (another patch, another status) is,
 *   and its end is recorded as `drift.resolved`, naming the entry it closes.
 *   The memory is rebuilt from the ledger at start, so a restart neither
 *   repeats open drifts nor forgets to resolve the ones that ended meanwhile.
 * - Never twice for one observation: each entry's requestId is derived from
 *   what it records and the key's previous entry (sync-entry.ts), so a retried
 *   append, also after a crash, returns the original entry.
 * - A desired state with errors (unparsable YAML, duplicate keys) is not
 *   compared at all: its errors are recorded once per commit as `sync.error`,
 *   and no drift is recorded or applied until a commit without errors:
 *   objects of a file that failed to parse are not "removed from Git".
 * - Apply mode (`dir` and `etcd`): a drift is applied (live made equal to
 *   Git, pruning objects Git does not have) and recorded as `sync.applied`
 *   with its patch. A failed apply records the drift and a `sync.error`.
 * - Failures of Git, the live source or the recorder are retried with
 *   jittered exponential backoff. `run` resolves promptly once its signal
 *   aborts: waits (backoff, poll interval, watch) end at once, and appends in
 *   flight are no longer awaited (a durable one is found again by its
 *   requestId at the next start).
 * - Secret values never reach an entry or a log line (diff.ts masks them).
 */
import { CairnError } from '../core/errors.js';
import { decodeBody } from '../core/entry.js';
import type { Logger } from '../core/logger.js';
import { backoffDelay, retry, sleep, type BackoffOptions } from './backoff.js';
import { compileIgnore, diffObject, patchDigest, PLAIN_MASK, type Change, type CompiledIgnore, type DriftStatus, type IgnoreRule, type Masker } from './diff.js';
import type { DesiredSource, DesiredState } from './git-desired.js';
import type { KubeObject, LiveEvent, LiveSource, ObjectKey } from './live-source.js';
import { formatManifestError } from './manifests.js';
import { NO_METRICS, type SyncMetrics, type SyncStage, type SyncTrigger } from './metrics.js';
import type { Recorder } from './recorder.js';
import { DRIFT_ACTION, readSyncEntry, syncAppend, TARGET_NAME_RE, type SyncAction, type SyncPayload } from './sync-entry.js';

export interface SyncTargetOptions {
  /** `[a-z0-9][a-z0-9._-]{0,62}`; entries are by operator `cairn-sync/<name>`. */
  name: string;
  /** Default `sync`. */
  log?: string;
  /** Make live match Git (sources with `apply` only). Default false: report only. */
  apply?: boolean;
  /** Default 15 s. */
  pollIntervalMs?: number;
  ignore?: readonly IgnoreRule[];
  /** The node's max_payload_bytes. Default 65536. */
  maxPayloadBytes?: number;
  backoff?: BackoffOptions;
  /** Appends in flight at once. Default 256. */
  concurrency?: number;
}

/** Told after each entry is durable (tests and benchmarks measure with it). */
export interface RecordedInfo {
  action: SyncAction;
  key: ObjectKey | null;
  seq: number;
  replayed: boolean;
  trigger: SyncTrigger;
  /** Trigger (commit seen, live event received) to entry durable. */
  latencyMs: number;
}

export interface SyncEngineDeps {
  desired: DesiredSource;
  live: LiveSource;
  recorder: Recorder;
  /** Default: `***` (no key, so a changed secret is not told apart). */
  mask?: Masker;
  metrics?: SyncMetrics;
  logger?: Logger;
  onRecorded?: (info: RecordedInfo) => void;
}

interface KeyMemo {
  /** The drift last recorded and not yet resolved. */
  open: { status: DriftStatus; digest: string; seq: number } | null;
  /** Seq of the key's last drift, resolution or apply entry: the requestId's parent. */
  lastSeq: number | null;
  /** The last apply error recorded, so a failing apply is recorded once. */
  applyError?: string;
  /** Digest and commit of the last successful apply: a drift that survives its own apply is not applied again in a loop. */
  applied?: { digest: string; commit: string };
  /** A successful apply not yet recorded (the append failed): recorded before anything else of the key. */
  pendingApply?: SyncPayload;
}

interface Work {
  all: { at: bigint; trigger: SyncTrigger } | undefined;
  keys: Map<ObjectKey, { at: bigint; trigger: SyncTrigger }>;
}

export interface ReconcileResult {
  commit: string;
  /** Every current difference (recorded now or before). */
  changes: Change[];
  recorded: number;
  /** Manifest errors of the desired state (nothing compared when non-empty). */
  desiredErrors: string[];
}

const now = (): bigint => process.hrtime.bigint();

/** Resolves with `p`, or rejects with the signal's reason once `aborted` (the signal's one listener) settles first. */
function abortable<T>(p: Promise<T>, aborted: Promise<never> | undefined): Promise<T> {
  if (!aborted) return p;
  p.catch(() => undefined);
  return Promise.race([p, aborted]);
}

/** One promise per signal that rejects when it aborts: one listener however many waits race it. */
const abortPromises = new WeakMap<AbortSignal, Promise<never>>();
function abortedPromise(signal: AbortSignal | undefined): Promise<never> | undefined {
  if (!signal) return undefined;
  let p = abortPromises.get(signal);
  if (!p) {
    p = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    p.catch(() => undefined);
    abortPromises.set(signal, p);
  }
  return p;
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class SyncEngine {
  readonly name: string;
  readonly log: string;
  readonly applyMode: boolean;
  readonly source: string;
  readonly #opts: Required<Omit<SyncTargetOptions, 'ignore' | 'backoff'>> & { backoff: BackoffOptions };
  readonly #deps: SyncEngineDeps & { mask: Masker; metrics: SyncMetrics };
  readonly #ignore: CompiledIgnore;
  #desired: DesiredState | undefined;
  #live = new Map<ObjectKey, KubeObject>();
  #liveVersion = '';
  #memory = new Map<ObjectKey, KeyMemo>();
  #work: Work = { all: undefined, keys: new Map() };
  #wake: (() => void) | undefined;
  #erroredCommit: string | undefined;
  /** The last diff of each key, by the identity of the objects compared. */
  #compared = new Map<ObjectKey, { d: KubeObject | undefined; l: KubeObject | undefined; change: Change | null }>();
  #recovered = false;

  /** @throws CairnError INVALID_ARGUMENT for a bad name, ignore rule, or apply mode on a read-only source */
  constructor(opts: SyncTargetOptions, deps: SyncEngineDeps) {
    if (!TARGET_NAME_RE.test(opts.name)) throw new CairnError('INVALID_ARGUMENT', `target name: "${opts.name}" must match [a-z0-9][a-z0-9._-]{0,62}`, { field: 'name' });
    if (opts.apply && !deps.live.apply) throw new CairnError('INVALID_ARGUMENT', `apply: the ${deps.live.kind} live source is read-only; apply mode needs dir or etcd`, { field: 'apply' });
    this.#ignore = compileIgnore(opts.ignore ?? []);
    this.#opts = {
      name: opts.name,
      log: opts.log ?? 'sync',
      apply: opts.apply ?? false,
      pollIntervalMs: opts.pollIntervalMs ?? 15_000,
      maxPayloadBytes: opts.maxPayloadBytes ?? 64 * 1024,
      concurrency: opts.concurrency ?? 256,
      backoff: opts.backoff ?? {},
    };
    this.#deps = { ...deps, mask: deps.mask ?? PLAIN_MASK, metrics: deps.metrics ?? NO_METRICS };
    this.name = opts.name;
    this.log = this.#opts.log;
    this.applyMode = this.#opts.apply;
    this.source = `${deps.desired.describe} -> ${deps.live.describe}`;
  }

  /** The drifts recorded and not resolved, by key. */
  openDrifts(): Map<ObjectKey, { status: DriftStatus; seq: number }> {
    const out = new Map<ObjectKey, { status: DriftStatus; seq: number }>();
    for (const [k, m] of this.#memory) if (m.open) out.set(k, { status: m.open.status, seq: m.open.seq });
    return out;
  }

  get commit(): string | undefined {
    return this.#desired?.commit;
  }

  /**
   * Runs until `signal` aborts, then resolves. Never rejects for a failure of
   * Git, the live source or the recorder: those are retried.
   */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.#retry('history', () => this.#recover(signal), signal);
      await this.#retry('live', () => this.#relist(signal), signal);
      await this.#retry('git', () => this.#poll(signal), signal);
      await Promise.all([this.#pollLoop(signal), this.#watchLoop(signal), this.#reconcileLoop(signal)]);
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      this.#wake?.();
    }
  }

  /** One pass without watching or retrying: history, list, head, read, reconcile, record. */
  async runOnce(signal?: AbortSignal): Promise<ReconcileResult> {
    await this.#recover(signal);
    await this.#relist(signal);
    await this.#poll(signal);
    const work = this.#take();
    const r = await this.#reconcile(work, signal);
    if (r.failed.length > 0) throw r.failed[0]!.error;
    return r.result;
  }

  async #retry<T>(stage: SyncStage, fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return retry(fn, {
      ...this.#opts.backoff,
      signal,
      onError: (err, attempt, delayMs) => {
        this.#deps.metrics.reconcileError(this.name, stage);
        this.#deps.logger?.warn('sync: retrying', { target: this.name, stage, attempt, delayMs, error: err });
      },
    });
  }

  /** Rebuilds the drift memory from this target's entries in the log. */
  async #recover(signal?: AbortSignal): Promise<void> {
    if (this.#recovered) return;
    const memory = new Map<ObjectKey, KeyMemo>();
    for await (const e of this.#deps.recorder.history(this.log, signal)) {
      let rec;
      try {
        rec = readSyncEntry(decodeBody(e.body));
      } catch {
        continue; // not ours to judge here: `cairn verify` reports malformed entries
      }
      if (!rec || rec.target !== this.name || rec.payload.key === null) continue;
      const key = rec.payload.key;
      const m = memory.get(key) ?? { open: null, lastSeq: null };
      memory.set(key, m);
      if (rec.action === 'sync.error') {
        m.applyError = rec.payload.error;
        continue;
      }
      m.lastSeq = rec.seq;
      if (rec.action === 'drift.resolved' || rec.action === 'sync.applied') m.open = null;
      else m.open = { status: rec.payload.status as DriftStatus, digest: rec.payload.patchDigest, seq: rec.seq };
    }
    this.#memory = memory;
    this.#recovered = true;
    this.#reportOpen();
  }

  async #relist(signal?: AbortSignal): Promise<void> {
    const snap = await this.#deps.live.list(signal);
    this.#live = new Map(snap.objects);
    this.#liveVersion = snap.version;
    this.#markAll(now(), 'live');
  }

  /** Reads the branch head; a new commit replaces the desired state and marks every key. */
  async #poll(signal?: AbortSignal): Promise<void> {
    const commit = await this.#deps.desired.head(signal);
    const seenAt = now();
    if (commit === this.#desired?.commit) return;
    const state = await this.#deps.desired.read(commit, signal);
    this.#desired = state;
    this.#deps.logger?.info('sync: desired state', { target: this.name, commit, objects: state.objects.size, errors: state.errors.length });
    this.#markAll(seenAt, 'commit');
  }

  async #pollLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#opts.pollIntervalMs, signal);
      await this.#retry('git', () => this.#poll(signal), signal);
    }
  }

  async #watchLoop(signal: AbortSignal): Promise<void> {
    let restarts = 0;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.#deps.live.watch(this.#liveVersion, (e) => this.#onLiveEvent(e), signal, () => this.#deps.metrics.watchRestart(this.name));
      } catch (e) {
        if (signal.aborted) return;
        this.#deps.logger?.warn('sync: live watch failed', { target: this.name, error: e });
      }
      if (signal.aborted) return;
      this.#deps.metrics.watchRestart(this.name);
      if (Date.now() - started > 30_000) restarts = 0;
      await sleep(backoffDelay(restarts++, this.#opts.backoff), signal);
      await this.#retry('live', () => this.#relist(signal), signal);
    }
  }

  #onLiveEvent(e: LiveEvent): void {
    if (e.type === 'resync') {
      this.#live = new Map(e.objects);
      this.#markAll(e.receivedAt, 'live');
      return;
    }
    if (e.type === 'upsert') this.#live.set(e.key, e.object);
    else this.#live.delete(e.key);
    if (!this.#work.keys.has(e.key)) this.#work.keys.set(e.key, { at: e.receivedAt, trigger: 'live' });
    this.#wake?.();
  }

  #markAll(at: bigint, trigger: SyncTrigger): void {
    if (!this.#work.all || at < this.#work.all.at) this.#work.all = { at, trigger };
    this.#wake?.();
  }

  #take(): Work {
    const w = this.#work;
    this.#work = { all: undefined, keys: new Map() };
    return w;
  }

  async #reconcileLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    const onAbort = (): void => this.#wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (!this.#work.all && this.#work.keys.size === 0) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        failures = await this.#reconcileStep(failures, signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** One reconcile of the pending work; returns the new count of consecutive failures. */
  async #reconcileStep(failures: number, signal: AbortSignal): Promise<number> {
    const work = this.#take();
    let failed: { key: ObjectKey | null; error: unknown }[];
    let retryKeys: ObjectKey[] = [];
    try {
      const r = await this.#reconcile(work, signal);
      failed = r.failed;
      retryKeys = r.applyFailed;
    } catch (e) {
      if (signal.aborted) return failures;
      failed = [{ key: null, error: e }];
    }
    if (failed.length === 0 && retryKeys.length === 0) return 0;
    if (signal.aborted) return failures;
    const delayMs = backoffDelay(failures, this.#opts.backoff);
    if (failed.length > 0) {
      this.#deps.metrics.reconcileError(this.name, 'record');
      this.#deps.logger?.warn('sync: recording failed, retrying', { target: this.name, failed: failed.length, delayMs, error: failed[0]!.error });
    }
    // Put the failed work back (a whole-state failure marks everything); failed applies are tried again too.
    if (failed.some((f) => f.key === null)) this.#work.all ??= work.all ?? { at: now(), trigger: 'live' };
    for (const k of [...failed.map((f) => f.key), ...retryKeys]) {
      if (k !== null && !this.#work.keys.has(k)) this.#work.keys.set(k, work.keys.get(k) ?? work.all ?? { at: now(), trigger: 'live' });
    }
    await sleep(delayMs, signal).catch(() => undefined);
    return failures + 1;
  }

  async #record(action: SyncAction, key: ObjectKey | null, configId: string, payload: SyncPayload, parentSeq: number | null, trigger: { at: bigint; trigger: SyncTrigger }, signal?: AbortSignal, extra?: string): Promise<number> {
    const input = syncAppend({ log: this.log, target: this.name, source: this.source, action, configId, payload, parentSeq, extra, maxPayloadBytes: this.#opts.maxPayloadBytes });
    const r = await abortable(this.#deps.recorder.append(input), abortedPromise(signal));
    const latencyMs = Number(now() - trigger.at) / 1e6;
    this.#deps.metrics.latency(this.name, trigger.trigger, latencyMs / 1000);
    this.#deps.metrics.recorded(this.name, action);
    this.#deps.onRecorded?.({ action, key, seq: r.seq, replayed: r.replayed, trigger: trigger.trigger, latencyMs });
    return r.seq;
  }

  #payload(key: ObjectKey | null, status: SyncPayload['status'], patch: SyncPayload['patch'], digest: string, extra: Partial<SyncPayload> = {}): SyncPayload {
    return { target: this.name, key, status, patch, commit: this.#desired!.commit, patchDigest: digest, ...extra };
  }

  async #reconcile(work: Work, signal?: AbortSignal): Promise<{ result: ReconcileResult; failed: { key: ObjectKey | null; error: unknown }[]; applyFailed: ObjectKey[] }> {
    const desired = this.#desired;
    const failed: { key: ObjectKey | null; error: unknown }[] = [];
    const applyFailed: ObjectKey[] = [];
    let recorded = 0;
    if (!desired) return { result: { commit: '', changes: [], recorded, desiredErrors: [] }, failed, applyFailed };
    const commit = desired.commit;
    const desiredErrors = desired.errors.map(formatManifestError);
    if (desired.errors.length > 0) {
      if (this.#erroredCommit !== commit) {
        this.#deps.logger?.warn('sync: desired state has errors; nothing compared until a commit without them', { target: this.name, commit, errors: desiredErrors.slice(0, 20) });
        const trig = work.all ?? { at: now(), trigger: 'commit' as const };
        const empty = patchDigest([]);
        await pool(desired.errors, this.#opts.concurrency, async (e) => {
          try {
            await this.#record('sync.error', null, `file:${e.file}`, this.#payload(null, 'ERROR', null, empty, { error: formatManifestError(e), file: e.file, document: e.document }), null, trig, signal, `${e.code}:${e.file}#${e.document}:${e.message}`);
            recorded++;
          } catch (err) {
            failed.push({ key: null, error: err });
          }
        });
        if (failed.length === 0) this.#erroredCommit = commit;
      }
      return { result: { commit, changes: [], recorded, desiredErrors }, failed, applyFailed };
    }

    const keys = new Set<ObjectKey>();
    if (work.all) {
      for (const k of desired.objects.keys()) keys.add(k);
      for (const k of this.#live.keys()) keys.add(k);
      for (const [k, m] of this.#memory) if (m.open) keys.add(k);
    } else for (const k of work.keys.keys()) keys.add(k);

    const opts = { ignore: this.#ignore, mask: this.#deps.mask, listKeys: this.#deps.live.listKeys };
    const changes: Change[] = [];
    const todo: { key: ObjectKey; change: Change | null }[] = [];
    for (const key of [...keys].sort()) {
      const d = desired.objects.get(key);
      const l = this.#live.get(key);
      // Unchanged objects keep their identity (Git's parsed-blob cache, the live map), so their diff is reused.
      const cached = this.#compared.get(key);
      const change = cached && cached.d === d && cached.l === l ? cached.change : diffObject(key, d, l, opts);
      if (d || l) this.#compared.set(key, { d, l, change });
      else this.#compared.delete(key);
      if (change) changes.push(change);
      const m = this.#memory.get(key);
      const same = change && m?.open && m.open.digest === change.digest && m.open.status === change.status;
      if (m?.pendingApply || (change && (!same || this.#opts.apply)) || (!change && m?.open)) todo.push({ key, change });
    }

    await pool(todo, this.#opts.concurrency, async ({ key, change }) => {
      const trig = work.keys.get(key) ?? work.all ?? { at: now(), trigger: 'live' as const };
      const m = this.#memory.get(key) ?? { open: null, lastSeq: null };
      this.#memory.set(key, m);
      try {
        if (m.pendingApply) {
          // An apply that happened but whose entry did not get recorded: record it first.
          await this.#recordApplied(key, m, trig, signal);
          recorded++;
        }
        if (!change) {
          if (!m.open) return;
          const seq = await this.#record('drift.resolved', key, key, this.#payload(key, 'RESOLVED', [], patchDigest([]), { resolves: m.open!.seq }), m.lastSeq, trig, signal);
          m.open = null;
          m.lastSeq = seq;
          recorded++;
        } else if (this.#opts.apply) {
          const r = await this.#applyChange(key, change, m, trig, signal);
          recorded += r.recorded;
          if (r.failed) applyFailed.push(key);
        } else {
          const seq = await this.#record(DRIFT_ACTION[change.status], key, key, this.#payload(key, change.status, change.patch, change.digest), m.lastSeq, trig, signal);
          m.open = { status: change.status, digest: change.digest, seq };
          m.lastSeq = seq;
          recorded++;
        }
      } catch (error) {
        if (signal?.aborted) throw error;
        failed.push({ key, error });
      }
    });
    this.#reportOpen();
    return { result: { commit, changes, recorded, desiredErrors }, failed, applyFailed };
  }

  /** Apply mode: make live match Git for one key, and record what happened. A failed apply is retried with backoff. */
  async #applyChange(key: ObjectKey, change: Change, m: KeyMemo, trig: { at: bigint; trigger: SyncTrigger }, signal?: AbortSignal): Promise<{ recorded: number; failed: boolean }> {
    const commit = this.#desired!.commit;
    const same = m.open && m.open.digest === change.digest && m.open.status === change.status;
    let n = 0;
    // The same drift right after applying it: the apply did not hold (something reverts it). Record, do not loop.
    const reverted = m.applied && m.applied.digest === change.digest && m.applied.commit === commit;
    let error: string | undefined;
    if (!reverted) {
      const target = this.#desired!.objects.get(key);
      try {
        await abortable(this.#deps.live.apply!(key, target ?? null), abortedPromise(signal));
        // Live is what was applied until the watch says otherwise: a reconcile that runs before the
        // watch event must not take the old object for a revert.
        if (target) this.#live.set(key, target);
        else this.#live.delete(key);
      } catch (e) {
        if (signal?.aborted) throw e;
        this.#deps.metrics.reconcileError(this.name, 'apply');
        error = e instanceof CairnError ? `[${e.code}] ${e.message}` : (e as Error).message ?? String(e);
        this.#deps.logger?.warn('sync: apply failed', { target: this.name, key, error: e });
      }
      if (error === undefined) {
        m.applyError = undefined;
        m.applied = { digest: change.digest, commit };
        m.pendingApply = this.#payload(key, change.status, change.patch, change.digest, m.open ? { resolves: m.open.seq } : {});
        await this.#recordApplied(key, m, trig, signal);
        return { recorded: 1, failed: false };
      }
    }
    if (!same) {
      const seq = await this.#record(DRIFT_ACTION[change.status], key, key, this.#payload(key, change.status, change.patch, change.digest), m.lastSeq, trig, signal);
      m.open = { status: change.status, digest: change.digest, seq };
      m.lastSeq = seq;
      n++;
    }
    if (error !== undefined && m.applyError !== error) {
      await this.#record('sync.error', key, key, this.#payload(key, 'ERROR', null, change.digest, { error }), m.lastSeq, trig, signal, error);
      m.applyError = error;
      n++;
    }
    return { recorded: n, failed: error !== undefined };
  }

  /** Records `m.pendingApply` as sync.applied; it stays pending (retried) if recording fails. */
  async #recordApplied(key: ObjectKey, m: KeyMemo, trig: { at: bigint; trigger: SyncTrigger }, signal?: AbortSignal): Promise<void> {
    const seq = await this.#record('sync.applied', key, key, m.pendingApply!, m.lastSeq, trig, signal);
    m.pendingApply = undefined;
    m.open = null;
    m.lastSeq = seq;
  }

  #reportOpen(): void {
    const counts: Record<string, number> = {};
    for (const m of this.#memory.values()) if (m.open) counts[m.open.status] = (counts[m.open.status] ?? 0) + 1;
    this.#deps.metrics.openDrifts(this.name, counts);
  }
}
