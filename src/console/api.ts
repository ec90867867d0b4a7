/**
 * The node's HTTP JSON API as the console uses it (docs/api.md), with the
 * credential the user gave: a bearer token, or none (a client certificate
 * the browser presents, or a node without authentication). Everything the
 * node answers is data to check, never trusted: the verifier recomputes it.
 */
import { utf8, fromBase64, fromHex } from '../core/bytes.js';
import type { SignedEntry } from '../core/entry.js';

/** An entry as the API answers it (core/receipt-json.ts, entryJson). */
export interface EntryJson {
  log: string;
  seq: number;
  hash: string;
  /** The decoded body, or null when it does not decode. */
  fields: Record<string, unknown> | null;
  body: string;
  signature: string;
}

export interface CheckpointJson {
  log: string;
  size: number;
  rootHash: string;
  note: string;
  /** Witness cosignature lines (docs/format.md section 9); absent when none was collected. */
  cosignatures?: string[];
}

export interface AnchorJson {
  window: number;
  root: string;
  node: string;
  checkpoints: { log: string; size: number; rootHash: string; note: string }[];
  state: string;
  txId: string;
  block: number;
  backend: string;
  createdAtMs: number;
  committedAtMs: number;
  oldestCheckpointAtMs: number;
}

export interface EntryPageJson {
  entries: EntryJson[];
  next: number | null;
}

/** A refusal of the node: its HTTP status and stable code (docs/api.md). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The signed bytes of an entry as served: what a verifier checks. */
export function signedEntryOf(e: EntryJson): SignedEntry {
  return { log: e.log, seq: e.seq, body: utf8(e.body), signature: fromBase64(e.signature, 'signature'), hash: fromHex(e.hash, 'hash') };
}

export class NodeApi {
  constructor(
    /** The node's origin ('' in a page it served: same origin). */
    readonly base: string,
    readonly token: string,
  ) {}

  #headers(accept = 'application/json'): Record<string, string> {
    return this.token ? { accept, authorization: `Bearer ${this.token}` } : { accept };
  }

  async get<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
    const r = await fetch(this.#url(path, params), { headers: this.#headers(), credentials: 'same-origin', cache: 'no-store' });
    const text = await r.text();
    if (!r.ok) {
      let code = `HTTP_${r.status}`;
      let message = text.slice(0, 300);
      try {
        const e = JSON.parse(text) as { code?: string; message?: string };
        code = e.code ?? code;
        message = e.message ?? message;
      } catch {
        // Not JSON (a proxy's page): keep the status and the start of the text.
      }
      throw new ApiError(r.status, code, message);
    }
    return JSON.parse(text) as T;
  }

  #url(path: string, params: Record<string, string | number | undefined>): string {
    const q = Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    return `${this.base}${path}${q ? `?${q}` : ''}`;
  }

  /**
   * Every entry of [0, end) as a JSON Lines stream, in chunks. A failure
   * after the first line arrives as one `{"error": ...}` line: thrown here
   * as an ApiError with the node's code, after the entries before it.
   */
  async *stream(log: string, end: number): AsyncGenerator<EntryJson[]> {
    const r = await fetch(this.#url(`/v1/logs/${encodeURIComponent(log)}/entries`, { start: 0, end }), { headers: this.#headers('application/jsonl'), credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok || !r.body) {
      const e = (await r.json().catch(() => ({}))) as { code?: string; message?: string };
      throw new ApiError(r.status, e.code ?? `HTTP_${r.status}`, e.message ?? 'the entry stream failed');
    }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += value;
      const lines = rest.split('\n');
      rest = lines.pop()!;
      const out: EntryJson[] = [];
      for (const line of lines) {
        if (line === '') continue;
        const o = JSON.parse(line) as EntryJson | { error: { code: string; message: string } };
        if ('error' in o) {
          if (out.length > 0) yield out;
          throw new ApiError(500, o.error.code, o.error.message);
        }
        out.push(o);
      }
      if (out.length > 0) yield out;
    }
  }
}

export const logPath = (log: string, rest = ''): string => `/v1/logs/${encodeURIComponent(log)}${rest}`;
