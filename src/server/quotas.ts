/**
 * Per-tenant quotas on what tenants share: logs, appends queued for the
 * ledger, open streams and the append rate. Each is set per tenant in the
 * policy (`quotas:`), else by a node-wide default (`tenant_*` settings).
 *
 * Guarantees
 * - A tenant at a quota is refused with RESOURCE_EXHAUSTED naming its own
 *   quota and the quota's key; the message never carries another tenant's
 *   count nor the node's total.
 * - Counts are per tenant, over all its identities (per-identity limits,
 *   limits.ts, apply too), so one tenant at any quota takes nothing another
 *   tenant needs for its first append, read or stream; what is left is the
 *   node-wide `max_logs`, which the sum of the tenants' log quotas should
 *   stay under (docs/operations.md, "Tenant quotas").
 * - A log counts against the tenant whose identity created it (the identity
 *   recorded in its first entry, mapped through the policy in force); logs
 *   created by the node itself (sync targets) count against no tenant.
 *
 * With authentication off there are no tenants and no quotas.
 */
import { CairnError } from '../core/errors.js';
import type { TenantQuota } from '../auth/policy.js';
import type { Access, Caller } from './access.js';
import type { CallerLimits } from './limits.js';
import type { Metrics } from './metrics.js';

/** The node-wide defaults: every quota, for a tenant the policy sets none for. */
export type QuotaDefaults = Required<TenantQuota>;

interface Bucket {
  tokens: number;
  at: number;
}

export class TenantQuotas {
  readonly #defaults: Readonly<QuotaDefaults>;
  readonly #access: Access;
  readonly #metrics: Metrics | undefined;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #queued = new Map<string, number>();
  readonly #streams = new Map<string, number>();
  /** Log -> the identity that created it (entry identity), for the logs a tenant identity created. */
  readonly #creators = new Map<string, string>();
  /** Tenant -> logs it created, under the policy generation `#countedAt`. */
  #logs = new Map<string, number>();
  #countedAt = -1;

  constructor(defaults: QuotaDefaults, access: Access, metrics?: Metrics, now: () => number = () => performance.now()) {
    this.#defaults = defaults;
    this.#access = access;
    this.#metrics = metrics;
    this.#now = now;
  }

  /** The logs already stored and who created each (Ledger.logCreators). */
  setCreators(creators: ReadonlyMap<string, string>): void {
    for (const [log, principal] of creators) this.#creators.set(log, principal);
    this.#countedAt = -1;
  }

  #quota<K extends keyof TenantQuota>(tenant: string, key: K): number {
    return this.#access.quotaOf(tenant)[key] ?? this.#defaults[key];
  }

  #refuse(quota: string, message: string, retryAfterMs?: number): CairnError {
    this.#metrics?.quotaRefusals.inc({ quota });
    return new CairnError('RESOURCE_EXHAUSTED', message, retryAfterMs === undefined ? {} : { retryAfterMs });
  }

  /**
   * Takes one append from the tenant's bucket.
   * @throws CairnError RESOURCE_EXHAUSTED with the time until a token is back
   */
  takeAppend(tenant: string | undefined): void {
    if (tenant === undefined) return;
    const rate = this.#quota(tenant, 'appendsPerSecond');
    if (rate === 0) return;
    const burst = this.#quota(tenant, 'appendBurst');
    const now = this.#now();
    let b = this.#buckets.get(tenant);
    if (!b) {
      b = { tokens: burst, at: now };
      this.#buckets.set(tenant, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) {
      const retryAfterMs = Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / rate));
      throw this.#refuse('appends_per_second', `the tenant's append rate quota of ${rate}/s is reached (quota appends_per_second); retry in ${retryAfterMs} ms`, retryAfterMs);
    }
    b.tokens -= 1;
  }

  /**
   * Counts one append waiting for the ledger; call the returned function once when it is answered.
   * @throws CairnError RESOURCE_EXHAUSTED when the tenant has its quota of appends queued
   */
  enterQueue(tenant: string | undefined): () => void {
    if (tenant === undefined) return () => undefined;
    return this.#count(this.#queued, tenant, this.#quota(tenant, 'queuedAppends'), (max) =>
      this.#refuse('queued_appends', `the tenant's quota of ${max} queued appends is reached (quota queued_appends); retry when earlier appends are acknowledged`, 100),
    );
  }

  /**
   * Counts one open stream of the tenant; call the returned function once when it ends.
   * @throws CairnError RESOURCE_EXHAUSTED when the tenant has its quota of streams open
   */
  openStream(tenant: string | undefined): () => void {
    if (tenant === undefined) return () => undefined;
    return this.#count(this.#streams, tenant, this.#quota(tenant, 'streams'), (max) =>
      this.#refuse('streams', `the tenant's quota of ${max} open streams is reached (quota streams); close one first`, 1000),
    );
  }

  /**
   * Admits a new log for the tenant of `principal` (called by the ledger when
   * an append would create `log`, before anything is written).
   * @throws CairnError RESOURCE_EXHAUSTED when the tenant created its quota of logs
   */
  admitLog(tenant: string | undefined, principal: string, log: string): void {
    if (tenant === undefined) return;
    const counts = this.#logCounts();
    const n = counts.get(tenant) ?? 0;
    const max = this.#quota(tenant, 'logs');
    if (n >= max) throw this.#refuse('logs', `the tenant's quota of ${max} logs is reached (quota logs); log ${log} was not created`);
    counts.set(tenant, n + 1);
    this.#creators.set(log, principal);
  }

  /** Logs created per tenant, recounted when the policy changed (an identity may now map elsewhere). */
  #logCounts(): Map<string, number> {
    const generation = this.#access.generation;
    if (this.#countedAt === generation) return this.#logs;
    const counts = new Map<string, number>();
    for (const principal of this.#creators.values()) {
      const tenant = this.#access.tenantOfPrincipal(principal);
      if (tenant !== undefined) counts.set(tenant, (counts.get(tenant) ?? 0) + 1);
    }
    this.#logs = counts;
    this.#countedAt = generation;
    return counts;
  }

  #count(map: Map<string, number>, tenant: string, max: number, refuse: (max: number) => CairnError): () => void {
    const open = map.get(tenant) ?? 0;
    if (open >= max) throw refuse(max);
    map.set(tenant, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (map.get(tenant) ?? 1) - 1;
      if (n <= 0) map.delete(tenant);
      else map.set(tenant, n);
    };
  }
}

/**
 * Counts a stream against the caller's identity and its tenant, for gRPC and
 * HTTP alike; the result releases both.
 * @throws CairnError RESOURCE_EXHAUSTED naming the identity's or the tenant's own limit
 */
export function openCallerStream(limits: CallerLimits, quotas: TenantQuotas, caller: Caller): () => void {
  const identity = limits.openStream(caller.limitKey);
  let tenant: () => void;
  try {
    tenant = quotas.openStream(caller.tenant);
  } catch (err) {
    identity();
    throw err;
  }
  return () => {
    identity();
    tenant();
  };
}
