/**
 * The origin side of witnessing: after its logs grow, the node submits its
 * latest checkpoint of each grown log to every peer with `witness: true`
 * (C2SP tlog-witness add-checkpoint, as the AddCheckpoint RPC) and keeps the
 * cosignatures they return, which GetCheckpoint, the proofs and bundles then
 * carry.
 *
 * Appends never wait for this: the sequencer's `committed` hook only marks
 * the log as grown ({@link CosignatureCollector.noteCommit}). Each witness
 * has one loop that takes the grown logs and submits the latest checkpoint
 * of each, one call at a time and at most one round per
 * `witness_submit_interval_ms`: what a busy log commits meanwhile coalesces
 * into the next call, so it costs a witness about one call per interval, not
 * one per group commit. A witness that is down or refuses
 * is retried with jittered exponential backoff; a size conflict (the witness
 * cosigned another size than we thought, e.g. after our restart) is answered
 * at once with a proof from the witness's size.
 *
 * Returned cosignatures are checked with the witness's key before they are
 * stored: what the node serves, clients can verify.
 */
import * as grpc from '@grpc/grpc-js';
import { CairnError, isCairnError } from '../core/errors.js';
import { parseNote } from '../core/note.js';
import { parseCosignatureLines, verifyCosignature, witnessKey, type WitnessKey } from '../core/cosignature.js';
import type { Logger } from '../core/logger.js';
import type { Ledger } from '../ledger/ledger.js';
import type { WitnessStore } from '../storage/witness-store.js';
import type { LedgerClient } from '../client/ledger-client.js';

/** A peer asked to witness this node's checkpoints. */
export interface WitnessTarget {
  name: string;
  client: () => Promise<LedgerClient>;
}

export interface CollectorHooks {
  received?(witness: string): void;
  failed?(witness: string): void;
}

export interface CollectorOptions {
  /** Least time between two rounds of submissions to one witness: checkpoints of a busy log coalesce into one call per interval. */
  intervalMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Deadline of one AddCheckpoint call. */
  callTimeoutMs?: number;
}

const jitter = (ms: number): number => ms / 2 + Math.random() * (ms / 2);

/** Per witness: grown logs to submit, and the size we believe it cosigned of each. */
class WitnessLoop {
  readonly target: WitnessTarget;
  readonly dirty = new Set<string>();
  readonly known = new Map<string, number>();
  key: WitnessKey | undefined;
  wake: (() => void) | undefined;
  /** Waiting for a log to grow (not for an interval or a backoff to pass). */
  idle = false;
  failures = 0;

  constructor(target: WitnessTarget) {
    this.target = target;
  }

  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

export class CosignatureCollector {
  readonly #ledger: Ledger;
  readonly #store: WitnessStore;
  readonly #logger: Logger;
  readonly #hooks: CollectorHooks;
  readonly #opts: Required<CollectorOptions>;
  readonly #loops: WitnessLoop[];
  /** One read-modify-write of a (log, size) record at a time. */
  readonly #locks = new Map<string, Promise<unknown>>();
  #closed = false;
  readonly #running: Promise<void>[] = [];

  constructor(ledger: Ledger, store: WitnessStore, witnesses: readonly WitnessTarget[], logger: Logger, hooks: CollectorHooks = {}, opts: CollectorOptions = {}) {
    this.#ledger = ledger;
    this.#store = store;
    this.#logger = logger;
    this.#hooks = hooks;
    this.#opts = { intervalMs: opts.intervalMs ?? 1000, backoffBaseMs: opts.backoffBaseMs ?? 200, backoffMaxMs: opts.backoffMaxMs ?? 30_000, callTimeoutMs: opts.callTimeoutMs ?? 10_000 };
    this.#loops = witnesses.map((w) => new WitnessLoop(w));
  }

  /** Starts one loop per witness, each first submitting every log once (what it may have missed while we were down). */
  async start(): Promise<void> {
    const logs = await this.#ledger.logNames();
    for (const l of this.#loops) {
      for (const log of logs) l.dirty.add(log);
      this.#running.push(this.#run(l));
    }
  }

  /** The sequencer's committed hook: marks the log grown. Never waits. */
  noteCommit(log: string): void {
    for (const l of this.#loops) {
      l.dirty.add(log);
      // A loop waiting out its interval or a backoff finds the log when it wakes: only an idle one is woken.
      if (l.idle) l.poke();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const l of this.#loops) l.poke();
    await Promise.all(this.#running);
  }

  /** CosignatureSource (src/server/witness-handlers.ts): the lines collected for (log, size). */
  async cosignatures(log: string, size: number): Promise<string[]> {
    return Object.values(await this.#store.cosignatures(log, size));
  }

  latestCosigned(log: string, min: number): Promise<number | undefined> {
    return this.#store.latestCosigned(log, min).then((r) => r?.size);
  }

  /** Set by the node: where cosignatures of other origins' checkpoints are gathered (witness.ts). */
  foreignCosigned?: (origin: string, log: string, min: number) => Promise<{ size: number; note: string; lines: string[] } | undefined>;

  async #sleep(l: WitnessLoop, ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      l.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async #run(l: WitnessLoop): Promise<void> {
    let lastRound = -Infinity;
    while (!this.#closed) {
      if (l.dirty.size === 0) {
        l.idle = true;
        await new Promise<void>((resolve) => (l.wake = resolve));
        l.idle = false;
        continue;
      }
      // At most one round per interval: what a busy log commits meanwhile is one checkpoint to submit, not many.
      const due = lastRound + this.#opts.intervalMs - Date.now();
      if (due > 0) {
        await this.#sleepUnlessClosed(l, due);
        continue;
      }
      lastRound = Date.now();
      const logs = [...l.dirty];
      l.dirty.clear();
      let failed: { log: string; err: unknown } | undefined;
      for (const log of logs) {
        if (this.#closed) return;
        try {
          await this.#submit(l, log);
        } catch (err) {
          l.dirty.add(log);
          failed ??= { log, err };
        }
      }
      if (!failed) {
        l.failures = 0;
        continue;
      }
      l.failures++;
      this.#hooks.failed?.(l.target.name);
      const delay = jitter(Math.min(this.#opts.backoffMaxMs, this.#opts.backoffBaseMs * 2 ** Math.min(l.failures - 1, 16)));
      // Said once per outage, then quietly retried.
      const say = l.failures === 1 ? this.#logger.warn.bind(this.#logger) : this.#logger.debug.bind(this.#logger);
      say('witness did not cosign; retrying', { witness: l.target.name, log: failed.log, retryMs: Math.round(delay), err: describe(failed.err) });
      // Only close ends the wait early: new commits must not turn backoff into a busy loop.
      await this.#sleepUnlessClosed(l, delay);
    }
  }

  async #sleepUnlessClosed(l: WitnessLoop, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.#closed && Date.now() < until) await this.#sleep(l, until - Date.now());
  }

  async #witnessKey(l: WitnessLoop, c: LedgerClient): Promise<WitnessKey> {
    if (!l.key) {
      const pk = await c.publicKey();
      if (pk.witnessSpki.length === 0) throw new CairnError('FAILED_PRECONDITION', `peer ${l.target.name} has no witness key`);
      l.key = witnessKey(pk.nodeName, pk.witnessSpki);
    }
    return l.key;
  }

  /** Submits the latest checkpoint of `log` to one witness, answering one size conflict. */
  async #submit(l: WitnessLoop, log: string): Promise<void> {
    const c = await l.target.client();
    const key = await this.#witnessKey(l, c);
    for (let attempt = 0; attempt < 2; attempt++) {
      const cp = await this.#ledger.getCheckpoint(log);
      const old = l.known.get(log) ?? 0;
      if (cp.size === 0 || !cp.note || (old === cp.size && attempt === 0 && l.known.has(log))) return;
      const proof = old > 0 && old < cp.size ? (await this.#ledger.consistencyProof(log, old, cp.size)).hashes : [];
      try {
        const lines = await c.addCheckpoint({ oldSize: old, proof, checkpoint: cp.note, keyChain: this.#ledger.keyChain });
        await this.#keep(l, key, log, cp.size, cp.note, lines);
        l.known.set(log, cp.size);
        return;
      } catch (err) {
        const size = conflictSize(err);
        if (size === undefined || attempt > 0) throw err;
        // tlog-witness: 409 carries the witness's size; submit again from there.
        l.known.set(log, size);
      }
    }
  }

  async #keep(l: WitnessLoop, key: WitnessKey, log: string, size: number, note: string, lines: string[]): Promise<void> {
    const parsed = parseCosignatureLines(lines);
    const i = parsed.findIndex((s) => s.name === key.name && s.keyId === key.keyId);
    if (i < 0) throw new CairnError('FAILED_PRECONDITION', `witness ${l.target.name} answered without a cosignature by its key`);
    verifyCosignature(parseNote(note).text, parsed[i]!, key);
    const line = lines[i]!;
    const k = `${log}\u0000${size}`;
    const prev = this.#locks.get(k) ?? Promise.resolve();
    const run = prev.then(async () => {
      const byWitness = await this.#store.cosignatures(log, size);
      byWitness[l.target.name] = line.endsWith('\n') ? line.slice(0, -1) : line;
      await this.#store.putCosignatures(log, size, byWitness);
    });
    this.#locks.set(k, run.catch(() => undefined));
    await run;
    if (this.#locks.get(k) === run) this.#locks.delete(k);
    this.#hooks.received?.(l.target.name);
  }
}

/** The witness's size from a SIZE_CONFLICT refusal (trailer cairn-witness-size). */
function conflictSize(err: unknown): number | undefined {
  const e = err as Partial<grpc.ServiceError>;
  if (e.code !== grpc.status.FAILED_PRECONDITION || !e.metadata) return undefined;
  if (e.metadata.get('cairn-witness-reason')[0] !== 'SIZE_CONFLICT') return undefined;
  const v = Number(e.metadata.get('cairn-witness-size')[0]);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function describe(err: unknown): string {
  if (isCairnError(err)) return err.message;
  const e = err as { code?: number; details?: string; message?: string };
  return e.details ?? e.message ?? String(err);
}
