/**
 * The CairnAnchor chaincode, read like its contract: the parsing rules on
 * their own, then every transaction through the unmodified fabric-gateway
 * client, over TLS, against the Gateway test peer running the real chaincode
 * under fabric-shim. Chaincode errors reach the client as Fabric sends them:
 * an EndorseError (ABORTED) or, for evaluate, a GatewayError (UNKNOWN), with
 * `chaincode response 500, <CODE>: ...` in the details.
 */
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { EndorseError, GatewayError, type Contract } from '@hyperledger/fabric-gateway';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import anchorRecord from '../src/chaincode/anchor-record.cjs';
import { TestPeer, type Identity } from './fabric/test-peer.js';
import { connectGateway } from './fabric/client.js';
import { REPO_ROOT } from './fabric/chaincode-process.js';
import { anchorJson, checkpoint, failure, hex32, nextWithin, utf8 } from './fabric/helpers.js';

type AnchorRecord = anchorRecord.AnchorRecord;
type LogAnchor = anchorRecord.LogAnchor;
type AnchorPage = anchorRecord.AnchorPage;

// ---------------------------------------------------------------- parsing, on its own

t.test('anchor arguments are parsed strictly, each failure naming its field', async (t) => {
  const { parseWindow, parseAnchorInput, parseWindowRange, windowAttribute, AnchorError } = anchorRecord;
  const codeOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      t.ok(e instanceof AnchorError, 'an AnchorError');
      return (e as InstanceType<typeof AnchorError>).code;
    }
    return 'no error';
  };
  t.equal(parseWindow('0'), 0);
  t.equal(parseWindow('9007199254740991'), Number.MAX_SAFE_INTEGER);
  for (const bad of ['', '01', '-1', '1e3', '1.0', ' 1', '9007199254740992', '0x10']) {
    t.equal(codeOf(() => parseWindow(bad)), 'INVALID_ARGUMENT', `window ${JSON.stringify(bad)} is refused`);
  }
  t.equal(codeOf(() => parseWindowRange('5', '4')), 'INVALID_ARGUMENT', 'a reversed range is refused');
  t.equal(codeOf(() => parseWindowRange('0', '10000')), 'INVALID_ARGUMENT', 'a range over 10,000 windows is refused');
  t.same(parseWindowRange('0', '9999'), { from: 0, to: 9999 });
  t.ok(windowAttribute(9) < windowAttribute(10) && windowAttribute(999) < windowAttribute(1000), 'padded windows sort numerically');

  const good = JSON.parse(anchorJson(1, [checkpoint('prod', 3)])) as Record<string, unknown>;
  t.same(parseAnchorInput(JSON.stringify(good)), good, 'a valid anchor parses to itself');
  const variants: [string, unknown, RegExp][] = [
    ['root', { ...good, root: 'A'.repeat(64) }, /^ANCHOR_MALFORMED: root must be 64 lowercase hex/],
    ['short root', { ...good, root: 'a'.repeat(62) }, /^ANCHOR_MALFORMED: root /],
    ['node', { ...good, node: ' n ' }, /^ANCHOR_MALFORMED: node has surrounding white space/],
    ['no checkpoints', { ...good, checkpoints: [] }, /^ANCHOR_MALFORMED: checkpoints must be a non-empty array/],
    ['negative size', { ...good, checkpoints: [{ ...checkpoint('prod', 1), size: -1 }] }, /checkpoints\[0\]\.size/],
    ['fractional size', { ...good, checkpoints: [{ ...checkpoint('prod', 1), size: 1.5 }] }, /checkpoints\[0\]\.size/],
    ['bad log', { ...good, checkpoints: [checkpoint('Prod', 1)] }, /checkpoints\[0\]\.log/],
    ['bad rootHash', { ...good, checkpoints: [{ ...checkpoint('prod', 1), rootHash: 'zz' }] }, /checkpoints\[0\]\.rootHash/],
    ['duplicate log', { ...good, checkpoints: [checkpoint('prod', 1), checkpoint('prod', 2)] }, /checkpoints\[1\]\.log "prod" already appears at checkpoints\[0\]/],
    ['unknown checkpoint field', { ...good, checkpoints: [{ ...checkpoint('prod', 1), extra: 1 }] }, /checkpoints\[0\]\.extra is not a known field/],
    ['unknown field', { ...good, extra: 1 }, /^ANCHOR_MALFORMED: extra is not a known field/],
    ['submitter', { ...good, submitter: { mspId: 'Org1MSP' } }, /submitter is taken from the transaction/],
    ['txId', { ...good, txId: 'x' }, /txId is taken from the transaction/],
    ['window', { ...good, window: 1 }, /window is the first argument/],
    ['array', [good], /anchorJson must be a JSON object/],
  ];
  for (const [what, value, message] of variants) {
    t.throws(() => parseAnchorInput(JSON.stringify(value)), message, `${what} is refused`);
  }
  t.throws(() => parseAnchorInput('{'), /anchorJson is not valid JSON/);

  // The fields restate the signed note's first lines (C2SP tlog-checkpoint) and must match it.
  const cp = checkpoint('prod', 3);
  const withoutOrigin: Partial<typeof cp> = { ...cp };
  delete withoutOrigin.origin;
  t.same(parseAnchorInput(JSON.stringify({ ...good, checkpoints: [withoutOrigin] })).checkpoints[0], cp, 'origin left out is taken from the note');
  const mismatches: [string, unknown, RegExp][] = [
    ['origin', { ...cp, origin: 'other/prod' }, /checkpoints\[0\]\.origin "other\/prod" differs from the note's origin "cairn-test\/prod"/],
    ['size', { ...cp, size: 4 }, /checkpoints\[0\]\.size 4 differs from the note's tree size "3"/],
    ['rootHash', { ...cp, rootHash: hex32('x') }, /checkpoints\[0\]\.rootHash differs from the note's root hash/],
    ['note', { ...cp, note: 'just one line' }, /checkpoints\[0\]\.note is not a checkpoint/],
  ];
  for (const [what, value, message] of mismatches) {
    t.throws(() => parseAnchorInput(JSON.stringify({ ...good, checkpoints: [value] })), message, `${what} disagreeing with the note is refused`);
  }
  const many = { ...good, checkpoints: Array.from({ length: 1025 }, (_, i) => checkpoint(`l${i}`, 1)) };
  t.throws(() => parseAnchorInput(JSON.stringify(many)), /checkpoints has more than 1024 entries/);
});

// ---------------------------------------------------------------- through the gateway

const peer = await TestPeer.start({ otherMspIds: ['Org2MSP'] });
t.teardown(() => peer.close());
const conn = connectGateway(peer.settings());
t.teardown(() => conn.close());
const network = conn.gateway.getNetwork(peer.channel);
const contract = network.getContract(peer.chaincode, 'CairnAnchor');

async function record(c: Contract, window: number, json: string): Promise<{ record: AnchorRecord; blockNumber: bigint; txId: string }> {
  const submitted = await c.submitAsync('RecordAnchor', { arguments: [String(window), json] });
  const status = await submitted.getStatus();
  if (!status.successful) throw new Error(`window ${window} did not commit: code ${status.code}`);
  return { record: JSON.parse(utf8(submitted.getResult())) as AnchorRecord, blockNumber: status.blockNumber, txId: status.transactionId };
}

/** Submits and expects an EndorseError carrying the chaincode's `code`. */
async function refused(tt: Test, p: Promise<unknown>, code: string, what: string): Promise<string> {
  const e = await failure(p);
  tt.ok(e instanceof EndorseError, `${what}: an EndorseError`);
  const err = e as unknown as EndorseError;
  tt.equal(err.code, grpc.status.ABORTED, `${what}: status ABORTED, as a Fabric gateway reports a failed endorsement`);
  const message = err.details[0]?.message ?? '';
  tt.match(message, new RegExp(`^chaincode response 500, ${code}: `), `${what}: the chaincode's ${code} in the details`);
  tt.equal(err.details[0]?.mspId, peer.mspId, `${what}: the detail names the endorsing peer's MSP`);
  return message;
}

function certSha256(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

t.test('RecordAnchor commits in a block, emits AnchorRecorded, and GetAnchor returns the record', async (t) => {
  const events = await network.getChaincodeEvents(peer.chaincode);
  t.teardown(() => events.close());
  const it = events[Symbol.asyncIterator]();

  const cps = [checkpoint('prod', 10), checkpoint('staging', 4)];
  const { record: rec, blockNumber, txId } = await record(contract, 1, anchorJson(1, cps));
  t.ok(blockNumber >= 1n, 'committed in a block after the genesis block');
  t.match(txId, /^[0-9a-f]{64}$/, 'a Fabric transaction ID');
  t.same(rec, {
    window: 1,
    root: hex32('anchor-1'),
    checkpoints: cps,
    node: 'cairn-test',
    submitter: {
      mspId: 'Org1MSP',
      id: 'x509::/C=US/O=Org1MSP/OU=client/CN=cairn-node::/C=US/O=Org1MSP/CN=ca.org1msp',
      certificateSha256: certSha256(peer.clientIdentity.certPem),
    },
    txId,
    timestamp: rec.timestamp,
  }, 'the record: arguments, plus submitter and tx ID from the transaction');
  t.match(rec.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, 'timestamp is RFC 3339 with nanoseconds');
  t.ok(Math.abs(Date.parse(rec.timestamp) - Date.now()) < 60_000, 'timestamp is the proposal time');

  const ev = await nextWithin(it, 5000, 'AnchorRecorded event');
  t.equal(ev.done, false);
  t.equal(ev.value.eventName, 'AnchorRecorded');
  t.equal(ev.value.chaincodeName, peer.chaincode);
  t.equal(ev.value.transactionId, txId, 'the event names the transaction');
  t.equal(ev.value.blockNumber, blockNumber, 'and its block');
  t.same(JSON.parse(utf8(ev.value.payload)), rec, 'its payload is the stored record');

  t.same(JSON.parse(utf8(await contract.evaluateTransaction('GetAnchor', '1'))), rec, 'GetAnchor returns the record');
  t.same(JSON.parse(utf8(await contract.evaluateTransaction('GetLogHead', 'prod'))), { log: 'prod', window: 1, size: 10, rootHash: cps[0]!.rootHash });
  t.equal(utf8(await contract.evaluateTransaction('GetLogHead', 'never-anchored')), 'null', 'a log never anchored has no head');
});

t.test('ListAnchors returns one log\'s anchors in a window range, across index buckets', async (t) => {
  const windows = [998, 999, 1000, 1001, 2500];
  for (const [i, w] of windows.entries()) {
    const cps = [checkpoint('audit', 100 + i)];
    if (w % 2 === 0) cps.push(checkpoint('other', 50 + i));
    await record(contract, w, anchorJson(w, cps));
  }
  const page = async (log: string, from: number, to: number): Promise<AnchorPage> =>
    JSON.parse(utf8(await contract.evaluateTransaction('ListAnchors', log, String(from), String(to)))) as AnchorPage;
  const list = async (from: number, to: number): Promise<LogAnchor[]> => {
    const p = await page('audit', from, to);
    t.equal(p.nextWindow, null, `${from}..${to} fits one answer`);
    return p.anchors;
  };
  t.same((await list(0, 9999)).map((a) => a.window), windows, 'every window, in window order');
  t.same((await list(999, 1000)).map((a) => a.window), [999, 1000], 'a range across a bucket boundary, both ends inclusive');
  t.same((await list(1002, 2499)).map((a) => a.window), [], 'an empty range');
  t.same((await list(2500, 2500)).map((a) => a.window), [2500]);
  const [first] = await list(998, 998);
  t.same(first?.checkpoint, checkpoint('audit', 100), 'each entry carries this log\'s checkpoint only');
  t.same(Object.keys(first ?? {}).sort(), ['checkpoint', 'node', 'root', 'submitter', 'timestamp', 'txId', 'window']);
  t.same((await page('other', 0, 9999)).anchors.map((a) => a.window), [998, 1000, 2500], 'another log lists only its own windows');

  const e = await failure(contract.evaluateTransaction('ListAnchors', 'audit', '0', '10000'));
  t.ok(e instanceof GatewayError, 'a too-wide range fails the evaluate');
  t.equal((e as unknown as GatewayError).code, grpc.status.UNKNOWN, 'UNKNOWN, as the gateway reports a chaincode error on evaluate');
  t.match((e as unknown as GatewayError).details[0]?.message, /^chaincode response 500, INVALID_ARGUMENT: range 0\.\.10000 spans more than 10000 windows/);
});

t.test('a ListAnchors answer stops at its size limit and says where to continue', async (t) => {
  // Notes of 15 KiB: about 17 anchors fill the 256 KiB answer limit.
  const big = (size: number): ReturnType<typeof checkpoint> => {
    const cp = checkpoint('big', size);
    return { ...cp, note: `${cp.note}— witness ${'x'.repeat(15 << 10)}\n` };
  };
  const windows = Array.from({ length: 20 }, (_, i) => 3000 + i);
  for (const w of windows) await record(contract, w, anchorJson(w, [big(w)]));
  const seen: number[] = [];
  let from = 0;
  let answers = 0;
  for (;;) {
    const p = JSON.parse(utf8(await contract.evaluateTransaction('ListAnchors', 'big', String(from), '9999'))) as AnchorPage;
    answers++;
    t.ok(p.anchors.length > 0, 'every answer carries anchors');
    seen.push(...p.anchors.map((a) => a.window));
    if (p.nextWindow === null) break;
    t.equal(p.nextWindow, (p.anchors.at(-1)?.window ?? 0) + 1, 'nextWindow is the first window left out');
    from = p.nextWindow;
  }
  t.equal(answers, 2, 'two answers for 20 anchors of 15 KiB');
  t.same(seen, windows, 'together they list every anchor once, in order');
});

t.test('a window already anchored is rejected and the first record stays', async (t) => {
  const first = await record(contract, 7, anchorJson(7, [checkpoint('dup', 1)]));
  const message = await refused(t, contract.submitTransaction('RecordAnchor', '7', anchorJson(7, [checkpoint('dup', 2)], { root: hex32('another root') })), 'ANCHOR_WINDOW_EXISTS', 'same window again');
  t.match(message, `window 7 is already anchored (tx ${first.txId}`, 'the error names the transaction that anchored it');
  t.same(JSON.parse(utf8(await contract.evaluateTransaction('GetAnchor', '7'))), first.record, 'the first record is unchanged');
});

t.test('per log, sizes never go backwards, one size has one root, windows increase', async (t) => {
  await record(contract, 20, anchorJson(20, [checkpoint('mono', 50), checkpoint('side', 1)]));
  const m1 = await refused(t, contract.submitTransaction('RecordAnchor', '21', anchorJson(21, [checkpoint('side', 2), checkpoint('mono', 49)])), 'CHECKPOINT_SIZE_REGRESSION', 'size 49 after 50');
  t.match(m1, 'checkpoints[1] (log mono): size 49 is below size 50 anchored in window 20');
  const m2 = await refused(t, contract.submitTransaction('RecordAnchor', '21', anchorJson(21, [checkpoint('mono', 50, hex32('forked'))])), 'CHECKPOINT_FORK', 'size 50 with another root');
  t.match(m2, `size 50 has root ${hex32('forked')}, but window 20 anchored root ${hex32('mono@50')}`);
  await refused(t, contract.submitTransaction('RecordAnchor', '19', anchorJson(19, [checkpoint('mono', 60)])), 'WINDOW_OUT_OF_ORDER', 'an earlier window for the log');
  await record(contract, 21, anchorJson(21, [checkpoint('mono', 50)]));
  t.pass('the same size with the same root is accepted (no new entries in the window)');
  await record(contract, 22, anchorJson(22, [checkpoint('mono', 51)]));
  t.same(JSON.parse(utf8(await contract.evaluateTransaction('GetLogHead', 'mono'))), { log: 'mono', window: 22, size: 51, rootHash: hex32('mono@51') });
  t.equal(utf8(await contract.evaluateTransaction('GetLogHead', 'side')).includes('"window":20'), true, 'a refused anchor changed nothing for the other logs it named');
});

t.test('malformed arguments are rejected with the field named', async (t) => {
  const m = await refused(t, contract.submitTransaction('RecordAnchor', '30', anchorJson(30, [checkpoint('bad', 1)], { root: 'ABCD' })), 'ANCHOR_MALFORMED', 'a malformed root');
  t.match(m, 'root must be 64 lowercase hex digits (32 bytes)');
  await refused(t, contract.submitTransaction('RecordAnchor', '030', anchorJson(30, [checkpoint('bad', 1)])), 'INVALID_ARGUMENT', 'a window with a leading zero');
  await refused(t, contract.submitTransaction('RecordAnchor', '30', 'not json'), 'ANCHOR_MALFORMED', 'anchorJson that is not JSON');
  const e = await failure(contract.evaluateTransaction('GetAnchor', '31'));
  t.equal((e as unknown as GatewayError).code, grpc.status.UNKNOWN);
  t.match((e as unknown as GatewayError).details[0]?.message, /^chaincode response 500, ANCHOR_NOT_FOUND: window 31 has no anchor/, 'a window never anchored is ANCHOR_NOT_FOUND');
});

t.test('the submitter is the transaction\'s creator, never an argument', async (t) => {
  const forged = { mspId: 'Org1MSP', id: 'x509::/CN=admin', certificateSha256: hex32('forged') };
  await refused(t, contract.submitTransaction('RecordAnchor', '40', anchorJson(40, [checkpoint('who', 1)], { submitter: forged })), 'ANCHOR_MALFORMED', 'a submitter in the arguments');

  const org2: Identity = await peer.newIdentity('Org2MSP', 'auditor-node');
  const conn2 = connectGateway(peer.settings(org2));
  t.teardown(() => conn2.close());
  const contract2 = conn2.gateway.getNetwork(peer.channel).getContract(peer.chaincode, 'CairnAnchor');
  const { record: rec } = await record(contract2, 40, anchorJson(40, [checkpoint('who', 1)]));
  t.same(rec.submitter, {
    mspId: 'Org2MSP',
    id: 'x509::/C=US/O=Org2MSP/OU=client/CN=auditor-node::/C=US/O=Org2MSP/CN=ca.org2msp',
    certificateSha256: certSha256(org2.certPem),
  }, 'MSP ID and certificate of the identity that signed the proposal');
});

t.test('scripts/package-chaincode.sh assembles a folder for peer lifecycle chaincode package', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'cairn-ccpkg-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const { stdout } = await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/package-chaincode.sh'), out], { env: { ...process.env, SKIP_BUILD: '1' } });
  t.match(stdout, /peer lifecycle chaincode package cairn-anchor\.tar\.gz --path .* --lang node --label cairn-anchor_0\.1\.0/);
  const dir = join(out, 'cairn-anchor');
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { main: string; scripts: Record<string, string>; dependencies: Record<string, string> };
  t.equal(pkg.scripts.start, 'fabric-chaincode-node start', 'the peer starts it with fabric-shim');
  t.same(pkg.dependencies, { 'fabric-contract-api': '2.5.8', 'fabric-shim': '2.5.8' });
  t.ok((await stat(join(dir, pkg.main))).isFile(), 'main is in the folder');
  t.ok((await stat(join(out, 'cairn-anchor-src.tar.gz'))).size > 0, 'and a tarball of it');
  // Deployed alone: it may require only its own files, Node built-ins and its two dependencies.
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.cjs'))) {
    const src = await readFile(join(dir, f), 'utf8');
    for (const [, target] of src.matchAll(/require\("([^"]+)"\)/g)) {
      t.ok(/^\.\/[a-z-]+\.cjs$|^node:|^fabric-contract-api$/.test(target ?? ''), `${f} requires ${target}`);
    }
  }
});
