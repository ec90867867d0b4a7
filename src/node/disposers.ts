/**
 * One stack of clean-up steps for everything a node has opened: each
 * resource registers its disposer right after it is opened, and a failed
 * start and a normal stop both release the stack, last opened first. One
 * list instead of a copy of the clean-up on every failure path, so no path
 * can forget a resource opened after it was written.
 */
import type { Logger } from '../core/logger.js';

interface Entry {
  readonly name: string;
  readonly dispose: () => void | Promise<void>;
  /** Set once the disposer has started: a disposer runs at most once. */
  running?: Promise<void>;
}

export class Disposers {
  readonly #stack: Entry[] = [];
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Registers the disposer of the resource `name`, just opened. Returns it
   * as a function that runs it at most once, for a caller that must release
   * this resource before the ones opened after it; the stack then skips it.
   */
  push(name: string, dispose: () => void | Promise<void>): () => Promise<void> {
    const entry: Entry = { name, dispose };
    this.#stack.push(entry);
    return () => (entry.running ??= (async () => dispose())());
  }

  /**
   * Runs every disposer not yet run, the last pushed first. Each runs even if
   * an earlier one threw; each failure is logged naming the resource.
   * Resolves with the failures (empty when every resource was released).
   */
  async release(): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (;;) {
      const entry = this.#stack.pop();
      if (entry === undefined) return failures;
      if (entry.running !== undefined) {
        // Released early by a caller, which reported its failure.
        await entry.running.catch(() => undefined);
        continue;
      }
      entry.running = (async () => entry.dispose())();
      try {
        await entry.running;
      } catch (err) {
        this.#log.error('could not release a resource', { resource: entry.name, err });
        failures.push(err);
      }
    }
  }
}
