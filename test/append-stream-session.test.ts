/**
 * AppendStreamSession's guarantees, on a real Node Duplex stream (what a
 * grpc-js call is) whose reader the test controls: replies in request order,
 * reading paused at the in-flight limit, the end only after the last reply,
 * a stalled reader or a failed answer ends the stream, and nothing is written
 * after the end.
 */
import t from 'tap';
import { Duplex } from 'node:stream';
import { AppendStreamSession } from '../src/server/append-stream-session.js';
import { CairnError } from '../src/core/errors.js';

/** Lets pending promise callbacks, nextTicks and stream events run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise the test settles by hand. */
function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A duplex whose reader takes each write at once, or, while `slow`, only when
 * the test calls `take()`. `written` is every reply the reader has been handed.
 */
function transport(opts: { highWaterMark: number; slow?: boolean }) {
  const written: string[] = [];
  const held: (() => void)[] = [];
  const stream = new Duplex({
    objectMode: true,
    writableHighWaterMark: opts.highWaterMark,
    read() {},
    write(chunk: string, _enc, cb) {
      written.push(chunk);
      if (opts.slow) held.push(() => cb());
      else cb();
    },
  });
  return {
    stream,
    written,
    /** The reader takes the oldest reply it holds. */
    take(): void {
      held.shift()?.();
    },
  };
}

/** A session whose answer to request `i` is whatever the test settles `answers[i]` with. */
function session(stream: Duplex, opts: { maxInFlight?: number; stallMs?: number } = {}) {
  const answers: ReturnType<typeof deferred<string>>[] = [];
  const ends: unknown[] = [];
  const s = new AppendStreamSession<string, string>(stream, {
    answer: (req, index) => {
      const d = deferred<string>();
      answers[index] = d;
      return d.promise.then((v) => `${index}:${req}:${v}`);
    },
    end: (err) => ends.push(err),
    maxInFlight: opts.maxInFlight ?? 1024,
    stallMs: opts.stallMs ?? 10_000,
  });
  return { s, answers, ends };
}

t.test('replies go out in request order, whatever order the appends finish in', async (t) => {
  const { stream, written } = transport({ highWaterMark: 16 });
  const { s, answers } = session(stream);
  for (const req of ['a', 'b', 'c']) s.receive(req);
  answers[2]!.resolve('ok');
  await settle();
  t.same(written, [], 'the third reply waits for the first two');
  answers[0]!.resolve('ok');
  await settle();
  t.same(written, ['0:a:ok'], 'the first reply goes out as soon as it is ready');
  answers[1]!.resolve('ok');
  await settle();
  t.same(written, ['0:a:ok', '1:b:ok', '2:c:ok']);
});

t.test('after the client half-closes, the stream ends once every reply is written, never before', async (t) => {
  const { stream, written } = transport({ highWaterMark: 16 });
  const { s, answers, ends } = session(stream);
  s.receive('a');
  s.receive('b');
  s.halfClose();
  await settle();
  t.same(ends, [], 'not ended with two replies in flight');
  answers[1]!.resolve('ok');
  await settle();
  t.same(ends, [], 'not ended with the first reply in flight');
  answers[0]!.resolve('ok');
  await settle();
  t.same(written, ['0:a:ok', '1:b:ok']);
  t.same(ends, [undefined], 'ended once, with no error');
});

t.test('a half-close with nothing in flight ends the stream', async (t) => {
  const { stream } = transport({ highWaterMark: 16 });
  const { s, ends } = session(stream);
  s.halfClose();
  await settle();
  t.same(ends, [undefined]);
});

t.test('at maxInFlight requests in flight reading pauses, and it resumes below half of it', async (t) => {
  const { stream } = transport({ highWaterMark: 16 });
  const { s, answers } = session(stream, { maxInFlight: 4 });
  const seen: string[] = [];
  const look = (when: string): void => void seen.push(`${when}: ${stream.isPaused() ? 'paused' : 'reading'}`);
  for (const req of ['a', 'b', 'c']) s.receive(req);
  look('3 in flight');
  s.receive('d');
  look('4 in flight');
  for (const i of [0, 1, 2]) {
    answers[i]!.resolve('ok');
    await settle();
    look(`${3 - i} in flight`);
  }
  t.same(seen, ['3 in flight: reading', '4 in flight: paused', '3 in flight: paused', '2 in flight: paused', '1 in flight: reading']);
});

t.test('a reply written into a full buffer waits for the reader, then the stream goes on', async (t) => {
  const { stream, written, take } = transport({ highWaterMark: 1, slow: true });
  const { s, answers, ends } = session(stream);
  for (const req of ['a', 'b', 'c']) s.receive(req);
  s.halfClose();
  for (const a of answers) a.resolve('ok');
  await settle();
  t.same(written, ['0:a:ok'], 'the second reply waits for the first to be taken');
  take();
  await settle();
  t.same(written, ['0:a:ok', '1:b:ok']);
  take();
  await settle();
  t.same(written, ['0:a:ok', '1:b:ok', '2:c:ok']);
  t.same(ends, [], 'not ended while the last reply waits in the buffer');
  take();
  await settle();
  t.same(ends, [undefined]);
  t.equal(s.inFlight, 0);
});

t.test('a reader that takes no data for stallMs ends the stream with DEADLINE_EXCEEDED, and nothing more is written', async (t) => {
  const { stream, written, take } = transport({ highWaterMark: 1, slow: true });
  const { s, answers, ends } = session(stream, { stallMs: 50 });
  s.receive('a');
  s.receive('b');
  for (const a of answers) a.resolve('ok');
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.equal(ends.length, 1);
  t.equal((ends[0] as CairnError).code, 'DEADLINE_EXCEEDED');
  take();
  await settle();
  s.receive('c');
  await settle();
  t.same(written, ['0:a:ok'], 'nothing written after the end');
  t.equal(answers.length, 2, 'a request after the end is not appended');
  t.equal(ends.length, 1, 'ended once');
});

t.test('an answer that rejects ends the stream with its error, after the replies before it', async (t) => {
  const { stream, written } = transport({ highWaterMark: 16 });
  const { s, answers, ends } = session(stream);
  for (const req of ['a', 'b', 'c']) s.receive(req);
  s.halfClose();
  const boom = new CairnError('INTERNAL', 'boom');
  answers[2]!.resolve('ok');
  answers[1]!.reject(boom);
  await settle();
  t.same(written, [], 'the failure waits its turn');
  t.same(ends, []);
  answers[0]!.resolve('ok');
  await settle();
  t.same(written, ['0:a:ok'], 'no reply after the failed one');
  t.same(ends, [boom], 'ended once, with the error');
});

t.test('cancel ends the stream at once with no error; replies in flight and later requests are dropped', async (t) => {
  const { stream, written } = transport({ highWaterMark: 16 });
  const { s, answers, ends } = session(stream);
  s.receive('a');
  s.cancel();
  t.same(ends, [undefined], 'ended at once');
  answers[0]!.resolve('ok');
  s.receive('b');
  s.halfClose();
  await settle();
  t.same(written, []);
  t.equal(answers.length, 1, 'a request after the cancel is not appended');
  t.same(ends, [undefined], 'ended once');
});
