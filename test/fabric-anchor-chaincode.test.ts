/**
 * The CairnAnchor chaincode, read like its contract: the parsing rules and
 * the window root on their own (the root against the node's own
 * `buildWindow`), then every transaction through the unmodified
 * fabric-gateway client, over TLS, against the Gateway test peer running the
 * real chaincode under fabric-shim: windows per node, a node name bound to
 * the identity that first anchored it. Chaincode errors reach the client as
 * Fabric sends them: an EndorseError (ABORTED) or, for evaluate, a
 * GatewayError (UNKNOWN), with `chaincode response 500, <CODE>: ...` in the
 * details.
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
import fc from 'fast-check';
import anchorRecord from '../src/chaincode/anchor-record.cjs';
import windowRootModule from '../src/chaincode/window-root.cjs';
import { buildWindow } from '../src/anchoring/window-tree.js';
import { TestPeer, type Identity } from './fabric/test-peer.js';
import { connectGateway } from './fabric/client.js';
import { REPO_ROOT } from './fabric/chaincode-process.js';
import { NODE, anchorJson, checkpoint, failure, hex32, nextWithin, recordArgs, utf8 } from './fabric/helpers.js';

type AnchorRecord = anchorRecord.AnchorRecord;
type LogAnchor = anchorRecord.LogAnchor;
type AnchorPage = anchorRecord.AnchorPage;
type NodeRecord = anchorRecord.NodeRecord;

// ---------------------------------------------------------------- parsing, on its own

t.test('anchor arguments are parsed strictly, each failure naming its field', async (t) => {
  const { parseWindow, parseNodeName, parseAnchorInput, parseWindowRange, windowAttribute, AnchorError } = anchorRecord;
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
  t.equal(parseNodeName('cairn-0123abcd'), 'cairn-0123abcd');
  t.equal(parseNodeName('eu-west/ledger.1'), 'eu-west/ledger.1');
  for (const bad of ['', '-lead', 'a b', 'n\u0000', 'ν-greek', 'x'.repeat(129), 'name+1']) {
    t.equal(codeOf(() => parseNodeName(bad)), 'INVALID_ARGUMENT', `node name ${JSON.stringify(bad.slice(0, 20))} is refused`);
  }

  const good = JSON.parse(anchorJson([checkpoint('prod', 3)])) as Record<string, unknown>;
  t.same(parseAnchorInput(JSON.stringify(good)), good, 'a valid anchor parses to itself');
  const variants: [string, unknown, RegExp][] = [
    ['root', { ...good, root: 'A'.repeat(64) }, /^ANCHOR_MALFORMED: root must be 64 lowercase hex/],
    ['short root', { ...good, root: 'a'.repeat(62) }, /^ANCHOR_MALFORMED: root /],
    ['node', { ...good, node: 'cairn-test' }, /^ANCHOR_MALFORMED: node is the first argument of RecordAnchor/],
    ['unsorted', { ...good, checkpoints: [checkpoint('prod', 1), checkpoint('audit', 1)] }, /^ANCHOR_MALFORMED: checkpoints\[1\]\.log "audit" sorts before checkpoints\[0\]\.log "prod"/],
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
    ['window', { ...good, window: 1 }, /window is the second argument/],
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

t.test('the chaincode\'s window root is the node\'s: RFC 6962 over the notes in log order', async (t) => {
  const { windowRoot } = windowRootModule;
  const rootOf = (cps: ReturnType<typeof checkpoint>[]): string => buildWindow(1, NODE, cps).root;
  // Known answers: one leaf is its leaf hash; two are SHA-256(0x01 || l || r) (RFC 6962 section 2.1).
  const a = checkpoint('a', 1);
  const b = checkpoint('b', 1);
  const leaf = (note: string): Buffer => createHash('sha256').update(Buffer.of(0)).update(note, 'utf8').digest();
  t.equal(windowRoot([a.note]), leaf(a.note).toString('hex'), 'one checkpoint: its leaf hash');
  t.equal(windowRoot([a.note, b.note]), createHash('sha256').update(Buffer.of(1)).update(leaf(a.note)).update(leaf(b.note)).digest('hex'), 'two: the interior node');
  t.throws(() => windowRoot([]), /at least one checkpoint/);
  fc.assert(
    fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}$/), { minLength: 1, maxLength: 70 }), fc.string({ unit: 'grapheme', maxLength: 30 }), (logs, witness) => {
      const cps = logs.map((log, i) => {
        const cp = checkpoint(log, i);
        return { ...cp, note: `${cp.note}— ${witness}\n` };
      });
      const w = buildWindow(1, NODE, cps);
      return windowRoot(w.checkpoints.map((c) => c.note)) === w.root;
    }),
    { numRuns: 200 },
  );
  t.equal(windowRoot([b.note, a.note]) === rootOf([a, b]), false, 'order matters: the node sorts by log, and so must the record');
});

// ---------------------------------------------------------------- through the gateway

const peer = await TestPeer.start({ otherMspIds: ['Org2MSP'] });
t.teardown(() => peer.close());
const conn = connectGateway(peer.settings());
t.teardown(() => conn.close());
const network = conn.gateway.getNetwork(peer.channel);
const contract = network.getContract(peer.chaincode, 'CairnAnchor');

async function record(c: Contract, args: [string, string, string]): Promise<{ record: AnchorRecord; blockNumber: bigint; txId: string }> {
  const submitted = await c.submitAsync('RecordAnchor', { arguments: args });
  const status = await submitted.getStatus();
  if (!status.successful) throw new Error(`window ${args[1]} of ${args[0]} did not commit: code ${status.code}`);
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

const json = async (c: Contract, name: string, ...args: string[]): Promise<unknown> => JSON.parse(utf8(await c.evaluateTransaction(name, ...args)));

t.test('RecordAnchor commits in a block, emits AnchorRecorded, and GetAnchor returns the record', async (t) => {
  const events = await network.getChaincodeEvents(peer.chaincode);
  t.teardown(() => events.close());
  const it = events[Symbol.asyncIterator]();

  const cps = [checkpoint('prod', 10), checkpoint('staging', 4)];
  const args = recordArgs(1, cps);
  const { record: rec, blockNumber, txId } = await record(contract, args);
  t.ok(blockNumber >= 1n, 'committed in a block after the genesis block');
  t.match(txId, /^[0-9a-f]{64}$/, 'a Fabric transaction ID');
  const submitter = {
    mspId: 'Org1MSP',
    id: 'x509::/C=US/O=Org1MSP/OU=client/CN=cairn-node::/C=US/O=Org1MSP/CN=ca.org1msp',
    certificateSha256: certSha256(peer.clientIdentity.certPem),
  };
  t.same(rec, {
    window: 1,
    root: (JSON.parse(args[2]) as { root: string }).root,
    checkpoints: cps,
    node: NODE,
    submitter,
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

  t.same(await json(contract, 'GetAnchor', NODE, '1'), rec, 'GetAnchor returns the record');
  t.same(await json(contract, 'GetLogHead', NODE, 'prod'), { log: 'prod', window: 1, size: 10, rootHash: cps[0]!.rootHash });
  t.equal(utf8(await contract.evaluateTransaction('GetLogHead', NODE, 'never-anchored')), 'null', 'a log never anchored has no head');
  t.same(await json(contract, 'GetNode', NODE), { node: NODE, owner: submitter, firstWindow: 1, lastWindow: 1, lastTxId: txId } satisfies NodeRecord, 'the node name is bound to the submitter');
  t.equal(utf8(await contract.evaluateTransaction('GetNode', 'never-seen')), 'null', 'a node name never used has no record');
});

t.test('a root that is not the tree over the checkpoints\' notes is refused', async (t) => {
  const m = await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(1, [checkpoint('r', 1)], { root: hex32('made up') }, 'root-node')), 'ANCHOR_ROOT_MISMATCH', 'a made-up root');
  t.match(m, `root ${hex32('made up')} is not the RFC 6962 root`);
  const cps = [checkpoint('r', 1), checkpoint('s', 1)];
  const otherNotes = anchorJson([checkpoint('r', 1), checkpoint('s', 2)]);
  await refused(t, contract.submitTransaction('RecordAnchor', 'root-node', '1', JSON.stringify({ ...JSON.parse(otherNotes), checkpoints: cps })), 'ANCHOR_ROOT_MISMATCH', 'the root of other notes');
  t.equal(utf8(await contract.evaluateTransaction('GetNode', 'root-node')), 'null', 'nothing was recorded, not even the name');
});

t.test('ListAnchors returns one log\'s anchors in a window range, across index buckets', async (t) => {
  const node = 'list-node';
  const windows = [998, 999, 1000, 1001, 2500];
  for (const [i, w] of windows.entries()) {
    const cps = [checkpoint('audit', 100 + i)];
    if (w % 2 === 0) cps.push(checkpoint('other', 50 + i));
    await record(contract, recordArgs(w, cps, {}, node));
  }
  const page = async (log: string, from: number, to: number, n = node): Promise<AnchorPage> => (await json(contract, 'ListAnchors', n, log, String(from), String(to))) as AnchorPage;
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
  t.same((await page('audit', 0, 9999, 'another-node')).anchors, [], 'another node\'s log of the same name lists nothing');

  const e = await failure(contract.evaluateTransaction('ListAnchors', node, 'audit', '0', '10000'));
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
  for (const w of windows) await record(contract, recordArgs(w, [big(w)], {}, 'big-node'));
  const seen: number[] = [];
  let from = 0;
  let answers = 0;
  for (;;) {
    const p = (await json(contract, 'ListAnchors', 'big-node', 'big', String(from), '9999')) as AnchorPage;
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

t.test('a node\'s window already anchored is rejected and the first record stays', async (t) => {
  const first = await record(contract, recordArgs(7, [checkpoint('dup', 1)], {}, 'dup-node'));
  const message = await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(7, [checkpoint('dup', 2)], {}, 'dup-node')), 'ANCHOR_WINDOW_EXISTS', 'same window again');
  t.match(message, `window 7 of node dup-node is already anchored (tx ${first.txId}`, 'the error names the transaction that anchored it');
  t.same(await json(contract, 'GetAnchor', 'dup-node', '7'), first.record, 'the first record is unchanged');
});

t.test('per node, windows increase; per log, sizes never go backwards and one size has one root', async (t) => {
  const node = 'mono-node';
  await record(contract, recordArgs(20, [checkpoint('mono', 50), checkpoint('side', 1)], {}, node));
  const m1 = await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(21, [checkpoint('side', 2), checkpoint('mono', 49)], {}, node)), 'CHECKPOINT_SIZE_REGRESSION', 'size 49 after 50');
  t.match(m1, 'checkpoints[0] (log mono): size 49 is below size 50 anchored in window 20');
  const m2 = await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(21, [checkpoint('mono', 50, hex32('forked'))], {}, node)), 'CHECKPOINT_FORK', 'size 50 with another root');
  t.match(m2, `size 50 has root ${hex32('forked')}, but window 20 anchored root ${hex32('mono@50')}`);
  const m3 = await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(19, [checkpoint('fresh', 1)], {}, node)), 'WINDOW_OUT_OF_ORDER', 'an earlier window of the node, even for a log it never anchored');
  t.match(m3, 'window 19 of node mono-node is not after its latest window 20');
  await record(contract, recordArgs(21, [checkpoint('mono', 50)], {}, node));
  t.pass('the same size with the same root is accepted (no new entries in the window)');
  await record(contract, recordArgs(25, [checkpoint('mono', 51)], {}, node));
  t.pass('windows need not be contiguous');
  t.same(await json(contract, 'GetLogHead', node, 'mono'), { log: 'mono', window: 25, size: 51, rootHash: hex32('mono@51') });
  t.equal(utf8(await contract.evaluateTransaction('GetLogHead', node, 'side')).includes('"window":20'), true, 'a refused anchor changed nothing for the other logs it named');
  t.equal(((await json(contract, 'GetNode', node)) as NodeRecord).lastWindow, 25);
});

t.test('many nodes share the channel: the same window and log under two names are two anchors', async (t) => {
  const org2 = await peer.newIdentity('Org2MSP', 'node-b');
  const connB = connectGateway(peer.settings(org2));
  t.teardown(() => connB.close());
  const contractB = connB.gateway.getNetwork(peer.channel).getContract(peer.chaincode, 'CairnAnchor');
  const a = await record(contract, recordArgs(1, [checkpoint('shared', 5)], {}, 'node-a'));
  const b = await record(contractB, recordArgs(1, [checkpoint('shared', 3)], {}, 'node-b'));
  t.not(a.txId, b.txId);
  t.same(((await json(contract, 'GetAnchor', 'node-a', '1')) as AnchorRecord).checkpoints[0]?.size, 5);
  t.same(((await json(contract, 'GetAnchor', 'node-b', '1')) as AnchorRecord).checkpoints[0]?.size, 3, 'the other node\'s window 1, read by anyone on the channel');
  t.same(await json(contract, 'GetLogHead', 'node-b', 'shared'), { log: 'shared', window: 1, size: 3, rootHash: hex32('shared@3') }, 'log heads are per node: size 3 after another node\'s 5 is no regression');
});

t.test('a node name belongs to the identity that first anchored it', async (t) => {
  const node = 'owned-node';
  await record(contract, recordArgs(1, [checkpoint('own', 1)], {}, node));
  const sameMsp = await peer.newIdentity('Org1MSP', 'same-org-other-cert');
  const otherMsp = await peer.newIdentity('Org2MSP', 'other-org');
  for (const [who, id] of [['another certificate of the same MSP', sameMsp], ['an identity of another MSP', otherMsp]] as const) {
    const conn2 = connectGateway(peer.settings(id));
    t.teardown(() => conn2.close());
    const c2 = conn2.gateway.getNetwork(peer.channel).getContract(peer.chaincode, 'CairnAnchor');
    const m = await refused(t, c2.submitTransaction('RecordAnchor', ...recordArgs(2, [checkpoint('own', 2)], {}, node)), 'NODE_OWNER_MISMATCH', who);
    t.match(m, `node ${node} is bound to Org1MSP certificate sha256:${certSha256(peer.clientIdentity.certPem)} (since window 1); this transaction's creator is ${id.mspId} certificate sha256:${certSha256(id.certPem)}`, `${who}: the message names both identities`);
    await refused(t, c2.submitTransaction('RecordAnchor', ...recordArgs(1, [checkpoint('own', 1)], {}, node)), 'NODE_OWNER_MISMATCH', `${who}, on an existing window: ownership is checked first`);
    t.same(await json(c2, 'GetAnchor', node, '1').then((r) => (r as AnchorRecord).window), 1, `${who} may still read the node's anchors`);
  }
  await record(contract, recordArgs(2, [checkpoint('own', 2)], {}, node));
  t.pass('the owner goes on anchoring');
  t.same(((await json(contract, 'GetNode', node)) as NodeRecord).owner.certificateSha256, certSha256(peer.clientIdentity.certPem), 'the binding did not move');
});

t.test('malformed arguments are rejected with the field named', async (t) => {
  const m = await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(30, [checkpoint('bad', 1)], { root: 'ABCD' })), 'ANCHOR_MALFORMED', 'a malformed root');
  t.match(m, 'root must be 64 lowercase hex digits (32 bytes)');
  await refused(t, contract.submitTransaction('RecordAnchor', NODE, '030', anchorJson([checkpoint('bad', 1)])), 'INVALID_ARGUMENT', 'a window with a leading zero');
  await refused(t, contract.submitTransaction('RecordAnchor', 'bad node', '30', anchorJson([checkpoint('bad', 1)])), 'INVALID_ARGUMENT', 'a node name with a space');
  await refused(t, contract.submitTransaction('RecordAnchor', NODE, '30', 'not json'), 'ANCHOR_MALFORMED', 'anchorJson that is not JSON');
  const e = await failure(contract.evaluateTransaction('GetAnchor', NODE, '31'));
  t.equal((e as unknown as GatewayError).code, grpc.status.UNKNOWN);
  t.match((e as unknown as GatewayError).details[0]?.message, /^chaincode response 500, ANCHOR_NOT_FOUND: window 31 of node cairn-test has no anchor/, 'a window never anchored is ANCHOR_NOT_FOUND');
});

t.test('the submitter is the transaction\'s creator, never an argument', async (t) => {
  const forged = { mspId: 'Org1MSP', id: 'x509::/CN=admin', certificateSha256: hex32('forged') };
  await refused(t, contract.submitTransaction('RecordAnchor', ...recordArgs(40, [checkpoint('who', 1)], { submitter: forged })), 'ANCHOR_MALFORMED', 'a submitter in the arguments');

  const org2: Identity = await peer.newIdentity('Org2MSP', 'auditor-node');
  const conn2 = connectGateway(peer.settings(org2));
  t.teardown(() => conn2.close());
  const contract2 = conn2.gateway.getNetwork(peer.channel).getContract(peer.chaincode, 'CairnAnchor');
  const { record: rec } = await record(contract2, recordArgs(40, [checkpoint('who', 1)], {}, 'org2-node'));
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
