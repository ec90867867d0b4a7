/**
 * The embedded `local` anchor backend: an append-only store of windows in its
 * own LevelDB beside the node. It enforces what the chaincode enforces (no
 * window twice, no log's size going backwards) so the pipeline behaves the
 * same, but it lives on the operator's disk: it does not protect against the
 * operator. Use `fabric` for that.
 */
import { Level } from 'level';
import { createHash } from 'node:crypto';
import type { AnchorReceipt, AnchorWindow } from '../core/anchor.js';
import { fromUtf8, utf8 } from '../core/bytes.js';
import { writeU64 } from '../storage/keys.js';
import { AnchorSubmitError, type AnchorBackend, type AnchoredWindow } from './backend.js';

type Db = Level<Uint8Array, Uint8Array>;

const wkey = (w: number): Uint8Array => {
  const k = new Uint8Array(9);
  k[0] = 0x57;
  writeU64(k, 1, w);
  return k;
};
const skey = (log: string): Uint8Array => Uint8Array.from([0x53, ...utf8(log)]);

export class LocalAnchorBackend implements AnchorBackend {
  readonly name = 'local' as const;
  readonly #db: Db;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(db: Db) {
    this.#db = db;
  }

  static async open(location: string): Promise<LocalAnchorBackend> {
    const db: Db = new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return new LocalAnchorBackend(db);
  }

  submit(w: AnchorWindow): Promise<AnchorReceipt> {
    // One submission at a time, like one Fabric transaction after another.
    const p = this.#chain.then(() => this.#submit(w));
    this.#chain = p.catch(() => undefined);
    return p;
  }

  async #submit(w: AnchorWindow): Promise<AnchorReceipt> {
    if ((await this.#db.get(wkey(w.window))) !== undefined) {
      throw new AnchorSubmitError('ALREADY_EXISTS', `anchor window ${w.window} already exists`, { retryable: false, exists: true });
    }
    for (const c of w.checkpoints) {
      const prev = await this.#db.get(skey(c.log));
      if (prev !== undefined && Number(fromUtf8(prev)) > c.size) {
        throw new AnchorSubmitError('FAILED_PRECONDITION', `log ${c.log}: anchored size would go back from ${fromUtf8(prev)} to ${c.size}`, { retryable: false });
      }
    }
    const receipt: AnchorReceipt = { txId: createHash('sha256').update(JSON.stringify(w)).digest('hex'), block: w.window, backend: 'local' };
    const b = this.#db.batch();
    b.put(wkey(w.window), utf8(JSON.stringify({ window: w, receipt })));
    for (const c of w.checkpoints) b.put(skey(c.log), utf8(String(c.size)));
    await b.write({ sync: true });
    return receipt;
  }

  async get(window: number): Promise<AnchoredWindow | undefined> {
    const v = await this.#db.get(wkey(window));
    return v === undefined ? undefined : (JSON.parse(fromUtf8(v)) as AnchoredWindow);
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#db.close();
  }
}
