/**
 * Live state, one interface for every kind of cluster Cairn compares Git
 * against: a directory of YAML (the embedded default), an etcd key prefix, or
 * a Kubernetes API server. The engine lists once, then follows changes; a
 * source that loses its place (etcd compaction, Kubernetes 410 Gone) relists
 * by itself and says so with a `resync` event, so the engine never sees a gap.
 *
 * Objects are Kubernetes-shaped (apiVersion, kind, metadata.name,
 * metadata.namespace) whatever the source; keys are `objectKey(...)`.
 */

import type { ListKeySource } from './merge-keys.js';

/** A Kubernetes-style object as parsed from YAML or JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** `namespace/kind/name`; cluster-scoped objects have an empty namespace: `/kind/name`. */
export type ObjectKey = string;

export function objectKey(namespace: string | undefined, kind: string, name: string): ObjectKey {
  return `${namespace ?? ''}/${kind}/${name}`;
}

export type LiveEvent =
  | { type: 'upsert'; key: ObjectKey; object: KubeObject; receivedAt: bigint }
  | { type: 'delete'; key: ObjectKey; receivedAt: bigint }
  /** The source relisted (after compaction, 410 Gone, a reconnect): `objects` is the whole live state now. */
  | { type: 'resync'; objects: Map<ObjectKey, KubeObject>; receivedAt: bigint };

export interface LiveSnapshot {
  objects: Map<ObjectKey, KubeObject>;
  /** Source-specific resume point (etcd revision, resourceVersion, mtime digest). */
  version: string;
}

export interface LiveSource {
  readonly kind: 'dir' | 'etcd' | 'kubernetes';
  /** A description for logs and ledger entries, without credentials. */
  readonly describe: string;
  list(signal?: AbortSignal): Promise<LiveSnapshot>;
  /**
   * Follows changes after `from` (a snapshot's version) until `signal` aborts,
   * calling `onEvent` in order. Reconnects and relists by itself (with
   * jittered exponential backoff); rejects only when aborted or on a
   * configuration error it cannot recover from. `onRestart` is told each
   * time it reopens a watch or relists after a failure (an error, a silent
   * watch, a 410, a compaction, a disconnect), so the retries a source
   * handles itself are counted (`cairn_sync_watch_restarts_total`) and not
   * only logged.
   */
  watch(from: string, onEvent: (e: LiveEvent) => void, signal: AbortSignal, onRestart?: (reason: string) => void): Promise<void>;
  /** List keys it learned from the cluster (a CRD's schema), for the diff; absent: the built-in table alone. */
  readonly listKeys?: ListKeySource;
  /** Apply mode: make the live object equal `object` (null deletes it). Absent when the source is read-only. */
  apply?(key: ObjectKey, object: KubeObject | null): Promise<void>;
  close(): Promise<void>;
}
