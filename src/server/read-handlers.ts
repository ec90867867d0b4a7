/**
 * Reading logs: entries, checkpoints, proofs and the list of logs. A log the
 * caller may not read is answered exactly like a log that does not exist.
 *
 * Every read takes an optional `origin` (docs/federation.md): empty or the
 * node's own name reads its own log; another origin reads the node's
 * verified mirror of that origin's log. The policy's read rules apply to a
 * mirrored log by its log name, as to the node's own logs.
 */
import { u64, type WireCheckpoint, type WireConsistencyProof, type WireEntry, type WireInclusionProof } from '../api/proto.js';
import { CairnError, invalidArgument } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import { logNotFound, type Ledger, type Proof, type SignedCheckpoint } from '../ledger/ledger.js';
import { mirrorNotFound, type MirrorLogs } from '../ledger/mirror-logs.js';
import type { Access, Caller } from './access.js';
import type { CosignatureSource } from './witness-handlers.js';
import { MAX_COSIGNATURES } from '../core/cosignature.js';
import { requestLog, wireCheckpoint, wireConsistencyProof, wireEntry, wireInclusionProof, type Req, type WatchItem } from './wire.js';

/**
 * Attaches the latest checkpoint to the last entry of each group, read once
 * the group is: it covers at least that entry (the node's own log signs a
 * checkpoint per durable group; a mirror serves only up to the checkpoint it
 * accepted), so the follower needs no separate call per group.
 */
async function* withCheckpoints(chunks: AsyncGenerator<SignedEntry[]>, latest: () => Promise<SignedCheckpoint>): AsyncGenerator<WatchItem[]> {
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue;
    const cp = await latest();
    const items: WatchItem[] = chunk.map((entry) => ({ entry }));
    if (cp.note && cp.size >= chunk[chunk.length - 1]!.seq + 1) items[items.length - 1]!.checkpoint = cp;
    yield items;
  }
}

/**
 * A watch never ends on its own: when the ledger stops following (the node is
 * shutting down) the stream must fail with a retryable status, not end with OK
 * as if the log had no more entries.
 */
async function* untilShutdown<T>(entries: AsyncGenerator<T[]>, signal: AbortSignal): AsyncGenerator<T[]> {
  yield* entries;
  if (!signal.aborted) throw new CairnError('UNAVAILABLE', 'node is shutting down; watch again from the next seq');
}

/** 0 on the wire means "the latest". */
function orLatest(n: number): number | undefined {
  return n === 0 ? undefined : n;
}

/** The reads of one origin's logs: the node's own (Ledger) or a mirror (MirrorLogs). */
interface LogSource {
  getEntry(log: string, seq: number): Promise<SignedEntry>;
  listEntries(log: string, start: number, end?: number): AsyncGenerator<SignedEntry[]>;
  follow(log: string, start: number, signal?: AbortSignal): AsyncGenerator<SignedEntry[]>;
  getCheckpoint(log: string, size?: number): Promise<SignedCheckpoint>;
  inclusionProof(log: string, seq: number, size?: number): Promise<Proof & { seq: number; size: number }>;
  consistencyProof(log: string, from: number, to?: number): Promise<Proof & { from: number; to: number }>;
  notFound(log: string): Error;
}

// A C2SP note key name, as node_name (src/node/config.ts).
const ORIGIN_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;

/** The request's `origin`: '' when absent; otherwise a node name. */
export function requestOrigin(req: Req): string {
  const o = req.origin;
  if (o === undefined || o === null || o === '') return '';
  if (typeof o !== 'string' || !ORIGIN_RE.test(o)) throw invalidArgument('origin', 'must be a node name: 1-128 of [A-Za-z0-9._/-]');
  return o;
}

export class ReadHandlers {
  readonly #ledger: Ledger;
  readonly #access: Access;
  readonly #mirrors: MirrorLogs | undefined;
  readonly #cosignatures: CosignatureSource | undefined;

  /**
   * Without `mirrors`, a read naming another origin finds nothing.
   * `cosignatures`: the witnesses' cosignatures this node collected for its
   * own checkpoints, served with them.
   */
  constructor(ledger: Ledger, access: Access, mirrors?: MirrorLogs, cosignatures?: CosignatureSource) {
    this.#ledger = ledger;
    this.#access = access;
    this.#mirrors = mirrors;
    this.#cosignatures = cosignatures;
  }

  #own(req: Req): boolean {
    const origin = requestOrigin(req);
    return origin === '' || origin === this.#ledger.options.nodeName;
  }

  /**
   * A mirrored log's latest checkpoint with `min` cosignatures gathered here,
   * served only up to what the mirror holds (its entries and proofs must
   * reach that size).
   */
  async #foreignCosigned(origin: string, log: string, min: number, src: LogSource): Promise<WireCheckpoint> {
    const got = await this.#cosignatures?.foreignCosigned?.(origin, log, min);
    const held = await src.getCheckpoint(log);
    if (!got || got.size > held.size) throw new CairnError('NOT_FOUND', `no checkpoint of ${origin}/${log} with ${min} cosignatures is held here yet`);
    const at = await src.getCheckpoint(log, got.size).catch(() => undefined);
    return { log, size: String(got.size), rootHash: at?.rootHash ?? new Uint8Array(0), note: got.note, cosignatures: got.lines };
  }

  /** One of the node's own checkpoints on the wire, with the cosignatures collected for it. */
  async #cosigned(c: SignedCheckpoint): Promise<WireCheckpoint> {
    const w = wireCheckpoint(c);
    if (this.#cosignatures && c.note) w.cosignatures = await this.#cosignatures.cosignatures(c.log, c.size);
    return w;
  }

  async getEntry(req: Req, caller: Caller): Promise<WireEntry> {
    const log = requestLog(req);
    const seq = u64('seq', req.seq);
    const src = this.#source(req);
    return wireEntry(await src.getEntry(this.#readable(caller, log, src), seq));
  }

  listEntries(req: Req, _signal: AbortSignal, caller: Caller): AsyncGenerator<SignedEntry[]> {
    const log = requestLog(req);
    const start = u64('start', req.start);
    const end = u64('end', req.end);
    if (end !== 0 && end < start) throw invalidArgument('end', 'must be 0 or at least start');
    const src = this.#source(req);
    return src.listEntries(this.#readable(caller, log, src), start, orLatest(end));
  }

  watch(req: Req, signal: AbortSignal, caller: Caller): AsyncGenerator<WatchItem[]> {
    const log = requestLog(req);
    const start = u64('start', req.start);
    const src = this.#source(req);
    const readable = this.#readable(caller, log, src);
    return untilShutdown(withCheckpoints(src.follow(readable, start, signal), () => src.getCheckpoint(readable)), signal);
  }

  async getCheckpoint(req: Req, caller: Caller): Promise<WireCheckpoint> {
    const log = requestLog(req);
    const size = u64('size', req.size);
    const min = u64('min_cosignatures', req.minCosignatures);
    if (min > MAX_COSIGNATURES) throw invalidArgument('min_cosignatures', `must be at most ${MAX_COSIGNATURES}`);
    const src = this.#source(req);
    const own = this.#own(req);
    if (min > 0) {
      if (size !== 0) throw invalidArgument('min_cosignatures', 'asks for the latest cosigned checkpoint: give size 0');
      const readable = this.#readable(caller, log, src);
      if (!own) return this.#foreignCosigned(requestOrigin(req), readable, min, src);
      const at = await this.#cosignatures?.latestCosigned(readable, min);
      if (at === undefined) throw new CairnError('NOT_FOUND', `log ${log} has no checkpoint with ${min} cosignatures yet`);
      return this.#cosigned(await this.#ledger.getCheckpoint(readable, at));
    }
    const cp = await src.getCheckpoint(this.#readable(caller, log, src), orLatest(size));
    return own ? this.#cosigned(cp) : wireCheckpoint(cp);
  }

  async getInclusionProof(req: Req, caller: Caller): Promise<WireInclusionProof> {
    const log = requestLog(req);
    const seq = u64('seq', req.seq);
    const size = u64('size', req.size);
    const src = this.#source(req);
    const p = await src.inclusionProof(this.#readable(caller, log, src), seq, orLatest(size));
    return this.#own(req) ? { ...wireInclusionProof(p), checkpoint: await this.#cosigned(p.checkpoint) } : wireInclusionProof(p);
  }

  async getConsistencyProof(req: Req, caller: Caller): Promise<WireConsistencyProof> {
    const log = requestLog(req);
    const from = u64('from_size', req.fromSize);
    const to = u64('to_size', req.toSize);
    const src = this.#source(req);
    const p = await src.consistencyProof(this.#readable(caller, log, src), from, orLatest(to));
    return this.#own(req) ? { ...wireConsistencyProof(p), checkpoint: await this.#cosigned(p.checkpoint) } : wireConsistencyProof(p);
  }

  /** Where a request's log lives: the node's own logs, or its mirror of the named origin. */
  #source(req: Req): LogSource {
    const origin = requestOrigin(req);
    const ledger = this.#ledger;
    if (origin === '' || origin === ledger.options.nodeName) {
      return {
        getEntry: (l, s) => ledger.getEntry(l, s),
        listEntries: (l, a, b) => ledger.listEntries(l, a, b),
        follow: (l, s, sig) => ledger.follow(l, s, sig),
        getCheckpoint: (l, s) => ledger.getCheckpoint(l, s),
        inclusionProof: (l, s, n) => ledger.inclusionProof(l, s, n),
        consistencyProof: (l, a, b) => ledger.consistencyProof(l, a, b),
        notFound: logNotFound,
      };
    }
    const m = this.#mirrors;
    const notFound = (l: string): Error => mirrorNotFound(origin, l);
    if (!m) {
      const none = (l: string): never => {
        throw notFound(l);
      };
      return { getEntry: async (l) => none(l), listEntries: (l) => none(l), follow: (l) => none(l), getCheckpoint: async (l) => none(l), inclusionProof: async (l) => none(l), consistencyProof: async (l) => none(l), notFound };
    }
    return {
      getEntry: (l, s) => m.getEntry(origin, l, s),
      listEntries: (l, a, b) => m.listEntries(origin, l, a, b),
      follow: (l, s, sig) => m.follow(origin, l, s, sig),
      getCheckpoint: (l, s) => m.getCheckpoint(origin, l, s),
      inclusionProof: (l, s, n) => m.inclusionProof(origin, l, s, n),
      consistencyProof: (l, a, b) => m.consistencyProof(origin, l, a, b),
      notFound,
    };
  }

  /**
   * The latest checkpoint of every log the caller may read. Only those logs
   * are looked at (the ledger's sorted index, searched by the caller's read
   * patterns): the call's work, and so its time, does not depend on how many
   * logs other tenants have. The filter after it is a second check of the same rule.
   */
  async listLogs(req: Req, caller: Caller): Promise<{ logs: WireCheckpoint[] }> {
    const origin = requestOrigin(req);
    if (origin !== '' && origin !== this.#ledger.options.nodeName) {
      return { logs: (this.#mirrors?.listLogs(origin, (l) => this.#access.canRead(caller, l)) ?? []).map(wireCheckpoint) };
    }
    const all = await this.#ledger.listLogs(this.#access.readScope(caller));
    return { logs: all.filter((c) => this.#access.canRead(caller, c.log)).map(wireCheckpoint) };
  }

  /**
   * Every field is parsed before this is called, so a log the caller may not
   * read fails at the point, and with the error, of a log that does not exist.
   */
  #readable(caller: Caller, log: string, src: LogSource): string {
    if (!this.#access.canRead(caller, log)) throw src.notFound(log);
    return log;
  }
}
