/**
 * Cairn anchor records: what `CairnAnchor.RecordAnchor` accepts, how it is
 * parsed, and the world-state keys it is stored under.
 *
 * An anchor commits one *window* of a Cairn node to a Fabric channel: the
 * root of the node's per-window anchor tree and the log checkpoints the tree
 * covers. Many nodes share one channel, so everything is keyed by node name
 * first: windows, log indexes and log heads are per node, and a node name
 * belongs to the identity that first anchored under it. Arguments come from
 * whoever may invoke the chaincode, so every field is attacker-controlled:
 * parsing is strict (no unknown keys, one spelling per number, bounded
 * sizes) and each failure names the field.
 *
 * This file is CommonJS (`.cts`) and imports nothing outside `src/chaincode`:
 * the chaincode is deployed on its own to a peer's Node chaincode runtime,
 * which loads it with `require()` (fabric-shim `contract-spi/bootstrap.js`).
 * Pure: no fabric and no Node-only APIs, so it is testable on its own.
 */

/**
 * Stable error codes. The chaincode's error message starts with the code and
 * a colon (`ANCHOR_WINDOW_EXISTS: window 7 ...`); a Fabric client sees it in
 * the endorsement error details as `chaincode response 500, <message>`.
 * Codes are stable; the text after the colon may change.
 */
type AnchorErrorCode =
  | 'INVALID_ARGUMENT'
  | 'ANCHOR_MALFORMED'
  | 'ANCHOR_ROOT_MISMATCH'
  | 'NODE_OWNER_MISMATCH'
  | 'ANCHOR_WINDOW_EXISTS'
  | 'WINDOW_OUT_OF_ORDER'
  | 'CHECKPOINT_SIZE_REGRESSION'
  | 'CHECKPOINT_FORK'
  | 'ANCHOR_NOT_FOUND';

class AnchorError extends Error {
  readonly code: AnchorErrorCode;
  constructor(code: AnchorErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'AnchorError';
    this.code = code;
  }
}

/**
 * One log checkpoint covered by an anchor. `origin`, `size` and `rootHash`
 * restate the first three lines of `note` and must match them; `origin` may
 * be left out of the argument, and is then taken from the note.
 */
interface AnchoredCheckpoint {
  /** Cairn log name, `[a-z0-9][a-z0-9._-]{0,62}`. */
  log: string;
  /** C2SP checkpoint origin line (`<node_name>/<log>`). */
  origin: string;
  /** Tree size; a safe integer. */
  size: number;
  /** RFC 6962 root at `size`, 64 lowercase hex digits. */
  rootHash: string;
  /** The signed checkpoint (C2SP signed note text), as the node issued it. */
  note: string;
}

/** Who submitted an anchor, taken from the transaction's creator (never from arguments). */
interface AnchorSubmitter {
  /** MSP ID of the creator's identity. */
  mspId: string;
  /** `x509::<subject DN>::<issuer DN>` (fabric-shim `ClientIdentity.getID()`). */
  id: string;
  /** SHA-256 of the creator certificate's DER, lowercase hex. */
  certificateSha256: string;
}

/** An anchor as stored under (node, window) and emitted in the `AnchorRecorded` event. */
interface AnchorRecord {
  window: number;
  /** Root of the node's anchor tree for this window, 64 lowercase hex digits (32 bytes). */
  root: string;
  /** Sorted by log (the order of the anchor tree's leaves). */
  checkpoints: AnchoredCheckpoint[];
  /** The Cairn node's name: the first argument of RecordAnchor, bound to its owner. */
  node: string;
  submitter: AnchorSubmitter;
  /** Fabric transaction ID that recorded the anchor. */
  txId: string;
  /** Transaction timestamp (proposal channel header), RFC 3339 UTC with nanoseconds. */
  timestamp: string;
}

/**
 * A node name's binding and progress, stored under `cairn.node [node]`. The
 * first RecordAnchor for a node name binds it to the transaction's creator;
 * afterwards only an identity with the same MSP ID and the same certificate
 * may anchor under that name (a renewed certificate is another identity).
 */
interface NodeRecord {
  node: string;
  owner: AnchorSubmitter;
  /** The window that bound the name. */
  firstWindow: number;
  /** The node's latest anchored window: windows strictly increase per node. */
  lastWindow: number;
  /** Transaction that recorded `lastWindow`. */
  lastTxId: string;
}

/** What `ListAnchors` returns per window: the anchor without the other logs' checkpoints. */
interface LogAnchor {
  window: number;
  root: string;
  node: string;
  submitter: AnchorSubmitter;
  txId: string;
  timestamp: string;
  checkpoint: AnchoredCheckpoint;
}

/** What `ListAnchors` returns. */
interface AnchorPage {
  /** Anchors of the log in window order. */
  anchors: LogAnchor[];
  /** When the answer hit its size limit: the first window not included; ask again from there. Else null. */
  nextWindow: number | null;
}

/** The latest anchored checkpoint of a log (what the size check compares against). */
interface LogHead {
  log: string;
  window: number;
  size: number;
  rootHash: string;
}

/** What `anchorJson` supplies; node and window are arguments, the rest of an {@link AnchorRecord} comes from the transaction. */
interface AnchorInput {
  root: string;
  checkpoints: AnchoredCheckpoint[];
}

// ---------------------------------------------------------------- limits

/** Largest `anchorJson` argument, in UTF-8 bytes. */
const MAX_ANCHOR_JSON_BYTES = 4 << 20;
/** Most checkpoints one anchor may cover (one per log). */
const MAX_CHECKPOINTS = 1024;
/** Largest signed checkpoint note kept per checkpoint, in UTF-8 bytes. */
const MAX_NOTE_BYTES = 16 << 10;
/** Longest origin and node name, in characters. */
const MAX_NAME_CHARS = 256;
/** Widest window range one `ListAnchors` call may ask for (bounds its work). */
const MAX_LIST_SPAN = 10_000;
/**
 * Most JSON characters of anchors one `ListAnchors` answer carries (at
 * least one anchor is always included); past it the answer names the window
 * to continue from. Keeps answers far below gRPC's default 4 MiB receive
 * limit however large the notes (up to 16 KiB each).
 */
const MAX_LIST_BYTES = 256 << 10;
/**
 * Windows per index bucket. The per-log index key carries the bucket before
 * the window, so `ListAnchors` scans only the buckets its range touches:
 * Fabric forbids plain range queries over composite keys (fabric-shim
 * `validateSimpleKeys`), and a partial composite key fixes whole attributes.
 */
const BUCKET_WINDOWS = 1000;

// ---------------------------------------------------------------- keys

/**
 * Object types of the composite keys (fabric-shim `createCompositeKey`);
 * every key starts with the node name:
 *   cairn.node       [node]                          -> NodeRecord
 *   cairn.anchor     [node, window16]                -> AnchorRecord
 *   cairn.log-anchor [node, log, bucket16, window16] -> LogAnchor
 *   cairn.log-head   [node, log]                     -> LogHead
 */
const KEY_NODE = 'cairn.node';
const KEY_ANCHOR = 'cairn.anchor';
const KEY_LOG_ANCHOR = 'cairn.log-anchor';
const KEY_LOG_HEAD = 'cairn.log-head';

/** A window as a composite-key attribute: 16 digits, so key order is numeric order. */
function windowAttribute(window: number): string {
  return String(window).padStart(16, '0');
}

/** The bucket attribute of a window in the per-log index. */
function bucketAttribute(window: number): string {
  return windowAttribute(Math.floor(window / BUCKET_WINDOWS));
}

function bucketOf(window: number): number {
  return Math.floor(window / BUCKET_WINDOWS);
}

// ---------------------------------------------------------------- parsing

const LOG_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
// A Cairn node name is a C2SP note key name (Cairn config `node_name`):
// ASCII only, so two names that look alike are alike.
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
// C0 controls and DEL; origins and node names are single printable lines.
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Fields the transaction or the other arguments supply; `anchorJson` naming one is refused, not ignored. */
const FROM_TRANSACTION = new Set(['submitter', 'txId', 'timestamp', 'window', 'node']);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/**
 * Parses a window number given as a transaction argument (decimal, no sign,
 * no leading zeros, at most 2^53 - 1).
 * @throws AnchorError INVALID_ARGUMENT naming `name`
 */
function parseWindow(value: string, name = 'window'): number {
  if (!DECIMAL.test(value)) {
    throw new AnchorError('INVALID_ARGUMENT', `${name} must be a decimal integer without leading zeros, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new AnchorError('INVALID_ARGUMENT', `${name} ${value} exceeds 2^53 - 1`);
  return n;
}

/**
 * Parses a log name given as a transaction argument.
 * @throws AnchorError INVALID_ARGUMENT
 */
function parseLogName(value: string, name = 'log'): string {
  if (!LOG_NAME.test(value)) {
    throw new AnchorError('INVALID_ARGUMENT', `${name} must match [a-z0-9][a-z0-9._-]{0,62}, got ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

/**
 * Parses a node name given as a transaction argument.
 * @throws AnchorError INVALID_ARGUMENT
 */
function parseNodeName(value: string, name = 'node'): string {
  if (!NODE_NAME.test(value)) {
    throw new AnchorError('INVALID_ARGUMENT', `${name} must match [A-Za-z0-9][A-Za-z0-9._/-]{0,127}, got ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

/**
 * Parses a `[fromWindow, toWindow]` range (both inclusive) for `ListAnchors`.
 * @throws AnchorError INVALID_ARGUMENT when reversed or wider than {@link MAX_LIST_SPAN}
 */
function parseWindowRange(from: string, to: string): { from: number; to: number } {
  const f = parseWindow(from, 'fromWindow');
  const t = parseWindow(to, 'toWindow');
  if (t < f) throw new AnchorError('INVALID_ARGUMENT', `toWindow ${t} is before fromWindow ${f}`);
  if (t - f >= MAX_LIST_SPAN) {
    throw new AnchorError('INVALID_ARGUMENT', `range ${f}..${t} spans more than ${MAX_LIST_SPAN} windows`);
  }
  return { from: f, to: t };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function malformed(field: string, problem: string): AnchorError {
  return new AnchorError('ANCHOR_MALFORMED', `${field} ${problem}`);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    if (where === 'anchor' && FROM_TRANSACTION.has(key)) {
      throw malformed(key, key === 'node'
        ? 'is the first argument of RecordAnchor, not part of anchorJson'
        : key === 'window'
          ? 'is the second argument of RecordAnchor, not part of anchorJson'
          : 'is taken from the transaction, not from arguments');
    }
    throw malformed(where === 'anchor' ? key : `${where}.${key}`, 'is not a known field');
  }
}

function parseName(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) throw malformed(field, 'must be a non-empty string');
  if (v.length > MAX_NAME_CHARS) throw malformed(field, `is longer than ${MAX_NAME_CHARS} characters`);
  if (CONTROL.test(v) || LONE_SURROGATE.test(v)) throw malformed(field, 'contains a control character or a lone surrogate');
  if (v.trim() !== v) throw malformed(field, 'has surrounding white space');
  return v;
}

function parseHex32(v: unknown, field: string): string {
  if (typeof v !== 'string' || !HEX32.test(v)) throw malformed(field, 'must be 64 lowercase hex digits (32 bytes)');
  return v;
}

function hexToBase64(hex: string): string {
  let binary = '';
  for (let i = 0; i < hex.length; i += 2) binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(binary);
}

/**
 * The first three lines of a C2SP checkpoint note (tlog-checkpoint "Note
 * text"): origin, tree size in decimal, root hash in base64.
 */
function noteHeader(note: string): { origin: string; size: string; rootHash: string } | undefined {
  const lines = note.split('\n', 3);
  if (lines.length < 3) return undefined;
  return { origin: lines[0]!, size: lines[1]!, rootHash: lines[2]! };
}

function parseCheckpoint(v: unknown, i: number): AnchoredCheckpoint {
  const at = `checkpoints[${i}]`;
  if (!isPlainObject(v)) throw malformed(at, 'must be an object');
  checkKeys(v, ['log', 'origin', 'size', 'rootHash', 'note'], at);
  if (typeof v.log !== 'string' || !LOG_NAME.test(v.log)) {
    throw malformed(`${at}.log`, 'must match [a-z0-9][a-z0-9._-]{0,62}');
  }
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw malformed(`${at}.size`, 'must be an integer from 0 to 2^53 - 1');
  }
  const rootHash = parseHex32(v.rootHash, `${at}.rootHash`);
  if (typeof v.note !== 'string' || v.note.length === 0) throw malformed(`${at}.note`, 'must be a non-empty string');
  if (utf8Length(v.note) > MAX_NOTE_BYTES) throw malformed(`${at}.note`, `is larger than ${MAX_NOTE_BYTES} bytes`);
  if (LONE_SURROGATE.test(v.note)) throw malformed(`${at}.note`, 'contains a lone surrogate');
  // The fields restate the signed note; a record where they disagree would
  // say one thing and prove another, so they must match it literally.
  const header = noteHeader(v.note);
  if (header === undefined) throw malformed(`${at}.note`, 'is not a checkpoint (origin, size and root hash lines)');
  const origin = v.origin === undefined ? parseName(header.origin, `${at}.note origin line`) : parseName(v.origin, `${at}.origin`);
  if (origin !== header.origin) throw malformed(`${at}.origin`, `${JSON.stringify(origin)} differs from the note's origin ${JSON.stringify(header.origin.slice(0, 80))}`);
  if (String(v.size) !== header.size) throw malformed(`${at}.size`, `${v.size} differs from the note's tree size ${JSON.stringify(header.size.slice(0, 40))}`);
  if (hexToBase64(rootHash) !== header.rootHash) throw malformed(`${at}.rootHash`, 'differs from the note\'s root hash');
  return { log: v.log, origin, size: v.size, rootHash, note: v.note };
}

/**
 * Parses the `anchorJson` argument of `RecordAnchor`: `{ root, checkpoints }`,
 * checkpoints sorted by log (byte order; log names are ASCII), one per log.
 * Node and window are the other arguments, submitter, transaction ID and
 * timestamp come from the transaction; naming any of them here is an error.
 * Whether `root` is the tree root over the notes is checked by the contract
 * (window-root.cts: it needs SHA-256, and this module stays pure).
 * @throws AnchorError ANCHOR_MALFORMED naming the field at fault
 */
function parseAnchorInput(json: string): AnchorInput {
  if (utf8Length(json) > MAX_ANCHOR_JSON_BYTES) {
    throw malformed('anchorJson', `is larger than ${MAX_ANCHOR_JSON_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw malformed('anchorJson', 'is not valid JSON');
  }
  if (!isPlainObject(value)) throw malformed('anchorJson', 'must be a JSON object');
  checkKeys(value, ['root', 'checkpoints'], 'anchor');
  const root = parseHex32(value.root, 'root');
  if (!Array.isArray(value.checkpoints) || value.checkpoints.length === 0) {
    throw malformed('checkpoints', 'must be a non-empty array');
  }
  if (value.checkpoints.length > MAX_CHECKPOINTS) {
    throw malformed('checkpoints', `has more than ${MAX_CHECKPOINTS} entries`);
  }
  const checkpoints = value.checkpoints.map(parseCheckpoint);
  const seen = new Map<string, number>();
  checkpoints.forEach((cp, i) => {
    const first = seen.get(cp.log);
    if (first !== undefined) throw malformed(`checkpoints[${i}].log`, `"${cp.log}" already appears at checkpoints[${first}]`);
    seen.set(cp.log, i);
  });
  // One order, so that a checkpoint's index in the record is its leaf index in the tree.
  checkpoints.forEach((cp, i) => {
    const prev = checkpoints[i - 1];
    if (prev !== undefined && !(prev.log < cp.log)) {
      throw malformed(`checkpoints[${i}].log`, `"${cp.log}" sorts before checkpoints[${i - 1}].log "${prev.log}": checkpoints are sorted by log`);
    }
  });
  return { root, checkpoints };
}

/**
 * The rule binding a node name to its owner. `record` is the node's stored
 * record (undefined for a name never used: the submitter becomes its owner).
 * @throws AnchorError NODE_OWNER_MISMATCH when another identity anchored under this name first
 */
function checkOwner(node: string, submitter: AnchorSubmitter, record: NodeRecord | undefined): void {
  if (record === undefined) return;
  const owner = record.owner;
  if (owner.mspId !== submitter.mspId || owner.certificateSha256 !== submitter.certificateSha256) {
    throw new AnchorError('NODE_OWNER_MISMATCH', `node ${node} is bound to ${owner.mspId} certificate sha256:${owner.certificateSha256} (since window ${record.firstWindow}); this transaction's creator is ${submitter.mspId} certificate sha256:${submitter.certificateSha256}`);
  }
}

/**
 * A node's windows strictly increase (they need not be contiguous).
 * @throws AnchorError WINDOW_OUT_OF_ORDER when `window` is not after the node's latest window
 */
function checkNodeWindow(node: string, window: number, record: NodeRecord | undefined): void {
  if (record !== undefined && window <= record.lastWindow) {
    throw new AnchorError('WINDOW_OUT_OF_ORDER', `window ${window} of node ${node} is not after its latest window ${record.lastWindow}`);
  }
}

/**
 * The per-log rule of the ledger (a log is one node's log): windows anchoring
 * it strictly increase (implied by the node's window order, checked again
 * here) and its tree never shrinks nor forks. `head` is the log's latest
 * anchored checkpoint (undefined for a log never anchored).
 * @throws AnchorError WINDOW_OUT_OF_ORDER, CHECKPOINT_SIZE_REGRESSION or CHECKPOINT_FORK
 */
function checkAgainstHead(window: number, cp: AnchoredCheckpoint, index: number, head: LogHead | undefined): void {
  if (head === undefined) return;
  const at = `checkpoints[${index}] (log ${cp.log})`;
  if (window <= head.window) {
    throw new AnchorError('WINDOW_OUT_OF_ORDER', `${at}: window ${window} is not after window ${head.window}, which already anchors this log`);
  }
  if (cp.size < head.size) {
    throw new AnchorError('CHECKPOINT_SIZE_REGRESSION', `${at}: size ${cp.size} is below size ${head.size} anchored in window ${head.window}`);
  }
  if (cp.size === head.size && cp.rootHash !== head.rootHash) {
    throw new AnchorError('CHECKPOINT_FORK', `${at}: size ${cp.size} has root ${cp.rootHash}, but window ${head.window} anchored root ${head.rootHash} at the same size`);
  }
}

/**
 * Parses a stored JSON value of ours. World state is written only by this
 * chaincode, but a value that does not parse is reported, not trusted.
 */
function parseStored<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    throw new Error(`stored ${what} is not valid JSON`);
  }
}

/** RFC 3339 UTC with nanoseconds, from a protobuf Timestamp's seconds and nanos. */
function formatTimestamp(seconds: number, nanos: number): string {
  const iso = new Date(seconds * 1000).toISOString(); // 2006-01-02T15:04:05.000Z
  return `${iso.slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}

const anchorRecord = {
  AnchorError,
  BUCKET_WINDOWS,
  KEY_NODE,
  KEY_ANCHOR,
  KEY_LOG_ANCHOR,
  KEY_LOG_HEAD,
  MAX_ANCHOR_JSON_BYTES,
  MAX_CHECKPOINTS,
  MAX_LIST_BYTES,
  MAX_LIST_SPAN,
  MAX_NOTE_BYTES,
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
};

// A CommonJS module under `verbatimModuleSyntax` exports one value; its types
// ride along in a merged namespace.
declare namespace anchorRecord {
  export type {
    AnchorErrorCode,
    AnchoredCheckpoint,
    AnchorInput,
    AnchorPage,
    AnchorRecord,
    AnchorSubmitter,
    LogAnchor,
    LogHead,
    NodeRecord,
  };
}

export = anchorRecord;
