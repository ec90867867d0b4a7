/**
 * The Gateway test peer as the unmodified fabric-gateway client sees it:
 * TLS and identities, the commit path (block numbers, validation codes,
 * MVCC), chaincode event streams, and every injected fault surfacing as the
 * client's own error of the stage it hit. Also the by-hand start
 * (`npm run fabric:test-peer`).
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { CommitError, CommitStatusError, EndorseError, GatewayError, StatusCode, type Contract } from '@hyperledger/fabric-gateway';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { peer as peerProtos } from '@hyperledger/fabric-protos';
import { TestPeer } from './fabric/test-peer.js';
import { connectGateway } from './fabric/client.js';
import { createCertificateAuthority, MSP_IDENTITY_EXTENSIONS } from './fabric/pki.js';
import { REPO_ROOT } from './fabric/chaincode-process.js';
import { NODE, checkpoint, failure, nextWithin, recordArgs, utf8 } from './fabric/helpers.js';

const peer = await TestPeer.start();
t.teardown(() => peer.close());
const conn = connectGateway(peer.settings());
t.teardown(() => conn.close());
const network = conn.gateway.getNetwork(peer.channel);
const contract = network.getContract(peer.chaincode, 'CairnAnchor');

let nextWindow = 1;
/** Arguments of a RecordAnchor for a fresh window (node, window, anchorJson); `log` grows by one entry each time. */
const sizes = new Map<string, number>();
function newAnchor(log = 'prod'): [string, string, string] {
  const w = nextWindow++;
  const size = (sizes.get(log) ?? 0) + 1;
  sizes.set(log, size);
  return recordArgs(w, [checkpoint(log, size)]);
}

async function submitAnchor(c: Contract = contract, log = 'prod'): Promise<{ window: string; blockNumber: bigint; txId: string }> {
  const args = newAnchor(log);
  const window = args[1];
  const submitted = await c.submitAsync('RecordAnchor', { arguments: args });
  const status = await submitted.getStatus();
  if (!status.successful) throw new Error(`not committed: ${status.code}`);
  return { window, blockNumber: status.blockNumber, txId: status.transactionId };
}

/** Retries `f` until it succeeds (a client reconnecting to a peer that came back). */
async function eventually<T>(f: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

t.afterEach(() => peer.faults.clear());

t.test('the unmodified client endorses, submits, waits for commit and evaluates over TLS', async (t) => {
  const a = await submitAnchor();
  const b = await submitAnchor();
  t.ok(a.blockNumber >= 1n, 'the first transaction block follows the genesis block');
  t.ok(b.blockNumber > a.blockNumber, 'each commit is a later block');
  const submitted = await contract.submitAsync('RecordAnchor', { arguments: newAnchor() });
  const first = await submitted.getStatus();
  const again = await conn.gateway.newCommit(submitted.getBytes()).getStatus();
  t.same(again, first, 'CommitStatus for a committed transaction answers at once, the same');
  const head = JSON.parse(utf8(await contract.evaluateTransaction('GetLogHead', NODE, 'prod'))) as { window: number };
  t.equal(head.window, Number(b.window) + 1, 'evaluate reads committed state');
  t.equal(peer.ledger.committed(b.txId)?.blockNumber, Number(b.blockNumber), 'the peer\'s ledger agrees on the block');
});

t.test('TLS: a client that does not trust the peer\'s CA cannot connect', async (t) => {
  const other = await createCertificateAuthority('/CN=some other CA');
  const bad = connectGateway({ ...peer.settings(), tlsCaPem: other.certPem }, { timeoutMs: 2000 });
  t.teardown(() => bad.close());
  const e = await failure(bad.gateway.getNetwork(peer.channel).getContract(peer.chaincode).evaluateTransaction('GetLogHead', NODE, 'prod'));
  t.ok(e instanceof GatewayError);
  t.equal((e as unknown as GatewayError).code, grpc.status.UNAVAILABLE, 'UNAVAILABLE: the TLS handshake fails');
});

t.test('identities: only members of the channel\'s MSPs with valid signatures may transact', async (t) => {
  const rogueCa = await createCertificateAuthority('/C=US/O=Org1MSP/CN=ca.org1msp');
  const rogue = await rogueCa.issue('/C=US/O=Org1MSP/OU=client/CN=mallory', MSP_IDENTITY_EXTENSIONS);
  const bad = connectGateway({ ...peer.settings(), ...rogue, mspId: 'Org1MSP' });
  t.teardown(() => bad.close());
  const badContract = bad.gateway.getNetwork(peer.channel).getContract(peer.chaincode);
  const e = await failure(badContract.submitTransaction('RecordAnchor', ...newAnchor()));
  t.ok(e instanceof EndorseError, 'a certificate from another CA claiming Org1MSP is refused at endorsement');
  t.match((e as unknown as EndorseError).details[0]?.message, /^access denied: channel \[mychannel\] creator org unknown/);

  const unknownMsp = connectGateway({ ...peer.settings(), mspId: 'Org9MSP' });
  t.teardown(() => unknownMsp.close());
  const e2 = await failure(unknownMsp.gateway.getNetwork(peer.channel).getContract(peer.chaincode).evaluateTransaction('GetLogHead', NODE, 'prod'));
  t.equal((e2 as unknown as GatewayError).code, grpc.status.ABORTED, 'an MSP the channel does not know: evaluate is refused');

  const e3 = await failure(network.getContract('no-such-chaincode').evaluateTransaction('X'));
  t.equal((e3 as unknown as GatewayError).code, grpc.status.FAILED_PRECONDITION, 'a chaincode not on the channel: FAILED_PRECONDITION');
  const e4 = await failure(conn.gateway.getNetwork('no-such-channel').getContract(peer.chaincode).evaluateTransaction('GetLogHead', NODE, 'x'));
  t.equal((e4 as unknown as GatewayError).code, grpc.status.FAILED_PRECONDITION, 'a channel the peer has not joined: FAILED_PRECONDITION');
});

t.test('UNAVAILABLE at each stage surfaces as the client\'s error for that stage', async (t) => {
  peer.faults.failNext('Evaluate');
  const ev = await failure(contract.evaluateTransaction('GetLogHead', NODE, 'prod'));
  t.ok(ev instanceof GatewayError, 'Evaluate: GatewayError');
  t.equal((ev as unknown as GatewayError).code, grpc.status.UNAVAILABLE);

  peer.faults.failNext('Endorse');
  const en = await failure(contract.submitTransaction('RecordAnchor', ...newAnchor()));
  t.ok(en instanceof EndorseError, 'Endorse: EndorseError');
  t.equal((en as unknown as EndorseError).code, grpc.status.UNAVAILABLE);
  t.match((en as unknown as EndorseError).transactionId, /^[0-9a-f]{64}$/, 'with the transaction ID');

  peer.faults.failNext('Submit');
  const su = await failure(contract.submitTransaction('RecordAnchor', ...newAnchor()));
  // SubmitError is exported as a type only: recognise it by name.
  t.equal(su.name, 'SubmitError', 'Submit: SubmitError');
  t.equal(su.code, grpc.status.UNAVAILABLE);
  t.ok(su instanceof GatewayError, 'a GatewayError subclass');

  peer.faults.failNext('CommitStatus');
  const cs = await failure(contract.submitTransaction('RecordAnchor', ...newAnchor()));
  t.ok(cs instanceof CommitStatusError, 'CommitStatus: CommitStatusError');
  t.equal((cs as unknown as CommitStatusError).code, grpc.status.UNAVAILABLE);
  const txId = (cs as unknown as CommitStatusError).transactionId;
  const committed = await eventually(async () => {
    const tx = peer.ledger.committed(txId);
    if (tx === undefined) throw new Error('not yet');
    return tx;
  }, 2000);
  t.equal(committed.code, peerProtos.TxValidationCode.VALID, 'the transaction itself committed: only the status call failed');

  await submitAnchor();
  t.pass('with the faults used up, the next submit commits');
});

t.test('added latency: slower calls, and past the client\'s deadline DEADLINE_EXCEEDED', async (t) => {
  peer.faults.setLatency(300, ['Evaluate']);
  const started = Date.now();
  await contract.evaluateTransaction('GetLogHead', NODE, 'prod');
  t.ok(Date.now() - started >= 290, 'a call within its deadline just takes longer');
  const e = await failure(contract.newProposal('GetLogHead', { arguments: [NODE, 'prod'] }).evaluate({ deadline: Date.now() + 100 }));
  t.ok(e instanceof GatewayError);
  t.equal((e as unknown as GatewayError).code, grpc.status.DEADLINE_EXCEEDED, 'the client\'s deadline expires first');

  peer.faults.setLatency(300, ['Endorse']);
  const en = await failure(contract.newProposal('RecordAnchor', { arguments: newAnchor() }).endorse({ deadline: Date.now() + 100 }));
  t.ok(en instanceof EndorseError, 'a slow endorsement: EndorseError');
  t.equal((en as unknown as EndorseError).code, grpc.status.DEADLINE_EXCEEDED);
});

t.test('an endorsement failure is an EndorseError carrying the peer\'s detail', async (t) => {
  peer.faults.failEndorsement(1, 'peer0 ran out of patience');
  const e = await failure(contract.submitTransaction('RecordAnchor', ...newAnchor()));
  t.ok(e instanceof EndorseError);
  const err = e as unknown as EndorseError;
  t.equal(err.code, grpc.status.ABORTED);
  t.match(err.message, /failed to endorse transaction, see attached details for more info/);
  t.same(err.details, [{ address: peer.endpoint, mspId: 'Org1MSP', message: 'peer0 ran out of patience' }], 'endpoint, MSP ID and message, as the gateway reports them');
});

t.test('two transactions endorsed against the same state: the later one is MVCC_READ_CONFLICT', async (t) => {
  const before = JSON.parse(utf8(await contract.evaluateTransaction('GetLogHead', NODE, 'prod'))) as { window: number };
  const tx1 = await contract.newProposal('RecordAnchor', { arguments: newAnchor() }).endorse();
  const args2 = newAnchor();
  const tx2 = await contract.newProposal('RecordAnchor', { arguments: args2 }).endorse();
  const s1 = await (await tx1.submit()).getStatus();
  const s2 = await (await tx2.submit()).getStatus();
  t.equal(s1.code, StatusCode.VALID, 'the first to commit is valid');
  t.equal(s2.code, StatusCode.MVCC_READ_CONFLICT, 'the second read a log head the first changed');
  t.equal(s2.successful, false);
  t.ok(s2.blockNumber >= s1.blockNumber, 'it still has a block: invalid transactions are recorded too');
  const after = JSON.parse(utf8(await contract.evaluateTransaction('GetLogHead', NODE, 'prod'))) as { window: number };
  t.ok(after.window > before.window && after.window !== Number(args2[1]), 'only the valid transaction changed state');
  const e = await failure(contract.evaluateTransaction('GetAnchor', NODE, args2[1]));
  t.match((e as unknown as GatewayError).details[0]?.message, /ANCHOR_NOT_FOUND/, 'the conflicting anchor was not recorded');
});

t.test('injected MVCC conflict: CommitError MVCC_READ_CONFLICT, and the retry commits', async (t) => {
  peer.faults.mvccConflict();
  const args = newAnchor();
  const e = await failure(contract.submitTransaction('RecordAnchor', ...args));
  t.ok(e instanceof CommitError, 'a CommitError');
  t.equal((e as unknown as CommitError).code, StatusCode.MVCC_READ_CONFLICT);
  const again = await contract.submitAsync('RecordAnchor', { arguments: args });
  t.equal((await again.getStatus()).code, StatusCode.VALID, 're-endorsed and resubmitted, it commits');

  peer.faults.failCommit(peerProtos.TxValidationCode.ENDORSEMENT_POLICY_FAILURE);
  const e2 = await failure(contract.submitTransaction('RecordAnchor', ...newAnchor()));
  t.equal((e2 as unknown as CommitError).code, StatusCode.ENDORSEMENT_POLICY_FAILURE, 'an injected validation code reaches the client');
});

t.test('chaincode events: live, replayed from a block, and resumed after a transaction', async (t) => {
  const live = await network.getChaincodeEvents(peer.chaincode);
  t.teardown(() => live.close());
  const a = await submitAnchor(contract, 'events');
  const b = await submitAnchor(contract, 'events');
  const liveIt = live[Symbol.asyncIterator]();
  const e1 = await nextWithin(liveIt, 3000, 'live event 1');
  const e2 = await nextWithin(liveIt, 3000, 'live event 2');
  t.same([e1.value?.transactionId, e2.value?.transactionId], [a.txId, b.txId], 'live events in commit order');

  const replay = await network.getChaincodeEvents(peer.chaincode, { startBlock: a.blockNumber });
  t.teardown(() => replay.close());
  const rIt = replay[Symbol.asyncIterator]();
  const r1 = await nextWithin(rIt, 3000, 'replayed event');
  t.equal(r1.value?.transactionId, a.txId, 'replay starts at the requested block');
  t.equal(r1.value?.blockNumber, a.blockNumber);

  const resumed = await network.getChaincodeEvents(peer.chaincode, {
    checkpoint: { getBlockNumber: () => a.blockNumber, getTransactionId: () => a.txId },
  });
  t.teardown(() => resumed.close());
  const c1 = await nextWithin(resumed[Symbol.asyncIterator](), 3000, 'resumed event');
  t.equal(c1.value?.transactionId, b.txId, 'resuming after a transaction skips it');
});

t.test('a peer that goes away and comes back keeps its state and accepts again', async (t) => {
  const before = await submitAnchor();
  const events = await network.getChaincodeEvents(peer.chaincode);
  const it = events[Symbol.asyncIterator]();

  await peer.stop();
  t.equal(peer.running, false);
  const e = await failure(contract.evaluateTransaction('GetAnchor', NODE, before.window));
  t.equal((e as unknown as GatewayError).code, grpc.status.UNAVAILABLE, 'while it is away: UNAVAILABLE');
  const streamEnd = await failure(nextWithin(it, 3000, 'event stream end'));
  t.ok(streamEnd instanceof GatewayError, 'an open event stream ends with a GatewayError');
  events.close();
  const e2 = await failure(contract.submitTransaction('RecordAnchor', ...newAnchor()));
  t.equal((e2 as unknown as EndorseError).code, grpc.status.UNAVAILABLE, 'a submit while it is away fails at endorsement');

  await peer.start();
  const rec = await eventually(() => contract.evaluateTransaction('GetAnchor', NODE, before.window), 5000);
  t.equal((JSON.parse(utf8(rec)) as { txId: string }).txId, before.txId, 'the same client reconnects and finds the state');
  const after = await submitAnchor();
  t.ok(after.blockNumber > before.blockNumber, 'and a new transaction commits in a later block');
});

t.test('npm run fabric:test-peer prints settings a client can connect with', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'cairn-ftp-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/scripts/fabric-test-peer.js'), '--listen', '127.0.0.1:0', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await nextWithin(createInterface({ input: child.stdout })[Symbol.asyncIterator](), 20_000, `settings line (stderr: ${stderr})`);
  const config = JSON.parse(line.value as string) as { fabric: Record<string, string> };
  const f = config.fabric;
  t.same(Object.keys(f).sort(), ['chaincode', 'channel', 'contract', 'cert_file', 'endpoint', 'key_file', 'msp_id', 'tls_ca_file', 'tls_server_name'].sort(), 'the fabric section of a node config');
  t.equal((await stat(f.key_file!)).mode & 0o777, 0o600, 'the key file is private');
  const c = connectGateway({
    endpoint: f.endpoint!,
    tlsCaPem: await readFile(f.tls_ca_file!, 'utf8'),
    tlsServerName: f.tls_server_name!,
    mspId: f.msp_id!,
    certPem: await readFile(f.cert_file!, 'utf8'),
    keyPem: await readFile(f.key_file!, 'utf8'),
    channel: f.channel!,
    chaincode: f.chaincode!,
    contract: f.contract!,
  });
  try {
    const cc = c.gateway.getNetwork(f.channel!).getContract(f.chaincode!, f.contract);
    await cc.submitTransaction('RecordAnchor', ...recordArgs(1, [checkpoint('by-hand', 1)]));
    t.equal(JSON.parse(utf8(await cc.evaluateTransaction('GetAnchor', NODE, '1'))).window, 1, 'a client configured from the printed settings records and reads an anchor');
  } finally {
    c.close();
  }
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops it cleanly');
});
