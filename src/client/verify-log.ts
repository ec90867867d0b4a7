/**
 * Online and offline verification of a whole log, from a pinned key only.
 *
 * Online: the latest checkpoint is opened with the pinned key; with a state
 * file, its size must not go backwards (ROLLBACK) and the server must prove
 * consistency from the remembered checkpoint (a fork fails the proof, and the
 * root rebuilt from the entries at the remembered size must equal it too).
 * Then every entry is streamed and checked (see core/log-verifier.ts), and the
 * rebuilt root must equal the checkpoint's. Only then is the state advanced.
 *
 * Key rotation: the node's key chain (GetPublicKey online, the bundle header
 * offline) is followed from the pinned key, never trusted on its own; it only
 * says which keys may have signed the checkpoints read before the entries.
 * The entries then decide which key was in force at each size (see
 * core/log-verifier.ts), and every checkpoint used (latest, remembered,
 * anchored) must be signed by exactly that key. The log must end under the
 * chain's last key: a log that never rotated while its node did is missing
 * its rotation entry. The state file remembers the key in force, and a later
 * run requires the node's chain to still lead to it.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { readLines } from './line-reader.js';
import { LogVerifier, openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { followKeyChain, keyIndex, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../core/merkle.js';
import { CairnError, VerificationError, type Evidence } from '../core/errors.js';
import { bytesEqual, fromBase64, fromHex, toBase64, toHex } from '../core/bytes.js';
import { MAX_BUNDLE_LINE, parseBundleEntry, parseBundleHeader, type BundleAnchor, type BundleHeader } from '../core/bundle.js';
import type { Checkpoint } from '../core/checkpoint.js';
import type { ClientCheckpoint, LedgerClient } from './ledger-client.js';
import { verifyWitnessQuorum, type PinnedWitness } from '../core/cosignature.js';
import { createProgress, type Progress } from './progress.js';
import { SignaturePool } from './signature-pool.js';
import { verifyAnchorProof, type AnchorRootReader, type WindowCheckpoint } from '../core/anchor.js';
export type { AnchorRootReader } from '../core/anchor.js';
import { isVerificationError } from '../core/errors.js';
import { checkFinalKey, checkSignerAt, compareWithAnchors, hexKeyId as hexId, openBundleAnchor, type AnchoredCheckpoint } from '../core/log-checks.js';
import type { EntryBody, SignedEntry } from '../core/entry.js';

export interface VerifyState {
  log: string;
  size: number;
  rootHash: string;
  checkpoint: string;
  /** Base64 SPKI of the key in force at `size` (absent in state files from before key rotation). */
  key?: string;
}

export interface VerifyResult {
  log: string;
  size: number;
  rootHash: string;
  entriesVerified: number;
  previousSize?: number;
  anchorsVerified?: number;
  anchoredSize?: number;
  /** The pinned witnesses whose cosignature on the verified checkpoint verified. */
  witnesses?: Array<{ name: string; keyId: string; timestamp: number }>;
}

/**
 * The latest checkpoint the node serves with at least `min` cosignatures.
 * @throws VerificationError WITNESS_QUORUM when it serves none
 */
export async function cosignedCheckpoint(client: LedgerClient, log: string, min: number): Promise<ClientCheckpoint> {
  try {
    return await client.getCosignedCheckpoint(log, min);
  } catch (err) {
    if ((err as { code?: unknown }).code !== grpc.status.NOT_FOUND) throw err;
    throw new VerificationError('WITNESS_QUORUM', `the node serves no checkpoint of log ${log} with ${min} cosignature(s): ${(err as { details?: string }).details ?? ''}`, { log, expected: String(min), actual: '0' });
  }
}

/** The quorum check of a served or bundled checkpoint, when witnesses are pinned. */
function checkWitnesses(note: string, lines: readonly string[], opts: VerifyOptions): VerifyResult['witnesses'] {
  if (!opts.witnesses) return undefined;
  return verifyWitnessQuorum(note, lines, opts.witnesses.keys, opts.witnesses.min, { now: Math.floor(Date.now() / 1000) }).witnesses;
}

export async function readState(path: string): Promise<VerifyState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const malformed = (cause?: unknown): CairnError => new CairnError('INVALID_ARGUMENT', `state: file ${path} is malformed`, { field: 'state', cause });
  let s: VerifyState;
  try {
    s = JSON.parse(text) as VerifyState;
  } catch (cause) {
    throw malformed(cause);
  }
  if (typeof s !== 'object' || s === null || typeof s.log !== 'string' || !Number.isSafeInteger(s.size) || typeof s.rootHash !== 'string' || typeof s.checkpoint !== 'string' || (s.key !== undefined && typeof s.key !== 'string')) {
    throw malformed();
  }
  return s;
}

async function writeState(path: string, s: VerifyState): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(s, null, 2) + '\n');
  await rename(tmp, path);
}

export interface VerifyOptions {
  /** The pinned key: the node's first key. */
  publicKeySpki: Uint8Array;
  /**
   * The node's key links (unverified; followed from the pinned key). Online,
   * when absent, they are fetched with GetPublicKey; offline, the bundle
   * header's are used.
   */
  keyChain?: readonly KeyLink[];
  nodeName?: string;
  statePath?: string;
  progress?: boolean;
  /** Threads checking signatures; 0 checks them inline. Default: up to 4, one per core. */
  signatureThreads?: number;
  /**
   * Also check the log against every anchor window that covers it: the
   * anchored checkpoint is signed by the pinned key, sits in the window tree,
   * the window's root is the one the anchor reader returns from the external
   * ledger, and the log still hashes to the anchored root at that size.
   */
  anchors?: AnchorRootReader;
  /**
   * Accept a checkpoint only with `min` valid cosignatures from these pinned
   * witness keys (core/cosignature.ts). Online, the log is verified up to the
   * latest checkpoint the node serves with that many cosignatures; offline,
   * the bundle's checkpoint must carry them.
   */
  witnesses?: { keys: readonly PinnedWitness[]; min: number };
  /** Sees what the verifier reads, as it reads it (reports: src/report/). */
  observer?: VerifyObserver;
}

/**
 * What a report needs from a verification, taken from the verifier itself
 * rather than from a second fetch that could differ: each entry once its
 * in-order checks passed (body, chain link, entry hash; its signature may
 * still be pending on another thread, and a bad one fails the whole run),
 * and the signed checkpoint the entries are checked against, once opened.
 */
export interface VerifyObserver {
  entry?(body: EntryBody, entry: SignedEntry): void;
  checkpoint?(note: string, checkpoint: Checkpoint): void;
}


async function checkAnchors(client: LedgerClient, log: string, keys: readonly Uint8Array[], opts: VerifyOptions, reader: AnchorRootReader): Promise<AnchoredCheckpoint[]> {
  const out: AnchoredCheckpoint[] = [];
  const listed = await client.listAnchors(log);
  if (reader.windowsFor) {
    const mine = new Set(listed.filter((a) => a.state === 'committed').map((a) => a.window));
    for (const w of await reader.windowsFor(log)) {
      if (!mine.has(w)) throw new VerificationError('ROLLBACK', `anchor window ${w} on ${reader.describe} covers log ${log} but the node does not list it`, { log, window: w });
    }
  }
  for (const a of listed) {
    if (a.state !== 'committed') continue;
    const c = a.checkpoints.find((x) => x.log === log);
    if (!c) continue;
    const { checkpoint: cp, key } = openLogCheckpointWithKeys(c.note, log, keys, opts.nodeName);
    const proof = await client.anchorProof(log, c.size);
    if (proof.window !== a.window || proof.checkpoint.note !== c.note) {
      throw new VerificationError('INCLUSION_PROOF_INVALID', `anchor window ${a.window}: the node's proof is for another window or checkpoint`, { log, window: a.window });
    }
    verifyAnchorProof(c.note, proof);
    const external = await reader.root(a.window);
    if (external === undefined) {
      throw new VerificationError('INCLUSION_PROOF_INVALID', `anchor window ${a.window} is not on ${reader.describe}`, { log, window: a.window });
    }
    if (external !== proof.root) {
      throw new VerificationError('ROOT_MISMATCH', `anchor window ${a.window}: root on ${reader.describe} differs from the node's`, { log, window: a.window, expected: external, actual: proof.root });
    }
    out.push({ window: a.window, size: cp.size, root: cp.rootHash, key });
  }
  return out;
}

/**
 * A node answers DATA_LOSS (its CORRUPTION) when its stored data contradicts
 * itself. To a verifier that is evidence of tampering, like a failed check:
 * a VerificationError (exit 1), never a connection error.
 */
export function isCorruptionAnswer(err: unknown): err is { code: number; details: string } {
  return (err as { code?: unknown } | undefined)?.code === grpc.status.DATA_LOSS;
}

/** The node's DATA_LOSS answer as a verification failure; `what` names what was asked for (its seq or size). */
export function corruptionFailure(err: { details: string }, what: string, evidence: Evidence): VerificationError {
  return new VerificationError('CORRUPTION', `${what}: the node's stored data contradicts itself (the node said: ${err.details})`, evidence, { cause: err });
}

/** How many entries past the last one served are read one by one to find which one the node cannot serve. */
const MAX_LOCATE = 4096;

/**
 * The node's entries [0, size). When the stream fails with DATA_LOSS, the
 * entries after the last one served are asked for one at a time, so the
 * failure names the first seq the node cannot serve (the stream's message
 * is the node's and may change; the seq is found by asking, not by parsing).
 */
async function* entriesFromNode(client: LedgerClient, log: string, size: number, ends: { first?: Uint8Array; last?: Uint8Array }): AsyncGenerator<SignedEntry> {
  let next = 0;
  try {
    for await (const e of client.listEntries(log, 0, size)) {
      next++;
      ends.first ??= e.hash;
      ends.last = e.hash;
      yield e;
    }
  } catch (err) {
    if (!isCorruptionAnswer(err)) throw err;
    for (let seq = next; seq < Math.min(size, next + MAX_LOCATE); seq++) {
      try {
        await client.getEntry(log, seq);
      } catch (e) {
        if (isCorruptionAnswer(e)) throw corruptionFailure(e, `entry ${seq}`, { log, seq });
        throw e;
      }
    }
    throw corruptionFailure(err, `log ${log}, after entry ${next - 1}`, { log, seq: next });
  }
}

/**
 * Opens the checkpoint the node served as of `size`; a failure names that
 * size (the note's own size line is unverified, and may be what was changed).
 */
export function openServedCheckpoint(note: string, log: string, size: number, keys: readonly Uint8Array[], nodeName: string | undefined, what: string): { checkpoint: Checkpoint; key: Uint8Array } {
  try {
    return openLogCheckpointWithKeys(note, log, keys, nodeName);
  } catch (err) {
    if (!isVerificationError(err) || err.evidence.size !== undefined) throw err;
    throw new VerificationError(err.code, `${what} (size ${size}): ${err.message}`, { ...err.evidence, log, size }, { cause: err.cause });
  }
}

/**
 * The node extends its tree from the stored roots of the complete subtrees
 * at its size (its frontier), and refuses appends when they disagree with
 * its checkpoint, pointing at `cairn verify`. So verify checks them too,
 * through the two proofs that hold them all: the audit paths of the first
 * and the last leaf at the verified size, against the verified root.
 * (Other stored nodes serve only proofs, and fail there: `cairn proof`. At a
 * size that is a power of two the frontier is the root alone, which no proof
 * holds and the signed checkpoint states.)
 */
async function checkServedFrontier(client: LedgerClient, log: string, size: number, root: Uint8Array, ends: { first?: Uint8Array; last?: Uint8Array }): Promise<void> {
  if (size < 2 || !ends.first || !ends.last) return;
  for (const [seq, hash] of [[0, ends.first], [size - 1, ends.last]] as const) {
    const p = await client.inclusionProof(log, seq, size);
    verifyInclusion(leafHash(hash), seq, size, p.hashes, root);
  }
}

const CHUNK = 512;

/**
 * Pushes every entry through the in-order verifier while signatures are
 * checked on other threads; reports the lowest bad seq, whichever check found it.
 */
async function verifyEntries(verifier: LogVerifier, entries: AsyncIterable<SignedEntry>, pool: SignaturePool | undefined, bar: Progress, observer?: VerifyObserver): Promise<void> {
  let chunk: SignedEntry[] = [];
  let keys: Uint8Array[] = [];
  let pushing: SignedEntry | undefined;
  try {
    for await (const e of entries) {
      pushing = e;
      const { body } = verifier.push(e);
      observer?.entry?.(body, e);
      if (!pool) {
        if ((verifier.size & 1023) === 0) bar.update(verifier.size);
        continue;
      }
      // The key in force at this seq, which the in-order check just determined.
      chunk.push(e);
      keys.push(verifier.signatureKeyOf(e.seq)!);
      if (chunk.length === CHUNK) {
        await pool.submit(chunk, keys);
        chunk = [];
        keys = [];
        if (pool.failed) break;
        bar.update(verifier.size);
      }
    }
    await pool?.submit(chunk, keys);
    await pool?.settle();
  } catch (err) {
    if (pool && isVerificationError(err)) {
      // An entry whose hash failed had its key determined first: its own signature is checked too.
      const failedKey = pushing && err.code === 'ENTRY_HASH_MISMATCH' ? verifier.signatureKeyOf(pushing.seq) : undefined;
      if (pushing && failedKey && chunk.at(-1) !== pushing) {
        chunk.push(pushing);
        keys.push(failedKey);
      }
      await pool.submit(chunk, keys);
      // Inline, an entry's signature is checked after its body and chain link
      // but before its hash: report whichever an inline check would have hit first.
      await pool.settle(typeof err.evidence.seq === 'number' ? err.evidence.seq : Number.POSITIVE_INFINITY, err.code === 'ENTRY_HASH_MISMATCH');
    }
    throw err;
  }
}

function makePool(log: string, opts: VerifyOptions): SignaturePool | undefined {
  return opts.signatureThreads === 0 ? undefined : new SignaturePool(log, opts.publicKeySpki, opts.signatureThreads);
}

export async function verifyLogOnline(client: LedgerClient, log: string, opts: VerifyOptions): Promise<VerifyResult> {
  try {
    return await verifyServedLog(client, log, opts);
  } catch (err) {
    // A DATA_LOSS answer to any other request (a checkpoint, a proof) than the entries'.
    if (isCorruptionAnswer(err)) throw corruptionFailure(err, `log ${log}`, { log });
    throw err;
  }
}

async function verifyServedLog(client: LedgerClient, log: string, opts: VerifyOptions): Promise<VerifyResult> {
  const state = opts.statePath ? await readState(opts.statePath) : undefined;
  if (state && state.log !== log) throw new CairnError('INVALID_ARGUMENT', `state: file is for log ${state.log}, not ${log}`, { field: 'state' });
  const keys = followKeyChain(opts.publicKeySpki, opts.keyChain ?? (await client.publicKey()).keyChain, { log });
  let stateKey: Uint8Array | undefined;
  if (state?.key !== undefined) {
    stateKey = fromBase64(state.key, 'state key');
    // The node's chain must still lead to the key seen last time: a shorter chain hides a rotation.
    if (keyIndex(keys, stateKey) < 0) {
      throw new VerificationError('KEY_CHAIN_BROKEN', `the node's key chain no longer leads to key ${hexId(stateKey)}, in force when log ${log} was last verified`, { log, size: state.size, expected: hexId(stateKey) });
    }
  }
  const latest = opts.witnesses ? await cosignedCheckpoint(client, log, opts.witnesses.min) : await client.getCheckpoint(log);
  const { checkpoint: cp } = openServedCheckpoint(latest.note, log, latest.size, keys, opts.nodeName, opts.witnesses ? 'the latest cosigned checkpoint' : 'the latest checkpoint');
  const witnesses = checkWitnesses(latest.note, latest.cosignatures, opts);
  opts.observer?.checkpoint?.(latest.note, cp);

  let oldSigner: Uint8Array | undefined;
  if (state) {
    // The remembered checkpoint was verified when stored; re-open it anyway: the file may have been edited.
    const { checkpoint: old, key } = openLogCheckpointWithKeys(state.checkpoint, log, keys, opts.nodeName);
    oldSigner = key;
    if (cp.size < old.size) {
      throw new VerificationError('ROLLBACK', `log ${log} shrank from ${old.size} to ${cp.size} entries since the last verification`, { log, expected: `>= ${old.size}`, actual: String(cp.size) });
    }
    if (old.size > 0 && old.size < cp.size) {
      const proof = await client.consistencyProof(log, old.size, cp.size);
      verifyConsistency(old.size, cp.size, proof.hashes, old.rootHash, cp.rootHash);
    } else if (old.size === cp.size && !bytesEqual(old.rootHash, cp.rootHash)) {
      // The same fact as verifyConsistency's equal sizes with different roots: no proof is involved.
      throw new VerificationError('ROOT_MISMATCH', `log ${log} has two different signed roots at size ${cp.size}: a forked history`, { log, size: cp.size, expected: toHex(old.rootHash), actual: toHex(cp.rootHash) });
    }
  }

  const anchored = opts.anchors ? await checkAnchors(client, log, keys, opts, opts.anchors) : [];
  const pool = makePool(log, opts);
  const verifier = new LogVerifier(log, opts.publicKeySpki, {
    nodeName: opts.nodeName,
    captureRootsAt: [...(state ? [state.size] : []), ...anchored.map((a) => a.size)],
    deferSignatures: pool !== undefined,
  });
  const bar = createProgress(`verify ${log}`, cp.size, opts.progress === false ? ({ isTTY: false } as NodeJS.WriteStream) : process.stderr);
  const ends: { first?: Uint8Array; last?: Uint8Array } = {};
  try {
    await verifyEntries(verifier, entriesFromNode(client, log, cp.size, ends), pool, bar, opts.observer);
  } finally {
    await pool?.close();
  }
  bar.finish();
  // Anchors first: a rewrite re-signed with the node's key passes the checkpoint check below.
  compareWithAnchors(log, verifier, anchored, cp.size);
  verifier.finish(latest.note);
  checkFinalKey(log, verifier, keys);
  await checkServedFrontier(client, log, cp.size, cp.rootHash, ends);
  if (state) {
    checkSignerAt(log, verifier, state.size, oldSigner!, 'the remembered checkpoint');
    if (stateKey) checkSignerAt(log, verifier, state.size, stateKey, 'the state file\'s key');
    const rebuilt = verifier.rootAt(state.size);
    if (rebuilt && !bytesEqual(rebuilt, fromHex(state.rootHash))) {
      // The same fact as a rewrite after anchoring: entries rebuilt to another root than a trusted one at that size.
      throw new VerificationError('ROOT_MISMATCH', `entries 0..${state.size - 1} no longer hash to the root verified before: history was rewritten`, { log, size: state.size, expected: state.rootHash, actual: toHex(rebuilt) });
    }
  }
  if (opts.statePath) await writeState(opts.statePath, { log, size: cp.size, rootHash: toHex(cp.rootHash), checkpoint: latest.note, key: toBase64(verifier.currentKey) });
  return {
    log,
    size: cp.size,
    rootHash: toHex(cp.rootHash),
    entriesVerified: verifier.size,
    ...(state ? { previousSize: state.size } : {}),
    ...(opts.anchors ? { anchorsVerified: anchored.length, anchoredSize: anchored.at(-1)?.size ?? 0 } : {}),
    ...(witnesses ? { witnesses } : {}),
  };
}

/**
 * The anchor proofs of `log` for a bundle of its first `size` entries: one
 * per committed window that anchored the log at a size up to `size`, in
 * window order. None when anchoring is off on the node.
 */
export async function collectAnchorProofs(client: LedgerClient, log: string, size: number): Promise<BundleAnchor[]> {
  let listed;
  try {
    listed = await client.listAnchors(log);
  } catch (err) {
    // Anchoring off on the node (anchor_backend = off): FAILED_PRECONDITION, no anchors to carry.
    if ((err as { code?: unknown }).code === grpc.status.FAILED_PRECONDITION) return [];
    throw err;
  }
  const out: BundleAnchor[] = [];
  for (const a of listed) {
    const c = a.checkpoints.find((x) => x.log === log);
    if (a.state !== 'committed' || !c || c.size > size) continue;
    const p = await client.anchorProof(log, c.size);
    if (p.window !== a.window) continue;
    out.push({ window: p.window, root: p.root, index: p.index, count: p.count, path: p.path, checkpoint: p.checkpoint.note, txId: p.receipt.txId, block: p.receipt.block, backend: p.receipt.backend });
  }
  return out;
}

/**
 * A bundle's anchors, offline: each anchored checkpoint is signed by the
 * pinned key and sits in its window's tree under the stated root. With a
 * reader, each root must be the one on the external ledger, and every
 * checkpoint the external ledger anchored for the log up to the bundle's
 * size is checked too, carried by the bundle or not.
 */
async function checkBundleAnchors(log: string, size: number, anchors: readonly BundleAnchor[], keys: readonly Uint8Array[], opts: VerifyOptions): Promise<AnchoredCheckpoint[]> {
  const byWindow = new Map<number, AnchoredCheckpoint>();
  for (const a of anchors) {
    const opened = openBundleAnchor(log, a, keys, opts.nodeName);
    const reader = opts.anchors;
    if (reader) {
      const external = await reader.root(a.window);
      if (external === undefined) throw new VerificationError('INCLUSION_PROOF_INVALID', `anchor window ${a.window} is not on ${reader.describe}`, { log, window: a.window });
      if (external !== a.root) {
        throw new VerificationError('ROOT_MISMATCH', `anchor window ${a.window}: root on ${reader.describe} differs from the bundle's`, { log, window: a.window, expected: external, actual: a.root });
      }
    }
    byWindow.set(a.window, opened);
  }
  if (opts.anchors?.checkpointsFor) {
    for (const e of await opts.anchors.checkpointsFor(log)) {
      if (e.checkpoint.size > size || byWindow.has(e.window)) continue;
      const { checkpoint: cp, key } = openLogCheckpointWithKeys(e.checkpoint.note, log, keys, opts.nodeName);
      byWindow.set(e.window, { window: e.window, size: cp.size, root: cp.rootHash, key });
    }
  }
  return [...byWindow.values()].sort((a, b) => a.window - b.window);
}

/**
 * Verifies an export bundle with no server: the entries, the checkpoint,
 * and the log against every anchored checkpoint in the bundle (and, with
 * `opts.anchors`, on the external ledger).
 */
export async function verifyBundleFile(path: string, opts: VerifyOptions): Promise<VerifyResult> {
  const lines = readLines(path, MAX_BUNDLE_LINE, (line) => new VerificationError('BUNDLE_MALFORMED', `bundle line ${line}: longer than ${MAX_BUNDLE_LINE} characters`, { line }));
  let header: BundleHeader;
  let anchored: AnchoredCheckpoint[];
  let keys: Uint8Array[];
  let witnesses: VerifyResult['witnesses'];
  // Every way out of here closes the file: a generator left unfinished keeps it open until garbage collection.
  try {
    const first = await lines.next();
    if (first.done) throw new VerificationError('BUNDLE_MALFORMED', 'bundle is empty', {});
    if (first.value.length > MAX_BUNDLE_LINE) throw new VerificationError('BUNDLE_MALFORMED', `bundle line 1: longer than ${MAX_BUNDLE_LINE} characters`, { line: 1 });
    header = parseBundleHeader(first.value);
    witnesses = checkWitnesses(header.checkpoint, header.cosignatures ?? [], opts);
    const chain = opts.keyChain ?? (header.keyChain === undefined ? [] : parseKeyLinks(header.keyChain, { line: 1 }));
    keys = followKeyChain(opts.publicKeySpki, chain, { log: header.log });
    anchored = await checkBundleAnchors(header.log, header.size, header.anchors ?? [], keys, opts);
  } catch (err) {
    await lines.return(undefined);
    throw err;
  }
  const pool = makePool(header.log, opts);
  const verifier = new LogVerifier(header.log, opts.publicKeySpki, { nodeName: opts.nodeName, captureRootsAt: anchored.map((a) => a.size), deferSignatures: pool !== undefined });
  const bar = createProgress(`verify ${header.log}`, header.size, opts.progress === false ? ({ isTTY: false } as NodeJS.WriteStream) : process.stderr);
  async function* entries(): AsyncGenerator<SignedEntry> {
    let lineNo = 1;
    for (let r = await lines.next(); !r.done; r = await lines.next()) {
      lineNo++;
      const line = r.value;
      if (line.length > MAX_BUNDLE_LINE) throw new VerificationError('BUNDLE_MALFORMED', `bundle line ${lineNo}: longer than ${MAX_BUNDLE_LINE} characters`, { line: lineNo });
      if (line === '') continue;
      let e: SignedEntry;
      try {
        e = parseBundleEntry(header.log, line, lineNo);
      } catch (err) {
        // The entry this line should hold is the next one in order: name its seq, as a node's damaged record is named.
        if (!isVerificationError(err) || err.evidence.seq !== undefined) throw err;
        throw new VerificationError(err.code, `entry ${verifier.size}: ${err.message}`, { ...err.evidence, log: header.log, seq: verifier.size }, { cause: err.cause });
      }
      yield e;
    }
  }
  try {
    await verifyEntries(verifier, entries(), pool, bar, opts.observer);
  } finally {
    await pool?.close();
    await lines.return(undefined);
  }
  bar.finish();
  // Anchors first, as online: a rewrite re-signed with the node's key passes the checkpoint check.
  compareWithAnchors(header.log, verifier, anchored, verifier.size);
  const cp = verifier.finish(header.checkpoint);
  opts.observer?.checkpoint?.(header.checkpoint, cp);
  // Only a bundle that states its node's chain can say where the log must end; bundles from before rotation state none.
  if (opts.keyChain !== undefined || header.keyChain !== undefined) checkFinalKey(header.log, verifier, keys);
  return {
    log: header.log,
    size: cp.size,
    rootHash: toHex(cp.rootHash),
    entriesVerified: verifier.size,
    ...(header.anchors !== undefined || opts.anchors ? { anchorsVerified: anchored.length, anchoredSize: anchored.at(-1)?.size ?? 0 } : {}),
    ...(witnesses ? { witnesses } : {}),
  };
}
