/**
 * A Flux event (fluxcd/pkg/apis/event/v1 Event, as notification-controller's
 * generic-hmac provider posts it) as an AppendRequest: action
 * `flux.<reason>`, configId `flux/<kind>/<namespace>/<name>`, commit from
 * the revision in the event's metadata, operator the reporting controller.
 * The signature is checked before this runs (hmac-key.ts).
 */
import { invalidArgument } from '../core/errors.js';
import type { Req } from '../server/wire.js';
import { commitOf, defined, eventRequestId, objectAt, stringAt, type JsonObject } from './intake-fields.js';

/** `flux.` + reason must be a valid action: [A-Za-z0-9][A-Za-z0-9._:/-]{0,63}. */
const REASON_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,58}$/;
const SEVERITIES = ['info', 'error', 'trace'];

/**
 * Flux controllers put the revision in metadata under `<API group>/revision`
 * (`kustomize.toolkit.fluxcd.io/revision`); some send it as `revision`.
 */
function revisionOf(metadata: Record<string, string>, apiVersion: string | undefined): string | undefined {
  if (metadata.revision) return metadata.revision;
  const group = apiVersion?.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : undefined;
  return group ? metadata[`${group}/revision`] : undefined;
}

function stringMap(v: unknown, path: string): Record<string, string> {
  const o = objectAt(v, path) ?? {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== 'string') throw invalidArgument(`${path}.${k}`, 'must be a string');
    out[k] = x;
  }
  return out;
}

/**
 * @throws CairnError INVALID_ARGUMENT naming the JSON path at fault
 */
export function fluxAppendReq(log: string, body: JsonObject): Req {
  const obj = objectAt(body.involvedObject, 'involvedObject', true);
  const kind = stringAt(obj.kind, 'involvedObject.kind', true);
  const namespace = stringAt(obj.namespace, 'involvedObject.namespace', true);
  const name = stringAt(obj.name, 'involvedObject.name', true);
  const apiVersion = stringAt(obj.apiVersion, 'involvedObject.apiVersion');
  const uid = stringAt(obj.uid, 'involvedObject.uid');
  const severity = stringAt(body.severity, 'severity', true);
  if (!SEVERITIES.includes(severity)) throw invalidArgument('severity', `must be one of ${SEVERITIES.join(', ')}`);
  const reason = stringAt(body.reason, 'reason', true);
  if (!REASON_RE.test(reason)) throw invalidArgument('reason', 'must match [A-Za-z0-9][A-Za-z0-9._:/-]{0,58}');
  const message = stringAt(body.message, 'message', true);
  const controller = stringAt(body.reportingController, 'reportingController', true);
  const instance = stringAt(body.reportingInstance, 'reportingInstance');
  const timestamp = stringAt(body.timestamp, 'timestamp', true);
  const metadata = stringMap(body.metadata, 'metadata');
  const revision = revisionOf(metadata, apiVersion);

  const payload = defined({
    involvedObject: defined({ apiVersion, kind, namespace, name, uid }),
    severity,
    reason,
    message,
    revision,
    metadata: Object.keys(metadata).length > 0 ? metadata : undefined,
    reportingController: controller,
    reportingInstance: instance,
    timestamp,
  });
  return {
    log,
    configId: `flux/${kind}/${namespace}/${name}`,
    operator: controller,
    action: `flux.${reason}`,
    source: instance ?? controller,
    commit: commitOf(revision),
    payloadJson: JSON.stringify(payload),
    requestId: eventRequestId('flux', [kind, namespace, name, uid, reason, severity, revision, timestamp, message]),
  };
}
