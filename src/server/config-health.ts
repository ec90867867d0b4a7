/**
 * Whether the policy, tokens and TLS files in force are the ones on disk.
 * A file that changed but does not load leaves the node running on an older
 * one: a revocation or a renewed certificate may not be in force. That must
 * be loud and measurable, not one log line: each failed poll logs an error
 * and counts `cairn_config_reload_failures_total{file}`, the
 * `cairn_config_stale{file}` gauge is 1 until the file loads, and `/healthz`
 * answers DEGRADED with the reason (docs/operations.md, "Reloading policy,
 * tokens and TLS files").
 */
import type { Logger } from '../core/logger.js';
import type { Metrics } from './metrics.js';

/** The files watched, by setting name. */
export type WatchedFile = 'policy_file' | 'tokens_file' | 'tls_files';

export interface ConfigProblem {
  file: WatchedFile;
  reason: string;
  /** When the first failed poll of this run of failures happened (ISO 8601). */
  since: string;
}

export class ConfigHealth {
  readonly #metrics: Metrics | undefined;
  readonly #log: Logger;
  readonly #problems = new Map<WatchedFile, ConfigProblem>();

  constructor(log: Logger, metrics?: Metrics) {
    this.#log = log;
    this.#metrics = metrics;
  }

  /** A file is watched: its gauge starts at 0, so dashboards see the series before any failure. */
  watch(file: WatchedFile): void {
    this.#metrics?.configStale.set({ file }, this.#problems.has(file) ? 1 : 0);
    this.#metrics?.configReloadFailures.inc({ file }, 0);
  }

  /** One failed poll: logged and counted every time. `reason` must name no secret (callers pass our own messages). */
  failed(file: WatchedFile, reason: string, inForce: string): void {
    const earlier = this.#problems.get(file);
    this.#problems.set(file, { file, reason, since: earlier?.since ?? new Date().toISOString() });
    this.#metrics?.configReloadFailures.inc({ file });
    this.#metrics?.configStale.set({ file }, 1);
    this.#log.error(`${file} not reloaded; ${inForce}`, { file, reason });
  }

  /** The file on disk is the one in force. */
  loaded(file: WatchedFile): void {
    if (this.#problems.delete(file)) this.#log.warn(`${file} loads again`, { file });
    this.#metrics?.configStale.set({ file }, 0);
  }

  problems(): ConfigProblem[] {
    return [...this.#problems.values()];
  }
}
