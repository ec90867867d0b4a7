/**
 * Durable witnessing state, in its own LevelDB (`<data_dir>/witness`), apart
 * from the logs:
 *
 *  - as a witness, per origin, the latest checkpoint it cosigned (the
 *    origin's signed note, its own cosignature line, the index in the
 *    origin's key chain of the key that signed it) — C2SP tlog-witness: "The
 *    witness MUST persist the new checkpoint before responding";
 *  - per origin, a split view it caught (the evidence and the seq of the
 *    entry recording it): such an origin is never cosigned again;
 *  - as an origin, the cosignatures its witnesses returned, per log and size.
 *
 * The witness's writes are synced before they resolve (the collected
 * cosignatures are not: see putCosignatures). Values are JSON; keys are a tag
 * and the names, separated by 0x00 (which no origin or log name contains).
 */
import { Level } from 'level';
import { CairnError } from '../core/errors.js';
import type { SplitViewEvidence } from '../core/split-view.js';
import type { KeyLinkJson } from '../core/key-chain.js';

/** The latest checkpoint a witness cosigned for one origin. */
export interface WitnessedState {
  origin: string;
  /** The origin's signed note, as submitted (its own signatures only). */
  note: string;
  size: number;
  /** Hex root. */
  root: string;
  /** Our cosignature line on it. */
  cosignature: string;
  /** Index, in the origin's key chain followed from its pinned key, of the key that signed the note. */
  keyIndex: number;
  /** POSIX seconds of the cosignature. */
  time: number;
  /** The origin's key links it submitted (JSON, core/key-chain.ts), relayed with the checkpoint in the exchange. */
  keyChain?: KeyLinkJson[];
}

/** A split view caught for one origin, and where it was recorded. */
export interface EquivocationRecord {
  origin: string;
  evidence: SplitViewEvidence;
  /** Who showed us the second checkpoint: `origin` (submitted directly) or a peer's name (relayed). */
  source: string;
  /** Seq of the `cairn.witness.equivocation` entry in our own log; undefined until it is written. */
  seq?: number;
  time: string;
}

const W = 'w\u0000';
const E = 'e\u0000';
const C = 'c\u0000';
const F = 'f\u0000';

function sizeKey(n: number): string {
  return n.toString(16).padStart(14, '0');
}

export class WitnessStore {
  readonly #db: Level<string, string>;
  readonly #foreignLocks = new Map<string, Promise<unknown>>();

  private constructor(db: Level<string, string>) {
    this.#db = db;
  }

  /** @throws CairnError UNAVAILABLE when the database is locked or cannot be opened */
  static async open(location: string): Promise<WitnessStore> {
    const db = new Level<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (cause) {
      throw new CairnError('UNAVAILABLE', `cannot open database ${location}`, { cause });
    }
    return new WitnessStore(db);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async #json<T>(key: string): Promise<T | undefined> {
    const v = await this.#db.get(key);
    if (v === undefined) return undefined;
    try {
      return JSON.parse(v) as T;
    } catch (cause) {
      throw new CairnError('CORRUPTION', 'a witness record does not decode', { cause });
    }
  }

  async *#range<T>(tag: string): AsyncGenerator<T> {
    for await (const v of this.#db.values({ gte: tag, lt: tag.slice(0, -1) + '\u0001' })) yield JSON.parse(v) as T;
  }

  witnessed(origin: string): Promise<WitnessedState | undefined> {
    return this.#json<WitnessedState>(W + origin);
  }

  async putWitnessed(s: WitnessedState): Promise<void> {
    await this.#db.put(W + s.origin, JSON.stringify(s), { sync: true });
  }

  async allWitnessed(): Promise<WitnessedState[]> {
    const out: WitnessedState[] = [];
    for await (const s of this.#range<WitnessedState>(W)) out.push(s);
    return out;
  }

  equivocation(origin: string): Promise<EquivocationRecord | undefined> {
    return this.#json<EquivocationRecord>(E + origin);
  }

  async putEquivocation(r: EquivocationRecord): Promise<void> {
    await this.#db.put(E + r.origin, JSON.stringify(r), { sync: true });
  }

  async allEquivocations(): Promise<EquivocationRecord[]> {
    const out: EquivocationRecord[] = [];
    for await (const r of this.#range<EquivocationRecord>(E)) out.push(r);
    return out;
  }

  /** The cosignature lines collected for `log` at `size`, by witness name. */
  async cosignatures(log: string, size: number): Promise<Record<string, string>> {
    return (await this.#json<Record<string, string>>(`${C}${log}\u0000${sizeKey(size)}`)) ?? {};
  }

  /**
   * Not synced: a cosignature lost in a crash is asked for again (the
   * witness keeps its own state durably), and a synced write per witness per
   * checkpoint cost the origin more than its appends (docs/design.md).
   */
  async putCosignatures(log: string, size: number, byWitness: Record<string, string>): Promise<void> {
    await this.#db.put(`${C}${log}\u0000${sizeKey(size)}`, JSON.stringify(byWitness));
  }

  /** The largest size of `log` with at least `min` cosignatures (and its lines), or undefined. */
  async latestCosigned(log: string, min: number): Promise<{ size: number; byWitness: Record<string, string> } | undefined> {
    const prefix = `${C}${log}\u0000`;
    for await (const [k, v] of this.#db.iterator({ gte: prefix, lt: `${C}${log}\u0001`, reverse: true })) {
      const byWitness = JSON.parse(v) as Record<string, string>;
      if (Object.keys(byWitness).length >= min) return { size: parseInt(k.slice(prefix.length), 16), byWitness };
    }
    return undefined;
  }

  /**
   * Cosignatures of another origin's checkpoint (the node's own as its
   * witness, and what other witnesses relayed), kept so the node can serve
   * a mirrored log's checkpoint with them. One note per (origin, size): a
   * line for another note of the same size is not kept (that is a fork, the
   * witness's business). Not synced: they are gathered again.
   */
  async addForeignCosignature(origin: string, size: number, note: string, text: string, by: string, line: string): Promise<void> {
    const key = `${F}${origin}\u0000${sizeKey(size)}`;
    // Read-modify-write: lines for one checkpoint arrive at once from the witness, the exchange and the mirrors; none may be lost.
    const prev = this.#foreignLocks.get(key) ?? Promise.resolve();
    const run = prev.then(() => this.#addForeign(key, note, text, by, line));
    const tail = run.catch(() => undefined);
    this.#foreignLocks.set(key, tail);
    try {
      await run;
    } finally {
      if (this.#foreignLocks.get(key) === tail) this.#foreignLocks.delete(key);
    }
  }

  async #addForeign(key: string, note: string, text: string, by: string, line: string): Promise<void> {
    const cur = (await this.#json<{ note: string; text: string; lines: Record<string, string> }>(key)) ?? { note, text, lines: {} };
    // One line reaches a node along several paths (its witness, the exchange, each mirror hop): kept once.
    if (cur.text !== text || Object.values(cur.lines).includes(line) || Object.keys(cur.lines).length >= 100) return;
    // Another line vouched for by the same peer (another witness's, relayed) is kept beside the first, never over it.
    cur.lines[cur.lines[by] === undefined ? by : `${by}#${Object.keys(cur.lines).length}`] = line;
    await this.#db.put(key, JSON.stringify(cur));
  }

  /** The largest size of `origin` (`<node>/<log>`) with at least `min` cosignatures gathered. */
  async latestForeign(origin: string, min: number): Promise<{ size: number; note: string; lines: string[] } | undefined> {
    const prefix = `${F}${origin}\u0000`;
    for await (const [k, v] of this.#db.iterator({ gte: prefix, lt: `${F}${origin}\u0001`, reverse: true })) {
      const r = JSON.parse(v) as { note: string; lines: Record<string, string> };
      const lines = Object.values(r.lines);
      if (lines.length >= min) return { size: parseInt(k.slice(prefix.length), 16), note: r.note, lines };
    }
    return undefined;
  }
}
