/**
 * An Argo CD Notifications webhook body (what the templates of
 * docs/integrations/argocd.md render) as an AppendRequest. The body carries
 * the parts of the Application resource (argoproj.io/v1alpha1) the entry
 * needs: metadata, spec.project and spec.destination, status.sync,
 * status.health and status.operationState (operation.initiatedBy,
 * syncResult.revision(s) and syncResult.resources).
 *
 * The entry: action `argocd.<event>`, configId `argocd/<project>/<app>`,
 * commit the synced revision, operator the user who started the sync or
 * `automated`, source the Argo CD instance, and a payload with destination,
 * sync and health status and the resources the operation touched.
 */
import { invalidArgument } from '../core/errors.js';
import type { Req } from '../server/wire.js';
import { arrayAt, commitOf, defined, eventRequestId, objectAt, stringAt, stringsAt, type JsonObject } from './intake-fields.js';

const EVENT_RE = /^[a-z][a-z0-9-]{0,39}$/;
const BODY_KEYS = ['event', 'instance', 'app'];

function resource(v: unknown, path: string): JsonObject {
  const r = objectAt(v, path, true);
  const s = (k: string): string | undefined => stringAt(r[k], `${path}.${k}`);
  return defined({ group: s('group'), version: s('version'), kind: s('kind'), namespace: s('namespace'), name: s('name'), status: s('status'), message: s('message'), hookPhase: s('hookPhase'), syncPhase: s('syncPhase') });
}

/** Who started the operation: the user, `automated`, or `unknown` when the body does not say. */
function initiator(op: JsonObject | undefined): string {
  const by = objectAt(op?.initiatedBy, 'app.status.operationState.operation.initiatedBy');
  const user = stringAt(by?.username, 'app.status.operationState.operation.initiatedBy.username');
  if (user) return user;
  if (by?.automated !== undefined && typeof by.automated !== 'boolean') throw invalidArgument('app.status.operationState.operation.initiatedBy.automated', 'must be a boolean');
  return by?.automated === true ? 'automated' : 'unknown';
}

/**
 * @throws CairnError INVALID_ARGUMENT naming the JSON path at fault
 */
export function argocdAppendReq(log: string, body: JsonObject): Req {
  for (const k of Object.keys(body)) if (!BODY_KEYS.includes(k)) throw invalidArgument(k, `is not a field of an Argo CD event (${BODY_KEYS.join(', ')})`);
  const event = stringAt(body.event, 'event', true);
  if (!EVENT_RE.test(event)) throw invalidArgument('event', 'must match [a-z][a-z0-9-]{0,39} (sync-succeeded, sync-failed, sync-running, health-degraded, deployed)');
  const instance = stringAt(body.instance, 'instance') ?? '';
  const app = objectAt(body.app, 'app', true);
  const metadata = objectAt(app.metadata, 'app.metadata', true);
  const name = stringAt(metadata.name, 'app.metadata.name', true);
  const namespace = stringAt(metadata.namespace, 'app.metadata.namespace');
  const uid = stringAt(metadata.uid, 'app.metadata.uid');
  const spec = objectAt(app.spec, 'app.spec', true);
  const project = stringAt(spec.project, 'app.spec.project', true);
  const destination = objectAt(spec.destination, 'app.spec.destination');
  const status = objectAt(app.status, 'app.status') ?? {};
  const sync = objectAt(status.sync, 'app.status.sync');
  const health = objectAt(status.health, 'app.status.health');
  const opState = objectAt(status.operationState, 'app.status.operationState');
  const operation = objectAt(opState?.operation, 'app.status.operationState.operation');
  const opSync = objectAt(operation?.sync, 'app.status.operationState.operation.sync');
  const result = objectAt(opState?.syncResult, 'app.status.operationState.syncResult');

  const revision =
    stringAt(result?.revision, 'app.status.operationState.syncResult.revision') ??
    stringAt(opSync?.revision, 'app.status.operationState.operation.sync.revision') ??
    stringAt(sync?.revision, 'app.status.sync.revision');
  const revisions =
    stringsAt(result?.revisions, 'app.status.operationState.syncResult.revisions') ??
    stringsAt(opSync?.revisions, 'app.status.operationState.operation.sync.revisions') ??
    stringsAt(sync?.revisions, 'app.status.sync.revisions');
  const resources = arrayAt(result?.resources, 'app.status.operationState.syncResult.resources').map((r, i) => resource(r, `app.status.operationState.syncResult.resources[${i}]`));
  const phase = stringAt(opState?.phase, 'app.status.operationState.phase');
  const startedAt = stringAt(opState?.startedAt, 'app.status.operationState.startedAt');
  const healthStatus = stringAt(health?.status, 'app.status.health.status');
  const healthSince = stringAt(health?.lastTransitionTime, 'app.status.health.lastTransitionTime');
  const operator = initiator(operation);

  const payload = defined({
    app: defined({ name, namespace }),
    project,
    destination: destination && defined({ server: stringAt(destination.server, 'app.spec.destination.server'), name: stringAt(destination.name, 'app.spec.destination.name'), namespace: stringAt(destination.namespace, 'app.spec.destination.namespace') }),
    revision,
    revisions,
    sync: sync && defined({ status: stringAt(sync.status, 'app.status.sync.status') }),
    health: health && defined({ status: healthStatus, message: stringAt(health.message, 'app.status.health.message') }),
    operation: opState && defined({ phase, message: stringAt(opState.message, 'app.status.operationState.message'), startedAt, finishedAt: stringAt(opState.finishedAt, 'app.status.operationState.finishedAt'), initiatedBy: operator }),
    resources,
  });
  return {
    log,
    configId: `argocd/${project}/${name}`,
    operator,
    action: `argocd.${event}`,
    source: instance,
    // A multi-source application syncs several revisions: no one commit, each is in the payload.
    commit: revisions && revisions.length > 1 ? '' : commitOf(revision ?? revisions?.[0]),
    payloadJson: JSON.stringify(payload),
    requestId: eventRequestId('argocd', [instance, namespace, name, uid, event, revision, ...(revisions ?? []), startedAt, phase, healthStatus, healthSince]),
  };
}
