/**
 * What the Kubernetes API server does to an object on its way in, done to
 * both sides before they are compared, so that a manifest and the object
 * the server made of it compare equal. Each case is a false positive Argo
 * CD documents or handles (docs/sync.md lists them, and the ones left).
 *
 * - Secret `stringData` is written into `data`, base64-encoded, overwriting
 *   a `data` entry of the same name; `stringData` itself is never stored
 *   (core/v1 Secret: "stringData ... is merged into the data field on
 *   write"). Argo CD issue #763.
 * - A Secret `data` (or ConfigMap `binaryData`) value is bytes sent as
 *   base64: Go's decoder skips `\r` and `\n`, so a certificate wrapped over
 *   lines in a YAML block comes back as one line.
 * - A `null` value in a Secret's or ConfigMap's `data` is stored as the empty
 *   string (a map of strings or bytes has no null). Argo CD issue #943.
 * - An aggregated ClusterRole's `rules` are written by the controller from
 *   the selected roles, overwriting whatever the manifest says
 *   (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#aggregated-clusterroles);
 *   Argo CD's `ignoreAggregatedRoles`.
 *
 * {@link OMITTED_WHEN_FALSE} serves the diff itself: it needs both sides.
 *
 * Pure module: no Node-only imports.
 */
import { toBase64, utf8 } from '../core/bytes.js';
import type { KubeObject } from './live-source.js';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Booleans that are plain `bool` with `omitempty` in the Kubernetes types,
 * so the server never returns `false`, and whose absence means `false`:
 * `readOnly` (volume mounts and volume sources), a container's `stdin`,
 * `stdinOnce`, `tty`, a pod's `hostNetwork`, `hostPID`, `hostIPC`, a
 * Deployment's `paused`, a Service's `publishNotReadyAddresses`, a CRD's
 * `preserveUnknownFields` (Argo CD 3 reports CRDs that set it to false as
 * OutOfSync). Fields whose absence means `true` (`automountServiceAccountToken`,
 * `enableServiceLinks`) are pointers the server keeps, and stay compared.
 */
export const OMITTED_WHEN_FALSE: ReadonlySet<string> = new Set(['readOnly', 'stdin', 'stdinOnce', 'tty', 'hostNetwork', 'hostPID', 'hostIPC', 'paused', 'publishNotReadyAddresses', 'preserveUnknownFields']);

const isCore = (o: KubeObject): boolean => o.apiVersion === undefined || o.apiVersion === 'v1';

/** Bytes fields: base64 without the line breaks Go's decoder skips; null is empty. */
function normalizeBytesMap(m: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(m)) {
    const n = v === null ? '' : typeof v === 'string' && /[\r\n]/.test(v) ? v.replace(/[\r\n]/g, '') : v;
    if (n !== v) (out ??= { ...m })[k] = n;
  }
  return out ?? m;
}

function normalizeStringMap(m: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(m)) if (v === null) (out ??= { ...m })[k] = '';
  return out ?? m;
}

/**
 * The object as the API server would store it, for the cases above; the
 * input is not modified, and is returned as is when no case applies.
 */
export function normalizeApiObject(o: KubeObject): KubeObject {
  if (o.kind === 'Secret' && isCore(o)) {
    const { stringData, ...rest } = o;
    let data = isObject(o.data) ? normalizeBytesMap(o.data) : o.data;
    if (isObject(stringData)) {
      const merged: Record<string, unknown> = isObject(data) ? { ...data } : {};
      // A non-string value stays as it is, so that a malformed manifest still differs.
      for (const [k, v] of Object.entries(stringData)) merged[k] = typeof v === 'string' ? toBase64(utf8(v)) : v === null ? '' : v;
      data = merged;
    } else if (stringData !== undefined && stringData !== null) return o;
    if (data === o.data && stringData === undefined) return o;
    const out: KubeObject = { ...rest };
    if (data !== undefined) out.data = data;
    return out;
  }
  if (o.kind === 'ConfigMap' && isCore(o)) {
    const data = isObject(o.data) ? normalizeStringMap(o.data) : o.data;
    const binaryData = isObject(o.binaryData) ? normalizeBytesMap(o.binaryData) : o.binaryData;
    if (data === o.data && binaryData === o.binaryData) return o;
    const out: KubeObject = { ...o };
    if (data !== o.data) out.data = data;
    if (binaryData !== o.binaryData) out.binaryData = binaryData;
    return out;
  }
  if (o.kind === 'ClusterRole' && o.apiVersion === 'rbac.authorization.k8s.io/v1' && isObject(o.aggregationRule) && o.rules !== undefined) {
    const { rules: _rules, ...rest } = o;
    return rest as KubeObject;
  }
  return o;
}
