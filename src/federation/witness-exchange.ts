/**
 * The exchange between witnesses: every `witness_exchange_ms`, a node asks
 * each peer what it last cosigned per origin (ListWitnessed) and hands each
 * answer to its own witness (Witness.considerRelayed), which compares it with
 * what it saw itself. An origin that showed one history to one witness and
 * another to the next is caught here, once the witnesses have compared
 * notes ("Split views", docs/federation.md#witnessing).
 *
 * A peer that is down is skipped until the next round; rounds never overlap.
 */
import type { Logger } from '../core/logger.js';
import type { LedgerClient } from '../client/ledger-client.js';
import type { Witness } from './witness.js';

export interface ExchangePeer {
  name: string;
  client: () => Promise<LedgerClient>;
}

export class WitnessExchange {
  readonly #witness: Witness;
  readonly #peers: readonly ExchangePeer[];
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #closed = false;
  readonly #down = new Set<string>();

  constructor(witness: Witness, peers: readonly ExchangePeer[], logger: Logger, intervalMs: number) {
    this.#witness = witness;
    this.#peers = peers;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#round = this.round().finally(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref?.();
  }

  /** One round: every peer asked once. */
  async round(): Promise<void> {
    await Promise.all(this.#peers.map((p) => this.#exchangeWith(p)));
  }

  async #exchangeWith(p: ExchangePeer): Promise<void> {
    try {
      const c = await p.client();
      const got = await c.listWitnessed();
      if (this.#down.delete(p.name)) this.#logger.info('witness exchange: peer answers again', { peer: p.name });
      for (const w of got.checkpoints) {
        if (this.#closed) return;
        await this.#witness.considerRelayed(p.name, w);
      }
      for (const e of got.equivocations) {
        if (this.#closed) return;
        await this.#witness.considerEvidence(p.name, e);
      }
    } catch (err) {
      if (!this.#down.has(p.name)) this.#logger.debug('witness exchange: peer did not answer', { peer: p.name, err: (err as { details?: string; message?: string }).details ?? (err as Error).message });
      this.#down.add(p.name);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#round;
  }
}
