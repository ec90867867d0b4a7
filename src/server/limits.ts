/**
 * Per-identity limits: an append rate (token bucket) and a count of open
 * streams. One identity that floods the node is pushed back with
 * RESOURCE_EXHAUSTED and a retry hint; others are not slowed by it beyond
 * their share of the CPU.
 */
import { CairnError } from '../core/errors.js';

export interface LimitSettings {
  /** Appends per second per identity; 0: no limit. */
  appendsPerSecond: number;
  burst: number;
  maxStreams: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Forget idle identities past this many, so an attacker cycling identities cannot grow the maps. */
const MAX_TRACKED = 100_000;

export class CallerLimits {
  readonly #s: LimitSettings;
  readonly #buckets = new Map<string, Bucket>();
  readonly #streams = new Map<string, number>();
  readonly #now: () => number;

  constructor(settings: LimitSettings, now: () => number = () => performance.now()) {
    this.#s = settings;
    this.#now = now;
  }

  /**
   * Takes one append from `key`'s bucket.
   * @throws CairnError RESOURCE_EXHAUSTED with the time until a token is back
   */
  takeAppend(key: string): void {
    const rate = this.#s.appendsPerSecond;
    if (rate === 0) return;
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= MAX_TRACKED) this.#forgetFullBuckets(now);
      b = { tokens: this.#s.burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#s.burst, b.tokens + ((now - b.at) * rate) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) {
      const retryAfterMs = Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / rate));
      throw new CairnError('RESOURCE_EXHAUSTED', `append rate limit of ${rate}/s for this identity reached (rate_limit_appends); retry in ${retryAfterMs} ms`, { retryAfterMs });
    }
    b.tokens -= 1;
  }

  /**
   * Counts a stream against `key`; call the returned function exactly once when it ends.
   * @throws CairnError RESOURCE_EXHAUSTED when the identity has max_streams_per_identity open
   */
  openStream(key: string): () => void {
    const open = this.#streams.get(key) ?? 0;
    if (open >= this.#s.maxStreams) {
      throw new CairnError('RESOURCE_EXHAUSTED', `this identity has ${open} streams open (max_streams_per_identity); close one first`, { retryAfterMs: 1000 });
    }
    this.#streams.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.#streams.get(key) ?? 1) - 1;
      if (n <= 0) this.#streams.delete(key);
      else this.#streams.set(key, n);
    };
  }

  /** Streams `key` has open now. */
  streamsOpen(key: string): number {
    return this.#streams.get(key) ?? 0;
  }

  #forgetFullBuckets(now: number): void {
    const rate = this.#s.appendsPerSecond;
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) * rate) / 1000 >= this.#s.burst) this.#buckets.delete(k);
    }
    // Every tracked identity is active: start over rather than grow without bound.
    if (this.#buckets.size >= MAX_TRACKED) this.#buckets.clear();
  }
}
