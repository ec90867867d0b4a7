/**
 * Anchor windows and anchor proofs, answered through the anchoring read side
 * ({@link AnchorQueries}). Reading anchors needs the anchor:read rule; within
 * a window, a caller sees only the checkpoints of logs it may read, and a log
 * it may not read has no anchors, as a log that does not exist.
 */
import { u64 } from '../api/proto.js';
import { CairnError } from '../core/errors.js';
import type { AnchorQueries } from '../anchoring/queries.js';
import type { Access, Caller } from './access.js';
import { requestLog, wireAnchor, wireAnchorProof, type Req } from './wire.js';

/** Windows one ListAnchors answer holds at most. */
const MAX_LIST_ANCHORS = 1000;

export class AnchorHandlers {
  readonly #queries: AnchorQueries | undefined;
  readonly #access: Access;

  /** `queries` undefined: anchoring is off on this node. */
  constructor(queries: AnchorQueries | undefined, access: Access) {
    this.#queries = queries;
    this.#access = access;
  }

  async getAnchor(req: Req, caller: Caller): Promise<Record<string, unknown>> {
    const window = u64('window', req.window);
    const w = await this.#anchors(caller).window(window);
    if (!w) throw new CairnError('NOT_FOUND', `anchor window ${window} not found`);
    return wireAnchor(w, this.#visibleTo(caller));
  }

  async listAnchors(req: Req, caller: Caller): Promise<{ anchors: Record<string, unknown>[] }> {
    const log = requestLog(req);
    const fromWindow = u64('from_window', req.fromWindow);
    const limit = typeof req.limit === 'number' && req.limit > 0 ? Math.min(req.limit, MAX_LIST_ANCHORS) : MAX_LIST_ANCHORS;
    const anchors = this.#anchors(caller);
    const ws = this.#access.canRead(caller, log) ? await anchors.windowsFor(log, fromWindow, limit) : [];
    return { anchors: ws.map((w) => wireAnchor(w, this.#visibleTo(caller))) };
  }

  async getAnchorProof(req: Req, caller: Caller): Promise<Record<string, unknown>> {
    const log = requestLog(req);
    const size = u64('size', req.size);
    const anchors = this.#anchors(caller);
    const found = this.#access.canRead(caller, log) ? await anchors.proofFor(log, size) : undefined;
    if (!found) throw new CairnError('NOT_FOUND', size === 0 ? `log ${log} has no committed anchor` : `no anchor window holds the checkpoint of ${log} at size ${size}`);
    return wireAnchorProof(found);
  }

  /** Called after every field is parsed, so a malformed request fails as INVALID_ARGUMENT first. */
  #anchors(caller: Caller): AnchorQueries {
    if (!this.#queries) throw new CairnError('FAILED_PRECONDITION', 'anchoring is off on this node (anchor_backend = off)');
    if (!this.#access.canAnchorRead(caller)) throw new CairnError('PERMISSION_DENIED', 'reading anchors needs the anchor:read rule');
    return this.#queries;
  }

  #visibleTo(caller: Caller): (log: string) => boolean {
    return (log) => this.#access.canRead(caller, log);
  }
}
