/**
 * One handler per operation of the OpenAPI document, each one idea: read
 * the request into the message the gRPC handler takes, call that handler
 * (src/server/*-handlers.ts: the same authorization, validation and errors
 * as gRPC), and turn its answer into the JSON the CLI prints.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { u64 } from '../api/proto.js';
import { invalidArgument } from '../core/errors.js';
import { entryJson } from '../core/receipt-json.js';
import type { SignedEntry } from '../core/entry.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Caller } from '../server/access.js';
import type { AppendHandlers } from '../server/append-handlers.js';
import type { ReadHandlers } from '../server/read-handlers.js';
import type { KeyHandlers } from '../server/key-handlers.js';
import type { AnchorHandlers } from '../server/anchor-handlers.js';
import type { FederationHandlers } from '../server/federation-handlers.js';
import type { FederationStatus } from '../core/federation.js';
import { toHex } from '../core/bytes.js';
import { CairnError } from '../core/errors.js';
import type { Req } from '../server/wire.js';
import { OPENAPI, type OperationId } from './openapi.js';
import { appendReq, camelCase, jsonObject, preferredType } from './request.js';
import { ascendingPage, descendingPage, entryFilterOf, FILTER_PARAMS, type ReadRange } from './entry-filter.js';
import { anchorJson, anchorProofJson, checkpointJson, consistencyProofJson, entryFromWire, inclusionProofJson, keyChainJson, publicKeyJson, receiptFromWire } from './json.js';
import { argocdAppendReq } from './argocd-event.js';
import { fluxAppendReq } from './flux-event.js';
import type { HmacKey } from './hmac-key.js';

export interface RouteContext {
  /** Path parameters, as sent. */
  params: Record<string, string>;
  /** The query string as a request message (only the operation's parameters; camelCase). */
  query: Req;
  /** The raw body (a Buffer for application/json), or undefined. */
  body: unknown;
  headers: IncomingHttpHeaders;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/** JSON, a text document, or JSON Lines: chunks of lines, sent with back-pressure. */
export type Answer = { json: unknown } | { text: string; type: string } | { lines: AsyncGenerator<readonly unknown[]> };

export interface Route {
  /** false: served to anyone (the OpenAPI document, which says nothing about any log). */
  authenticated: boolean;
  /** Runs before authentication and before the body is parsed (Flux's signature). */
  precheck?(ctx: RouteContext): void;
  /** Unary answers run under the node's request deadline; this hint is added to its message. */
  deadlineHint?: string;
  handle(ctx: RouteContext, caller: Caller): Promise<Answer>;
}

export interface RouteDeps {
  ledger: Ledger;
  appends: AppendHandlers;
  reads: ReadHandlers;
  keys: KeyHandlers;
  anchors: AnchorHandlers;
  federation: FederationHandlers;
  /** The Flux intake's key; undefined: flux_hmac_key_file is not set. */
  fluxKey: () => HmacKey | undefined;
  /** Appended to an append's DEADLINE_EXCEEDED message. */
  appendDeadlineHint: string;
}

/** Entries in one JSON page at most, and when `limit` is not given. */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

const JSON_TYPE = 'application/json';
const JSONL_TYPE = 'application/jsonl';
const TEXT_TYPE = 'text/plain';

async function* entryLines(chunks: AsyncGenerator<SignedEntry[]>): AsyncGenerator<readonly unknown[]> {
  for await (const chunk of chunks) yield chunk.map(entryJson);
}

/** Up to `limit` entries from `start`, and the start of the next page. */
async function page(entries: AsyncGenerator<SignedEntry[]>, limit: number): Promise<{ entries: unknown[]; next: number | null }> {
  const out: SignedEntry[] = [];
  // One more than asked, to know whether a next page exists; leaving the loop closes the reader.
  for await (const chunk of entries) {
    out.push(...chunk);
    if (out.length > limit) break;
  }
  const next = out.length > limit ? out[limit]!.seq : null;
  return { entries: out.slice(0, limit).map(entryJson), next };
}

export function createRoutes(d: RouteDeps): Record<OperationId, Route> {
  const intake = (toReq: (log: string, body: Record<string, unknown>) => Req) => async (ctx: RouteContext, caller: Caller): Promise<Answer> => {
    const log = typeof ctx.query.log === 'string' ? ctx.query.log : '';
    const req = toReq(log, jsonObject(ctx.body));
    return { json: receiptFromWire(await d.appends.append(req, caller), d.ledger.keyChain) };
  };
  return {
    listLogs: {
      authenticated: true,
      handle: async (ctx, caller) => ({ json: { logs: (await d.reads.listLogs(ctx.query, caller)).logs.map(checkpointJson) } }),
    },
    appendEntry: {
      authenticated: true,
      deadlineHint: d.appendDeadlineHint,
      handle: async (ctx, caller) => ({ json: receiptFromWire(await d.appends.append(appendReq(ctx.params.log!, ctx.body), caller), d.ledger.keyChain) }),
    },
    listEntries: {
      authenticated: true,
      handle: async (ctx, caller) => {
        const type = preferredType(ctx.headers.accept, [JSON_TYPE, JSONL_TYPE]);
        const filter = entryFilterOf(ctx.query);
        const order = ctx.query.order ?? 'asc';
        if (order !== 'asc' && order !== 'desc') throw invalidArgument('order', 'must be asc or desc');
        const range = { log: ctx.params.log, start: ctx.query.start, end: ctx.query.end };
        if (type === JSONL_TYPE) {
          if (ctx.query.limit !== undefined) throw invalidArgument('limit', 'pages the JSON answer; a JSON Lines stream runs to `end`');
          if (filter || order !== 'asc') throw invalidArgument(filter ? FILTER_PARAMS.find((n) => ctx.query[camelCase(n)] !== undefined)! : 'order', 'pages the JSON answer; a JSON Lines stream is every entry in order');
          return { lines: entryLines(d.reads.listEntries(range, ctx.signal, caller)) };
        }
        const limit = u64('limit', ctx.query.limit) || DEFAULT_PAGE;
        if (limit > MAX_PAGE) throw invalidArgument('limit', `must be 1 to ${MAX_PAGE}`);
        if (!filter && order === 'asc') return { json: await page(d.reads.listEntries(range, ctx.signal, caller), limit) };
        const start = u64('start', ctx.query.start);
        let end = u64('end', ctx.query.end);
        // 0: the log's size, from its latest checkpoint (which also checks the caller may read the log).
        if (end === 0) end = Number((await d.reads.getCheckpoint({ log: ctx.params.log }, caller)).size);
        if (end < start) throw invalidArgument('end', 'must be 0 or at least start');
        const read: ReadRange = (a, b) => d.reads.listEntries({ log: ctx.params.log, start: String(a), end: String(b) }, ctx.signal, caller);
        return { json: await (order === 'desc' ? descendingPage : ascendingPage)(read, start, end, limit, filter) };
      },
    },
    getEntry: {
      authenticated: true,
      handle: async (ctx, caller) => ({ json: entryFromWire(await d.reads.getEntry({ ...ctx.query, log: ctx.params.log, seq: ctx.params.seq }, caller)) }),
    },
    getCheckpoint: {
      authenticated: true,
      handle: async (ctx, caller) => {
        const type = preferredType(ctx.headers.accept, [JSON_TYPE, TEXT_TYPE]);
        const cp = await d.reads.getCheckpoint({ ...ctx.query, log: ctx.params.log }, caller);
        return type === TEXT_TYPE ? { text: cp.note, type: 'text/plain; charset=utf-8' } : { json: checkpointJson(cp) };
      },
    },
    getInclusionProof: {
      authenticated: true,
      handle: async (ctx, caller) => ({ json: inclusionProofJson(await d.reads.getInclusionProof({ ...ctx.query, log: ctx.params.log }, caller)) }),
    },
    getConsistencyProof: {
      authenticated: true,
      handle: async (ctx, caller) => ({ json: consistencyProofJson(await d.reads.getConsistencyProof({ ...ctx.query, log: ctx.params.log }, caller)) }),
    },
    listAnchors: {
      authenticated: true,
      handle: async (ctx, caller) => {
        // ListAnchorsRequest.limit is a number on the wire: 0 means the most one answer holds.
        const limit = u64('limit', ctx.query.limit);
        const r = await d.anchors.listAnchors({ ...ctx.query, log: ctx.params.log, limit }, caller);
        return { json: { anchors: r.anchors.map(anchorJson) } };
      },
    },
    getAnchorProof: {
      authenticated: true,
      handle: async (ctx, caller) => ({ json: anchorProofJson(await d.anchors.getAnchorProof({ ...ctx.query, log: ctx.params.log }, caller)) }),
    },
    getAnchor: {
      authenticated: true,
      handle: async (ctx, caller) => ({ json: anchorJson(await d.anchors.getAnchor({ window: ctx.params.window }, caller)) }),
    },
    getPublicKey: {
      authenticated: true,
      handle: async (ctx) => ({ json: publicKeyJson(await d.keys.getPublicKey(ctx.query)) }),
    },
    getKeyChain: {
      authenticated: true,
      handle: async (ctx) => ({ json: keyChainJson(await d.keys.getPublicKey(ctx.query)) }),
    },
    getFederationStatus: {
      authenticated: true,
      handle: async (_ctx, caller) => ({ json: federationStatusJson(await d.federation.status(caller)) }),
    },
    argocdHook: {
      authenticated: true,
      deadlineHint: d.appendDeadlineHint,
      handle: intake(argocdAppendReq),
    },
    fluxHook: {
      authenticated: true,
      deadlineHint: d.appendDeadlineHint,
      precheck: (ctx) => {
        const key = d.fluxKey();
        if (!key) throw new CairnError('FAILED_PRECONDITION', 'the Flux intake is off on this node (flux_hmac_key_file is not set)');
        key.verify(Buffer.isBuffer(ctx.body) ? ctx.body : new Uint8Array(0), ctx.headers['x-signature']);
      },
      handle: intake(fluxAppendReq),
    },
    getOpenApi: {
      authenticated: false,
      handle: async () => ({ json: OPENAPI }),
    },
  };
}

/** The federation status as JSON: numbers as numbers, hashes as hex. */
function federationStatusJson(s: FederationStatus): unknown {
  return { ...s, vector: s.vector.map((v) => ({ ...v, rootHash: toHex(v.rootHash) })) };
}
