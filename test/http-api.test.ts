/**
 * The HTTP JSON API against real nodes on loopback, read like its OpenAPI
 * document: every operation it lists is called and every answer validated
 * against it; each failure has its code, status and field and stores
 * nothing; access control, identities, isolation, limits and request ids are
 * those of gRPC, because the handlers are.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { httpCall, type HttpAnswer, type HttpCallOptions } from './helpers/http.js';
import { OpenApiCheck } from './helpers/openapi-check.js';
import { makePki } from './helpers/pki.js';
import { OPENAPI } from '../src/http/openapi.js';
import { httpStatus, errorReply } from '../src/http/status.js';
import { CairnError, type ErrorCode } from '../src/core/errors.js';
import { createToken } from '../src/auth/tokens.js';
import { verifyReceipt } from '../src/core/receipt.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { fromBase64, fromHex, fromUtf8, utf8 } from '../src/core/bytes.js';
import { loadConfig, DEFAULTS } from '../src/node/config.js';
import { LedgerClient, clientOptions } from '../src/client/ledger-client.js';
import { API_DOC, apiReference, referenceInDoc } from '../scripts/api-reference.js';

const check = new OpenApiCheck();
const problems: string[] = [];

/** Calls the node and validates the answer against the document (problems are collected). */
async function call(base: string, method: string, template: string, path: string, opts: HttpCallOptions = {}): Promise<HttpAnswer> {
  const a = await httpCall(base, method, path, opts);
  problems.push(...check.problems(method, template, a));
  return a;
}

const append = (base: string, log: string, body: object, opts: HttpCallOptions = {}): Promise<HttpAnswer> =>
  call(base, 'POST', '/v1/logs/{log}/entries', `/v1/logs/${log}/entries`, { ...opts, body });

const change = (extra: Record<string, string> = {}): Record<string, string> => ({
  config_id: 'payments/prod/app.yaml',
  operator: 'alice@example.com',
  action: 'apply',
  source: 'https://ci.example.com/job/42',
  commit: '0123456789abcdef0123456789abcdef01234567',
  payload_json: '{"replicas":3}',
  ...extra,
});

/** Verifies a receipt as `cairn verify-receipt` does, against the key file (not what the node says). */
function receiptProblems(r: any, spki: Uint8Array): string[] {
  try {
    const cp = verifyReceipt(
      { entry: { log: r.log, seq: r.seq, body: utf8(r.entry.body), signature: fromBase64(r.entry.signature), hash: fromHex(r.entry.hash) }, checkpointNote: r.checkpoint.note, inclusionProof: r.inclusionProof.map((h: string) => fromHex(h)) },
      spki,
    );
    return cp.size === r.checkpoint.size ? [] : [`checkpoint size ${cp.size} != ${r.checkpoint.size}`];
  } catch (e) {
    return [(e as Error).message];
  }
}

async function logSize(base: string, log: string, opts: HttpCallOptions = {}): Promise<number> {
  const a = await httpCall(base, 'GET', `/v1/logs/${log}/checkpoint`, opts);
  return a.status === 404 ? 0 : a.json.size;
}

t.test('the OpenAPI document is valid OpenAPI 3.1', async (t) => {
  const r = await new Validator().validate(OPENAPI as unknown as Record<string, unknown>);
  t.same(r.errors ?? [], [], 'errors of the document');
  t.equal(r.valid, true);
});

t.test('every operation of the document answers as the document says', async (t) => {
  const dir = await tempDir('cairn-http-');
  t.teardown(dir.remove);
  const fluxKey = randomBytes(32).toString('hex');
  await writeFile(join(dir.path, 'flux.key'), `${fluxKey}\n`);
  const tn = await startTestNode({ 'anchor-interval-ms': '50', 'flux-hmac-key-file': join(dir.path, 'flux.key') });
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const spki = pemToDer(await readFile(tn.pubkeyPath, 'utf8'), 'PUBLIC KEY');

  const first = await append(base, 'prod', change({ request_id: 'job-1' }));
  t.equal(first.status, 200);
  t.same(receiptProblems(first.json, spki), [], 'the receipt verifies against the key file');
  await append(base, 'prod', change({ config_id: 'payments/prod/db.yaml' }));
  await append(base, 'prod', change({ config_id: 'payments/prod/cache.yaml' }));

  const logs = await call(base, 'GET', '/v1/logs', '/v1/logs');
  t.same(logs.json.logs.map((c: any) => [c.log, c.size]), [['prod', 3]]);

  const e1 = await call(base, 'GET', '/v1/logs/{log}/entries/{seq}', '/v1/logs/prod/entries/1');
  const viaGrpc = await tn.client.getEntry('prod', 1);
  t.same([e1.json.body, e1.json.signature, e1.json.hash], [fromUtf8(viaGrpc.body), Buffer.from(viaGrpc.signature).toString('base64'), Buffer.from(viaGrpc.hash).toString('hex')], 'the same signed bytes as over gRPC');
  t.equal(e1.json.fields.configId, 'payments/prod/db.yaml');

  const p1 = await call(base, 'GET', '/v1/logs/{log}/entries', '/v1/logs/prod/entries?limit=2');
  t.same([p1.json.entries.map((e: any) => e.seq), p1.json.next], [[0, 1], 2], 'a page of two, and where the next starts');
  const p2 = await call(base, 'GET', '/v1/logs/{log}/entries', `/v1/logs/prod/entries?start=${p1.json.next}&limit=2`);
  t.same([p2.json.entries.map((e: any) => e.seq), p2.json.next], [[2], null], 'the last page says there is no next');
  const lines = await call(base, 'GET', '/v1/logs/{log}/entries', '/v1/logs/prod/entries?start=1', { headers: { accept: 'application/jsonl' } });
  t.same(lines.text.trim().split('\n').map((l) => JSON.parse(l).seq), [1, 2], 'JSON Lines: one entry per line to the end');

  const cp = await call(base, 'GET', '/v1/logs/{log}/checkpoint', '/v1/logs/prod/checkpoint');
  const note = await call(base, 'GET', '/v1/logs/{log}/checkpoint', '/v1/logs/prod/checkpoint?size=3', { headers: { accept: 'text/plain' } });
  t.equal(note.text, cp.json.note, 'text/plain is the signed note itself');
  t.match(note.text, /^cairn-[0-9a-f]+\/prod\n3\n/);
  const incl = await call(base, 'GET', '/v1/logs/{log}/proofs/inclusion', '/v1/logs/prod/proofs/inclusion?seq=0&size=3');
  t.equal(incl.json.hashes.length, 2);
  const cons = await call(base, 'GET', '/v1/logs/{log}/proofs/consistency', '/v1/logs/prod/proofs/consistency?from_size=1&to_size=3');
  t.same([cons.json.fromSize, cons.json.toSize], [1, 3]);
  await call(base, 'GET', '/v1/public-key', '/v1/public-key');
  const chain = await call(base, 'GET', '/v1/key-chain', '/v1/key-chain');
  const fed = await call(base, 'GET', '/v1/federation/status', '/v1/federation/status');
  t.match(fed.json, { vector: [{ log: 'prod' }], peers: [], equivocations: [] }, 'the federation status: this node\'s own logs, no peers');
  const mirrored = await call(base, 'GET', '/v1/logs/{log}/checkpoint', '/v1/logs/prod/checkpoint?origin=elsewhere');
  t.equal(mirrored.status, 404, 'a log of an origin not mirrored here is not found');
  t.same(chain.json.keyChain, [], 'a node that never rotated has no key links');
  const doc = await call(base, 'GET', '/v1/openapi.json', '/v1/openapi.json');
  t.same(doc.json, JSON.parse(JSON.stringify(OPENAPI)), 'the served document is this one');

  // The local anchor backend commits a window within a few intervals.
  let anchors: HttpAnswer | undefined;
  for (let i = 0; i < 100; i++) {
    anchors = await httpCall(base, 'GET', '/v1/logs/prod/anchors');
    if (anchors.json.anchors.some((a: any) => a.state === 'committed')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  anchors = await call(base, 'GET', '/v1/logs/{log}/anchors', '/v1/logs/prod/anchors?from_window=0&limit=10');
  const committed = anchors.json.anchors.find((a: any) => a.state === 'committed');
  t.ok(committed, 'a committed anchor window covers the log');
  await call(base, 'GET', '/v1/anchors/{window}', `/v1/anchors/${committed.window}`);
  const proof = await call(base, 'GET', '/v1/logs/{log}/anchors/proof', '/v1/logs/prod/anchors/proof');
  t.equal(proof.status, 200);

  const argo = await call(base, 'POST', '/v1/hooks/argocd', '/v1/hooks/argocd?log=gitops', {
    body: { event: 'sync-succeeded', instance: 'https://argocd.example.com', app: { metadata: { name: 'guestbook' }, spec: { project: 'default' }, status: { sync: { status: 'Synced', revision: 'a'.repeat(40) } } } },
  });
  t.equal(argo.status, 200);
  const fluxBody = JSON.stringify({ involvedObject: { kind: 'Kustomization', namespace: 'apps', name: 'webapp' }, severity: 'info', reason: 'ReconciliationSucceeded', message: 'ok', reportingController: 'kustomize-controller', timestamp: '2024-05-01T10:00:00Z' });
  const flux = await call(base, 'POST', '/v1/hooks/flux', '/v1/hooks/flux?log=gitops', {
    body: fluxBody,
    headers: { 'content-type': 'application/json', 'x-signature': `sha256=${createHmac('sha256', fluxKey).update(fluxBody).digest('hex')}` },
  });
  t.equal(flux.status, 200);

  t.same(check.untested(), [], 'operations of the document not exercised');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('bad input is a 400 naming the field, and stores nothing', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  await append(base, 'prod', change());
  // A well-formed append just over the node's bound (4 MiB): unbounded, it would reach validation and be refused naming payload_json.
  const oversized = Buffer.from(JSON.stringify(change({ payload_json: JSON.stringify('x'.repeat(4 * 1024 * 1024)) })));
  const cases: [string, () => Promise<HttpAnswer>, string][] = [
    ['a missing config_id', () => append(base, 'prod', change({ config_id: '' })), 'config_id'],
    ['a bad action', () => append(base, 'prod', change({ action: 'no spaces' })), 'action'],
    ['a reserved action', () => append(base, 'prod', change({ action: 'cairn.key-rotation' })), 'action'],
    ['a commit that is not hex', () => append(base, 'prod', change({ commit: 'main' })), 'commit'],
    ['a payload that is not JSON', () => append(base, 'prod', change({ payload_json: '{nope' })), 'payload_json'],
    ['a payload over max_payload_bytes', () => append(base, 'prod', change({ payload_json: JSON.stringify('x'.repeat(70 * 1024)) })), 'payload_json'],
    ['a request id with a space', () => append(base, 'prod', change({ request_id: 'a b' })), 'request_id'],
    ['a field that is not a string', () => append(base, 'prod', { ...change(), operator: 7 }), 'operator'],
    ['a payload given as an object', () => append(base, 'prod', { ...change(), payload_json: { a: 1 } }), 'payload_json'],
    ['an unknown field', () => append(base, 'prod', { ...change(), requestId: 'x' }), 'requestId'],
    ['a bad log name', () => append(base, 'Prod!', change()), 'log'],
    ['a body that is not JSON', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: '{"config_id":', headers: { 'content-type': 'application/json' } }), 'body'],
    ['a body that is not UTF-8', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), headers: { 'content-type': 'application/json' } }), 'body'],
    ['a JSON array body', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: '[]', headers: { 'content-type': 'application/json' } }), 'body'],
    ['an empty body', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: '', headers: { 'content-type': 'application/json' } }), 'body'],
    ['a form body', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: 'config_id=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'content-type'],
    ['a body over the limit, refused by its Content-Length before it is read', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: oversized, headers: { 'content-type': 'application/json' } }), 'body'],
    ['a chunked body over the limit', () => call(base, 'POST', '/v1/logs/{log}/entries', '/v1/logs/prod/entries', { body: oversized, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }), 'body'],
    ['an unknown query parameter', () => call(base, 'GET', '/v1/logs/{log}/entries', '/v1/logs/prod/entries?begin=1'), 'begin'],
    ['a repeated query parameter', () => call(base, 'GET', '/v1/logs/{log}/entries', '/v1/logs/prod/entries?start=1&start=2'), 'start'],
    ['a seq that is not a number', () => call(base, 'GET', '/v1/logs/{log}/entries/{seq}', '/v1/logs/prod/entries/-1'), 'seq'],
    ['a seq above 2^53-1', () => call(base, 'GET', '/v1/logs/{log}/entries/{seq}', '/v1/logs/prod/entries/9007199254740993'), 'seq'],
    ['a page over 1000', () => call(base, 'GET', '/v1/logs/{log}/entries', '/v1/logs/prod/entries?limit=1001'), 'limit'],
    ['end before start', () => call(base, 'GET', '/v1/logs/{log}/entries', '/v1/logs/prod/entries?start=5&end=2'), 'end'],
    ['an Accept the operation cannot answer', () => call(base, 'GET', '/v1/logs/{log}/checkpoint', '/v1/logs/prod/checkpoint', { headers: { accept: 'image/png' } }), 'accept'],
    ['a consistency proof without from_size', () => call(base, 'GET', '/v1/logs/{log}/proofs/consistency', '/v1/logs/prod/proofs/consistency?from_size=x'), 'from_size'],
  ];
  const wrong: string[] = [];
  for (const [what, send, field] of cases) {
    const a = await send();
    if (a.status !== 400 || a.json?.code !== 'INVALID_ARGUMENT' || a.json?.field !== field) wrong.push(`${what}: ${a.status} ${a.text.slice(0, 160)}`);
  }
  t.same(wrong, [], 'cases not answered 400 INVALID_ARGUMENT naming the field');
  t.equal(await logSize(base, 'prod'), 1, 'nothing was stored');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('each error code has one HTTP status, and the body carries code, message and field', async (t) => {
  const expected: Record<ErrorCode, number> = {
    INVALID_ARGUMENT: 400, FAILED_PRECONDITION: 400, UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, NOT_FOUND: 404, ALREADY_EXISTS: 409,
    RESOURCE_EXHAUSTED: 429, UNAVAILABLE: 503, DEADLINE_EXCEEDED: 504, CORRUPTION: 500, INTERNAL: 500,
  };
  t.same(Object.fromEntries(Object.keys(expected).map((c) => [c, httpStatus(c as ErrorCode)])), expected);
  t.same(errorReply(new CairnError('RESOURCE_EXHAUSTED', 'slow down', { retryAfterMs: 1500 })), { status: 429, body: { code: 'RESOURCE_EXHAUSTED', message: 'slow down', field: null }, headers: { 'retry-after': '2' } }, 'Retry-After rounds up to whole seconds');
  t.equal(errorReply(new CairnError('RESOURCE_EXHAUSTED', 'too many logs')).headers['retry-after'], '1', 'a 429 always says when to retry');
  t.same(errorReply(new CairnError('CORRUPTION', 'log prod: entry 3 does not decode')).body, { code: 'CORRUPTION', message: 'log prod: entry 3 does not decode', field: null }, 'corruption is a 500 that names what is at fault');
  t.same(errorReply(new CairnError('INTERNAL', 'ENOENT /var/lib/cairn/secret')).body.message, 'internal error', 'internals are never sent');
  t.same(errorReply(new Error('boom')), { status: 500, body: { code: 'INTERNAL', message: 'internal error', field: null }, headers: {} });
  t.equal(errorReply(new CairnError('UNAUTHENTICATED', 'no')).headers['www-authenticate'], 'Bearer');
});

t.test('tokens, tenants and isolation: exactly as on gRPC', async (t) => {
  const dir = await tempDir('cairn-http-auth-');
  t.teardown(dir.remove);
  const botA = createToken('bot-a');
  const botB = createToken('bot-b');
  const stray = createToken('stray');
  await writeFile(join(dir.path, 'policy.yaml'), ['tenants:', '  team-a: [append:team-a-*, read:team-a-*]', '  team-b: [append:team-b-*, read:team-b-*]', 'identities:', "  - { match: 'token:bot-a', tenant: team-a }", "  - { match: 'token:bot-b', tenant: team-b }", ''].join('\n'));
  await writeFile(join(dir.path, 'tokens'), `${botA.line}\n${botB.line}\n${stray.line}\n`);
  const tn = await startTestNode({ 'policy-file': join(dir.path, 'policy.yaml'), 'tokens-file': join(dir.path, 'tokens') });
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const as = (tok: { token: string }): HttpCallOptions => ({ headers: { authorization: `Bearer ${tok.token}` } });

  const rA = await append(base, 'team-a-prod', change(), as(botA));
  t.equal(rA.status, 200);
  t.equal(rA.json.entry.fields.identity, 'token:bot-a', 'the authenticated identity is written into the entry');
  const grpcA = new LedgerClient(tn.node.grpcAddress, clientOptions({ token: botA.token }));
  t.teardown(() => grpcA.close());
  const viaGrpc = await grpcA.append({ log: 'team-a-prod', configId: 'x', operator: 'alice', action: 'apply' });
  t.equal(JSON.parse(fromUtf8(viaGrpc.entry.body)).identity, 'token:bot-a', 'the same identity as over gRPC');

  const none = await append(base, 'team-a-prod', change());
  t.same([none.status, none.json.code, none.headers['www-authenticate']], [401, 'UNAUTHENTICATED', 'Bearer'], 'no credential: 401');
  const wrongTok = await append(base, 'team-a-prod', change(), { headers: { authorization: `Bearer ${createToken('bot-a').token}` } });
  t.same([wrongTok.status, wrongTok.json.code], [401, 'UNAUTHENTICATED'], 'a wrong token: 401');
  const twice = await append(base, 'team-a-prod', change(), { headers: { authorization: [`Bearer ${botA.token}`, `Bearer ${botA.token}`] } });
  t.equal(twice.status, 401, 'two Authorization headers: 401, as two authorization metadata on gRPC');
  const noTenant = await append(base, 'team-a-prod', change(), as(stray));
  t.same([noTenant.status, noTenant.json.code], [403, 'PERMISSION_DENIED'], 'a token the policy maps to no tenant: 403');
  const crossAppend = await append(base, 'team-a-prod', change(), as(botB));
  t.same([crossAppend.status, crossAppend.json.code], [403, 'PERMISSION_DENIED'], 'appending to another tenant\'s log: 403');

  // Every read of another tenant's log answers as for a log that does not exist.
  const reads: [string, (log: string) => string][] = [
    ['/v1/logs/{log}/entries/{seq}', (l) => `/v1/logs/${l}/entries/0`],
    ['/v1/logs/{log}/entries', (l) => `/v1/logs/${l}/entries`],
    ['/v1/logs/{log}/checkpoint', (l) => `/v1/logs/${l}/checkpoint`],
    ['/v1/logs/{log}/proofs/inclusion', (l) => `/v1/logs/${l}/proofs/inclusion?seq=0`],
    ['/v1/logs/{log}/proofs/consistency', (l) => `/v1/logs/${l}/proofs/consistency?from_size=1`],
  ];
  const leaks: string[] = [];
  for (const [template, path] of reads) {
    const forbidden = await call(base, 'GET', template, path('team-a-prod'), as(botB));
    const missing = await call(base, 'GET', template, path('team-a-nope'), as(botB));
    const same = forbidden.status === 404 && forbidden.status === missing.status && forbidden.text.replaceAll('team-a-prod', 'team-a-nope') === missing.text;
    if (!same) leaks.push(`${template}: ${forbidden.status} ${forbidden.text} vs ${missing.status} ${missing.text}`);
  }
  t.same(leaks, [], 'reads that tell a forbidden log from a missing one');
  const listB = await call(base, 'GET', '/v1/logs', '/v1/logs', as(botB));
  t.same(listB.json.logs, [], 'another tenant\'s logs are not listed');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('one append rate per identity over gRPC and HTTP together; 429 says when to retry', async (t) => {
  // One append a second, none in reserve: the gRPC append takes the only token there is.
  const tn = await startTestNode({ 'rate-limit-appends': '1', 'rate-limit-burst': '1' });
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  // The first append starts the signer; once the bucket has refilled, the next appends are quick.
  await tn.client.append({ log: 'warm-up', configId: 'a', operator: 'o', action: 'apply' });
  await new Promise((r) => setTimeout(r, 1100));
  await tn.client.append({ log: 'prod', configId: 'a', operator: 'o', action: 'apply' });
  const limited = await append(base, 'prod', change());
  t.same([limited.status, limited.json.code], [429, 'RESOURCE_EXHAUSTED'], 'the HTTP append right after is refused');
  t.match(limited.headers['retry-after'], /^[1-9][0-9]*$/, 'Retry-After in whole seconds');
  t.equal(await logSize(base, 'prod'), 1, 'the refused append stored nothing');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('a request_id records once, over HTTP and gRPC alike', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const a = await append(base, 'prod', change({ request_id: 'deploy-77' }));
  const b = await append(base, 'prod', change({ request_id: 'deploy-77' }));
  t.same([a.json.replayed, b.json.replayed, b.json.seq, b.json.hash], [false, true, a.json.seq, a.json.hash], 'the retry answers the first receipt');
  const viaGrpc = await tn.client.append({ log: 'prod', configId: 'payments/prod/app.yaml', operator: 'alice@example.com', action: 'apply', requestId: 'deploy-77' });
  t.same([viaGrpc.replayed, viaGrpc.entry.seq], [true, a.json.seq], 'gRPC sees the id HTTP recorded');
  await tn.client.append({ log: 'prod', configId: 'x', operator: 'o', action: 'apply', requestId: 'grpc-1' });
  const c = await append(base, 'prod', change({ request_id: 'grpc-1' }));
  t.same([c.json.replayed, c.json.seq], [true, 1], 'HTTP sees the id gRPC recorded');
  t.equal(await logSize(base, 'prod'), 2);
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('mutual TLS: a client certificate from the client CA is an identity; one from another CA is not', async (t) => {
  const dir = await tempDir('cairn-http-tls-');
  t.teardown(dir.remove);
  const pki = await makePki(join(dir.path, 'pki'));
  await writeFile(join(dir.path, 'policy.yaml'), ['tenants:', '  team-a: [append:team-a-*, read:team-a-*]', 'identities:', "  - { match: 'cert-subject:CN=ci-a,O=example', tenant: team-a }", ''].join('\n'));
  const tn = await startTestNode({ 'tls-cert-file': pki.server.cert, 'tls-key-file': pki.server.key, 'tls-client-ca-file': pki.ca.cert, 'policy-file': join(dir.path, 'policy.yaml') });
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  t.match(base, /^https:\/\//);
  const ca = await readFile(pki.ca.cert);
  const good = await pki.client('ci-a', '/CN=ci-a/O=example');
  const foreign = await pki.foreignClient('evil', '/CN=ci-a/O=example');
  const ok = await append(base, 'team-a-prod', change(), { ca, cert: await readFile(good.cert), key: await readFile(good.key) });
  t.same([ok.status, ok.json?.entry?.fields?.identity], [200, 'cert-subject:CN=ci-a,O=example']);
  const bad = await append(base, 'team-a-prod', change(), { ca, cert: await readFile(foreign.cert), key: await readFile(foreign.key) });
  t.same([bad.status, bad.json?.code], [401, 'UNAUTHENTICATED'], 'a certificate the client CA did not issue is no identity');
  const anon = await append(base, 'team-a-prod', change(), { ca });
  t.equal(anon.status, 401);
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('http_listen: on by default beside gRPC, "" turns it off, beyond loopback only with TLS and a policy', async (t) => {
  t.equal(DEFAULTS.httpListen, '127.0.0.1:7701');
  t.equal((await loadConfig({ flags: {}, env: {} })).httpListen, '127.0.0.1:7701', 'npm start serves it');
  const refused = await loadConfig({ flags: { 'http-listen': '0.0.0.0:7701' }, env: {} }).then(() => undefined, (e: CairnError) => e);
  t.same([refused?.code, refused?.field], ['INVALID_ARGUMENT', 'http_listen']);
  t.match(refused?.message, /not a loopback address.*TLS.*policy_file/);
  const off = await startTestNode({ 'http-listen': '' });
  t.teardown(() => off.close());
  t.equal(off.node.httpAddress, undefined);
});

t.test('the HTTP reference in docs/api.md is the one rendered from the OpenAPI document', async (t) => {
  const md = await readFile(API_DOC, 'utf8');
  t.equal(referenceInDoc(md), apiReference(), 'run `node dist/scripts/api-reference.js` to regenerate it');
});

t.test('an http_listen address in use refuses the start, and releases what the start had opened', async (t) => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const port = (busy.address() as AddressInfo).port;
  const dir = await tempDir('cairn-http-busy-');
  t.teardown(dir.remove);
  const refused = await startTestNode({ 'http-listen': `127.0.0.1:${port}` }, dir.path).then(
    async (n) => {
      await n.stop();
      return undefined;
    },
    (e: NodeJS.ErrnoException) => e,
  );
  t.equal(refused?.code, 'EADDRINUSE');
  // The ledger's LevelDB lock was released: the same data directory opens again.
  const again = await startTestNode({}, dir.path);
  await again.stop();
  t.ok(again.node.grpcAddress, 'the data directory opened again');
});
