/**
 * Hostile input over real gRPC on loopback: property-based fuzzing (fast-check,
 * fixed seeds) of every method of cairn.ledger.v1.Ledger against a real node.
 *
 * 1. Typed requests (proto-loader client) with adversarial field values: every
 *    call ends with OK, INVALID_ARGUMENT (details "<field>: ..." and a
 *    cairn-field trailer naming the same field), NOT_FOUND,
 *    FAILED_PRECONDITION or RESOURCE_EXHAUSTED, within a deadline.
 * 2. Raw bytes (identity serializer) to every method path. Bytes the
 *    proto-loader deserializer cannot decode are refused by grpc-js itself,
 *    before any handler runs, with INTERNAL "Error deserializing request"
 *    (grpc-js 1.14 server-interceptors.js: a failed handler.deserialize is
 *    sent as Status.INTERNAL). Bytes it can decode get the same answers as in
 *    (1). The node keeps answering GetPublicKey after each case.
 * 3. Afterwards every log passes `cairn verify`, and holds exactly as many
 *    entries as the OK, non-replayed appends counted here.
 */
import t from 'tap';
import type * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { startTestNode, runCli } from './helpers/node.js';
import { ledgerServiceDefinition } from '../src/api/proto.js';
import { appendStream, deep, ledgerClient, preview, rawLedgerClient, S, serverStream, unary, type Outcome, type Req, type StreamResult } from './helpers/grpc-fuzz.js';

const tn = await startTestNode({ 'anchor-interval-ms': '100' });
t.teardown(() => tn.close());
const address = tn.node.grpcAddress;
const started = Date.now();

const client = ledgerClient(address);
t.teardown(() => client.close());

const ALLOWED = new Set<number>([S.OK, S.INVALID_ARGUMENT, S.NOT_FOUND, S.FAILED_PRECONDITION, S.RESOURCE_EXHAUSTED]);
/** Every request field a cairn-field trailer may name (proto names). */
const FIELDS = new Set([
  'log', 'config_id', 'operator', 'action', 'source', 'commit', 'payload_json', 'request_id',
  'seq', 'start', 'end', 'size', 'from_size', 'to_size', 'window', 'from_window', 'limit',
  'old_size', 'consistency_proof', 'checkpoint', 'key_chain', 'min_cosignatures', 'origin',
]);
/** A watch that neither sends nor ends within this is following a log live: cancelled. */
const WATCH_FOLLOW_MS = 60;

// ---------------------------------------------------------------- bookkeeping

const cases = new Map<string, number>();
const statuses = new Map<string, Map<string, number>>();
/** OK, non-replayed appends per log: what each log's size must be at the end. */
const appended = new Map<string, number>();

function record(method: string, outcome: string): void {
  const m = statuses.get(method) ?? new Map<string, number>();
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
  statuses.set(method, m);
}
function countCase(method: string): void {
  cases.set(method, (cases.get(method) ?? 0) + 1);
}
function countReceipt(r: { entry?: { log?: string }; replayed?: boolean } | undefined, where: string): void {
  const log = r?.entry?.log;
  if (!log) throw new Error(`${where}: OK without an entry`);
  if (!r.replayed) appended.set(log, (appended.get(log) ?? 0) + 1);
}

/** Checks one status against the property; throws (for fast-check) when it breaks it. */
function check(method: string, o: Outcome, what: unknown): void {
  record(method, S[o.code] ?? String(o.code));
  if (!ALLOWED.has(o.code)) {
    throw new Error(`${method}: status ${S[o.code]} (${o.details}) for ${preview(what)}`);
  }
  if (o.code === S.INVALID_ARGUMENT) checkField(method, o.details, o.metadata?.get('cairn-field')[0], what);
}
function checkField(method: string, details: string, field: unknown, what: unknown): void {
  if (typeof field !== 'string' || !FIELDS.has(field)) {
    throw new Error(`${method}: INVALID_ARGUMENT without a known cairn-field (${String(field)}; ${details}) for ${preview(what)}`);
  }
  if (!details.startsWith(`${field}: `)) {
    throw new Error(`${method}: INVALID_ARGUMENT details do not start with "${field}: " (${details}) for ${preview(what)}`);
  }
}
// ---------------------------------------------------------------- calls

function checkStreamResults(method: string, o: Outcome & { results: StreamResult[] }, sent: number, what: unknown): void {
  check(method, o, what);
  if (o.code !== S.OK) return;
  if (o.results.length !== sent) throw new Error(`${method}: ${o.results.length} results for ${sent} requests: ${preview(what)}`);
  o.results.forEach((r, i) => {
    if (r.index !== String(i)) throw new Error(`${method}: result ${i} has index ${r.index}`);
    if (r.receipt) {
      record(`${method} result`, 'OK');
      countReceipt(r.receipt, method);
    } else if (r.error) {
      record(`${method} result`, S[r.error.code] ?? String(r.error.code));
      if (!ALLOWED.has(r.error.code) || r.error.code === S.OK) throw new Error(`${method}: result ${i} is ${S[r.error.code]} (${r.error.message})`);
      if (r.error.code === S.INVALID_ARGUMENT) checkField(`${method} result`, r.error.message, r.error.field, what);
    } else throw new Error(`${method}: result ${i} has neither receipt nor error`);
  });
}

// ---------------------------------------------------------------- arbitraries

/** Logs that may exist: few, so that verifying each at the end stays cheap. */
const LOGS = ['fz-a', 'fz-b', 'fz.c_9', '0', 'z'.repeat(63)];
const wellFormed = (s: string): boolean => s.isWellFormed();
const huge = fc.constantFrom(257, 513, 4096, 65_537, 1 << 20).map((n) => 'y'.repeat(n));
/** Strings a client should not send; lone surrogates are left out: protobufjs cannot encode them (they arrive as U+FFFD). */
const adversarial: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }).filter(wellFormed),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc
    .tuple(fc.constantFrom('\u0000', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009f', '\u2028', '\u200b', '\ufeff', '\u00a0', ' '), fc.constantFrom('pre', 'mid', 'post'))
    .map(([c, where]) => (where === 'pre' ? `${c}x` : where === 'post' ? `x${c}` : `x${c}y`)),
  fc.constantFrom('😀'.repeat(129), '\u{10ffff}', 'é', 'e\u0301', '日本語', 'ﬁ', '../../etc/passwd', '%s%n', '${x}', 'a'.repeat(64), 'A', '-a', '.a', 'a/b', 'a b'),
  huge,
);
const validLog = fc.constantFrom(...LOGS);
const anyLog = fc.oneof({ arbitrary: validLog, weight: 6 }, { arbitrary: fc.constantFrom('nope', 'missing-log'), weight: 1 }, { arbitrary: adversarial, weight: 2 });

const payload: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant(''), weight: 3 },
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 6 },
  { arbitrary: fc.integer({ min: 1, max: 40 }).map((n) => deep(n, '[', '', ']')), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 40 }).map((n) => deep(n, '{"a":', '1', '}')), weight: 2 },
  { arbitrary: fc.constantFrom(deep(30_000, '[', '', ']'), deep(10_000, '{"a":', '1', '}'), '['.repeat(30_000)), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      '1e400', '-1e400', '[1e400]', '{"a":{"b":-1e400}}', '1e-400', '-0', '0.1e999999', '123456789012345678901234567890', '9007199254740993',
      '{"a":1,"a":2}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":1}}', '"\\ud800"', '"\\udc00\\ud800"', '{"\\ud800":1}',
      '"\\u0000"', '[1,]', "{'a':1}", 'NaN', 'Infinity', 'undefined', ' ', '\ufeff{}', '{"a":1}garbage', '{"a":1} ', 'null', 'true', '[]', '{}',
      '"\u2028"', '01', '😀'.repeat(6), 'aaaaaaaaa😀😀', // V8 quotes invalid JSON cut mid surrogate pair: crashed the node
      '.5', '+1', '0x10', '{"a"}', '"unterminated',
      JSON.stringify('x'.repeat(64 * 1024 - 2)), JSON.stringify('x'.repeat(64 * 1024 - 1)), JSON.stringify('€'.repeat(21_845)), JSON.stringify('€'.repeat(21_846)),
    ),
    weight: 4,
  },
  { arbitrary: adversarial, weight: 2 },
);
const field = (valid: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.oneof({ arbitrary: valid, weight: 5 }, { arbitrary: adversarial, weight: 1 });
const appendRequest: fc.Arbitrary<Req> = fc.record({
  log: fc.oneof({ arbitrary: validLog, weight: 8 }, { arbitrary: adversarial, weight: 1 }),
  configId: field(fc.oneof(fc.stringMatching(/^[a-z][a-z0-9/._-]{0,40}$/), fc.constantFrom('payments/é/日本', 'c'.repeat(256), 'x 😀 y'))),
  operator: field(fc.oneof(fc.stringMatching(/^[a-z]{1,10}@example\.com$/), fc.constantFrom('o'.repeat(256), 'Ωmega'))),
  action: field(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/)),
  source: fc.oneof(fc.constant(''), field(fc.constantFrom('https://ci.example.com/job/1', 's'.repeat(512)))),
  commit: fc.oneof(fc.constant(''), field(fc.oneof(fc.stringMatching(/^[0-9a-f]{7,40}$/), fc.stringMatching(/^[0-9a-f]{64}$/)))),
  payloadJson: payload,
  requestId: fc.oneof(
    { arbitrary: fc.constant(''), weight: 4 },
    { arbitrary: fc.constantFrom('dup-1', 'dup-2', '!'.repeat(128)), weight: 2 },
    { arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,40}$/), weight: 2 },
    { arbitrary: adversarial, weight: 1 },
  ),
});

/** uint64 as proto-loader's decimal strings, around every boundary that matters. */
const u64 = fc.oneof(
  { arbitrary: fc.constantFrom('0', '1', '2', '9007199254740991', '9007199254740992', '9007199254740993', '4294967295', '4294967296', '18446744073709551615', '18446744073709551614'), weight: 3 },
  { arbitrary: fc.nat({ max: 40 }).map(String), weight: 4 },
  { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String), weight: 2 },
);
const uint32 = fc.oneof(fc.constantFrom(0, 1, 1000, 1001, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2000 }));

const requests: Record<string, fc.Arbitrary<Req>> = {
  Append: appendRequest,
  GetEntry: fc.record({ log: anyLog, seq: u64, origin: fc.oneof(fc.constant(''), fc.constant('elsewhere'), adversarial) }),
  ListEntries: fc.record({ log: anyLog, start: u64, end: u64 }),
  Watch: fc.record({ log: anyLog, start: u64 }),
  GetCheckpoint: fc.record({ log: anyLog, size: u64, origin: fc.oneof(fc.constant(''), fc.constant('elsewhere'), adversarial) }),
  GetInclusionProof: fc.record({ log: anyLog, seq: u64, size: u64 }),
  GetConsistencyProof: fc.record({ log: anyLog, fromSize: u64, toSize: u64 }),
  ListLogs: fc.record({ origin: fc.oneof(fc.constant(''), fc.constant('elsewhere'), adversarial) }),
  GetPublicKey: fc.constant({}),
  GetAnchor: fc.record({ window: u64 }),
  ListAnchors: fc.record({ log: anyLog, fromWindow: u64, limit: uint32 }),
  GetAnchorProof: fc.record({ log: anyLog, size: u64 }),
  AddCheckpoint: fc.record({
    oldSize: u64,
    consistencyProof: fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { maxLength: 70 }),
    checkpoint: fc.oneof(fc.constant(''), fc.string({ maxLength: 300 }), fc.constant('o/prod\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 o AAAAAAA=\n')),
  }),
  ListWitnessed: fc.constant({}),
  GetFederationStatus: fc.constant({}),
};
const SERVER_STREAMS = new Set(['ListEntries', 'Watch']);

// ---------------------------------------------------------------- 1. typed requests

const RUNS: Record<string, number> = {
  Append: 700,
  AppendStream: 150,
  GetEntry: 250,
  ListEntries: 250,
  Watch: 150,
  GetCheckpoint: 250,
  GetInclusionProof: 250,
  GetConsistencyProof: 250,
  ListLogs: 50,
  GetPublicKey: 50,
  GetAnchor: 200,
  ListAnchors: 200,
  GetAnchorProof: 250,
  AddCheckpoint: 150,
  ListWitnessed: 20,
  GetFederationStatus: 30,
};

t.test('typed requests: every call ends in an allowed status, INVALID_ARGUMENT names its field', async (t) => {
  let seed = 0xca1e;
  // Append first, so that the reads find logs and (after a few anchor intervals) windows.
  await fc.assert(
    fc.asyncProperty(appendRequest, async (req) => {
      countCase('Append');
      const o = await unary(client, 'Append', req);
      check('Append', o, req);
      if (o.code === S.OK) countReceipt(o.res as StreamResult['receipt'], 'Append');
    }),
    { seed: seed++, numRuns: RUNS.Append!, endOnFailure: true },
  );
  t.pass('Append');

  await fc.assert(
    fc.asyncProperty(fc.array(appendRequest, { minLength: 0, maxLength: 5 }), async (reqs) => {
      countCase('AppendStream');
      const o = await appendStream(client, reqs);
      checkStreamResults('AppendStream', o, reqs.length, reqs);
    }),
    { seed: seed++, numRuns: RUNS.AppendStream!, endOnFailure: true },
  );
  t.pass('AppendStream');

  for (const [method, arb] of Object.entries(requests)) {
    if (method === 'Append') continue;
    await fc.assert(
      fc.asyncProperty(arb, async (req) => {
        countCase(method);
        if (SERVER_STREAMS.has(method)) {
          const o = await serverStream(client, method, req, method === 'Watch' ? WATCH_FOLLOW_MS : undefined);
          check(method, o, req);
          if (o.following) record(method, 'following (cancelled)');
          if (o.code !== S.OK && o.messages > 0) throw new Error(`${method}: ${o.messages} messages before ${S[o.code]}`);
        } else {
          check(method, await unary(client, method, req), req);
        }
      }),
      { seed: seed++, numRuns: RUNS[method]!, endOnFailure: true },
    );
    t.pass(method);
  }
});

// ---------------------------------------------------------------- 2. raw bytes

const def = ledgerServiceDefinition();
const raw = rawLedgerClient(address);
t.teardown(() => raw.close());

/** Valid encodings, then broken: truncated, a byte changed, bytes inserted or appended. */
function bytesFor(method: string): fc.Arbitrary<Uint8Array> {
  const reqArb = method === 'AppendStream' ? appendRequest : requests[method]!;
  const encoded = reqArb.map((r) => new Uint8Array(def[method === 'AppendStream' ? 'AppendStream' : method]!.requestSerialize(r)));
  const mutated = fc.tuple(encoded, fc.nat(), fc.nat({ max: 255 }), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom('truncate', 'flip', 'insert', 'append')).map(([b, at, v, extra, how]) => {
    const i = b.length === 0 ? 0 : at % b.length;
    if (how === 'truncate') return b.slice(0, i);
    if (how === 'flip') {
      const c = Uint8Array.from(b);
      if (c.length > 0) c[i] = v;
      return c;
    }
    if (how === 'insert') return Uint8Array.from([...b.slice(0, i), ...extra, ...b.slice(i)]);
    return Uint8Array.from([...b, ...extra]);
  });
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 3 },
    { arbitrary: mutated, weight: 4 },
    { arbitrary: encoded, weight: 1 },
    // Field tags with every wire type, lengths pointing past the end, endless varints.
    { arbitrary: fc.constantFrom(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), Uint8Array.of(0x0b), Uint8Array.of(0x0c), Uint8Array.of(0x0f), Uint8Array.of(0x00), Uint8Array.of(0x12, 0x02, 0xc3, 0x28), Uint8Array.of(0x0a, 0x03, 0xed, 0xa0, 0x80), Uint8Array.of(0x11, 1, 2, 3, 4, 5, 6, 7, 8), Uint8Array.of(0x15, 1, 2, 3, 4)), weight: 1 },
  );
}

const RAW_RUNS = 110;
const rawCodes = new Map<string, Map<string, number>>();

t.test('raw bytes: undecodable requests get INTERNAL from grpc-js, the rest the typed answers; the node stays up', async (t) => {
  let seed = 0xb17e5;
  const methods = Object.keys(def);
  t.equal(methods.length, 16, 'every method of the service is fuzzed');
  for (const method of methods) {
    const rawName = `raw ${method}`;
    await fc.assert(
      fc.asyncProperty(bytesFor(method), async (bytes) => {
        countCase(rawName);
        const buf = Buffer.from(bytes);
        let decodable = true;
        try {
          def[method]!.requestDeserialize(buf);
        } catch {
          decodable = false;
        }
        let o: Outcome;
        if (method === 'AppendStream') {
          // One message per stream: with a second, undecodable one the stream ends
          // INTERNAL while the first may still be stored, and its result is lost.
          const s = await appendStream(raw, [buf]);
          o = s;
          if (decodable) checkStreamResults(rawName, s, 1, bytes);
        } else if (SERVER_STREAMS.has(method)) {
          // An undecodable Watch must fail, so it is given until the deadline to: a
          // follow window as short as a decodable one's reads a slow failure as following.
          o = await serverStream(raw, method, buf, method === 'Watch' && decodable ? WATCH_FOLLOW_MS : undefined);
        } else {
          const u = await unary(raw, method, buf);
          o = u;
          if (decodable && u.code === S.OK && method === 'Append') countReceipt(u.res as StreamResult['receipt'], rawName);
        }
        const m = rawCodes.get(method) ?? new Map<string, number>();
        const key = `${decodable ? 'decodable' : 'undecodable'}:${S[o.code]}`;
        m.set(key, (m.get(key) ?? 0) + 1);
        rawCodes.set(method, m);
        if (decodable) {
          if (method !== 'AppendStream') check(rawName, o, bytes);
        } else {
          record(rawName, S[o.code] ?? String(o.code));
          if (o.code !== S.INTERNAL || !o.details.startsWith('Error deserializing request')) {
            throw new Error(`${rawName}: undecodable request answered ${S[o.code]} (${o.details}): ${preview(bytes)}`);
          }
        }
        const pk = await unary(client, 'GetPublicKey', {});
        if (pk.code !== S.OK) throw new Error(`GetPublicKey after ${rawName} failed: ${S[pk.code]} ${pk.details}`);
      }),
      { seed: seed++, numRuns: RAW_RUNS, endOnFailure: true },
    );
    t.pass(rawName);
  }
  for (const [method, m] of rawCodes) t.comment(`raw ${method}: ${[...m].map(([k, n]) => `${k}=${n}`).join(' ')}`);
});

// ---------------------------------------------------------------- 3. nothing partial stored

t.test('every log verifies and holds exactly the acknowledged appends', async (t) => {
  const pk = await unary(client, 'GetPublicKey', {});
  t.equal(pk.code, S.OK, 'the node is still up');
  const ll = await unary(client, 'ListLogs', {});
  t.equal(ll.code, S.OK);
  const logs = (ll.res as { logs: { log: string; size: string }[] }).logs;
  t.same(logs.map((l) => l.log).sort(), [...appended.keys()].sort(), 'exactly the logs that an acknowledged append created exist');
  for (const l of logs) {
    t.equal(Number(l.size), appended.get(l.log) ?? 0, `log ${l.log}: size ${l.size} = acknowledged appends`);
  }
  const verified = await Promise.all(logs.map((l) => runCli(['verify', '--server', address, '--log', l.log, '--pubkey', tn.pubkeyPath])));
  verified.forEach((r, i) => t.equal(r.code, 0, `cairn verify --log ${logs[i]!.log} passes${r.code === 0 ? '' : `: ${r.stderr}`}`));

  let total = 0;
  for (const [method, n] of cases) {
    total += n;
    const st = statuses.get(method) ?? new Map<string, number>();
    t.comment(`${method}: ${n} cases; ${[...st].map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  for (const [method, st] of statuses) if (!cases.has(method)) t.comment(`${method}: ${[...st].map(([k, v]) => `${k}=${v}`).join(' ')}`);
  t.comment(`acknowledged appends per log: ${[...appended].map(([k, v]) => `${k.length > 20 ? `${k.slice(0, 8)}...(${k.length})` : k}=${v}`).join(' ')}`);
  t.comment(`${total} cases in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
