/**
 * The `CairnAnchor` contract: Cairn nodes record their window anchors on a
 * Fabric channel they share, and anyone with channel read access (an
 * auditor, with its own identity) looks them up.
 *
 * World state (composite keys, fabric-shim `createCompositeKey`), all keyed
 * by node name first, so that nodes never collide:
 *
 * | key                                                | value                 |
 * |----------------------------------------------------|-----------------------|
 * | `cairn.node` [node]                                | {@link NodeRecord}    |
 * | `cairn.anchor` [node, window16]                    | {@link AnchorRecord}  |
 * | `cairn.log-anchor` [node, log, bucket16, window16] | {@link LogAnchor}     |
 * | `cairn.log-head` [node, log]                       | {@link LogHead}       |
 *
 * Windows are 16-digit zero-padded decimals so that key order is window
 * order; `bucket16` is `window / BUCKET_WINDOWS`, which lets `ListAnchors`
 * read a window range through partial composite keys without scanning the
 * log's whole history.
 *
 * Guarantees of `RecordAnchor` (all checked at endorsement, and protected at
 * commit by Fabric's MVCC validation of the keys read):
 * - `root` is the RFC 6962 root over the listed checkpoints' notes
 *   (`ANCHOR_ROOT_MISMATCH`), so every recorded root proves its checkpoints;
 * - a node name belongs to the identity (MSP ID and certificate) that first
 *   anchored under it (`NODE_OWNER_MISMATCH`);
 * - a node's window is recorded once (`ANCHOR_WINDOW_EXISTS`) and its windows
 *   strictly increase (`WINDOW_OUT_OF_ORDER`);
 * - per log, sizes never decrease (`CHECKPOINT_SIZE_REGRESSION`) and one size
 *   has one root (`CHECKPOINT_FORK`);
 * - the submitter is the transaction's creator, read from the signed
 *   proposal, never from arguments;
 * - each recorded anchor emits the chaincode event `AnchorRecorded` whose
 *   payload is the stored record's JSON.
 *
 * Methods without a leading underscore are transactions (fabric-contract-api
 * treats every public method as one when no decorators are used; decorators
 * would need `experimentalDecorators`, which the repository does not enable).
 */
import type { Context } from 'fabric-contract-api';
import fabricContractApi = require('fabric-contract-api');
import nodeCrypto = require('node:crypto');
import anchorRecord = require('./anchor-record.cjs');
import windowRootModule = require('./window-root.cjs');

type AnchorRecord = anchorRecord.AnchorRecord;
type LogAnchor = anchorRecord.LogAnchor;
type LogHead = anchorRecord.LogHead;
type AnchorSubmitter = anchorRecord.AnchorSubmitter;
type NodeRecord = anchorRecord.NodeRecord;

const {
  AnchorError,
  KEY_ANCHOR,
  KEY_LOG_ANCHOR,
  KEY_LOG_HEAD,
  KEY_NODE,
  MAX_LIST_BYTES,
  bucketAttribute,
  bucketOf,
  checkAgainstHead,
  checkNodeWindow,
  checkOwner,
  formatTimestamp,
  parseAnchorInput,
  parseLogName,
  parseNodeName,
  parseStored,
  parseWindow,
  parseWindowRange,
  windowAttribute,
} = anchorRecord;
const { windowRoot } = windowRootModule;

/** Name of the chaincode event emitted once per recorded anchor. */
const ANCHOR_RECORDED_EVENT = 'AnchorRecorded';
/** Contract name: transactions are invoked as `CairnAnchor:<Name>` (or bare, as it is the default contract). */
const CONTRACT_NAME = 'CairnAnchor';

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** The creator of the transaction, from the signed proposal's SignatureHeader. */
function submitterOf(ctx: Context): AnchorSubmitter {
  const identity = ctx.clientIdentity;
  const pem = Buffer.from(identity.getIDBytes()).toString('utf8');
  const der = new nodeCrypto.X509Certificate(pem).raw;
  return {
    mspId: identity.getMSPID(),
    id: identity.getID(),
    certificateSha256: nodeCrypto.createHash('sha256').update(der).digest('hex'),
  };
}

function timestampOf(ctx: Context): string {
  const ts = ctx.stub.getTxTimestamp();
  // fabric-shim returns seconds as a Long; its decimal string is exact.
  return formatTimestamp(Number(String(ts.seconds)), ts.nanos);
}

class CairnAnchorContract extends fabricContractApi.Contract {
  constructor() {
    super(CONTRACT_NAME);
  }

  /**
   * Records the anchor of `node`'s `window`. `anchorJson` is `{ root,
   * checkpoints: [{ log, origin, size, rootHash, note }] }` with checkpoints
   * sorted by log; the submitter, tx ID and timestamp are taken from the
   * transaction. The first anchor of a node name binds the name to the
   * submitter. Returns the stored record's JSON and emits it as the
   * `AnchorRecorded` event.
   * @throws AnchorError INVALID_ARGUMENT, ANCHOR_MALFORMED, ANCHOR_ROOT_MISMATCH,
   *   NODE_OWNER_MISMATCH, ANCHOR_WINDOW_EXISTS, WINDOW_OUT_OF_ORDER,
   *   CHECKPOINT_SIZE_REGRESSION, CHECKPOINT_FORK
   */
  async RecordAnchor(ctx: Context, node: string, window: string, anchorJson: string): Promise<string> {
    const name = parseNodeName(node);
    const w = parseWindow(window);
    const input = parseAnchorInput(anchorJson);
    const computed = windowRoot(input.checkpoints.map((cp) => cp.note));
    if (computed !== input.root) {
      throw new AnchorError('ANCHOR_ROOT_MISMATCH', `root ${input.root} is not the RFC 6962 root ${computed} over the ${input.checkpoints.length} checkpoint notes`);
    }
    const stub = ctx.stub;
    const submitter = submitterOf(ctx);

    // Ownership first: an identity that does not own the name learns nothing about its windows.
    const nodeKey = stub.createCompositeKey(KEY_NODE, [name]);
    const nodeBytes = await stub.getState(nodeKey);
    const nodeRecord = nodeBytes.length > 0 ? parseStored<NodeRecord>(nodeBytes, `record of node ${name}`) : undefined;
    checkOwner(name, submitter, nodeRecord);

    const anchorKey = stub.createCompositeKey(KEY_ANCHOR, [name, windowAttribute(w)]);
    const existing = await stub.getState(anchorKey);
    if (existing.length > 0) {
      const prior = parseStored<AnchorRecord>(existing, `anchor of window ${w} of node ${name}`);
      throw new AnchorError('ANCHOR_WINDOW_EXISTS', `window ${w} of node ${name} is already anchored (tx ${prior.txId}, root ${prior.root})`);
    }
    checkNodeWindow(name, w, nodeRecord);

    for (const [i, cp] of input.checkpoints.entries()) {
      const bytes = await stub.getState(stub.createCompositeKey(KEY_LOG_HEAD, [name, cp.log]));
      const head = bytes.length > 0 ? parseStored<LogHead>(bytes, `head of log ${cp.log} of node ${name}`) : undefined;
      checkAgainstHead(w, cp, i, head);
    }

    const txId = stub.getTxID();
    const record: AnchorRecord = {
      window: w,
      root: input.root,
      checkpoints: input.checkpoints,
      node: name,
      submitter,
      txId,
      timestamp: timestampOf(ctx),
    };
    const recordJson = json(record);
    await stub.putState(anchorKey, Buffer.from(recordJson));
    const nextNode: NodeRecord = nodeRecord === undefined
      ? { node: name, owner: submitter, firstWindow: w, lastWindow: w, lastTxId: txId }
      : { ...nodeRecord, lastWindow: w, lastTxId: txId };
    await stub.putState(nodeKey, Buffer.from(json(nextNode)));

    for (const cp of record.checkpoints) {
      const entry: LogAnchor = {
        window: w,
        root: record.root,
        node: record.node,
        submitter: record.submitter,
        txId: record.txId,
        timestamp: record.timestamp,
        checkpoint: cp,
      };
      const indexKey = stub.createCompositeKey(KEY_LOG_ANCHOR, [name, cp.log, bucketAttribute(w), windowAttribute(w)]);
      await stub.putState(indexKey, Buffer.from(json(entry)));
      // The head moves with every window, so the next one is compared with
      // the latest (an unchanged size kept its root: checked above).
      const head: LogHead = { log: cp.log, window: w, size: cp.size, rootHash: cp.rootHash };
      await stub.putState(stub.createCompositeKey(KEY_LOG_HEAD, [name, cp.log]), Buffer.from(json(head)));
    }

    stub.setEvent(ANCHOR_RECORDED_EVENT, Buffer.from(recordJson));
    return recordJson;
  }

  /**
   * The anchor recorded for `node`'s `window`, as JSON.
   * @throws AnchorError INVALID_ARGUMENT, ANCHOR_NOT_FOUND
   */
  async GetAnchor(ctx: Context, node: string, window: string): Promise<string> {
    const name = parseNodeName(node);
    const w = parseWindow(window);
    const bytes = await ctx.stub.getState(ctx.stub.createCompositeKey(KEY_ANCHOR, [name, windowAttribute(w)]));
    if (bytes.length === 0) throw new AnchorError('ANCHOR_NOT_FOUND', `window ${w} of node ${name} has no anchor`);
    return Buffer.from(bytes).toString('utf8');
  }

  /**
   * The anchors covering `node`'s `log` with windows in `[fromWindow,
   * toWindow]`, in window order, as an {@link AnchorPage}: each
   * {@link LogAnchor} carries only this log's checkpoint; when the answer
   * reaches `MAX_LIST_BYTES`, `nextWindow` says where to continue. At most
   * `MAX_LIST_SPAN` windows per call.
   * @throws AnchorError INVALID_ARGUMENT
   */
  async ListAnchors(ctx: Context, node: string, log: string, fromWindow: string, toWindow: string): Promise<string> {
    const name = parseNodeName(node);
    const logName = parseLogName(log);
    const { from, to } = parseWindowRange(fromWindow, toWindow);
    const anchors: string[] = [];
    let bytes = 0;
    let nextWindow: number | null = null;
    scan: for (let bucket = bucketOf(from); bucket <= bucketOf(to); bucket++) {
      const attrs = [name, logName, windowAttribute(bucket)];
      for await (const kv of ctx.stub.getStateByPartialCompositeKey(KEY_LOG_ANCHOR, attrs)) {
        const entry = parseStored<LogAnchor>(kv.value, `index entry ${kv.key}`);
        if (entry.window < from) continue;
        if (entry.window > to) break scan;
        const text = json(entry);
        if (anchors.length > 0 && bytes + text.length > MAX_LIST_BYTES) {
          nextWindow = entry.window;
          break scan;
        }
        anchors.push(text);
        bytes += text.length;
      }
    }
    // Entries are stored as our own JSON; splice them rather than re-encode the page.
    return `{"anchors":[${anchors.join(',')}],"nextWindow":${JSON.stringify(nextWindow)}}`;
  }

  /**
   * The latest anchored checkpoint of `node`'s `log` ({@link LogHead}) as
   * JSON, or `null` when the log was never anchored.
   * @throws AnchorError INVALID_ARGUMENT
   */
  async GetLogHead(ctx: Context, node: string, log: string): Promise<string> {
    const name = parseNodeName(node);
    const logName = parseLogName(log);
    const bytes = await ctx.stub.getState(ctx.stub.createCompositeKey(KEY_LOG_HEAD, [name, logName]));
    return bytes.length > 0 ? Buffer.from(bytes).toString('utf8') : 'null';
  }

  /**
   * The record of a node name ({@link NodeRecord}: its owner, first and
   * latest window) as JSON, or `null` when no anchor was ever recorded under it.
   * @throws AnchorError INVALID_ARGUMENT
   */
  async GetNode(ctx: Context, node: string): Promise<string> {
    const name = parseNodeName(node);
    const bytes = await ctx.stub.getState(ctx.stub.createCompositeKey(KEY_NODE, [name]));
    return bytes.length > 0 ? Buffer.from(bytes).toString('utf8') : 'null';
  }
}

const anchorContract = { CairnAnchorContract, ANCHOR_RECORDED_EVENT, CONTRACT_NAME };
export = anchorContract;
