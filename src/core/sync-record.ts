/**
 * Reading a sync target's entries (docs/sync.md, "Entries"): which entries
 * are sync records, and the payload fields every reader relies on. The
 * writer is src/sync/sync-entry.ts; this half lives in core so that readers
 * that must stay pure (reports, a browser) read them the one same way.
 *
 * Pure module: no Node-only imports.
 */
import type { EntryBody } from './entry.js';

export type SyncAction = 'drift.added_in_cluster' | 'drift.removed_from_cluster' | 'drift.modified' | 'drift.resolved' | 'sync.applied' | 'sync.error';
/** A drift's status (ADDED_IN_CLUSTER, REMOVED_FROM_CLUSTER, MODIFIED), RESOLVED, or ERROR. */
export type SyncStatus = 'ADDED_IN_CLUSTER' | 'REMOVED_FROM_CLUSTER' | 'MODIFIED' | 'RESOLVED' | 'ERROR';

export const SYNC_OPERATOR_PREFIX = 'cairn-sync/';
export const SYNC_ACTIONS: ReadonlySet<string> = new Set<SyncAction>(['drift.added_in_cluster', 'drift.removed_from_cluster', 'drift.modified', 'drift.resolved', 'sync.applied', 'sync.error']);

/** The payload fields checked when reading; the writer's full shape is SyncPayload in src/sync/sync-entry.ts. */
export interface SyncPayloadFields {
  target: string;
  key: string | null;
  status: SyncStatus;
  patchDigest: string;
  resolves?: number;
}

export interface SyncRecordOf<P extends SyncPayloadFields = SyncPayloadFields> {
  seq: number;
  time: string;
  target: string;
  action: SyncAction;
  commit: string;
  payload: P;
}

/** A decoded entry as a sync record, or undefined when it is not one (another writer shares the log). */
export function readSyncRecord(body: EntryBody): SyncRecordOf | undefined {
  if (!body.operator.startsWith(SYNC_OPERATOR_PREFIX) || !SYNC_ACTIONS.has(body.action)) return undefined;
  const p = body.payload as Partial<SyncPayloadFields> | null;
  if (p === null || typeof p !== 'object' || typeof p.target !== 'string' || typeof p.patchDigest !== 'string' || typeof p.status !== 'string') return undefined;
  if (p.key !== null && typeof p.key !== 'string') return undefined;
  return { seq: body.seq, time: body.time, target: body.operator.slice(SYNC_OPERATOR_PREFIX.length), action: body.action as SyncAction, commit: body.commit, payload: p as SyncPayloadFields };
}
