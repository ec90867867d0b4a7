/**
 * What the console verifies, from the pinned first key and raw bytes only,
 * with the project's pure core. Runs in the verification worker
 * (verify-worker.ts), or in the page itself where a worker cannot start
 * (a page opened from file://, see verify-client.ts).
 *
 * - The entries shown: each one's signature (under a key of the chain that
 *   starts at the pinned key), its chain link (its signed prevHash is the
 *   hash recomputed from the previous entry's bytes), its entry hash, and its
 *   inclusion in the latest checkpoint signed by that chain.
 * - The whole log: the checks of `cairn verify` (src/client/verify-log.ts),
 *   with `--anchors` where the node anchors, in the same order, with the
 *   same result and the same first bad seq, and its report (log-report.ts).
 * - A bundle: the checks of `cairn verify-bundle` (core/bundle-verifier.ts),
 *   with its report (bundle-report.ts).
 */
import { decodeBody, entryHash, type EntryBody } from '../core/entry.js';
import { followKeyChain, parseKeyLinks } from '../core/key-chain.js';
import { LogVerifier, openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { leafHash, verifyInclusion } from '../core/merkle.js';
import { bytesEqual, fromHex, toHex } from '../core/bytes.js';
import { isVerificationError, VerificationError } from '../core/errors.js';
import { pemToDer, spkiToRawP256 } from '../core/ecdsa-der.js';
import { checkEntrySignatureAsync, verifyEntriesAsync, type VerifyP256Async } from '../core/async-verifier.js';
import { checkFinalKey, compareWithAnchors, type AnchoredCheckpoint } from '../core/log-checks.js';
import { verifyAnchorProof } from '../core/anchor.js';
import type { Checkpoint } from '../core/checkpoint.js';
import type { SignedEntry } from '../core/entry.js';
import { ApiError, logPath, NodeApi, signedEntryOf, type AnchorJson, type CheckpointJson, type EntryJson } from './api.js';

/** The checks a shown entry goes through, named as the page shows them. */
export type Check = 'body' | 'signature' | 'chain link' | 'entry hash' | 'inclusion';

export interface Mark {
  seq: number;
  ok: boolean;
  /** The checks that failed, in the order they are made. */
  failed: Check[];
  message?: string;
}

/** The answer of a whole-log or bundle verification: what `cairn verify` prints, or its failure. */
export type VerifyOutcome =
  | { ok: true; log: string; size: number; rootHash: string; entriesVerified: number; anchorsVerified?: number; anchoredSize?: number }
  | { ok: false; code: string; message: string; evidence: Record<string, unknown> };

/** The pinned key from PEM text: an uncompressed P-256 SubjectPublicKeyInfo. */
export function parsePinnedKey(pem: string): Uint8Array {
  const spki = pemToDer(pem, 'PUBLIC KEY', 'public key');
  spkiToRawP256(spki);
  return spki;
}

async function chainKeys(api: NodeApi, pinned: Uint8Array, log: string): Promise<Uint8Array[]> {
  const chain = await api.get<{ keyChain: unknown[] }>('/v1/key-chain');
  return followKeyChain(pinned, parseKeyLinks(chain.keyChain, { log }), { log });
}

/** The latest checkpoint, opened with the key chain; a failure names the size served (as `cairn verify` does). */
function openServed(note: string, log: string, size: number, keys: readonly Uint8Array[]): Checkpoint {
  try {
    return openLogCheckpointWithKeys(note, log, keys).checkpoint;
  } catch (err) {
    if (!isVerificationError(err) || err.evidence.size !== undefined) throw err;
    throw new VerificationError(err.code, `the latest checkpoint (size ${size}): ${err.message}`, { ...err.evidence, log, size }, { cause: err.cause });
  }
}

/** The hash of an entry recomputed from its bytes, with the prevHash its own signed body states. */
function recomputedHash(e: SignedEntry, body: EntryBody): Uint8Array {
  return entryHash(fromHex(body.prevHash, 'prevHash'), e.body, e.signature);
}

/**
 * Marks for the entries a page shows (any seqs, in any order).
 */
export async function verifyShown(api: NodeApi, log: string, shown: readonly EntryJson[], pinned: Uint8Array, verify: VerifyP256Async): Promise<Mark[]> {
  const keys = await chainKeys(api, pinned, log);
  const latest = await api.get<CheckpointJson>(logPath(log, '/checkpoint'));
  const cp = openServed(latest.note, log, latest.size, keys);
  const bySeq = new Map<number, EntryJson>(shown.map((e) => [e.seq, e]));
  const hashes = new Map<number, Uint8Array>();
  /** The recomputed hash of entry `seq`, fetching it when the page does not show it. */
  const hashOf = async (seq: number): Promise<Uint8Array | undefined> => {
    const known = hashes.get(seq);
    if (known) return known;
    const json = bySeq.get(seq) ?? (await api.get<EntryJson>(logPath(log, `/entries/${seq}`)).catch(() => undefined));
    if (!json) return undefined;
    try {
      const e = signedEntryOf(json);
      const h = recomputedHash(e, decodeBody(e.body, { log, seq }));
      hashes.set(seq, h);
      return h;
    } catch {
      return undefined;
    }
  };
  const marks: Mark[] = [];
  for (const json of [...shown].sort((a, b) => a.seq - b.seq)) {
    const seq = json.seq;
    const failed: Check[] = [];
    const messages: string[] = [];
    const fail = (c: Check, m: string): void => {
      failed.push(c);
      messages.push(m);
    };
    let e: SignedEntry;
    let body: EntryBody;
    try {
      e = signedEntryOf(json);
      body = decodeBody(e.body, { log, seq });
      if (body.log !== log || body.seq !== seq) throw new VerificationError('ENTRY_BODY_MISMATCH', `entry ${seq}: body names ${body.log} #${body.seq}`, { log, seq });
    } catch (err) {
      marks.push({ seq, ok: false, failed: ['body'], message: (err as Error).message });
      continue;
    }
    // Any key of the chain from the pinned key: which one was in force at this seq is what "verify the whole log" pins down.
    let signed = false;
    for (const k of keys) if ((signed = await checkEntrySignatureAsync(e, k, verify))) break;
    if (!signed) fail('signature', `entry ${seq}: signature does not verify under the pinned key or a key its chain leads to`);
    const prev = seq === 0 ? new Uint8Array(32) : await hashOf(seq - 1);
    if (!prev || body.prevHash !== toHex(prev)) fail('chain link', `entry ${seq}: prevHash does not match the hash of entry ${seq - 1}`);
    const h = recomputedHash(e, body);
    hashes.set(seq, h);
    if (!bytesEqual(h, e.hash)) fail('entry hash', `entry ${seq}: stored hash differs from the recomputed one`);
    if (seq >= cp.size) fail('inclusion', `entry ${seq} is not yet covered by the latest checkpoint (size ${cp.size})`);
    else {
      try {
        const p = await api.get<{ hashes: string[] }>(logPath(log, '/proofs/inclusion'), { seq, size: cp.size });
        verifyInclusion(leafHash(h), seq, cp.size, p.hashes.map((x) => fromHex(x, 'hash')), cp.rootHash);
      } catch (err) {
        fail('inclusion', `entry ${seq}: not included in the signed checkpoint of size ${cp.size} (${(err as Error).message})`);
      }
    }
    marks.push({ seq, ok: failed.length === 0, failed, ...(messages.length > 0 ? { message: messages.join('; ') } : {}) });
  }
  return marks;
}

/** How many entries past the last one served are asked for one by one to name the one the node cannot serve (as `cairn verify`). */
const MAX_LOCATE = 4096;

export interface Progress {
  (done: number, total: number): void;
}

/** Where the console reads anchored roots from: the node's own anchor store, as `cairn verify --anchors` without --fabric-config. */
export const LOCAL_ANCHORS = 'the node\'s local anchor store';

/**
 * The log's anchor windows as `cairn verify --anchors` checks them
 * (src/client/verify-log.ts, checkAnchors): each committed window's
 * checkpoint of this log is signed by the key chain and proven into the
 * window's root, and that root is the one the node's anchor store holds.
 */
async function checkAnchorsOnline(api: NodeApi, log: string, keys: readonly Uint8Array[], listed: readonly AnchorJson[]): Promise<AnchoredCheckpoint[]> {
  const out: AnchoredCheckpoint[] = [];
  for (const a of listed) {
    if (a.state !== 'committed') continue;
    const c = a.checkpoints.find((x) => x.log === log);
    if (!c) continue;
    const { checkpoint: cp, key } = openLogCheckpointWithKeys(c.note, log, keys);
    const proof = await api.get<{ window: number; root: string; index: number; count: number; path: string[]; checkpoint: { note: string } }>(logPath(log, '/anchors/proof'), { size: c.size });
    if (proof.window !== a.window || proof.checkpoint.note !== c.note) {
      throw new VerificationError('INCLUSION_PROOF_INVALID', `anchor window ${a.window}: the node's proof is for another window or checkpoint`, { log, window: a.window });
    }
    verifyAnchorProof(c.note, proof);
    const external = (await api.get<AnchorJson>(`/v1/anchors/${a.window}`).catch(() => undefined))?.root;
    if (external === undefined) throw new VerificationError('INCLUSION_PROOF_INVALID', `anchor window ${a.window} is not on ${LOCAL_ANCHORS}`, { log, window: a.window });
    if (external !== proof.root) {
      throw new VerificationError('ROOT_MISMATCH', `anchor window ${a.window}: root on ${LOCAL_ANCHORS} differs from the node's`, { log, window: a.window, expected: external, actual: proof.root });
    }
    out.push({ window: a.window, size: cp.size, root: cp.rootHash, key });
  }
  return out;
}

export interface WholeLogOptions {
  /** The log's anchor windows (oldest first), to check as `cairn verify --anchors` does; undefined: anchors are not checked. */
  anchors?: readonly AnchorJson[];
  onEntry?: (body: EntryBody) => void;
  onCheckpoint?: (note: string, checkpoint: Checkpoint) => void;
}

/**
 * The whole log, as `cairn verify --log` checks it (with `--anchors` when
 * `opts.anchors` is given; no state file): the latest checkpoint opened with
 * the chain from the pinned key, the anchor windows, every entry, the rebuilt
 * root against every anchored root and the checkpoint, the final key, and the
 * node's frontier.
 * @throws VerificationError for the first failed check; ApiError when the node refuses
 */
export async function checkWholeLog(api: NodeApi, log: string, pinned: Uint8Array, verify: VerifyP256Async, progress: Progress, opts: WholeLogOptions = {}): Promise<Extract<VerifyOutcome, { ok: true }>> {
  {
    const keys = await chainKeys(api, pinned, log);
    const latest = await api.get<CheckpointJson>(logPath(log, '/checkpoint'));
    const cp = openServed(latest.note, log, latest.size, keys);
    opts.onCheckpoint?.(latest.note, cp);
    const anchored = opts.anchors ? await checkAnchorsOnline(api, log, keys, opts.anchors) : [];
    const verifier = new LogVerifier(log, pinned, { deferSignatures: true, captureRootsAt: anchored.map((a) => a.size) });
    const ends: { first?: Uint8Array; last?: Uint8Array } = {};
    async function* entries(): AsyncGenerator<SignedEntry> {
      let next = 0;
      try {
        for await (const chunk of api.stream(log, cp.size)) {
          for (const j of chunk) {
            const e = signedEntryOf(j);
            next++;
            ends.first ??= e.hash;
            ends.last = e.hash;
            yield e;
          }
        }
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'CORRUPTION') throw err;
        for (let seq = next; seq < Math.min(cp.size, next + MAX_LOCATE); seq++) {
          try {
            await api.get(logPath(log, `/entries/${seq}`));
          } catch (e) {
            if (e instanceof ApiError && e.code === 'CORRUPTION') throw new VerificationError('CORRUPTION', `entry ${seq}: the node's stored data contradicts itself (the node said: ${e.message})`, { log, seq });
            throw e;
          }
        }
        throw new VerificationError('CORRUPTION', `log ${log}, after entry ${next - 1}: the node's stored data contradicts itself (the node said: ${err.message})`, { log, seq: next });
      }
    }
    await verifyEntriesAsync(verifier, entries(), verify, { onProgress: (n) => progress(n, cp.size), ...(opts.onEntry ? { onEntry: opts.onEntry } : {}) });
    // Anchors first, as `cairn verify`: a rewrite re-signed with the node's key passes the checkpoint check.
    compareWithAnchors(log, verifier, anchored, cp.size);
    verifier.finish(latest.note);
    checkFinalKey(log, verifier, keys);
    // The node's frontier, through the audit paths of the first and last leaf (as `cairn verify`).
    if (cp.size >= 2 && ends.first && ends.last) {
      for (const [seq, hash] of [[0, ends.first], [cp.size - 1, ends.last]] as const) {
        const p = await api.get<{ hashes: string[] }>(logPath(log, '/proofs/inclusion'), { seq, size: cp.size });
        verifyInclusion(leafHash(hash), seq, cp.size, p.hashes.map((x) => fromHex(x, 'hash')), cp.rootHash);
      }
    }
    return { ok: true, log, size: cp.size, rootHash: toHex(cp.rootHash), entriesVerified: verifier.size, ...(opts.anchors ? { anchorsVerified: anchored.length, anchoredSize: anchored.at(-1)?.size ?? 0 } : {}) };
  }
}

export function failure(err: unknown): VerifyOutcome {
  if (isVerificationError(err)) return { ok: false, code: err.code, message: err.message, evidence: { ...err.evidence } };
  if (err instanceof ApiError) return { ok: false, code: err.code, message: `the node answered ${err.status}: ${err.message}`, evidence: {} };
  return { ok: false, code: 'ERROR', message: (err as Error)?.message ?? String(err), evidence: {} };
}

