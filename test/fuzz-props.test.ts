/**
 * Every request message of cairn.ledger.v1.Ledger, field by field, against a
 * reference model of one real node over real gRPC on loopback (fast-check,
 * fixed seed; raw malformed bytes are fuzz-grpc.test.ts's part).
 *
 * Each generated field value is tagged valid or invalid by construction
 * (valid values, boundaries on both sides of every limit, garbage), and the
 * test keeps a model of what the node holds (entries per log, acknowledged
 * request ids). Properties, per call:
 *  - the status is exactly the one the model predicts (a small set where the
 *    answer depends on timing: anchors, checkpoints inside a group commit);
 *    in particular a request with an invalid field is never OK and a valid
 *    one never INVALID_ARGUMENT;
 *  - an INVALID_ARGUMENT names, in its cairn-field trailer and at the start of
 *    its details, one of the fields that were made invalid;
 *  - no status detail quotes more than ECHO_LIMIT characters of any input;
 *  - appends get the next seq of their log, and a replay (same log and
 *    request_id) is flagged replayed; ListEntries streams exactly the
 *    entries in range; ListLogs lists exactly the model's logs and sizes.
 * Afterwards the node is still SERVING (grpc.health.v1) and every log
 * verifies from the pinned key with exactly the acknowledged entries.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { service as healthService } from 'grpc-health-check';
import { startTestNode } from './helpers/node.js';
import { appendStream, deep, ledgerClient, preview, S, serverStream, unary, type Outcome, type RawClient, type Req, type StreamResult } from './helpers/grpc-fuzz.js';
import { LEDGER_SERVICE, ledgerServiceDefinition } from '../src/api/proto.js';
import { verifyLogOnline } from '../src/client/verify-log.js';

const tn = await startTestNode({ 'anchor-interval-ms': '100' });
t.teardown(() => tn.close());
const client = ledgerClient(tn.node.grpcAddress);
t.teardown(() => client.close());
const def = ledgerServiceDefinition();

const SEED = 0x5eed_f22;
const RUNS = 2000;
/** grpc-js refuses larger requests with RESOURCE_EXHAUSTED before any handler (node.ts: max(4 MiB, 2 x max payload + 64 KiB)). */
const MAX_RECEIVE = 4 * 1024 * 1024;
/** A status detail may quote at most this many consecutive characters of any request field (a log name is up to 63). */
const ECHO_LIMIT = 64;
const MAX_DETAILS = 512;
/** A watch expected to follow live (start at or past the end) is cancelled after this; one expected to send waits for its first entry. */
const FOLLOW_MS = 60;

// ---------------------------------------------------------------- tagged arbitraries

/** A field value and whether the node must accept it. */
interface Tagged {
  v: unknown;
  ok: boolean;
  [fc.toStringMethod]?: () => string;
}
// fast-check prints a counterexample with this: a megabyte of 'y' would drown the report.
const tagged = (v: unknown, ok: boolean): Tagged => ({ v, ok, [fc.toStringMethod]: () => `${ok ? '' : 'invalid '}${preview(v).slice(0, 120)}` });
const valid = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Tagged> => a.map((v) => tagged(v, true));
const invalid = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Tagged> => a.map((v) => tagged(v, false));
/** Mostly valid, so that requests with a single bad field (the interesting ones) are common. */
const field = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<Tagged> => fc.oneof({ arbitrary: valid(good), weight: 6 }, { arbitrary: invalid(bad), weight: 1 });

const huge = fc.constantFrom(4096, 65_537, 1 << 20).map((n) => 'y'.repeat(n));
// C0, C1 and DEL: refused anywhere in a text field.
const CONTROLS = ['\u0000', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009f'];
// What String.prototype.trim removes: refused at either end of a text field, fine inside.
const EDGE_SPACES = [' ', '\u00a0', '\u2028', '\ufeff', '\u3000', '\u1680'];
// Lone surrogates: protobufjs encodes them as 3 bytes that the server decodes to U+FFFD, so they arrive well-formed.
const LONE = ['\ud800', '\udfff', '\udc00\ud800'];
const around = (cs: string[], where: fc.Arbitrary<'pre' | 'mid' | 'post'>): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...cs), where).map(([c, w]) => (w === 'pre' ? `${c}x` : w === 'post' ? `x${c}` : `x${c}y`));
const anywhere = fc.constantFrom<'pre' | 'mid' | 'post'>('pre', 'mid', 'post');

/** Free text (config_id, operator, source): at most `max` UTF-16 units, no controls, no white space at the ends. */
function text(max: number, required: boolean): fc.Arbitrary<Tagged> {
  const good = fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => s.trim() === s && !/[\u0000-\u001f\u007f-\u009f]/.test(s)),
    fc.constantFrom('x'.repeat(max), '😀'.repeat(max / 2), 'é', 'e\u0301', '日本語', 'x\u200by', 'a b'),
    around([...EDGE_SPACES], fc.constant('mid')),
    around(LONE, anywhere),
    ...(required ? [] : [fc.constant('')]),
  );
  const bad = fc.oneof(
    fc.constantFrom('x'.repeat(max + 1), `${'😀'.repeat(max / 2)}x`, ...(required ? [''] : [])),
    around(CONTROLS, anywhere),
    around(EDGE_SPACES, fc.constantFrom('pre', 'post')),
    huge,
  );
  return field(good, bad);
}

const LOGS = ['fz-a', 'fz-b', 'fz.c_9', '0', 'z'.repeat(63)];
const badName = fc.oneof(
  fc.constantFrom('', 'A', '-a', '.a', '_a', 'a'.repeat(64), 'a b', 'a/b', 'é', 'a*', 'fz-a\n'),
  around(LONE, anywhere),
  around(CONTROLS, anywhere),
  huge,
);
const appendLog = field(fc.constantFrom(...LOGS), badName);
/** Reads also name logs that never get an append: NOT_FOUND. */
const readLog = field(fc.constantFrom(...LOGS, 'nope', 'missing-log'), badName);

const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const payloadString = (chars: number, unit: string): string => JSON.stringify(unit.repeat(chars));
/** max_payload_bytes (64 KiB) of UTF-8 exactly, and one byte more. */
const MAX_PAYLOAD = 64 * 1024;

const appendFields = {
  log: appendLog,
  config_id: text(256, true),
  operator: text(256, true),
  action: field(
    fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/), fc.constantFrom('A', 'a'.repeat(64), 'deploy', 'k8s:apply/v1')),
    fc.oneof(fc.constantFrom('', 'a'.repeat(65), '-a', '.a', 'a b', 'é', 'a\u2028b'), around([...CONTROLS, ...LONE, ' '], anywhere), huge),
  ),
  source: text(512, false),
  commit: field(
    fc.oneof(fc.constant(''), fc.integer({ min: 7, max: 40 }).chain(hex), hex(64)),
    fc.oneof(fc.constantFrom(6, 41, 63, 65).chain(hex), fc.constantFrom('ABCDEF1', 'g'.repeat(7), ' abcdef1', 'abcdef1\n', 'abc\ud800def'), huge),
  ),
  payload_json: field(
    fc.oneof(
      fc.constant(''),
      fc.json({ maxDepth: 4 }),
      fc.integer({ min: 1, max: 32 }).map((n) => deep(n, '[', '', ']')),
      fc.integer({ min: 1, max: 32 }).map((n) => deep(n, '{"a":', '1', '}')),
      fc.constantFrom(
        '-0', '1e-400', '123456789012345678901234567890', '9007199254740993', '{"a":1,"a":2}', '{"__proto__":{"polluted":1}}',
        '"\\u0000"', '"\u2028"', '{"a":1} ', ' [1]', 'null', 'true', '[]', '{}', '"\ud800"', '{"k\udfff":1}',
        // 64 KiB of UTF-8 exactly: 65,534 + 2 quotes; 21,844 x 3 + 2 quotes + 2 spaces.
        payloadString(MAX_PAYLOAD - 2, 'x'), `${payloadString(21_844, '€')}  `,
      ),
    ),
    fc.oneof(
      fc.integer({ min: 33, max: 40 }).map((n) => deep(n, '[', '', ']')),
      fc.integer({ min: 33, max: 40 }).map((n) => deep(n, '{"a":', '1', '}')),
      fc.constantFrom(
        '1e400', '-1e400', '[1e400]', '{"a":{"b":-1e400}}', '0.1e999999', '"\\ud800"', '"\\udc00\\ud800"', '{"\\ud800":1}', '[1,]', "{'a':1}",
        'NaN', 'Infinity', 'undefined', ' ', '\ufeff{}', '{"a":1}garbage', '01', '.5', '+1', '0x10', '{"a"}', '"unterminated', '😀'.repeat(6),
        'aaaaaaaaa😀😀', deep(30_000, '[', '', ']'), deep(10_000, '{"a":', '1', '}'), '['.repeat(30_000),
        payloadString(MAX_PAYLOAD - 1, 'x'), `${payloadString(21_844, '€')}   `, `[${'1,'.repeat(600_000)}1]`,
        'y'.repeat(5 << 20), // over grpc-js's receive limit: RESOURCE_EXHAUSTED
      ),
      huge,
    ),
  ),
  request_id: field(
    fc.oneof({ arbitrary: fc.constant(''), weight: 3 }, { arbitrary: fc.constantFrom('dup-1', 'dup-2', 'dup-3', '!'.repeat(128), '~'), weight: 3 }, { arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,40}$/), weight: 1 }),
    fc.oneof(fc.constantFrom('!'.repeat(129), 'a b', 'é', ' x', 'x\u007f'), around([...CONTROLS, ...LONE], anywhere)),
  ),
};

/** uint64 as decimal strings: up to 2^53-1 accepted, 2^53 up to 2^64-1 refused by name. */
const u64 = field(
  fc.oneof(
    { arbitrary: fc.nat({ max: 40 }).map(String), weight: 6 },
    { arbitrary: fc.constantFrom('0', '4294967295', '4294967296', '9007199254740991'), weight: 1 },
    { arbitrary: fc.maxSafeNat().map(String), weight: 1 },
  ),
  fc.oneof(fc.constantFrom('9007199254740992', '9007199254740993', '18446744073709551614', '18446744073709551615'), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }).map(String)),
);
/** A uint32 limit: every value is accepted (0 means 1000, more is capped). */
const limit = valid(fc.oneof(fc.constantFrom(0, 1, 1000, 1001, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2000 })));

/** A request: proto field name -> tagged value. */
type Fields = Record<string, Tagged>;
const REQUESTS: Record<string, fc.Arbitrary<Fields>> = {
  Append: fc.record(appendFields),
  GetEntry: fc.record({ log: readLog, seq: u64 }),
  ListEntries: fc.record({ log: readLog, start: u64, end: u64 }),
  Watch: fc.record({ log: readLog, start: u64 }),
  GetCheckpoint: fc.record({ log: readLog, size: u64 }),
  GetInclusionProof: fc.record({ log: readLog, seq: u64, size: u64 }),
  GetConsistencyProof: fc.record({ log: readLog, from_size: u64, to_size: u64 }),
  ListLogs: fc.constant({}),
  GetPublicKey: fc.constant({}),
  GetAnchor: fc.record({ window: u64 }),
  ListAnchors: fc.record({ log: readLog, from_window: u64, limit }),
  GetAnchorProof: fc.record({ log: readLog, size: u64 }),
};
const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const wire = (f: Fields): Req => Object.fromEntries(Object.entries(f).map(([k, x]) => [camel(k), x.v]));
const badFields = (f: Fields): string[] => Object.keys(f).filter((k) => !f[k]!.ok);
const encodedSize = (method: string, f: Fields): number => def[method]!.requestSerialize(wire(f)).length;

/** One call: a method and its request; AppendStream carries several Append requests. */
type Call = { method: string; fields: Fields } | { method: 'AppendStream'; stream: Fields[] };
const WEIGHTS: Record<string, number> = { Append: 10, ListLogs: 1, GetPublicKey: 1 };
const callArb: fc.Arbitrary<Call> = fc.oneof(
  ...Object.entries(REQUESTS).map(([method, arb]) => ({ arbitrary: arb.map((fields): Call => ({ method, fields })), weight: WEIGHTS[method] ?? 3 })),
  {
    // A request grpc-js refuses for size would end the whole stream: those go unary only.
    arbitrary: fc.array(REQUESTS.Append!.filter((f) => encodedSize('Append', f) <= MAX_RECEIVE), { maxLength: 5 }).map((stream): Call => ({ method: 'AppendStream', stream })),
    weight: 4,
  },
);

// ---------------------------------------------------------------- the model

/** Acknowledged (non-replayed) appends per log: its size. A log exists once it has one. */
const sizes = new Map<string, number>();
/** `log \n request_id` of every acknowledged append that carried a request id. */
const requestIds = new Set<string>();

interface Expect {
  codes: readonly number[];
  /** For INVALID_ARGUMENT: the fields it may name. */
  fields?: readonly string[];
}
const invalidArg = (fields: readonly string[]): Expect => ({ codes: [S.INVALID_ARGUMENT], fields });
const OK: Expect = { codes: [S.OK] };
const NOT_FOUND: Expect = { codes: [S.NOT_FOUND] };
const num = (x: Tagged | undefined): number => Number(x?.v ?? 0);

/** What the node must answer, from the model. Validation of the request comes first; then the log's existence; then ranges. */
function expected(method: string, f: Fields): Expect {
  if (encodedSize(method, f) > MAX_RECEIVE) return { codes: [S.RESOURCE_EXHAUSTED] };
  const bad = badFields(f);
  if (bad.length > 0) return invalidArg(bad);
  const log = String(f.log?.v ?? '');
  const size = sizes.get(log);
  switch (method) {
    case 'Append':
      return OK;
    case 'ListLogs':
    case 'GetPublicKey':
    case 'ListAnchors':
      return OK;
    case 'GetAnchor':
      // Windows close on a timer: whether this one exists yet is timing.
      return { codes: [S.OK, S.NOT_FOUND] };
    case 'ListEntries':
      if (num(f.end) !== 0 && num(f.end) < num(f.start)) return invalidArg(['end']);
      return size === undefined ? NOT_FOUND : OK;
    case 'GetEntry':
      return size === undefined || num(f.seq) >= size ? NOT_FOUND : OK;
    case 'Watch':
      return size === undefined ? NOT_FOUND : OK;
    case 'GetCheckpoint': {
      if (size === undefined || num(f.size) > size) return NOT_FOUND;
      // Only group ends are signed, and AppendStream groups: a past size may have no note.
      return num(f.size) === 0 || num(f.size) === size ? OK : { codes: [S.OK, S.NOT_FOUND] };
    }
    case 'GetInclusionProof': {
      if (size === undefined) return NOT_FOUND;
      if (num(f.size) > size) return invalidArg(['size']);
      return num(f.seq) >= (num(f.size) || size) ? invalidArg(['seq']) : OK;
    }
    case 'GetConsistencyProof': {
      if (size === undefined) return NOT_FOUND;
      if (num(f.to_size) > size) return invalidArg(['to_size']);
      const n = num(f.to_size) || size;
      return num(f.from_size) < 1 || num(f.from_size) > n ? invalidArg(['from_size']) : OK;
    }
    case 'GetAnchorProof':
      return size === undefined ? NOT_FOUND : { codes: [S.OK, S.NOT_FOUND] };
    default:
      throw new Error(`no model for ${method}`);
  }
}

// ---------------------------------------------------------------- checks

const cases = new Map<string, number>();
const tally = new Map<string, Map<string, number>>();
function count(method: string, outcome: string): void {
  const m = tally.get(method) ?? new Map<string, number>();
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
  tally.set(method, m);
}

/** The longest run of `details` that also occurs in `input`, if longer than ECHO_LIMIT. */
function echoed(details: string, input: string): string | undefined {
  if (input.length <= ECHO_LIMIT) return undefined;
  for (let i = 0; i + ECHO_LIMIT < details.length; i++) {
    const run = details.slice(i, i + ECHO_LIMIT + 1);
    if (input.includes(run)) return run;
  }
  return undefined;
}

/** Throws (for fast-check) unless `code`/`details`/`field` are what `exp` allows. */
function checkStatus(method: string, exp: Expect, code: number, details: string, field: string | undefined, f: Fields): void {
  count(method, S[code] ?? String(code));
  const what = (): string => `${method} ${preview(wire(f))}`;
  if (!exp.codes.includes(code)) throw new Error(`${what()}: ${S[code]} (${details}), expected ${exp.codes.map((c) => S[c]).join(' or ')}${exp.fields ? ` naming ${exp.fields.join(', ')}` : ''}`);
  if (code === S.INVALID_ARGUMENT) {
    if (field === undefined || !exp.fields?.includes(field)) throw new Error(`${what()}: INVALID_ARGUMENT names ${String(field)}, not one of the invalid fields ${exp.fields?.join(', ')} (${details})`);
    if (!details.startsWith(`${field}: `)) throw new Error(`${what()}: details do not start with "${field}: " (${details})`);
  }
  if (details.length > MAX_DETAILS) throw new Error(`${what()}: ${details.length} characters of details`);
  for (const x of Object.values(f)) {
    const run = typeof x.v === 'string' ? echoed(details, x.v) : undefined;
    if (run !== undefined) throw new Error(`${what()}: details quote ${run.length}+ characters of the input: ${preview(details)}`);
  }
}

/** Checks one Append answer (unary or a stream result) and advances the model. */
function checkAppend(method: string, exp: Expect, code: number, details: string, field: string | undefined, receipt: StreamResult['receipt'], f: Fields): void {
  checkStatus(method, exp, code, details, field, f);
  if (code !== S.OK) return;
  const log = String(f.log!.v);
  const id = String(f.request_id!.v);
  const key = `${log}\n${id}`;
  const replay = id !== '' && requestIds.has(key);
  if (receipt?.replayed !== replay) throw new Error(`${method} ${preview(wire(f))}: replayed is ${String(receipt?.replayed)}, the model says ${replay}`);
  if (replay) return;
  const seq = sizes.get(log) ?? 0;
  if (receipt?.entry?.seq !== String(seq)) throw new Error(`${method} ${preview(wire(f))}: appended at seq ${receipt?.entry?.seq}, the log had ${seq} entries`);
  sizes.set(log, seq + 1);
  if (id !== '') requestIds.add(key);
}

async function run(call: Call): Promise<void> {
  cases.set(call.method, (cases.get(call.method) ?? 0) + 1);
  if (call.method === 'AppendStream' && 'stream' in call) {
    const o = await appendStream(client, call.stream.map(wire));
    if (o.code !== S.OK) throw new Error(`AppendStream ended ${S[o.code]} (${o.details}) for ${preview(call.stream.map(wire))}`);
    if (o.results.length !== call.stream.length) throw new Error(`AppendStream: ${o.results.length} results for ${call.stream.length} requests`);
    // Results come in request order, and the node handles them in that order: the model does too.
    call.stream.forEach((f, i) => {
      const r = o.results[i]!;
      if (r.index !== String(i)) throw new Error(`AppendStream: result ${i} has index ${r.index}`);
      const exp = expected('Append', f);
      if (r.receipt) checkAppend('AppendStream result', exp, S.OK, '', undefined, r.receipt, f);
      else if (r.error) checkAppend('AppendStream result', exp, r.error.code, r.error.message, r.error.field, undefined, f);
      else throw new Error(`AppendStream: result ${i} has neither receipt nor error`);
    });
    return;
  }
  if (!('fields' in call)) throw new Error('unreachable');
  const { method, fields } = call;
  const exp = expected(method, fields);
  const field = (o: Outcome): string | undefined => o.metadata?.get('cairn-field')[0] as string | undefined;
  if (method === 'ListEntries' || method === 'Watch') {
    const size = sizes.get(String(fields.log!.v)) ?? 0;
    const start = num(fields.start);
    // A watch from inside the log must send an entry; from its end on it follows quietly. A
    // rejected one must end with its status, however long a megabyte takes to arrive: no cut-off.
    const sends = start < size;
    const follows = exp.codes.length === 1 && exp.codes[0] === S.OK && !sends;
    const o = await serverStream(client, method, wire(fields), method === 'Watch' ? (follows ? FOLLOW_MS : 9_000) : undefined);
    checkStatus(method, exp, o.code, o.details, field(o), fields);
    if (o.code !== S.OK) {
      if (o.messages > 0) throw new Error(`${method}: ${o.messages} entries before ${S[o.code]}`);
      return;
    }
    const want = method === 'Watch' ? (sends ? 1 : 0) : Math.max(0, Math.min(num(fields.end) || size, size) - start);
    if (o.messages !== want) throw new Error(`${method} ${preview(wire(fields))}: ${o.messages} entries, the model says ${want}`);
    if (method === 'Watch') count(method, sends ? 'sent' : 'following');
    return;
  }
  const o = await unary(client, method, wire(fields));
  if (method === 'Append') return checkAppend(method, exp, o.code, o.details, field(o), o.res as StreamResult['receipt'], fields);
  checkStatus(method, exp, o.code, o.details, field(o), fields);
  if (method === 'ListLogs' && o.code === S.OK) {
    const listed = (o.res as { logs: { log: string; size: string }[] }).logs.map((l) => `${l.log}=${l.size}`).sort();
    const model = [...sizes].map(([l, n]) => `${l}=${n}`).sort();
    if (listed.join() !== model.join()) throw new Error(`ListLogs: ${listed.join(' ')}; the model holds ${model.join(' ')}`);
  }
}

// ---------------------------------------------------------------- properties

const started = Date.now();

t.test(`every request message, field by field, against the model (seed ${SEED}, ${RUNS} runs)`, async (t) => {
  await fc.assert(
    fc.asyncProperty(callArb, async (call) => run(call)),
    // The node keeps its state between runs, so a failing case cannot be replayed alone: no shrinking.
    { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
  );
  for (const method of [...Object.keys(REQUESTS), 'AppendStream']) t.ok((cases.get(method) ?? 0) > 0, `${method} was called`);
  for (const [method, n] of cases) t.comment(`${method}: ${n} cases`);
  for (const [method, m] of tally) t.comment(`${method}: ${[...m].map(([k, v]) => `${k}=${v}`).join(' ')}`);
});

// Found by the property above: the rejection named `size`, which GetConsistencyProofRequest has no field of.
t.test('regression: GetConsistencyProof with to_size beyond the log names to_size', async (t) => {
  const log = 'reg-consistency';
  const a = await unary(client, 'Append', { log, configId: 'c', operator: 'o', action: 'a' });
  t.equal(S[a.code], 'OK');
  sizes.set(log, 1);
  const o = await unary(client, 'GetConsistencyProof', { log, fromSize: '1', toSize: '2' });
  t.equal(S[o.code], 'INVALID_ARGUMENT');
  t.equal(o.metadata?.get('cairn-field')[0], 'to_size');
  t.match(o.details, /^to_size: 2 is beyond the log's size 1$/);
});

t.test('afterwards the node is SERVING and holds exactly the acknowledged appends, verifiably', async (t) => {
  const Health = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
  const h = new Health(tn.node.grpcAddress, grpc.credentials.createInsecure()) as unknown as RawClient;
  t.teardown(() => h.close());
  for (const service of ['', LEDGER_SERVICE]) {
    const o = await unary(h, 'Check', { service });
    t.same({ code: S[o.code], res: o.res }, { code: 'OK', res: { status: 'SERVING' } }, `health of "${service}"`);
  }

  const pk = await tn.client.publicKey();
  const logs = await tn.client.listLogs();
  t.same(logs.map((l) => l.log).sort(), [...sizes.keys()].sort(), 'exactly the logs an acknowledged append created');
  for (const l of logs) {
    const r = await verifyLogOnline(tn.client, l.log, { publicKeySpki: pk.spki, progress: false, signatureThreads: 0 });
    t.equal(r.entriesVerified, sizes.get(l.log), `log ${l.log.length > 20 ? `${l.log.slice(0, 8)}...` : l.log}: verifies with ${r.entriesVerified} entries = acknowledged appends`);
  }
  const total = [...cases.values()].reduce((a, b) => a + b, 0);
  t.comment(`${total} calls in ${((Date.now() - started) / 1000).toFixed(1)} s; entries per log: ${[...sizes].map(([k, v]) => `${k.length > 20 ? `${k.slice(0, 4)}...(${k.length})` : k}=${v}`).join(' ')}`);
});
