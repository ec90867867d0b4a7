/**
 * Key rotation end to end, with real nodes, real LevelDB and the real CLI:
 * a verifier that pinned the node's FIRST key follows every rotation, online,
 * offline (export + verify-bundle) and across runs (--state); forged links,
 * entries under keys the chain does not lead to and a hidden rotation are
 * each caught with their code and seq; an interrupted rotate-key finishes
 * when run again; the key may come from CAIRN_SIGNING_KEY_PEM.
 */
import t, { type Test } from 'tap';
import { chmod, copyFile, cp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { loadConfig } from '../src/node/config.js';
import { startNode } from '../src/node/node.js';
import { createLogger } from '../src/node/logger.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { rotateKey, rotationEntryFields } from '../src/ledger/key-rotation.js';
import { signChain, type EntryFields } from '../src/ledger/chain-signer.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { TAG, tableRange } from '../src/storage/keys.js';
import { decodeBody, type SignedEntry } from '../src/core/entry.js';
import { encodeKeyLinkStatement, keyLinkToJson, KEY_ROTATION_ACTION } from '../src/core/key-chain.js';
import { signCheckpoint } from '../src/core/checkpoint.js';
import { CompactRange, leafHash } from '../src/core/merkle.js';
import { bytesEqual } from '../src/core/bytes.js';
import { isCairnError, isVerificationError, type VerificationCode } from '../src/core/errors.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { verifyBundleFile, verifyLogOnline } from '../src/client/verify-log.js';

const LOG = 'app';
const BEFORE = 6;

async function appendN(tn: TestNode, log: string, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await tn.client.append({ log, configId: `cfg/${i}`, operator: 'ci', action: 'update', payloadJson: JSON.stringify({ i }) });
}

/** Verifies LOG (or `log`) in-process as `cairn verify --pubkey FIRST` does. */
async function verifyWith(tn: TestNode, first: string, opts: { log?: string; threads?: number; state?: string } = {}): Promise<{ size: number; previousSize?: number }> {
  return verifyLogOnline(tn.client, opts.log ?? LOG, {
    publicKeySpki: pemToDer(await readFile(first, 'utf8'), 'PUBLIC KEY'),
    signatureThreads: opts.threads ?? 0,
    progress: false,
    ...(opts.state ? { statePath: opts.state } : {}),
  });
}

async function expectFailure(t: Test, p: Promise<unknown>, code: VerificationCode, seq: number | undefined, message?: RegExp): Promise<void> {
  try {
    await p;
    t.fail(`expected ${code}`);
  } catch (e) {
    if (!isVerificationError(e)) throw e;
    t.equal(e.code, code, `${code}: ${e.message}`);
    if (seq !== undefined) t.equal(e.evidence.seq, seq, `names seq ${seq}`);
    if (message) t.match(e.message, message);
  }
}

function json(r: { code: number; stdout: string; stderr: string }): Record<string, unknown> {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * A node with BEFORE entries in LOG under its first key, rotated with the
 * CLI, restarted, with 3 more entries in LOG. Keeps the first public key (the
 * one to pin) and, for the tests that play a thief, the old private key.
 */
/** A fresh node with BEFORE entries in LOG, and its first public key copied aside (the one to pin). */
async function nodeWithHistory(t: Test): Promise<{ dir: string; tn: TestNode; first: string }> {
  const d = await tempDir();
  t.teardown(d.remove);
  const tn = await startTestNode({}, d.path);
  await appendN(tn, LOG, BEFORE);
  const first = join(d.path, 'first.pub.pem');
  await copyFile(tn.pubkeyPath, first);
  return { dir: d.path, tn, first };
}

async function rotatedNode(t: Test): Promise<{ dir: string; first: string; oldKey: SigningKey; tn: TestNode; state: string }> {
  const start = await nodeWithHistory(t);
  const { dir, first } = start;
  let tn = start.tn;
  const oldKey = SigningKey.fromPem(await readFile(join(dir, 'signing-key.pem'), 'utf8'));
  const state = join(dir, 'verify-state.json');
  await verifyWith(tn, first, { state });
  await tn.stop();
  await rotateKey({ source: { keyFile: join(dir, 'signing-key.pem'), dataDir: dir }, nodeName: '' });
  tn = await startTestNode({}, dir);
  t.teardown(() => tn.stop());
  await appendN(tn, LOG, 3, BEFORE);
  return { dir, first, oldKey, tn, state };
}

t.test('rotate-key, restart, new log: verify --pubkey FIRST passes online, offline and from a pre-rotation --state', async (t) => {
  const start = await nodeWithHistory(t);
  const { dir, first } = start;
  let tn = start.tn;
  const firstKeyId = tn.node.key.keyIdHex;
  const nodeName = tn.node.ledger.options.nodeName;
  const state = join(dir, 'state.json');
  json(await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', first, '--state', state]));
  await tn.stop();

  const rotated = json(await runCli(['rotate-key', '--data-dir', dir]));
  t.same(rotated.rotated, [LOG], 'every stored log got a rotation entry');
  t.equal(rotated.previousKeyId, firstKeyId);
  t.not(rotated.keyId, firstKeyId, 'a new key');
  const files = await readdir(dir);
  t.ok(files.includes(`signing-key.${firstKeyId}.retired.pub.pem`), 'the old public key is kept');
  t.notOk(files.includes('signing-key.next.pem'), 'nothing staged is left');
  t.equal((await stat(join(dir, 'signing-key.pem'))).mode & 0o777, 0o600, 'the new key file is 0600');
  t.equal(SigningKey.fromPem(await readFile(join(dir, 'signing-key.pem'), 'utf8')).keyIdHex, rotated.keyId, 'the key file holds the new key: the old private key is gone');

  tn = await startTestNode({}, dir);
  t.teardown(() => tn.stop());
  t.equal(tn.node.key.keyIdHex, rotated.keyId);
  t.equal(tn.node.ledger.options.nodeName, nodeName, 'the default node name survives rotation (from the first key)');
  const pk = await tn.client.publicKey();
  t.equal(pk.keyChain.length, 1, 'GetPublicKey serves the chain');
  t.ok(bytesEqual(pk.keyChain[0]!.statement.next, pk.spki), 'its last link leads to the current key');

  const rot = decodeBody((await tn.client.getEntry(LOG, BEFORE)).body);
  t.equal(rot.action, KEY_ROTATION_ACTION, `entry ${BEFORE} is the rotation entry`);
  await appendN(tn, LOG, 3, BEFORE);
  await appendN(tn, 'fresh', 2);
  const genesis = decodeBody((await tn.client.getEntry('fresh', 0)).body);
  t.equal(genesis.action, KEY_ROTATION_ACTION, 'a log created after the rotation opens with its key history');
  t.equal((genesis.payload as { links: unknown[] }).links.length, 1);
  t.equal(decodeBody((await tn.client.getEntry('fresh', 1)).body).configId, 'cfg/0', 'the client\'s first entry follows it');

  const addr = tn.node.grpcAddress;
  // The CLI once for each path, the rest in-process (same code, no process start-up).
  t.equal(json(await runCli(['verify', '--server', addr, '--log', 'fresh', '--pubkey', first])).ok, true, 'cairn verify --pubkey FIRST, a log created after the rotation');
  t.equal(json(await runCli(['verify', '--server', addr, '--log', LOG, '--pubkey', first, '--state', state])).previousSize, BEFORE, 'cairn verify --state from before the rotation');
  const saved = JSON.parse(await readFile(state, 'utf8')) as { key: string };
  t.equal(saved.key, Buffer.from(pk.spki).toString('base64'), 'the state remembers the key now in force');
  for (const log of [LOG, 'fresh']) {
    t.ok((await verifyWith(tn, first, { log, threads: 2 })).size > 0, `verify ${log} with signature threads`);
    const bundle = join(dir, `${log}.jsonl`);
    json(await runCli(['export', '--server', addr, '--log', log, '--out', bundle]));
    const spki = pemToDer(await readFile(first, 'utf8'), 'PUBLIC KEY');
    t.equal((await verifyBundleFile(bundle, { publicKeySpki: spki, signatureThreads: 2, progress: false })).size, log === LOG ? BEFORE + 4 : 3, `export + verify-bundle ${log}`);
  }
  t.equal(json(await runCli(['verify-bundle', join(dir, `${LOG}.jsonl`), '--pubkey', first])).ok, true, 'cairn verify-bundle --pubkey FIRST');

  const rec = await runCli(['record', '--server', addr, '--log', LOG, '--config-id', 'c', '--operator', 'o', '--action', 'update']);
  t.equal(rec.code, 0);
  const receipt = join(dir, 'receipt.json');
  await writeFile(receipt, rec.stdout);
  t.equal(json(await runCli(['verify-receipt', receipt, '--pubkey', first])).ok, true, 'a receipt carries the chain: verify-receipt with the first key');
  t.equal(json(await runCli(['proof', '--server', addr, '--log', LOG, '--from', String(BEFORE), '--to', String(BEFORE + 4), '--pubkey', first])).verified, true, 'proof --pubkey FIRST: consistency across the rotation');

  // A second rotation: a new log then carries both links from the first key.
  await tn.stop();
  await rotateKey({ source: { keyFile: join(dir, 'signing-key.pem'), dataDir: dir }, nodeName: '' });
  tn = await startTestNode({}, dir);
  await appendN(tn, 'later', 1);
  t.equal((decodeBody((await tn.client.getEntry('later', 0)).body).payload as { links: unknown[] }).links.length, 2, 'the key history has every link');
  for (const log of [LOG, 'fresh', 'later']) t.ok(await verifyWith(tn, first, { log }), `verify ${log} after two rotations`);
  t.equal((await verifyWith(tn, first, { state })).previousSize, BEFORE + 4, '--state keeps following');
});

// ---------------------------------------------------------------- tampering, with the LevelDB files

/**
 * Rewrites LOG from seq `keep` on with the given entries (each signed by its
 * key), recomputing every Merkle node, and a checkpoint signed by `cpKey`:
 * what someone holding those keys and the disk could leave behind.
 */
async function rewriteLog(dir: string, nodeName: string, keep: number, items: { fields: EntryFields; key: SigningKey }[], cpKey: SigningKey): Promise<void> {
  const store = await LedgerStore.open(join(dir, 'ledger'));
  try {
    const kept: SignedEntry[] = [];
    for await (const chunk of store.readEntries(LOG, 0, keep)) kept.push(...chunk);
    for (const tag of [TAG.entry, TAG.node, TAG.checkpoint]) await store.rawDb.clear(tableRange(tag, LOG));
    let prev = kept[keep - 1]!.hash;
    const fresh: SignedEntry[] = [];
    for (const [i, it] of items.entries()) {
      const [e] = signChain((m) => it.key.sign(m), LOG, prev, keep + i, new Date().toISOString(), [it.fields]);
      fresh.push(e!);
      prev = e!.hash;
    }
    const range = CompactRange.empty();
    const nodes: { id: { level: number; index: number }; hash: Uint8Array }[] = [];
    for (const e of [...kept, ...fresh]) nodes.push(...range.append(leafHash(e.hash)));
    const size = range.size;
    const note = signCheckpoint({ origin: `${nodeName}/${LOG}`, size, rootHash: range.root(), extensions: [] }, cpKey.noteSigner(nodeName));
    await store.commit(LOG, { entries: [...kept, ...fresh], nodes, requests: [], checkpoint: { size, note }, head: { size, lastHash: prev, lastTimeMs: Date.now() } });
  } finally {
    await store.close();
  }
}

async function fieldsOf(tn: TestNode, from: number, to: number): Promise<EntryFields[]> {
  const out: EntryFields[] = [];
  for (let s = from; s < to; s++) {
    const b = decodeBody((await tn.client.getEntry(LOG, s)).body);
    out.push({ configId: b.configId, operator: b.operator, identity: b.identity, action: b.action, source: b.source, commit: b.commit, payload: b.payload, requestId: b.requestId });
  }
  return out;
}

interface Tampered {
  dir: string;
  first: string;
  tn: TestNode;
  verify(args?: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

interface Template {
  dir: string;
  oldKey: SigningKey;
  newKey: SigningKey;
  nodeName: string;
  later: EntryFields[];
}
let template: Promise<Template> | undefined;

/** One rotated node, built once and copied for each tampering test (a stopped node's files are all of it). */
function rotatedTemplate(): Promise<Template> {
  template ??= (async () => {
    const r = await rotatedNode(t);
    const later = await fieldsOf(r.tn, BEFORE + 1, BEFORE + 4);
    const nodeName = r.tn.node.ledger.options.nodeName;
    await r.tn.stop();
    return { dir: r.dir, oldKey: r.oldKey, newKey: SigningKey.fromPem(await readFile(join(r.dir, 'signing-key.pem'), 'utf8')), nodeName, later };
  })();
  return template;
}

/** A copy of the rotated node whose LOG `rewrite` changed while it was stopped, started. */
async function tampered(t: Test, rewrite: (ctx: { later: EntryFields[]; newKey: SigningKey; oldKey: SigningKey; nodeName: string; dir: string }) => Promise<void>): Promise<Tampered> {
  const tpl = await rotatedTemplate();
  const d = await tempDir();
  t.teardown(d.remove);
  await cp(tpl.dir, d.path, { recursive: true });
  await rewrite({ ...tpl, dir: d.path });
  const tn = await startTestNode({}, d.path);
  t.teardown(() => tn.stop());
  const first = join(d.path, 'first.pub.pem');
  return { dir: d.path, first, tn, verify: (args = []) => runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', first, ...args]) };
}

t.test('when a rotation entry\'s link is not signed by the key in force: SIGNATURE_INVALID naming the rotation entry', async (t) => {
  const thief = SigningKey.generate();
  const r = await tampered(t, async ({ later, oldKey, newKey, nodeName, dir }) => {
    // A link old -> thief that the thief signed itself: the old key never agreed to it. The
    // checkpoint is the node's own (an insider with the current key), so only the link can tell.
    const st = { prev: oldKey.publicKeySpki, next: thief.publicKeySpki, node: nodeName, time: new Date().toISOString() };
    const forged = { ...rotationEntryFields([], nodeName), payload: { links: [keyLinkToJson({ statement: st, signature: thief.sign(encodeKeyLinkStatement(st)) })] } };
    await rewriteLog(dir, nodeName, BEFORE, [{ fields: forged, key: oldKey }, ...later.map((fields) => ({ fields, key: thief }))], newKey);
  });
  const v = await r.verify();
  t.equal(v.code, 1, 'cairn verify exits 1: tampering found');
  t.match(v.stderr, new RegExp(`\\[SIGNATURE_INVALID\\] entry ${BEFORE}: key link`), `and names entry ${BEFORE} and its link`);
  await expectFailure(t, verifyWith(r.tn, r.first, { threads: 2 }), 'SIGNATURE_INVALID', BEFORE, /key link/);
  // Offline too: the bundle path has no node to ask.
  const bundle = join(r.dir, 'forged.jsonl');
  json(await runCli(['export', '--server', r.tn.node.grpcAddress, '--log', LOG, '--out', bundle]));
  await expectFailure(t, verifyBundleFile(bundle, { publicKeySpki: pemToDer(await readFile(r.first, 'utf8'), 'PUBLIC KEY'), signatureThreads: 0, progress: false }), 'SIGNATURE_INVALID', BEFORE, /key link/);
});

t.test('when an entry is signed by a key the chain does not lead to: SIGNATURE_INVALID naming its seq, inline and with threads', async (t) => {
  const stranger = SigningKey.generate();
  const r = await tampered(t, async ({ later, newKey, nodeName, dir }) => {
    // The rotation entry kept as the node wrote it; entry BEFORE+2 signed by a stranger.
    await rewriteLog(dir, nodeName, BEFORE + 1, [{ fields: later[0]!, key: newKey }, { fields: later[1]!, key: stranger }, { fields: later[2]!, key: newKey }], newKey);
  });
  for (const threads of [0, 2]) await expectFailure(t, verifyWith(r.tn, r.first, { threads }), 'SIGNATURE_INVALID', BEFORE + 2);
});

t.test('when the rotation entry is removed and the rest re-signed by the new key: SIGNATURE_INVALID at its seq', async (t) => {
  const r = await tampered(t, async ({ later, newKey, nodeName, dir }) => {
    await rewriteLog(dir, nodeName, BEFORE, later.map((fields) => ({ fields, key: newKey })), newKey);
  });
  for (const threads of [0, 2]) await expectFailure(t, verifyWith(r.tn, r.first, { threads }), 'SIGNATURE_INVALID', BEFORE);
});

t.test('when the rotation entry is removed and the rest re-signed by the stolen old key: KEY_CHAIN_BROKEN, and the node refuses appends', async (t) => {
  const r = await tampered(t, async ({ later, oldKey, nodeName, dir }) => {
    await rewriteLog(dir, nodeName, BEFORE, later.map((fields) => ({ fields, key: oldKey })), oldKey);
  });
  // Every entry verifies under the first key: only the node's chain shows the log stayed behind.
  await expectFailure(t, verifyWith(r.tn, r.first), 'KEY_CHAIN_BROKEN', undefined, /ends under key [0-9a-f]{8} but the node's key chain leads to [0-9a-f]{8}: a rotation entry is missing/);
  try {
    await r.tn.client.append({ log: LOG, configId: 'c', operator: 'o', action: 'update' });
    t.fail('appended on top of a head under a retired key');
  } catch (e) {
    t.equal((e as { code?: number }).code, 9, 'FAILED_PRECONDITION');
    t.match((e as Error).message, /rotate-key/, 'says what to do');
  }
});

t.test('a rotate-key stopped midway refuses the node\'s start, and run again finishes without rotating any log twice', async (t) => {
  const d = await tempDir();
  t.teardown(d.remove);
  let tn = await startTestNode({}, d.path);
  const logs = ['a', 'b', 'c'];
  for (const log of logs) await appendN(tn, log, 2);
  const first = join(d.path, 'first.pub.pem');
  await copyFile(tn.pubkeyPath, first);
  await tn.stop();
  const source = { keyFile: join(d.path, 'signing-key.pem'), dataDir: d.path };
  // Stopped right after the first log's rotation was durable: what kill -9 there leaves.
  const crash = new Error('simulated crash');
  await t.rejects(rotateKey({ source, nodeName: '', afterLog: () => { throw crash; } }), crash);
  t.ok((await readdir(d.path)).includes('signing-key.next.pem'), 'the next key is staged');
  try {
    await startTestNode({}, d.path);
    t.fail('started in the middle of a rotation');
  } catch (e) {
    t.ok(isCairnError(e) && e.code === 'FAILED_PRECONDITION', 'FAILED_PRECONDITION');
    t.match((e as Error).message, /rotate-key was interrupted/, 'says to run rotate-key again');
  }
  const r = json(await runCli(['rotate-key', '--data-dir', d.path]));
  t.same(r.alreadyRotated, ['a'], 'the log rotated before the crash is skipped');
  t.same(r.rotated, ['b', 'c']);
  tn = await startTestNode({}, d.path);
  t.teardown(() => tn.stop());
  t.equal(tn.node.key.keyIdHex, r.keyId, 'the staged key was installed');
  for (const log of logs) {
    await appendN(tn, log, 1, 10);
    t.equal((await verifyWith(tn, first, { log })).size, 4, `${log}: 2 entries, one rotation entry, 1 entry`);
    const actions = await Promise.all([0, 1, 2, 3].map(async (s) => decodeBody((await tn.client.getEntry(log, s)).body).action));
    t.equal(actions.filter((a) => a === KEY_ROTATION_ACTION).length, 1, `${log} was rotated once`);
  }
});

t.test('rotate-key refuses to run while the node holds the database', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  await appendN(tn, LOG, 1);
  const r = await runCli(['rotate-key', '--data-dir', tn.dataDir]);
  t.equal(r.code, 2);
  t.match(r.stderr, /FAILED_PRECONDITION.*the node is running.*stop it/);
});

// ---------------------------------------------------------------- where the key comes from

t.test('CAIRN_SIGNING_KEY_PEM: the node signs with it, creates no key file, and rotate-key stages the next key for the operator', async (t) => {
  const d = await tempDir();
  t.teardown(d.remove);
  const key = SigningKey.generate();
  const config = await loadConfig({ flags: { 'data-dir': d.path, listen: '127.0.0.1:0', 'http-listen': '', 'metrics-listen': '' }, env: { CAIRN_SIGNING_KEY_PEM: key.privateKeyPem() } });
  t.notMatch(JSON.stringify(config), /PRIVATE KEY/, 'the resolved config never shows the key');
  const node = await startNode(config, createLogger('silent'));
  const { LedgerClient } = await import('../src/client/ledger-client.js');
  const client = new LedgerClient(node.grpcAddress);
  const pk = await client.publicKey();
  t.ok(bytesEqual(pk.spki, key.publicKeySpki), 'GetPublicKey is the environment\'s key');
  await client.append({ log: LOG, configId: 'c', operator: 'o', action: 'update' });
  client.close();
  await node.close();
  t.notOk((await readdir(d.path)).some((f) => f.startsWith('signing-key')), 'no key file was created');

  const pub = join(d.path, 'first.pub.pem');
  await writeFile(pub, key.publicKeyPem);
  const r = await runCli(['rotate-key', '--data-dir', d.path], { CAIRN_SIGNING_KEY_PEM: key.privateKeyPem() });
  const out = json(r);
  t.equal(out.updateEnvironment, true);
  t.match(r.stderr, /set it to the contents of .*signing-key\.next\.pem/, 'tells the operator to update the variable');
  t.notMatch(r.stderr + r.stdout, /PRIVATE KEY/, 'and never prints a key');
  const next = await readFile(out.newKeyFile as string, 'utf8');
  t.equal((await stat(out.newKeyFile as string)).mode & 0o777, 0o600, 'the staged key is 0600');
  const restarted = await startNode(await loadConfig({ flags: { 'data-dir': d.path, listen: '127.0.0.1:0', 'http-listen': '', 'metrics-listen': '' }, env: { CAIRN_SIGNING_KEY_PEM: next } }), createLogger('silent'));
  t.teardown(() => restarted.close());
  const c2 = new LedgerClient(restarted.grpcAddress);
  t.teardown(() => c2.close());
  await c2.append({ log: LOG, configId: 'c', operator: 'o', action: 'update' });
  t.equal((await verifyLogOnline(c2, LOG, { publicKeySpki: key.publicKeySpki, signatureThreads: 0, progress: false })).size, 3, 'verifies from the first key');
});

t.test('a bad CAIRN_SIGNING_KEY_PEM refuses the start, naming the variable and never quoting it', async (t) => {
  const d = await tempDir();
  t.teardown(d.remove);
  const secret = 'c2VjcmV0IGtleSBtYXRlcmlhbCB0aGF0IG11c3Qgbm90IGxlYWs=';
  for (const pem of [`-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`, `-----BEGIN EC PRIVATE KEY-----\n${secret}\n-----END EC PRIVATE KEY-----\n`]) {
    const r = await runCli(['serve', '--data-dir', d.path, '--listen', '127.0.0.1:0', '--http-listen', '', '--metrics-listen', ''], { CAIRN_SIGNING_KEY_PEM: pem });
    t.equal(r.code, 2, 'start refused');
    t.match(r.stderr, /CAIRN_SIGNING_KEY_PEM/, 'names the variable');
    t.notMatch(r.stderr, new RegExp(secret.slice(0, 12)), 'does not echo the PEM');
  }
  t.notOk((await readdir(d.path)).some((f) => f.startsWith('signing-key')), 'and does not fall back to creating a key file');
});

t.test('a key file readable by group or others refuses the start', async (t) => {
  const d = await tempDir();
  t.teardown(d.remove);
  const tn = await startTestNode({}, d.path);
  await tn.stop();
  for (const mode of [0o640, 0o604]) {
    await chmod(join(d.path, 'signing-key.pem'), mode);
    try {
      await startTestNode({}, d.path);
      t.fail(`started with mode ${mode.toString(8)}`);
    } catch (e) {
      t.ok(isCairnError(e) && e.code === 'FAILED_PRECONDITION', `mode ${mode.toString(8)}: FAILED_PRECONDITION`);
      t.match((e as Error).message, /readable by group or others.*chmod 600/);
    }
  }
});
