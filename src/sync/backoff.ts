/**
 * Retries with jittered exponential backoff ("full jitter": each delay is
 * uniform in [0, min(max, base * 2^attempt)], AWS Architecture Blog,
 * "Exponential Backoff And Jitter"), so many engines that lost the same Git
 * server do not return in step. Every wait ends at once when the signal
 * aborts.
 */

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** Source of randomness in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: Required<Omit<BackoffOptions, 'random'>> = { baseMs: 200, maxMs: 30_000 };

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const max = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor((opts.random ?? Math.random)() * cap);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it resolves, waiting a jittered, growing delay after each
 * failure (`onError` sees each one with the delay chosen). Rejects only with
 * the signal's reason, or with an error `retryable` refuses.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: BackoffOptions & { signal?: AbortSignal; onError?: (err: unknown, attempt: number, delayMs: number) => void; retryable?: (err: unknown) => boolean } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (opts.retryable && !opts.retryable(err)) throw err;
      const delay = backoffDelay(attempt, opts);
      opts.onError?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
