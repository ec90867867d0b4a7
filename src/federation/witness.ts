/**
 * The witness side of a node (docs/federation.md#witnessing): cosigns the
 * checkpoints of the origins it pins, following C2SP tlog-witness
 * add-checkpoint, and catches split views.
 *
 * For each origin it keeps the latest checkpoint it cosigned
 * (storage/witness-store.ts, synced before it answers). A new checkpoint is
 * cosigned only when it is signed by the origin's key (its pinned first key,
 * or a later one its key chain hands over to, never an older one than last
 * time), the origin knows which size it last cosigned (`old_size`), and a
 * consistency proof from that size holds. Checks and the write are done
 * under one lock per origin (tlog-witness: atomically, or an older request
 * could roll the state back).
 *
 * Two checkpoints of one origin that cannot both be true (core/split-view.ts)
 * — submitted directly, or relayed by another witness through the exchange
 * (witness-exchange.ts) — are handed to the {@link EquivocationSink}: the
 * origin is then never cosigned again.
 */
import { CairnError, invalidArgument, isVerificationError } from '../core/errors.js';
import { fromHex, toHex } from '../core/bytes.js';
import { parseNote } from '../core/note.js';
import { parseCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { cosignLine, witnessKey, type WitnessKey } from '../core/cosignature.js';
import { followKeyChain, keyLinkToJson, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { verifyConsistency } from '../core/merkle.js';
import { checkSplitViewEvidence, detectSplitView, rollbackEvidence, type SeenCheckpoint, type SplitViewEvidence } from '../core/split-view.js';
import type { Logger } from '../core/logger.js';
import type { SigningKey } from '../keys/signing-key.js';
import type { WitnessedState, WitnessStore } from '../storage/witness-store.js';
import type { ClientWitnessed, LedgerClient } from '../client/ledger-client.js';

/** An origin this node witnesses: a peer's node name and pinned first key. */
export interface PinnedOrigin {
  name: string;
  publicKey: Uint8Array;
  /** A client of the origin, for the proofs that make relayed evidence conclusive; absent for an origin without endpoint. */
  client?: () => Promise<LedgerClient>;
}

/** Where a caught split view goes: persisted, recorded in the node's own log, counted. */
export interface EquivocationSink {
  /** Whether this origin was caught before (and so is never cosigned again). */
  blocked(origin: string): Promise<boolean>;
  record(evidence: SplitViewEvidence, source: string): Promise<void>;
}

export interface WitnessHooks {
  cosigned?(origin: string): void;
  refused?(reason: string): void;
}

export interface WitnessOptions {
  store: WitnessStore;
  /** The witness key (src/keys/witness-key.ts) and its key name: the node's name. */
  key: SigningKey;
  name: string;
  origins: ReadonlyMap<string, PinnedOrigin>;
  sink: EquivocationSink;
  logger: Logger;
  hooks?: WitnessHooks;
  /** POSIX seconds (tests move it). */
  now?: () => number;
}

/** Refusal reasons, sent in trailer `cairn-witness-reason` (proto: AddCheckpoint). */
export type RefusalReason = 'UNKNOWN_ORIGIN' | 'BAD_SIGNATURE' | 'BAD_OLD_SIZE' | 'SIZE_CONFLICT' | 'INCONSISTENT' | 'SPLIT_VIEW';

/** The input AddCheckpoint hands over (src/server/witness-handlers.ts). */
export interface AddCheckpointInput {
  oldSize: number;
  proof: Uint8Array[];
  note: string;
  keyChain: KeyLink[];
}

/** How long the witness waits for an origin's answer when it needs one for evidence. */
const ORIGIN_QUERY_MS = 3000;

function log2Exact(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export class Witness {
  readonly name: string;
  readonly key: WitnessKey;
  readonly #o: WitnessOptions;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Relayed checkpoints that could not be judged yet (larger than ours): origin -> relaying peer -> checkpoint. */
  readonly #pending = new Map<string, Map<string, SeenCheckpoint>>();

  constructor(o: WitnessOptions) {
    this.#o = o;
    this.name = o.name;
    this.key = witnessKey(o.name, o.key.publicKeySpki);
  }

  #refuse(code: 'NOT_FOUND' | 'PERMISSION_DENIED' | 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION', reason: RefusalReason, message: string, details: Record<string, string> = {}, field?: string): CairnError {
    this.#o.hooks?.refused?.(reason);
    return new CairnError(code, message, { details: { 'witness-reason': reason, ...details }, ...(field ? { field } : {}) });
  }

  /** Runs `fn` alone for `origin`: check and write of one origin's state never interleave. */
  async #locked<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(origin) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(origin, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(origin) === tail) this.#locks.delete(origin);
    }
  }

  /**
   * Opens a signed checkpoint of a pinned origin: who it claims to be from
   * is read first (only to pick the key), then nothing is trusted until the
   * origin's key verified it.
   */
  #open(note: string, keyChain: readonly KeyLink[]): { pinned: PinnedOrigin; log: string; seen: SeenCheckpoint; keyIndex: number; keys: Uint8Array[] } {
    let claimed: Checkpoint;
    try {
      claimed = parseCheckpoint(parseNote(note).text);
    } catch (err) {
      throw invalidArgument('checkpoint', (err as Error).message);
    }
    const slash = claimed.origin.lastIndexOf('/');
    const name = slash > 0 ? claimed.origin.slice(0, slash) : '';
    const log = claimed.origin.slice(slash + 1);
    const pinned = this.#o.origins.get(name);
    if (!pinned) throw this.#refuse('NOT_FOUND', 'UNKNOWN_ORIGIN', `origin ${claimed.origin.slice(0, 200)} is not one this witness pins`);
    let keys: Uint8Array[];
    try {
      keys = followKeyChain(pinned.publicKey, keyChain, { log });
    } catch (err) {
      throw this.#refuse('PERMISSION_DENIED', 'BAD_SIGNATURE', `origin ${name}: the key chain does not follow from its pinned key: ${(err as Error).message}`);
    }
    try {
      const { checkpoint, key } = openLogCheckpointWithKeys(note, log, keys, name);
      return { pinned, log, seen: { note, checkpoint }, keyIndex: keys.indexOf(key), keys };
    } catch (err) {
      throw this.#refuse('PERMISSION_DENIED', 'BAD_SIGNATURE', `checkpoint of ${claimed.origin}: no valid signature by the origin's key: ${(err as Error).message}`);
    }
  }

  async #evidence(ev: SplitViewEvidence, source: string): Promise<CairnError> {
    await this.#o.sink.record(ev, source);
    return this.#refuse('FAILED_PRECONDITION', 'SPLIT_VIEW', `origin ${ev.origin} showed two histories (${ev.kind}); this witness no longer cosigns it`);
  }

  /**
   * tlog-witness add-checkpoint.
   * @returns the cosignature line
   * @throws CairnError naming the refusal (trailer cairn-witness-reason; SIZE_CONFLICT also cairn-witness-size)
   */
  async addCheckpoint(input: AddCheckpointInput): Promise<string[]> {
    const opened = this.#open(input.note, input.keyChain);
    const origin = opened.seen.checkpoint.origin;
    return this.#locked(origin, async () => {
      const { seen, keyIndex } = opened;
      const cp = seen.checkpoint;
      if (await this.#o.sink.blocked(origin)) throw this.#refuse('FAILED_PRECONDITION', 'SPLIT_VIEW', `origin ${origin} showed two histories before; this witness no longer cosigns it`);
      const state = await this.#o.store.witnessed(origin);
      const stored = state?.size ?? 0;
      const storedSeen = state ? this.#stateSeen(state) : undefined;
      if (state && keyIndex < state.keyIndex) {
        throw this.#refuse('PERMISSION_DENIED', 'BAD_SIGNATURE', `checkpoint of ${origin} is signed by a key its chain retired before the one of the last cosigned checkpoint`);
      }
      if (input.oldSize > cp.size) {
        // The origin knows we cosigned `stored` and still offers a smaller tree as its latest: a rollback.
        if (storedSeen && input.oldSize === stored) {
          const ev = rollbackEvidence({ ...storedSeen, cosignature: state!.cosignature }, seen);
          if (ev) throw await this.#evidence(ev, 'origin');
        }
        throw this.#refuse('INVALID_ARGUMENT', 'BAD_OLD_SIZE', `old_size: ${input.oldSize} is beyond the checkpoint's size ${cp.size}`, {}, 'old_size');
      }
      if (input.oldSize !== stored) {
        throw this.#refuse('FAILED_PRECONDITION', 'SIZE_CONFLICT', `old_size ${input.oldSize} is not the size this witness last cosigned for ${origin}: ${stored}`, { 'witness-size': String(stored) });
      }
      if (storedSeen && cp.size === stored) {
        const ev = detectSplitView(storedSeen, seen);
        if (ev) throw await this.#evidence({ ...ev, first: { ...ev.first, cosignature: state!.cosignature } }, 'origin');
      } else if (input.oldSize === 0) {
        if (input.proof.length > 0) throw this.#refuse('INVALID_ARGUMENT', 'INCONSISTENT', 'consistency_proof: must be empty when old_size is 0', {}, 'consistency_proof');
      } else {
        try {
          verifyConsistency(stored, cp.size, input.proof, fromHex(state!.root), cp.rootHash);
        } catch (err) {
          if (!isVerificationError(err)) throw err;
          const firstHash = log2Exact(stored) ? await this.#claimedRoot(opened.pinned, opened.log, stored) : undefined;
          const ev = detectSplitView(storedSeen!, seen, { hashes: input.proof, ...(firstHash ? { firstHash } : {}) });
          if (ev) throw await this.#evidence({ ...ev, first: { ...ev.first, cosignature: state!.cosignature } }, 'origin');
          throw this.#refuse('FAILED_PRECONDITION', 'INCONSISTENT', `checkpoint of ${origin} at size ${cp.size} is not proved consistent with size ${stored}: ${err.message}`);
        }
      }
      const line = await this.#cosign(origin, seen, keyIndex, input.keyChain);
      this.#o.hooks?.cosigned?.(origin);
      void this.#recheckPending(origin);
      return [line];
    });
  }

  async #cosign(origin: string, seen: SeenCheckpoint, keyIndex: number, keyChain: readonly KeyLink[]): Promise<string> {
    const time = Math.floor((this.#o.now?.() ?? Date.now() / 1000));
    const line = cosignLine(parseNote(seen.note).text, time, this.key, (m) => this.#o.key.sign(m));
    const s: WitnessedState = { origin, note: seen.note, size: seen.checkpoint.size, root: toHex(seen.checkpoint.rootHash), cosignature: line, keyIndex, time, keyChain: keyChain.map(keyLinkToJson) };
    // tlog-witness: "The witness MUST persist the new checkpoint before responding."
    await this.#o.store.putWitnessed(s);
    await this.noteCosignatures(seen.note, [line], this.name);
    return line;
  }

  #stateSeen(s: WitnessedState): SeenCheckpoint {
    return { note: s.note, checkpoint: parseCheckpoint(parseNote(s.note).text), cosignature: s.cosignature };
  }

  /** The root the origin claims at `size` (signed or not): what a power-of-two consistency proof leaves out. */
  async #claimedRoot(pinned: PinnedOrigin, log: string, size: number): Promise<Uint8Array | undefined> {
    if (!pinned.client) return undefined;
    try {
      const c = await pinned.client();
      const cp = await withTimeout(c.getCheckpoint(log, size), ORIGIN_QUERY_MS);
      return cp.size === size ? cp.rootHash : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Keeps cosignatures of another origin's checkpoint so that the node can
   * serve its mirror of that log with them (GetCheckpoint min_cosignatures
   * with origin). Called with the node's own cosignatures, those other
   * witnesses relay, and those a mirror receives with the checkpoints it
   * accepts. The lines are not checked here: verifiers check them against
   * the witness keys they pinned and do not count one that fails.
   * @param by who vouches for the lines (a witness's name; one line each)
   */
  async noteCosignatures(note: string, lines: readonly string[], by: string): Promise<void> {
    let cp: Checkpoint;
    let text: string;
    try {
      text = parseNote(note).text;
      cp = parseCheckpoint(text);
    } catch {
      return;
    }
    for (const [i, line] of lines.slice(0, 100).entries()) {
      if (typeof line !== 'string' || line.length > 1024) continue;
      await this.#o.store.addForeignCosignature(cp.origin, cp.size, note, text, lines.length > 1 ? `${by}#${i}` : by, line);
    }
  }

  /** The latest checkpoint of another origin's log with at least `min` cosignatures gathered (for a mirror to serve). */
  async foreignCosigned(origin: string, log: string, min: number): Promise<{ size: number; note: string; lines: string[] } | undefined> {
    return this.#o.store.latestForeign(`${origin}/${log}`, min);
  }

  /** What this witness last cosigned, per origin (ListWitnessed, and the exchange). */
  async witnessed(): Promise<{ witnessName: string; checkpoints: Array<{ origin: string; checkpoint: string; cosignature: string; keyChain: KeyLink[] }>; equivocations: string[] }> {
    const all = await this.#o.store.allWitnessed();
    const caught = await this.#o.store.allEquivocations();
    return {
      witnessName: this.name,
      // Rollback evidence rests on this witness's word about order: only what anyone can check is shared.
      equivocations: caught.filter((r) => r.evidence.kind !== 'rollback').map((r) => JSON.stringify(r.evidence)),
      checkpoints: all.map((s) => ({ origin: s.origin, checkpoint: s.note, cosignature: s.cosignature, keyChain: parseKeyLinks(s.keyChain ?? []) })),
    };
  }

  /**
   * A checkpoint another witness (`from`) says it cosigned. Compared with
   * ours (and with what other witnesses relayed): same size and another
   * root is a fork; a smaller one is checked against ours with a proof from
   * the origin; a larger one waits until ours catches up. Relayed data that
   * does not verify under the origin's key is ignored: it proves nothing
   * about the origin.
   */
  async considerRelayed(from: string, r: ClientWitnessed): Promise<void> {
    let opened;
    try {
      opened = this.#open(r.checkpoint, r.keyChain);
    } catch {
      return;
    }
    const origin = opened.seen.checkpoint.origin;
    if (origin !== r.origin) return;
    const relayed: SeenCheckpoint = { ...opened.seen, cosignature: r.cosignature };
    await this.noteCosignatures(r.checkpoint, [r.cosignature], from);
    await this.#locked(origin, async () => {
      if (await this.#o.sink.blocked(origin)) return;
      // Relayed against relayed: a fork needs no proof.
      const others = this.#pending.get(origin) ?? new Map<string, SeenCheckpoint>();
      for (const [peer, other] of others) {
        if (peer === from || other.checkpoint.size !== relayed.checkpoint.size) continue;
        const ev = detectSplitView(other, relayed);
        if (ev) return void (await this.#o.sink.record(ev, `${peer},${from}`));
      }
      others.set(from, relayed);
      this.#pending.set(origin, others);
      const state = await this.#o.store.witnessed(origin);
      if (state) await this.#judge(origin, opened.pinned, opened.log, this.#stateSeen(state), relayed, from);
    });
  }

  /**
   * Split-view evidence another witness caught: checked again from the
   * origin's pinned key (and the key chain it submitted to us, if any), and
   * if it holds, recorded here too: this witness then refuses the origin as
   * well. Evidence that does not hold is ignored.
   */
  async considerEvidence(from: string, json: string): Promise<void> {
    let ev: SplitViewEvidence;
    try {
      ev = JSON.parse(json) as SplitViewEvidence;
    } catch {
      return;
    }
    if (typeof ev !== 'object' || ev === null || (ev.kind !== 'fork' && ev.kind !== 'inconsistent') || typeof ev.origin !== 'string') return;
    const slash = ev.origin.lastIndexOf('/');
    const pinned = this.#o.origins.get(ev.origin.slice(0, slash));
    if (!pinned || ev.log !== ev.origin.slice(slash + 1) || (await this.#o.sink.blocked(ev.origin))) return;
    const state = await this.#o.store.witnessed(ev.origin);
    try {
      const keys = followKeyChain(pinned.publicKey, parseKeyLinks(state?.keyChain ?? []));
      checkSplitViewEvidence(ev, keys, pinned.name);
    } catch {
      return;
    }
    await this.#locked(ev.origin, () => this.#o.sink.record(ev, from));
  }

  /** Our cosigned checkpoint against a relayed one; records a conclusive conflict. */
  async #judge(origin: string, pinned: PinnedOrigin, log: string, ours: SeenCheckpoint, relayed: SeenCheckpoint, from: string): Promise<void> {
    const rs = relayed.checkpoint.size;
    const os = ours.checkpoint.size;
    if (rs === os) {
      const ev = detectSplitView(ours, relayed);
      if (ev) await this.#o.sink.record(ev, from);
      return;
    }
    if (rs > os || rs === 0 || !pinned.client) return; // judged once ours catches up
    let proof: { hashes: Uint8Array[]; firstHash?: Uint8Array };
    try {
      const c = await pinned.client();
      const p = await withTimeout(c.consistencyProof(log, rs, os), ORIGIN_QUERY_MS);
      proof = { hashes: p.hashes };
      if (log2Exact(rs)) {
        const at = await this.#claimedRoot(pinned, log, rs);
        if (at) proof.firstHash = at;
      }
    } catch {
      return; // origin unreachable: tried again at the next exchange
    }
    const ev = detectSplitView(relayed, ours, proof);
    if (ev) await this.#o.sink.record(ev, from);
  }

  /** After ours grew, the relayed checkpoints that were larger may now be judged. */
  async #recheckPending(origin: string): Promise<void> {
    const others = this.#pending.get(origin);
    if (!others || others.size === 0) return;
    try {
      await this.#locked(origin, async () => {
        if (await this.#o.sink.blocked(origin)) return;
        const state = await this.#o.store.witnessed(origin);
        if (!state) return;
        const ours = this.#stateSeen(state);
        const slash = origin.lastIndexOf('/');
        const pinned = this.#o.origins.get(origin.slice(0, slash));
        if (!pinned) return;
        for (const [from, relayed] of others) {
          if (relayed.checkpoint.size > ours.checkpoint.size) continue;
          await this.#judge(origin, pinned, origin.slice(slash + 1), ours, relayed, from);
          if (await this.#o.sink.blocked(origin)) return;
        }
      });
    } catch (err) {
      this.#o.logger.warn('relayed checkpoints not re-checked', { origin, err: (err as Error).message });
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new CairnError('DEADLINE_EXCEEDED', `no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
