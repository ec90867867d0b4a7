/**
 * Reading logs: entries, checkpoints, proofs and the list of logs. A log the
 * caller may not read is answered exactly like a log that does not exist.
 */
import { u64, type WireCheckpoint, type WireConsistencyProof, type WireEntry, type WireInclusionProof } from '../api/proto.js';
import { CairnError, invalidArgument } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import { logNotFound, type Ledger, type SignedCheckpoint } from '../ledger/ledger.js';
import type { CosignatureSource } from './witness-handlers.js';
import { MAX_COSIGNATURES } from '../core/cosignature.js';
import type { Access, Caller } from './access.js';
import { requestLog, wireCheckpoint, wireConsistencyProof, wireEntry, wireInclusionProof, type Req } from './wire.js';

/**
 * A watch never ends on its own: when the ledger stops following (the node is
 * shutting down) the stream must fail with a retryable status, not end with OK
 * as if the log had no more entries.
 */
async function* untilShutdown(entries: AsyncGenerator<SignedEntry[]>, signal: AbortSignal): AsyncGenerator<SignedEntry[]> {
  yield* entries;
  if (!signal.aborted) throw new CairnError('UNAVAILABLE', 'node is shutting down; watch again from the next seq');
}

/** 0 on the wire means "the latest". */
function orLatest(n: number): number | undefined {
  return n === 0 ? undefined : n;
}

export class ReadHandlers {
  readonly #ledger: Ledger;
  readonly #access: Access;

  readonly #cosignatures: CosignatureSource | undefined;

  /** `cosignatures`: the witnesses' cosignatures this node collected, served with its checkpoints. */
  constructor(ledger: Ledger, access: Access, cosignatures?: CosignatureSource) {
    this.#ledger = ledger;
    this.#access = access;
    this.#cosignatures = cosignatures;
  }

  /** A checkpoint on the wire, with the cosignatures collected for it. */
  async #cosigned(c: SignedCheckpoint): Promise<WireCheckpoint> {
    const w = wireCheckpoint(c);
    if (this.#cosignatures && c.note) w.cosignatures = await this.#cosignatures.cosignatures(c.log, c.size);
    return w;
  }

  async getEntry(req: Req, caller: Caller): Promise<WireEntry> {
    const log = requestLog(req);
    const seq = u64('seq', req.seq);
    return wireEntry(await this.#ledger.getEntry(this.#readable(caller, log), seq));
  }

  listEntries(req: Req, _signal: AbortSignal, caller: Caller): AsyncGenerator<SignedEntry[]> {
    const log = requestLog(req);
    const start = u64('start', req.start);
    const end = u64('end', req.end);
    if (end !== 0 && end < start) throw invalidArgument('end', 'must be 0 or at least start');
    return this.#ledger.listEntries(this.#readable(caller, log), start, orLatest(end));
  }

  watch(req: Req, signal: AbortSignal, caller: Caller): AsyncGenerator<SignedEntry[]> {
    const log = requestLog(req);
    const start = u64('start', req.start);
    return untilShutdown(this.#ledger.follow(this.#readable(caller, log), start, signal), signal);
  }

  async getCheckpoint(req: Req, caller: Caller): Promise<WireCheckpoint> {
    const log = requestLog(req);
    const size = u64('size', req.size);
    const min = u64('min_cosignatures', req.minCosignatures);
    if (min > MAX_COSIGNATURES) throw invalidArgument('min_cosignatures', `must be at most ${MAX_COSIGNATURES}`);
    if (min > 0) {
      if (size !== 0) throw invalidArgument('min_cosignatures', 'asks for the latest cosigned checkpoint: give size 0');
      const readable = this.#readable(caller, log);
      const at = await this.#cosignatures?.latestCosigned(readable, min);
      if (at === undefined) throw new CairnError('NOT_FOUND', `log ${log} has no checkpoint with ${min} cosignatures yet`);
      return this.#cosigned(await this.#ledger.getCheckpoint(readable, at));
    }
    return this.#cosigned(await this.#ledger.getCheckpoint(this.#readable(caller, log), orLatest(size)));
  }

  async getInclusionProof(req: Req, caller: Caller): Promise<WireInclusionProof> {
    const log = requestLog(req);
    const seq = u64('seq', req.seq);
    const size = u64('size', req.size);
    const p = await this.#ledger.inclusionProof(this.#readable(caller, log), seq, orLatest(size));
    return { ...wireInclusionProof(p), checkpoint: await this.#cosigned(p.checkpoint) };
  }

  async getConsistencyProof(req: Req, caller: Caller): Promise<WireConsistencyProof> {
    const log = requestLog(req);
    const from = u64('from_size', req.fromSize);
    const to = u64('to_size', req.toSize);
    const p = await this.#ledger.consistencyProof(this.#readable(caller, log), from, orLatest(to));
    return { ...wireConsistencyProof(p), checkpoint: await this.#cosigned(p.checkpoint) };
  }

  /**
   * The latest checkpoint of every log the caller may read. Only those logs
   * are looked at (the ledger's sorted index, searched by the caller's read
   * patterns): the call's work, and so its time, does not depend on how many
   * logs other tenants have. The filter after it is a second check of the same rule.
   */
  async listLogs(_req: Req, caller: Caller): Promise<{ logs: WireCheckpoint[] }> {
    const all = await this.#ledger.listLogs(this.#access.readScope(caller));
    return { logs: all.filter((c) => this.#access.canRead(caller, c.log)).map(wireCheckpoint) };
  }

  /**
   * Every field is parsed before this is called, so a log the caller may not
   * read fails at the point, and with the error, of a log that does not exist.
   */
  #readable(caller: Caller, log: string): string {
    if (!this.#access.canRead(caller, log)) throw logNotFound(log);
    return log;
  }
}
