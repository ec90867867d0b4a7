/**
 * The node's durable anchor queue (its own LevelDB, `<data>/anchors`).
 * Guarantee: a window is written here before it is submitted, and marked with
 * its transaction ID and block once committed, so after a restart pending
 * windows resume in order and none is built twice.
 *
 *   'W' window:u64        -> JSON StoredWindow
 *   'L' log 0x00 window:u64 -> ''   (the windows that cover a log)
 */
import { Level } from 'level';
import { CairnError } from '../core/errors.js';
import { fromUtf8, utf8 } from '../core/bytes.js';
import type { AnchorReceipt, AnchorWindow } from '../core/anchor.js';
import { readU64, writeU64 } from '../storage/keys.js';

export interface StoredWindow {
  window: AnchorWindow;
  state: 'pending' | 'committed';
  createdAtMs: number;
  /** When the oldest checkpoint in the window was issued: anchor lag is measured from it. */
  oldestCheckpointAtMs: number;
  receipt?: AnchorReceipt;
  committedAtMs?: number;
}

type Db = Level<Uint8Array, Uint8Array>;

function windowKey(w: number): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = 0x57;
  writeU64(k, 1, w);
  return k;
}

function logKey(log: string, w: number): Uint8Array {
  const name = utf8(log);
  const k = new Uint8Array(1 + name.length + 1 + 8);
  k[0] = 0x4c;
  k.set(name, 1);
  writeU64(k, 2 + name.length, w);
  return k;
}

export class AnchorStore {
  readonly #db: Db;
  private constructor(db: Db) {
    this.#db = db;
  }

  static async open(location: string): Promise<AnchorStore> {
    const db: Db = new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (cause) {
      throw new CairnError('UNAVAILABLE', `cannot open anchor store ${location}`, { cause });
    }
    return new AnchorStore(db);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async put(w: StoredWindow): Promise<void> {
    const b = this.#db.batch();
    b.put(windowKey(w.window.window), utf8(JSON.stringify(w)));
    for (const c of w.window.checkpoints) b.put(logKey(c.log, w.window.window), new Uint8Array(0));
    await b.write({ sync: true });
  }

  async get(window: number): Promise<StoredWindow | undefined> {
    const v = await this.#db.get(windowKey(window));
    return v === undefined ? undefined : (JSON.parse(fromUtf8(v)) as StoredWindow);
  }

  /** The highest window number, or 0 when none. */
  async lastWindow(): Promise<StoredWindow | undefined> {
    for await (const v of this.#db.values({ gte: windowKey(0), lt: Uint8Array.of(0x58), reverse: true, limit: 1 })) return JSON.parse(fromUtf8(v)) as StoredWindow;
    return undefined;
  }

  /** Pending windows, oldest first. */
  async pending(): Promise<StoredWindow[]> {
    const out: StoredWindow[] = [];
    for await (const v of this.#db.values({ gte: windowKey(0), lt: Uint8Array.of(0x58) })) {
      const w = JSON.parse(fromUtf8(v)) as StoredWindow;
      if (w.state === 'pending') out.push(w);
    }
    return out;
  }

  /** The latest window covering `log`. */
  async lastForLog(log: string): Promise<StoredWindow | undefined> {
    for await (const k of this.#db.keys({ gte: logKey(log, 0), lte: logKey(log, Number.MAX_SAFE_INTEGER), reverse: true, limit: 1 })) {
      return this.get(readU64(k, k.length - 8));
    }
    return undefined;
  }

  /**
   * The first window covering `log` that `match` accepts, oldest first or
   * (`newestFirst`) newest first. Reads one window at a time, however many
   * windows the log has.
   */
  async findForLog(log: string, match: (w: StoredWindow) => boolean, newestFirst = false): Promise<StoredWindow | undefined> {
    for await (const k of this.#db.keys({ gte: logKey(log, 0), lte: logKey(log, Number.MAX_SAFE_INTEGER), reverse: newestFirst })) {
      const w = await this.get(readU64(k, k.length - 8));
      if (w && match(w)) return w;
    }
    return undefined;
  }

  /** Windows covering `log` with number in [from, to], oldest first, at most `limit`. */
  async forLog(log: string, from = 0, to = Number.MAX_SAFE_INTEGER, limit = 1000): Promise<StoredWindow[]> {
    const out: StoredWindow[] = [];
    for await (const k of this.#db.keys({ gte: logKey(log, from), lte: logKey(log, to), limit })) {
      const w = await this.get(readU64(k, k.length - 8));
      if (w) out.push(w);
    }
    return out;
  }
}
