/**
 * A node's part in a federation (docs/federation.md): for each peer it
 * follows, exchange version vectors (the peer's GetFederationStatus, polled)
 * and keep a verified mirror of every (origin, log) the peer holds and lets
 * it read, for every origin whose key this node pinned (a `peers` entry).
 * Mirrors of mirrors follow from this: a peer's vector lists the mirrors it
 * holds too, so in a ring every node ends up with every log.
 *
 * Faults: each peer and each mirrored log retries on its own with jittered
 * exponential backoff ("full jitter"), never a busy loop; a peer whose
 * served name or key chain does not match what is pinned is refused with an
 * error naming it; a batch that does not verify is refused whole and
 * retried later; a split view stops that log for good, keeps the evidence
 * (storage, status, metrics) and calls `onConflict`.
 */
import { CairnError, isVerificationError } from '../core/errors.js';
import { followKeyChain } from '../core/key-chain.js';
import { bytesEqual, toHex } from '../core/bytes.js';
import { openLogCheckpointWithKeys } from '../core/log-verifier.js';
import type { Logger } from '../core/logger.js';
import { vectorKey, type Equivocation, type FederationStatus, type PeerStatus, type VectorEntry } from '../core/federation.js';
import type { LedgerClient } from '../client/ledger-client.js';
import type { Ledger } from '../ledger/ledger.js';
import type { MirrorLogs } from '../ledger/mirror-logs.js';
import type { MirrorStore } from '../storage/mirror-store.js';
import { connectPeer, type PeerConfig } from './peers.js';
import { LogMirror, MirrorConflict, MirrorRejected } from './mirror.js';
import { SignaturePool } from '../client/signature-pool.js';

export interface FederationHooks {
  /** A verified batch was stored. */
  stored?(origin: string, entries: number): void;
  /** A peer's batch did not verify and was refused. */
  rejected?(peer: string, origin: string): void;
}

export interface FederationOptions {
  nodeName: string;
  peers: readonly PeerConfig[];
  /** Every pinned origin key, by origin name. */
  peerKeys: ReadonlyMap<string, Uint8Array>;
  ledger: Ledger;
  mirrors: MirrorLogs;
  store: MirrorStore;
  logger: Logger;
  /** How often each followed peer's vector is read. */
  pollMs: number;
  /** Entries per verified batch at most. */
  maxBatch: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  hooks?: FederationHooks;
  /**
   * Where the witnesses' cosignatures of a mirrored checkpoint go (Witness.noteCosignatures; node.ts wires it):
   * those served with a checkpoint the mirror accepts, and those re-read for it afterwards.
   */
  noteCosignatures?(note: string, lines: readonly string[], by: string): Promise<void>;
  /** Called once per caught split view, after its evidence is stored (status shows it from then on); node.ts wires it. */
  onConflict?(e: Equivocation): void | Promise<void>;
}

interface PeerState {
  reachable: boolean;
  lastError: string;
  lastContactMs: number;
  vector: VectorEntry[];
  /** When this node first saw itself behind the peer's size, per (origin, log). */
  behindSince: Map<string, number>;
  cosignaturesGiven: number;
  cosignaturesReceived: number;
}

interface Follower {
  peer: string;
  stop: AbortController;
  done: Promise<void>;
  /** Ends the current run only (the follower starts a new one): a stream that stalled. */
  restart?: AbortController;
  /** The position last seen moving, and when. */
  seen: { size: number; at: number };
  /** Re-reading the cosignatures of the latest accepted checkpoint: its note, how many lines the peer gave for it, when one last was new. */
  cosigned: { note: string; fromPeer: number; newAt: number };
  rereading?: Promise<void>;
}

/** A mirror behind its peer that has not moved for this long is restarted (a stream that stalled without failing). */
const STALL_MS = 30_000;

/**
 * How long a mirror keeps re-reading its peer's cosignatures of its latest
 * accepted checkpoint after the last new one arrived (docs/federation.md,
 * "Cosignatures of mirrored logs").
 */
export const COSIGNATURE_REREAD_MS = 60_000;

/** Delay before retry `attempt`: uniform in [0, min(max, base * 2^attempt)] (full jitter). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.floor(Math.random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30)));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function message(err: unknown): string {
  const e = err as { details?: string; message?: string };
  return String(e?.details || e?.message || err).slice(0, 500);
}

export class Federation {
  readonly #o: FederationOptions;
  readonly #abort = new AbortController();
  readonly #states = new Map<string, PeerState>();
  readonly #clients = new Map<string, LedgerClient>();
  readonly #followers = new Map<string, Follower>();
  readonly #loops: Promise<void>[] = [];
  readonly #stopped = new Set<string>();
  readonly #equivocations: Equivocation[] = [];
  /** Signature checks of every mirrored log, on worker threads; started with the first follower. */
  #signatures: SignaturePool | undefined;

  private constructor(o: FederationOptions) {
    this.#o = o;
    for (const p of o.peers) this.#states.set(p.name, { reachable: false, lastError: '', lastContactMs: 0, vector: [], behindSince: new Map(), cosignaturesGiven: 0, cosignaturesReceived: 0 });
  }

  /** Loads the split views caught before (those logs stay stopped). */
  static async open(o: FederationOptions): Promise<Federation> {
    const f = new Federation(o);
    for (const c of await o.store.listConflicts()) {
      f.#stopped.add(vectorKey(c.origin, c.log));
      f.#equivocations.push(c.evidence as Equivocation);
    }
    return f;
  }

  /** Starts following every peer with `follow`. */
  start(): void {
    for (const p of this.#o.peers) if (p.follow && p.endpoint) this.#loops.push(this.#peerLoop(p));
  }

  /** Counts a cosignature given to / received from a peer (the witnessing side calls it). */
  countCosignature(peer: string, kind: 'given' | 'received'): void {
    const st = this.#states.get(peer);
    if (!st) return;
    if (kind === 'given') st.cosignaturesGiven++;
    else st.cosignaturesReceived++;
  }

  /** Whether a split view stopped this (origin, log). */
  stopped(origin: string, log: string): boolean {
    return this.#stopped.has(vectorKey(origin, log));
  }

  async status(canRead: (log: string) => boolean = () => true): Promise<FederationStatus> {
    const { nodeName, ledger, mirrors } = this.#o;
    const own: VectorEntry[] = (await ledger.listLogs()).filter((c) => canRead(c.log)).map((c) => ({ origin: nodeName, log: c.log, size: c.size, rootHash: c.rootHash, note: c.note, acceptedAtMs: 0 }));
    const vector = [...own, ...mirrors.vector().filter((v) => canRead(v.log))];
    const local = new Map(vector.map((v) => [vectorKey(v.origin, v.log), v.size]));
    const now = Date.now();
    const peers: PeerStatus[] = this.#o.peers.map((p) => {
      const st = this.#states.get(p.name)!;
      return {
        name: p.name,
        endpoint: p.endpoint,
        follow: p.follow,
        witness: p.witness,
        reachable: st.reachable,
        lastError: st.lastError,
        lastContactMs: st.lastContactMs,
        logs: st.vector
          .filter((v) => canRead(v.log))
          .map((v) => {
            const k = vectorKey(v.origin, v.log);
            const here = local.get(k) ?? 0;
            const since = st.behindSince.get(k);
            return { origin: v.origin, log: v.log, peerSize: v.size, localSize: here, lagEntries: Math.max(0, v.size - here), lagSeconds: here < v.size && since !== undefined ? (now - since) / 1000 : 0 };
          }),
        cosignaturesGiven: st.cosignaturesGiven,
        cosignaturesReceived: st.cosignaturesReceived,
      };
    });
    return { nodeName, vector, peers, equivocations: this.#equivocations.filter((e) => canRead(e.log)) };
  }

  /** Stops every follower and closes the peers' connections. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
    await Promise.all([...this.#followers.values()].map((f) => f.done));
    for (const c of this.#clients.values()) c.close();
    await this.#signatures?.close();
  }

  /** One peer: check who it is, read its vector, follow what it holds; poll again, or back off after a failure. */
  async #peerLoop(peer: PeerConfig): Promise<void> {
    const signal = this.#abort.signal;
    const st = this.#states.get(peer.name)!;
    const log = this.#o.logger.child({ peer: peer.name });
    let attempt = 0;
    let lastLogged = '';
    // Checked on first contact and again after any failure (the peer may have restarted with another key).
    let identified = false;
    while (!signal.aborted) {
      try {
        let client = this.#clients.get(peer.name);
        if (!client) {
          client = await connectPeer(peer, { timeoutMs: 10_000 });
          this.#clients.set(peer.name, client);
        }
        if (!identified) await this.#checkIdentity(peer, client);
        identified = true;
        const status = await client.federationStatus();
        st.reachable = true;
        st.lastError = '';
        st.lastContactMs = Date.now();
        st.vector = status.vector;
        if (lastLogged) log.info('peer reachable again');
        lastLogged = '';
        attempt = 0;
        for (const v of status.vector) await this.#consider(peer, client, v, st);
        await sleep(this.#o.pollMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        identified = false;
        st.reachable = false;
        st.lastError = message(err);
        // Said once per distinct failure, not once per retry.
        if (st.lastError !== lastLogged) log.warn('peer failed; retrying with backoff', { reason: st.lastError });
        lastLogged = st.lastError;
        await sleep(backoffDelay(attempt++, this.#o.backoffBaseMs, this.#o.backoffMaxMs), signal);
      }
    }
  }

  /**
   * The peer must sign as its configured name, and its key chain must
   * follow from the key pinned for it (docs/format.md, section 8); the
   * verified chain is kept, to serve and to open the peer's checkpoints.
   * @throws CairnError FAILED_PRECONDITION naming the peer and what differs
   */
  async #checkIdentity(peer: PeerConfig, client: LedgerClient): Promise<void> {
    const pk = await client.publicKey();
    if (pk.nodeName !== peer.name) {
      throw new CairnError('FAILED_PRECONDITION', `peer ${peer.name} at ${peer.endpoint} signs its checkpoints as "${pk.nodeName}"; a peer's name must be its node_name`);
    }
    let keys: Uint8Array[];
    try {
      keys = followKeyChain(this.#o.peerKeys.get(peer.name)!, pk.keyChain);
    } catch (err) {
      if (!isVerificationError(err)) throw err;
      throw new CairnError('FAILED_PRECONDITION', `peer ${peer.name}: its key chain does not follow from the key pinned in public_key_file (${err.code}: ${err.message}); refused`, { cause: err });
    }
    if (!bytesEqual(keys[keys.length - 1]!, pk.spki)) {
      throw new CairnError('FAILED_PRECONDITION', `peer ${peer.name}: its key chain does not lead to the key it signs with; refused`);
    }
    await this.#o.mirrors.setOriginKeyChain(peer.name, pk.keyChain);
  }

  /** Starts mirroring (origin, log) from this peer unless it is ours, not pinned, stopped, or already followed. */
  async #consider(peer: PeerConfig, client: LedgerClient, v: VectorEntry, st: PeerState): Promise<void> {
    const k = vectorKey(v.origin, v.log);
    const here = v.origin === this.#o.nodeName ? undefined : this.#o.mirrors.head(v.origin, v.log)?.checkpoint.size ?? 0;
    if (here !== undefined && here < v.size) {
      if (!st.behindSince.has(k)) st.behindSince.set(k, Date.now());
    } else st.behindSince.delete(k);
    const pinned = this.#o.peerKeys.get(v.origin);
    if (v.origin === this.#o.nodeName || !pinned || this.#stopped.has(k)) return;
    if (await this.#contradicts(peer, v, pinned)) return;
    const running = this.#followers.get(k);
    if (running) {
      const size = this.#o.mirrors.head(v.origin, v.log)?.size ?? 0;
      if (size !== running.seen.size || size >= v.size) running.seen = { size, at: Date.now() };
      else if (Date.now() - running.seen.at > STALL_MS) {
        this.#o.logger.warn('mirror made no progress while behind its peer; restarting its stream', { peer: running.peer, origin: v.origin, log: v.log, size, peerSize: v.size });
        running.seen = { size, at: Date.now() };
        running.restart?.abort();
      }
      this.#rereadCosignatures(running, client, v);
      return;
    }
    if (v.origin !== peer.name && this.#o.mirrors.originKeyChain(v.origin).length === 0) {
      // A relayed origin's key chain comes through the relay, verified from our own pin.
      const pk = await client.withOrigin(v.origin).publicKey().catch(() => undefined);
      if (pk && pk.keyChain.length > 0) {
        try {
          followKeyChain(pinned, pk.keyChain);
          await this.#o.mirrors.setOriginKeyChain(v.origin, pk.keyChain);
        } catch (err) {
          this.#o.logger.warn('a relayed key chain does not follow from the pinned key; ignored', { peer: peer.name, origin: v.origin, reason: message(err) });
        }
      }
    }
    const f: Follower = { peer: peer.name, stop: new AbortController(), done: Promise.resolve(), seen: { size: 0, at: Date.now() }, cosigned: { note: '', fromPeer: 0, newAt: 0 } };
    this.#followers.set(k, f);
    f.done = this.#follow(f, client, v.origin, v.log, pinned);
  }

  /**
   * Compares a checkpoint a peer's vector shows with the one accepted here:
   * signed by the origin, the same size with another root is a fork; a
   * smaller tree shown by the origin itself is a rollback (a relay that
   * shows a smaller one may just be behind). Records the conflict and stops
   * the log's mirror; true when it did.
   */
  async #contradicts(peer: PeerConfig, v: VectorEntry, pinned: Uint8Array): Promise<boolean> {
    const acc = this.#o.mirrors.head(v.origin, v.log)?.checkpoint;
    if (!acc || acc.note === '' || v.note === acc.note) return false;
    let cp;
    try {
      cp = openLogCheckpointWithKeys(v.note, v.log, followKeyChain(pinned, this.#o.mirrors.originKeyChain(v.origin)), v.origin).checkpoint;
    } catch {
      // Not signed by a key known here (yet): the mirror checks it when it gets there.
      return false;
    }
    let kind: Equivocation['kind'] | undefined;
    let reason = '';
    if (cp.size === acc.size && !bytesEqual(cp.rootHash, acc.rootHash)) {
      kind = 'fork';
      reason = `two signed roots at size ${cp.size}: ${toHex(acc.rootHash)} accepted, ${toHex(cp.rootHash)} in the vector of peer ${peer.name}`;
    } else if (cp.size < acc.size && peer.name === v.origin) {
      kind = 'rollback';
      reason = `the origin now shows ${cp.size} entries, fewer than the ${acc.size} accepted before`;
    }
    if (!kind) return false;
    await this.#recordConflict({ origin: v.origin, log: v.log, kind, reason, acceptedNote: acc.note, conflictingNote: v.note, peer: peer.name, atMs: Date.now() });
    return true;
  }

  async #follow(f: Follower, client: LedgerClient, origin: string, logName: string, pinned: Uint8Array): Promise<void> {
    const peerName = f.peer;
    const signal = AbortSignal.any([this.#abort.signal, f.stop.signal]);
    const log = this.#o.logger.child({ peer: peerName, origin, log: logName });
    const source = origin === peerName ? client : client.withOrigin(origin);
    let attempt = 0;
    try {
      while (!signal.aborted) {
        const m = new LogMirror(peerName, source, this.#o.mirrors, origin, logName, pinned, {
          maxBatch: this.#o.maxBatch,
          signatures: (this.#signatures ??= new SignaturePool('mirrors', undefined)),
          stored: (n) => this.#o.hooks?.stored?.(origin, n),
          accepted: (note, lines) => this.#noteCosignatures(note, lines, peerName),
        });
        const before = m.size;
        f.restart = new AbortController();
        try {
          await m.run(AbortSignal.any([signal, f.restart.signal]));
          if (signal.aborted) return;
          continue;
        } catch (err) {
          if (signal.aborted) return;
          if (err instanceof MirrorConflict) {
            await this.#recordConflict(err.evidence);
            return;
          }
          if (err instanceof MirrorRejected) {
            log.error('refused a batch that does not verify', { seq: err.seq, code: err.code, reason: err.message });
            this.#o.hooks?.rejected?.(peerName, origin);
          } else {
            log.debug('mirror interrupted; resuming with backoff', { reason: message(err) });
          }
          if (m.size > before) attempt = 0;
          await sleep(backoffDelay(attempt++, this.#o.backoffBaseMs, this.#o.backoffMaxMs), signal);
        }
      }
    } finally {
      this.#followers.delete(vectorKey(origin, logName));
    }
  }

  /** Hands cosignature lines on (not awaited by the mirror: they are gathered again if lost). */
  #noteCosignatures(note: string, lines: readonly string[], peer: string): void {
    if (lines.length === 0 || !this.#o.noteCosignatures) return;
    this.#o.noteCosignatures(note, lines, `mirror:${peer}`).catch((err: unknown) => this.#o.logger.warn('cosignatures of a mirrored checkpoint not kept', { peer, reason: message(err) }));
  }

  /**
   * The witnesses cosign a checkpoint after the origin made it, so the one
   * a mirror accepted last may reach it before its cosignatures do. While
   * the mirror holds the peer's latest checkpoint, it asks the peer (at each
   * vector poll, one call at a time) for that checkpoint with more
   * cosignatures than the peer gave so far (GetCheckpoint
   * min_cosignatures: the origin's own, or those a relay gathered), until
   * none is new for COSIGNATURE_REREAD_MS. Each hop of a relay chain does
   * the same, so the lines travel down the chain after the log.
   */
  #rereadCosignatures(f: Follower, client: LedgerClient, v: VectorEntry): void {
    const head = this.#o.mirrors.head(v.origin, v.log);
    if (!this.#o.noteCosignatures || f.rereading || !head || head.checkpoint.note === '' || head.checkpoint.note !== v.note) return;
    if (f.cosigned.note !== v.note) f.cosigned = { note: v.note, fromPeer: 0, newAt: Date.now() };
    const c = f.cosigned;
    if (Date.now() - c.newAt > COSIGNATURE_REREAD_MS) return;
    const source = v.origin === f.peer ? client : client.withOrigin(v.origin);
    f.rereading = (async () => {
      try {
        const cp = await source.getCosignedCheckpoint(v.log, c.fromPeer + 1);
        if (cp.note !== c.note || cp.cosignatures.length <= c.fromPeer) return;
        await this.#o.noteCosignatures!(cp.note, cp.cosignatures, `mirror:${f.peer}`);
        c.fromPeer = cp.cosignatures.length;
        c.newAt = Date.now();
      } catch {
        // NOT_FOUND: the peer has no more for it yet (or the call failed): asked again at the next poll.
      } finally {
        f.rereading = undefined;
      }
    })();
  }

  async #recordConflict(e: Equivocation): Promise<void> {
    const k = vectorKey(e.origin, e.log);
    if (this.#stopped.has(k)) return;
    this.#stopped.add(k);
    this.#followers.get(k)?.stop.abort();
    this.#equivocations.push(e);
    await this.#o.store.putConflict(e.origin, e.log, e);
    try {
      await this.#o.onConflict?.(e);
    } catch (err) {
      this.#o.logger.error('the split-view callback failed', { origin: e.origin, log: e.log, reason: message(err) });
    }
  }
}
