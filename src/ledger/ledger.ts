/**
 * The ledger: every log a node hosts, behind one interface that the gRPC
 * service, the sync engine and tests share. Reads only ever see durable
 * groups (a log's size is its latest durable checkpoint's size).
 */
import { CairnError } from '../core/errors.js';
import { validateAppend, type AppendInput, type AppendLimits } from '../core/append-request.js';
import { decodeBody, validateLogName, type SignedEntry } from '../core/entry.js';
import { consistencyProofPlan, inclusionProofPlan, rootPlan } from '../core/merkle.js';
import { LedgerStore } from '../storage/ledger-store.js';
import { LogSequencer, type Receipt, type SequencerHooks, type SignedCheckpoint } from './sequencer.js';
import type { SigningKey } from '../keys/signing-key.js';
import { InlineChainSigner, type ChainSigner } from './chain-signer.js';
import type { KeyLink } from '../core/key-chain.js';
import { rotationEntryFields } from './key-rotation.js';

export type { Receipt, SignedCheckpoint } from './sequencer.js';

export interface LedgerOptions {
  /** Key name on checkpoint signatures and prefix of every log's origin. */
  nodeName: string;
  maxBatch: number;
  maxQueue: number;
  maxLogs: number;
  limits: AppendLimits;
  /**
   * The node's key links, first rotation first, ending at `key` (empty or
   * absent: never rotated). Served by GetPublicKey; a log created while it is
   * non-empty starts with a key-history entry carrying all of it.
   */
  keyChain?: readonly KeyLink[];
  /** requestIds each log keeps in memory (tests; default REMEMBERED_REQUESTS). */
  rememberedRequests?: number;
}

/**
 * Called when an append would create a new log, before anything is written:
 * throws to refuse it (a tenant's log quota, src/server/quotas.ts).
 */
export type AdmitNewLog = (log: string) => void;

/** The logs a listing covers: exact names and name prefixes (`''`: every log). */
export interface LogScope {
  readonly exact: readonly string[];
  readonly prefixes: readonly string[];
}

export interface Proof {
  log: string;
  hashes: Uint8Array[];
  checkpoint: SignedCheckpoint;
}

/**
 * The one answer for a log that is not there. Authorization answers a log the
 * caller may not see with this same error, so the two cannot be told apart.
 */
export function logNotFound(log: string): CairnError {
  return new CairnError('NOT_FOUND', `log ${log} not found`);
}

export class Ledger {
  readonly store: LedgerStore;
  readonly key: SigningKey;
  readonly options: Readonly<LedgerOptions>;
  readonly #hooks: SequencerHooks;
  readonly #chain: ChainSigner;
  readonly #ownsChain: boolean;
  readonly #sequencers = new Map<string, Promise<LogSequencer>>();
  /** Names of the logs in storage, loaded once; max_logs counts these, not the logs opened since start. */
  #stored: Promise<Set<string>> | undefined;
  /**
   * The same names, sorted (UTF-16 order, as `<` compares): the index a
   * listing searches by prefix, so listing one tenant's logs looks at those
   * logs only, whatever number of logs others have.
   */
  #sorted: string[] = [];
  #closed = false;

  /** `chain` signs entries (inline on this thread when omitted); one passed in is not closed here. */
  constructor(store: LedgerStore, key: SigningKey, options: LedgerOptions, hooks: SequencerHooks = {}, chain?: ChainSigner) {
    this.store = store;
    this.key = key;
    this.options = options;
    this.#hooks = hooks;
    this.#chain = chain ?? new InlineChainSigner(key);
    this.#ownsChain = chain === undefined;
  }

  /** The node's key links (see LedgerOptions.keyChain). */
  get keyChain(): readonly KeyLink[] {
    return this.options.keyChain ?? [];
  }

  originOf(log: string): string {
    return `${this.options.nodeName}/${log}`;
  }

  /**
   * @param identity who the server authenticated (EntryBody.identity): the
   *   transport's word, never the client's; empty when authentication is off.
   * @throws CairnError INVALID_ARGUMENT (naming the field), RESOURCE_EXHAUSTED, UNAVAILABLE
   */
  async append(input: AppendInput, identity = '', admitNewLog?: AdmitNewLog): Promise<Receipt> {
    const req = validateAppend(input, this.options.limits);
    req.identity = identity;
    const seq = await this.#sequencer(req.log, true, admitNewLog);
    return seq.append(req);
  }

  /**
   * Appends an entry the node writes for itself (a reserved `cairn.` action,
   * e.g. a witness's split-view evidence), with the node as its identity.
   * The payload is bounded like a client's; the action is the caller's
   * responsibility, which is why clients never reach this.
   * @throws CairnError INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE
   */
  async appendNodeEntry(log: string, fields: { configId: string; action: string; payload: unknown }): Promise<Receipt> {
    // Validated as a client's entry with a placeholder action, so every other field obeys the same rules.
    const req = validateAppend({ log, configId: fields.configId, operator: this.options.nodeName, action: 'node', payloadJson: JSON.stringify(fields.payload) }, this.options.limits);
    req.action = fields.action;
    req.identity = `node:${this.options.nodeName}`;
    const seq = await this.#sequencer(req.log, true);
    return seq.append(req);
  }

  /** @throws CairnError NOT_FOUND for an unknown log */
  async logSequencer(log: string): Promise<LogSequencer> {
    return this.#sequencer(validateLogName(log), false);
  }

  /** The stored log names, loaded once. */
  #names(): Promise<Set<string>> {
    this.#stored ??= this.store.listLogs().then((names) => {
      this.#sorted = [...names].sort();
      return new Set(names);
    });
    return this.#stored;
  }

  async #sequencer(log: string, create: boolean, admitNewLog?: AdmitNewLog): Promise<LogSequencer> {
    if (this.#closed) throw new CairnError('UNAVAILABLE', 'node is shutting down');
    const open = this.#sequencers.get(log);
    if (open) return open;
    const stored = await this.#names();
    if (!stored.has(log)) {
      if (!create) throw logNotFound(log);
      if (stored.size >= this.options.maxLogs) {
        // No count in the message: the caller may be one tenant of many, and the node's total is not its business.
        throw new CairnError('RESOURCE_EXHAUSTED', `the node cannot host more logs (max_logs); log ${log} was not created`);
      }
      admitNewLog?.(log);
      // Counted from now on, so concurrent first appends to other new logs see it.
      stored.add(log);
      this.#sorted.splice(lowerBound(this.#sorted, log), 0, log);
    }
    let p = this.#sequencers.get(log);
    if (!p) {
      p = LogSequencer.open(log, this.store, this.#chain, this.key.noteSigner(this.options.nodeName), {
        maxBatch: this.options.maxBatch,
        maxQueue: this.options.maxQueue,
        origin: this.originOf(log),
        // Every head must be under the current key: rotate-key moved each stored log over with a rotation entry.
        headKeys: [this.key.publicKeySpki],
        ...(this.options.rememberedRequests !== undefined ? { rememberedRequests: this.options.rememberedRequests } : {}),
        ...(this.keyChain.length > 0 ? { genesis: rotationEntryFields(this.keyChain, this.options.nodeName) } : {}),
      }, this.#hooks);
      this.#sequencers.set(log, p);
      p.catch(() => this.#sequencers.delete(log));
    }
    return p;
  }

  /**
   * The latest checkpoint of every log, or of the logs in `scope`. The names
   * come from the in-memory sorted index: each prefix is one binary search
   * and a walk over the names it covers, so the work is proportional to the
   * logs listed, not to every log on the node.
   */
  async listLogs(scope?: LogScope): Promise<SignedCheckpoint[]> {
    const names = await this.logNames(scope);
    return Promise.all(names.map(async (n) => (await this.#sequencer(n, false)).checkpoint));
  }

  /** The names of the stored logs in `scope` (every log without one), sorted. */
  async logNames(scope?: LogScope): Promise<string[]> {
    const stored = await this.#names();
    const sorted = this.#sorted;
    if (scope === undefined) return [...sorted];
    const out = new Set<string>();
    for (const prefix of scope.prefixes) {
      for (let i = lowerBound(sorted, prefix); i < sorted.length && (sorted[i] as string).startsWith(prefix); i++) out.add(sorted[i] as string);
    }
    for (const name of scope.exact) if (stored.has(name)) out.add(name);
    return [...out].sort();
  }

  /**
   * Who created each stored log: the identity recorded in its first entry
   * written for a caller (a key-history entry the node wrote first is
   * skipped). Logs the node itself created (`node:` identities, sync
   * targets) and logs written with authentication off are left out. Reads
   * at most two entries per log, once, at start.
   */
  async logCreators(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const log of await this.logNames()) {
      for (let seq = 0; seq < 2; seq++) {
        const e = await this.store.getEntry(log, seq);
        if (!e) break;
        const identity = decodeBody(e.body).identity;
        if (typeof identity === 'string' && identity.startsWith('node:') && seq === 0) continue;
        if (typeof identity === 'string' && identity !== '' && !identity.startsWith('node:')) out.set(log, identity);
        break;
      }
    }
    return out;
  }

  /** @throws CairnError NOT_FOUND for an unknown log or a seq not yet recorded */
  async getEntry(log: string, seq: number): Promise<SignedEntry> {
    const s = await this.logSequencer(log);
    if (seq >= s.size) throw new CairnError('NOT_FOUND', `log ${log} has no entry ${seq} (size ${s.size})`);
    const e = await this.store.getEntry(log, seq);
    if (!e) throw new CairnError('CORRUPTION', `log ${log}: entry ${seq} is missing below size ${s.size}`);
    return e;
  }

  /** Entries [start, end) in chunks; end is clipped to the current size. */
  async *listEntries(log: string, start: number, end?: number): AsyncGenerator<SignedEntry[]> {
    const s = await this.logSequencer(log);
    const stop = Math.min(end ?? s.size, s.size);
    yield* this.store.readEntries(log, start, stop);
  }

  /**
   * Entries from `start` on, following new groups as they become durable.
   * Lossless at any pace: the follower reads storage by seq, so a slow one
   * falls behind in storage, never in memory, and is never dropped.
   */
  async *follow(log: string, start: number, signal?: AbortSignal): AsyncGenerator<SignedEntry[]> {
    const s = await this.logSequencer(log);
    let next = start;
    while (!signal?.aborted && !this.#closed) {
      const size = s.size;
      // Near the tip: the last groups made durable, from memory; every follower gets the same objects (encoded once, server/wire.ts).
      const recent = next < size ? s.recentFrom(next) : undefined;
      if (recent && recent.length > 0 && recent[recent.length - 1]!.seq + 1 === size) {
        yield recent;
        next = size;
        continue;
      }
      if (next < size) {
        for await (const chunk of this.store.readEntries(log, next, size)) {
          yield chunk;
          next += chunk.length;
          if (signal?.aborted) return;
        }
        continue;
      }
      await s.nextCommit(signal);
    }
  }

  /** The latest checkpoint, or the one stored at exactly `size`. */
  async getCheckpoint(log: string, size?: number): Promise<SignedCheckpoint> {
    const s = await this.logSequencer(log);
    const latest = s.checkpoint;
    if (size === undefined || size === latest.size) return latest;
    if (size > latest.size) throw new CairnError('NOT_FOUND', `log ${log} has size ${latest.size}, less than ${size}`);
    const cp = await this.#checkpointOrUnsigned(log, size, s);
    if (!cp.note) throw new CairnError('NOT_FOUND', `log ${log}: no checkpoint was issued at size ${size}`);
    return cp;
  }

  /**
   * Inclusion proof of `seq` against the latest checkpoint, or against tree size `size`.
   * @throws CairnError INVALID_ARGUMENT when seq >= size; NOT_FOUND beyond the log
   */
  async inclusionProof(log: string, seq: number, size?: number): Promise<Proof & { seq: number; size: number }> {
    const s = await this.logSequencer(log);
    const checkpoint = size === undefined ? s.checkpoint : await this.#checkpointOrUnsigned(log, size, s);
    const n = checkpoint.size;
    if (seq >= n) throw new CairnError('INVALID_ARGUMENT', `seq: ${seq} is not below tree size ${n}`, { field: 'seq' });
    const plan = inclusionProofPlan(seq, n);
    return { log, seq, size: n, hashes: plan.finish(await this.store.getNodes(log, plan.nodes)), checkpoint };
  }

  /** @throws CairnError INVALID_ARGUMENT unless 0 < from <= to <= size */
  async consistencyProof(log: string, from: number, to?: number): Promise<Proof & { from: number; to: number }> {
    const s = await this.logSequencer(log);
    const checkpoint = to === undefined ? s.checkpoint : await this.#checkpointOrUnsigned(log, to, s, 'to_size');
    const n = checkpoint.size;
    if (from < 1 || from > n) throw new CairnError('INVALID_ARGUMENT', `from_size: must be in [1, ${n}]`, { field: 'from_size' });
    const plan = consistencyProofPlan(from, n);
    return { log, from, to: n, hashes: plan.finish(await this.store.getNodes(log, plan.nodes)), checkpoint };
  }

  /**
   * The checkpoint at a past size. Groups are signed at their end only, so a
   * size inside a group has no signed checkpoint: the proof is still valid
   * and the caller checks it against a root it already trusts.
   */
  async #checkpointOrUnsigned(log: string, size: number, s: LogSequencer, field = 'size'): Promise<SignedCheckpoint> {
    // `field`: the request field that carried `size` (to_size in GetConsistencyProof), named in the rejection.
    if (size > s.size) throw new CairnError('INVALID_ARGUMENT', `${field}: ${size} is beyond the log's size ${s.size}`, { field });
    if (size === s.size) return s.checkpoint;
    const cp = await this.store.getCheckpoint(log, size);
    const plan = rootPlan(size);
    const rootHash = plan.finish(await this.store.getNodes(log, plan.nodes));
    return { log, size, rootHash, note: cp?.note ?? '' };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = await Promise.allSettled(this.#sequencers.values());
    for (const r of all) if (r.status === 'fulfilled') await r.value.close();
    if (this.#ownsChain) await this.#chain.close();
  }
}

/** The first index of `sorted` whose name is >= `name`. */
function lowerBound(sorted: readonly string[], name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
