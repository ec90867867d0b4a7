/**
 * The one node-side place a caught split view goes (docs/federation.md,
 * "A split-view alarm"): the evidence is persisted first (the origin is
 * refused from then on, even if the node stops right after), then recorded
 * as an entry of the node's own log {@link EVIDENCE_LOG} with action
 * {@link EQUIVOCATION_ACTION} and the evidence as payload, so it is signed,
 * chained, checkpointed and anchored like any entry, and verifiable by
 * anyone with the origin's pinned key (core/split-view.ts
 * checkSplitViewEvidence). An entry not yet written when the node stopped is
 * written at the next start ({@link EquivocationRecorder.resume}).
 *
 * The witness (witness.ts) and the mirrors (whose verified copy meets a
 * conflicting checkpoint) both report here.
 */
import type { Logger } from '../core/logger.js';
import { toHex } from '../core/bytes.js';
import { parseNote } from '../core/note.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import type { Equivocation } from '../core/federation.js';
import type { SplitViewEvidence } from '../core/split-view.js';
import type { Ledger } from '../ledger/ledger.js';
import type { EquivocationRecord, WitnessStore } from '../storage/witness-store.js';

/** The reserved action of an evidence entry (clients cannot record `cairn.` actions). */
export const EQUIVOCATION_ACTION = 'cairn.witness.equivocation';
/** The node's own log that holds evidence entries. */
export const EVIDENCE_LOG = 'cairn.federation';

export class EquivocationRecorder {
  readonly #store: WitnessStore;
  readonly #ledger: Ledger;
  readonly #logger: Logger;
  readonly #caught: ((evidence: SplitViewEvidence, source: string) => void) | undefined;
  readonly #blocked = new Set<string>();
  /** Records being written: a second report of the same origin waits for the first. */
  readonly #writing = new Map<string, Promise<void>>();

  private constructor(store: WitnessStore, ledger: Ledger, logger: Logger, caught?: (evidence: SplitViewEvidence, source: string) => void) {
    this.#store = store;
    this.#ledger = ledger;
    this.#logger = logger;
    this.#caught = caught;
  }

  /** Loads the origins caught before, and writes any evidence entry a stop interrupted. */
  static async open(store: WitnessStore, ledger: Ledger, logger: Logger, caught?: (evidence: SplitViewEvidence, source: string) => void): Promise<EquivocationRecorder> {
    const r = new EquivocationRecorder(store, ledger, logger, caught);
    for (const rec of await store.allEquivocations()) {
      r.#blocked.add(rec.origin);
      caught?.(rec.evidence, rec.source);
      if (rec.seq === undefined) await r.#writeEntry(rec);
    }
    return r;
  }

  async blocked(origin: string): Promise<boolean> {
    return this.#blocked.has(origin);
  }

  /** Every split view caught, for the federation status. */
  list(): Promise<EquivocationRecord[]> {
    return this.#store.allEquivocations();
  }

  /**
   * Persists and records one split view; a second one of an origin already
   * caught is dropped (the first is the evidence, and the origin is refused).
   * @param source who showed the second checkpoint: `origin`, a peer's name, or `mirror`
   */
  async record(evidence: SplitViewEvidence, source: string): Promise<void> {
    const origin = evidence.origin;
    const busy = this.#writing.get(origin);
    if (busy) return busy;
    if (this.#blocked.has(origin)) return;
    const p = (async () => {
      const rec: EquivocationRecord = { origin, evidence, source, time: new Date().toISOString() };
      await this.#store.putEquivocation(rec);
      this.#blocked.add(origin);
      this.#caught?.(evidence, source);
      this.#logger.error('split view caught: this origin showed two histories; it is no longer cosigned', { origin, kind: evidence.kind, source, sizes: [evidence.first.size, evidence.second.size] });
      await this.#writeEntry(rec);
    })();
    this.#writing.set(origin, p);
    try {
      await p;
    } finally {
      this.#writing.delete(origin);
    }
  }

  async #writeEntry(rec: EquivocationRecord): Promise<void> {
    try {
      const r = await this.#ledger.appendNodeEntry(EVIDENCE_LOG, {
        configId: rec.origin,
        action: EQUIVOCATION_ACTION,
        payload: { origin: rec.origin, source: rec.source, caught: rec.time, evidence: rec.evidence },
      });
      await this.#store.putEquivocation({ ...rec, seq: r.entry.seq });
      this.#logger.info('split-view evidence recorded', { origin: rec.origin, log: EVIDENCE_LOG, seq: r.entry.seq });
    } catch (err) {
      // Persisted already (the origin stays refused); the entry is written at the next start.
      this.#logger.error('split-view evidence entry not written; retried at the next start', { origin: rec.origin, err: (err as Error).message });
    }
  }
}

/**
 * A split view a mirror met (federation.ts `onConflict`), as evidence for
 * {@link EquivocationRecorder.record}. The mirror verified both notes with
 * the origin's key before it compared them; the evidence keeps them as they
 * are, so anyone can check them again (core/split-view.ts).
 */
export function evidenceFromMirror(e: Equivocation): SplitViewEvidence {
  const side = (note: string): { note: string; size: number; root: string } => {
    const cp = parseCheckpoint(parseNote(note).text);
    return { note, size: cp.size, root: toHex(cp.rootHash) };
  };
  return { kind: e.kind, origin: `${e.origin}/${e.log}`, log: e.log, first: side(e.acceptedNote), second: side(e.conflictingNote) };
}

/** A split view the witness caught, as the federation status lists split views. */
export function witnessedEquivocation(r: EquivocationRecord): Equivocation {
  const ev = r.evidence;
  const slash = ev.origin.lastIndexOf('/');
  return {
    origin: ev.origin.slice(0, slash),
    log: ev.log,
    kind: ev.kind,
    reason: `caught by this node's witness (${r.source === 'origin' ? 'shown by the origin itself' : `relayed by ${r.source}`})${r.seq === undefined ? '' : `; evidence entry ${EVIDENCE_LOG}/${r.seq}`}`,
    acceptedNote: ev.first.note,
    conflictingNote: ev.second.note,
    peer: r.source,
    atMs: Date.parse(r.time) || 0,
  };
}
