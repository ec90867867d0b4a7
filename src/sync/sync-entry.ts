/**
 * The ledger entries a sync target records, and their reading back.
 *
 * | field       | value |
 * |-------------|-------|
 * | log         | the target's log (default `sync`) |
 * | configId    | the object key `namespace/kind/name` (a key over 256 characters is cut and suffixed with a hash); for a manifest error, `file:<path>` |
 * | operator    | `cairn-sync/<target>` |
 * | action      | `drift.added_in_cluster`, `drift.removed_from_cluster`, `drift.modified`, `drift.resolved`, `sync.applied`, `sync.error` |
 * | commit      | the desired-state commit |
 * | source      | the target's description (Git repository and live source, no credentials) |
 * | payload     | {@link SyncPayload}: target, key, status, masked RFC 6902 patch, commit, patchDigest |
 * | requestId   | `sync-` + 40 hex of SHA-256 over (target, key, action, commit, patchDigest, previous seq of this key) |
 *
 * Why the request id has the previous seq: the same drift can come back
 * after it was resolved (flapping) and must be recorded again, while a retry
 * of one append (after a lost reply or a crash) must not be. The previous
 * entry of the key tells the two apart: a retry has the same one, a
 * recurrence has the resolution in between.
 *
 * Pure module: no Node-only imports.
 */
import { canonicalize } from 'json-canonicalize';
import { sha256 } from '#crypto';
import { toHex, utf8 } from '../core/bytes.js';
import type { AppendInput } from '../core/append-request.js';
import type { EntryBody } from '../core/entry.js';
import { readSyncRecord, SYNC_OPERATOR_PREFIX, type SyncAction, type SyncStatus } from '../core/sync-record.js';
import type { DriftStatus, JsonPatchOp } from './diff.js';
import type { ObjectKey } from './live-source.js';

export type { SyncAction, SyncStatus } from '../core/sync-record.js';

export const DRIFT_ACTION: Readonly<Record<DriftStatus, SyncAction>> = {
  ADDED_IN_CLUSTER: 'drift.added_in_cluster',
  REMOVED_FROM_CLUSTER: 'drift.removed_from_cluster',
  MODIFIED: 'drift.modified',
};

export interface SyncPayload {
  target: string;
  /** Null for an error that concerns no single object (a manifest that does not parse). */
  key: ObjectKey | null;
  /** For drift.resolved: RESOLVED; sync.applied: the drift that was fixed; sync.error: ERROR. */
  status: SyncStatus;
  /** Masked; null when left out to fit the payload limit (see `truncated`). */
  patch: JsonPatchOp[] | null;
  commit: string;
  /** Hex SHA-256 of the RFC 8785 form of the (masked) patch: the drift's identity. */
  patchDigest: string;
  /** drift.resolved and sync.applied: the seq of the drift entry they close, when there was one. */
  resolves?: number;
  /** sync.error: what failed (never quotes a Secret or a manifest's text). */
  error?: string;
  file?: string;
  document?: number;
  truncated?: true;
}

export { SYNC_OPERATOR_PREFIX } from '../core/sync-record.js';
export const TARGET_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const CONFIG_ID_MAX = 256;
const SOURCE_MAX = 512;

export function operatorOf(target: string): string {
  return SYNC_OPERATOR_PREFIX + target;
}

export function configIdOf(key: string): string {
  const clean = key.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').trim() || '?';
  if (clean.length <= CONFIG_ID_MAX) return clean;
  return `${clean.slice(0, CONFIG_ID_MAX - 18)}~${toHex(sha256(utf8(key))).slice(0, 16)}`;
}

export function requestIdOf(parts: readonly (string | number | null)[]): string {
  return 'sync-' + toHex(sha256(utf8(canonicalize(['cairn-sync/v1', ...parts])))).slice(0, 40);
}

/**
 * The append for one sync entry. A payload over `maxPayloadBytes` loses its
 * patch (kept: digest, status, key), so recording never fails for size.
 */
export function syncAppend(args: {
  log: string;
  target: string;
  source: string;
  action: SyncAction;
  configId: string;
  payload: SyncPayload;
  /** Seq of the previous entry of this key by this target, or null. */
  parentSeq: number | null;
  /** Extra identity for errors (message, file). */
  extra?: string;
  maxPayloadBytes?: number;
}): AppendInput {
  const max = args.maxPayloadBytes ?? 64 * 1024;
  let json = JSON.stringify(args.payload);
  if (utf8(json).length > max) json = JSON.stringify({ ...args.payload, patch: null, truncated: true });
  if (utf8(json).length > max && args.payload.error) json = JSON.stringify({ ...args.payload, patch: null, truncated: true, error: args.payload.error.slice(0, 1024) });
  const p = args.payload;
  return {
    log: args.log,
    configId: configIdOf(args.configId),
    operator: operatorOf(args.target),
    action: args.action,
    source: args.source.length > SOURCE_MAX ? args.source.slice(0, SOURCE_MAX - 1) + '…' : args.source,
    commit: p.commit,
    payloadJson: json,
    requestId: requestIdOf([args.target, p.key, args.action, p.commit, p.patchDigest, args.parentSeq, args.extra ?? null]),
  };
}

export interface SyncRecord {
  seq: number;
  time: string;
  target: string;
  action: SyncAction;
  commit: string;
  payload: SyncPayload;
}

/** A decoded entry as a sync record, or undefined when it is not one (read by core/sync-record.ts, the one reader). */
export function readSyncEntry(body: EntryBody): SyncRecord | undefined {
  return readSyncRecord(body) as SyncRecord | undefined;
}
