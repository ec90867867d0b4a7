/**
 * Reading the bodies of the Argo CD and Flux intakes: typed getters that
 * name the JSON path at fault (`app.metadata.name`), and the request id that
 * makes a redelivered event record nothing new. The bodies are
 * attacker-controlled: nothing is trusted for its type or presence.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from '../core/errors.js';

export type JsonObject = Record<string, unknown>;

/** The object at `path`, or undefined when absent and not `required`. */
export function objectAt(v: unknown, path: string, required: true): JsonObject;
export function objectAt(v: unknown, path: string, required?: boolean): JsonObject | undefined;
export function objectAt(v: unknown, path: string, required = false): JsonObject | undefined {
  if (v === undefined || v === null) {
    if (required) throw invalidArgument(path, 'is required');
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(path, 'must be an object');
  return v as JsonObject;
}

/** The string at `path`; empty counts as absent. */
export function stringAt(v: unknown, path: string, required: true): string;
export function stringAt(v: unknown, path: string, required?: boolean): string | undefined;
export function stringAt(v: unknown, path: string, required = false): string | undefined {
  if (v === undefined || v === null || v === '') {
    if (required) throw invalidArgument(path, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') throw invalidArgument(path, 'must be a string');
  return v;
}

/** The array at `path` (empty when absent). */
export function arrayAt(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(path, 'must be an array');
  return v;
}

/** A string array at `path` (absent when absent or empty). */
export function stringsAt(v: unknown, path: string): string[] | undefined {
  const a = arrayAt(v, path).map((x, i) => stringAt(x, `${path}[${i}]`, true));
  return a.length > 0 ? a : undefined;
}

/** The fields of `o` that are set, in order: absent optional values stay out of the payload. */
export function defined(o: Record<string, unknown>): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const COMMIT_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * The Git commit a revision names, or '' when it names none (a Helm chart
 * version, an OCI digest). Flux writes `<ref>@sha1:<hash>` (and before Flux
 * 2.0 `<ref>/<hash>`); Argo CD the bare hash.
 */
export function commitOf(revision: string | undefined): string {
  if (!revision) return '';
  const m = /^(?:.*@sha1:|[^@]*\/)?([0-9a-f]{40})$/.exec(revision);
  if (m) return m[1]!;
  return COMMIT_RE.test(revision) && !revision.includes(':') ? revision : '';
}

/**
 * The request id of an event: `<prefix>-` and the SHA-256 of the facts that
 * identify it. A redelivery (the sender's retry) carries the same facts, so
 * the ledger answers the first receipt and records nothing new.
 */
export function eventRequestId(prefix: string, identity: readonly (string | undefined)[]): string {
  return `${prefix}-${createHash('sha256').update(JSON.stringify(identity.map((x) => x ?? null))).digest('hex')}`;
}
