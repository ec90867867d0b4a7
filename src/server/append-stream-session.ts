/**
 * The state of one AppendStream call: which request is which (its index),
 * how many are in flight, and when the stream may end.
 *
 * Guarantees
 * - Replies go out in request order, whatever order the appends finish in;
 *   each reply carries its request's index.
 * - At most `maxInFlight` requests are in flight: at that many, reading
 *   pauses (HTTP/2 flow control then holds the client back) and resumes below
 *   half of it, so one stream cannot queue without bound.
 * - After the client half-closes, the stream ends once every reply is
 *   written, never before.
 * - A reader that takes no data for `stallMs` ends the stream with
 *   DEADLINE_EXCEEDED; after the end, nothing more is written.
 */
import { drained, type DrainableStream } from './drain.js';

/** The parts of a grpc-js duplex call (a Node Duplex stream) the session drives. */
export interface ReplyStream<Reply> extends DrainableStream {
  /** false: the buffer is full, wait for 'drain'. */
  write(reply: Reply): boolean;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
}

export interface AppendStreamSessionOptions<Req, Reply> {
  /**
   * The reply to request number `index`. A failed append is a reply, not a
   * rejection: a rejection ends the whole stream with that error.
   */
  answer(req: Req, index: number): Promise<Reply>;
  /**
   * Called exactly once, when the stream is over: with no error after the
   * last reply following the client's half-close, or after cancel(); with the
   * error that ended it otherwise.
   */
  end(err?: unknown): void;
  maxInFlight: number;
  stallMs: number;
}

type Outcome<Reply> = { reply: Reply } | { err: unknown };

export class AppendStreamSession<Req, Reply> {
  readonly #stream: ReplyStream<Reply>;
  readonly #opts: Readonly<AppendStreamSessionOptions<Req, Reply>>;
  /** Aborted when the session ends, to stop waiting for a drain. */
  readonly #ac = new AbortController();
  #nextIndex = 0;
  #inFlight = 0;
  #halfClosed = false;
  #finished = false;
  /** Replies are written one after another along this chain, in request order. */
  #tail: Promise<void> = Promise.resolve();

  constructor(stream: ReplyStream<Reply>, opts: AppendStreamSessionOptions<Req, Reply>) {
    this.#stream = stream;
    this.#opts = opts;
  }

  /** Requests received and not yet answered on the stream. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** One request from the client: starts its append at once, queues its reply behind the earlier ones. */
  receive(req: Req): void {
    if (this.#finished) return;
    const index = this.#nextIndex++;
    this.#inFlight++;
    if (this.#inFlight >= this.#opts.maxInFlight) this.#stream.pause();
    // The outcome is settled here, so a rejection waiting its turn is never unhandled.
    const outcome = (async () => this.#opts.answer(req, index))().then(
      (reply): Outcome<Reply> => ({ reply }),
      (err: unknown): Outcome<Reply> => ({ err }),
    );
    this.#tail = this.#tail.then(() => this.#send(outcome));
  }

  /** The client sent its last request: end once the replies in flight are written. */
  halfClose(): void {
    this.#halfClosed = true;
    void this.#tail.then(() => this.#endIfDone());
  }

  /** The client went away: end now, write nothing more. */
  cancel(): void {
    this.#finish();
  }

  async #send(pending: Promise<Outcome<Reply>>): Promise<void> {
    const outcome = await pending;
    if ('err' in outcome) return this.#finish(outcome.err);
    if (this.#finished) return;
    if (!this.#stream.write(outcome.reply)) {
      try {
        await drained(this.#stream, this.#ac.signal, this.#opts.stallMs);
      } catch (err) {
        return this.#finish(err);
      }
    }
    this.#inFlight--;
    if (this.#inFlight < this.#opts.maxInFlight / 2 && this.#stream.isPaused()) this.#stream.resume();
    this.#endIfDone();
  }

  #endIfDone(): void {
    if (this.#halfClosed && this.#inFlight === 0) this.#finish();
  }

  #finish(err?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#ac.abort();
    this.#opts.end(err);
  }
}
