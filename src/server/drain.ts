/**
 * Back-pressure on server-sent streams: after a write that filled grpc-js's
 * buffer, wait for the reader to take data before writing more.
 */
import { CairnError } from '../core/errors.js';

/** The part of a writable stream (a grpc-js server call) that signals a drained buffer. */
export interface DrainableStream {
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * Resolves when `stream`'s buffer drains, or at once when `signal` aborts. A
 * reader that takes nothing for `stallMs` is cut off: a stalled stream holds
 * memory and a stream slot, and must not hold them for ever.
 * @throws CairnError DEADLINE_EXCEEDED (rejects) when the reader stalls
 */
export function drained(stream: DrainableStream, signal: AbortSignal, stallMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      stream.off('drain', go);
      signal.removeEventListener('abort', go);
      if (err) reject(err);
      else resolve();
    };
    const go = (): void => finish();
    const timer = setTimeout(
      () => finish(new CairnError('DEADLINE_EXCEEDED', `the stream's reader took no data for ${stallMs} ms (stream_stall_ms); read again from the next seq`)),
      stallMs,
    );
    stream.on('drain', go);
    signal.addEventListener('abort', go, { once: true });
  });
}
