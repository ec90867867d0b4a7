/**
 * The Argo CD and Flux intakes against a real node: realistic events become
 * the entries docs/integrations/ describe, a redelivered event is recorded
 * once, and a malformed, oversized or (Flux) unsigned body is refused with
 * its precise status and stores nothing.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { startTestNode, tempDir } from './helpers/node.js';
import { httpCall, type HttpAnswer } from './helpers/http.js';
import { OpenApiCheck } from './helpers/openapi-check.js';
import { loadConfig } from '../src/node/config.js';
import { startNode } from '../src/node/node.js';
import { createLogger } from '../src/node/logger.js';
import { createToken } from '../src/auth/tokens.js';

const check = new OpenApiCheck();
const problems: string[] = [];

const REVISION = '731f7eaddfb6af01cb2173e18f0f75b0ba780ef1';

/**
 * What the argocd-notifications-cm templates of docs/integrations/argocd.md render for
 * an Application: metadata, spec (project, destination) and status (sync, health,
 * operationState) picked from argoproj.io/v1alpha1 Application, as Argo CD stores it.
 */
function argoEvent(event: string, over: { initiatedBy?: object; phase?: string; health?: string; startedAt?: string; resources?: object[] } = {}): Record<string, unknown> {
  return {
    event,
    instance: 'https://argocd.example.com',
    app: {
      metadata: { name: 'guestbook', namespace: 'argocd', uid: '1b3c2f7e-8f6a-4c4e-9c41-0e6f0c5a2d11' },
      spec: { project: 'payments', destination: { server: 'https://kubernetes.default.svc', namespace: 'guestbook' } },
      status: {
        sync: { status: 'Synced', revision: REVISION, comparedTo: { source: { repoURL: 'https://git.example.com/guestbook.git', path: 'deploy', targetRevision: 'main' }, destination: { server: 'https://kubernetes.default.svc', namespace: 'guestbook' } } },
        health: { status: over.health ?? 'Healthy', lastTransitionTime: '2024-05-01T10:00:07Z' },
        operationState: {
          operation: { sync: { revision: REVISION, syncStrategy: { hook: {} } }, initiatedBy: over.initiatedBy ?? { username: 'admin' }, retry: {} },
          phase: over.phase ?? 'Succeeded',
          message: 'successfully synced (all tasks run)',
          startedAt: over.startedAt ?? '2024-05-01T10:00:00Z',
          finishedAt: '2024-05-01T10:00:06Z',
          syncResult: {
            revision: REVISION,
            source: { repoURL: 'https://git.example.com/guestbook.git', path: 'deploy', targetRevision: 'main' },
            resources: over.resources ?? [
              { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'guestbook', name: 'guestbook-ui', status: 'Synced', message: 'deployment.apps/guestbook-ui configured', hookPhase: 'Running', syncPhase: 'Sync' },
              { group: '', version: 'v1', kind: 'Service', namespace: 'guestbook', name: 'guestbook-ui', status: 'Synced', message: 'service/guestbook-ui unchanged', hookPhase: 'Running', syncPhase: 'Sync' },
            ],
          },
        },
      },
    },
  };
}

function fluxEvent(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    involvedObject: { apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', name: 'webapp', namespace: 'apps', uid: '7d0cdc51-ddcf-4743-b223-83ca5c699632' },
    metadata: { 'kustomize.toolkit.fluxcd.io/revision': `main@sha1:${REVISION}` },
    severity: 'info',
    reason: 'ReconciliationSucceeded',
    message: 'Reconciliation finished in 1.2s, next run in 10m0s',
    reportingController: 'kustomize-controller',
    reportingInstance: 'kustomize-controller-7c7b47f5f-8bhrp',
    timestamp: '2024-05-01T10:00:00Z',
    ...over,
  };
}

const sign = (key: string, body: string | Buffer): string => `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;

async function size(base: string, log: string): Promise<number> {
  const a = await httpCall(base, 'GET', `/v1/logs/${log}/checkpoint`);
  return a.status === 404 ? 0 : a.json.size;
}

t.test('Argo CD: each event becomes an argocd.<event> entry on argocd/<project>/<app>', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const post = async (body: unknown, log = 'gitops'): Promise<HttpAnswer> => {
    const a = await httpCall(base, 'POST', `/v1/hooks/argocd?log=${log}`, { body: body as object });
    problems.push(...check.problems('POST', '/v1/hooks/argocd', a));
    return a;
  };

  const ok = await post(argoEvent('sync-succeeded'));
  t.equal(ok.status, 200);
  const f = ok.json.entry.fields;
  t.same(
    { action: f.action, configId: f.configId, commit: f.commit, operator: f.operator, source: f.source },
    { action: 'argocd.sync-succeeded', configId: 'argocd/payments/guestbook', commit: REVISION, operator: 'admin', source: 'https://argocd.example.com' },
  );
  t.same(f.payload.destination, { server: 'https://kubernetes.default.svc', namespace: 'guestbook' });
  t.same([f.payload.sync.status, f.payload.health.status, f.payload.operation.phase], ['Synced', 'Healthy', 'Succeeded']);
  t.same(f.payload.resources.map((r: any) => `${r.kind}/${r.name}:${r.status}`), ['Deployment/guestbook-ui:Synced', 'Service/guestbook-ui:Synced'], 'the resources the operation touched');

  const again = await post(argoEvent('sync-succeeded'));
  t.same([again.status, again.json.replayed, again.json.seq], [200, true, ok.json.seq], 'Argo CD\'s retry of the same event answers the first receipt');
  t.equal(await size(base, 'gitops'), 1, 'and records nothing new');

  const auto = await post(argoEvent('sync-running', { initiatedBy: { automated: true }, phase: 'Running', startedAt: '2024-05-01T11:00:00Z' }));
  t.equal(auto.json.entry.fields.operator, 'automated', 'an automated sync has the operator automated');
  const failed = await post(argoEvent('sync-failed', { phase: 'Failed', startedAt: '2024-05-01T11:00:00Z' }));
  const degraded = await post(argoEvent('health-degraded', { health: 'Degraded' }));
  const deployed = await post(argoEvent('deployed'));
  t.same([failed, degraded, deployed].map((a) => a.json.entry.fields.action), ['argocd.sync-failed', 'argocd.health-degraded', 'argocd.deployed']);
  t.equal(await size(base, 'gitops'), 5, 'distinct events are distinct entries');

  const helm = argoEvent('sync-succeeded', { startedAt: '2024-05-02T00:00:00Z' }) as any;
  helm.app.status.operationState.syncResult.revision = '6.3.0';
  t.equal((await post(helm)).json.entry.fields.commit, '', 'a Helm chart version is no commit; the payload keeps it');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('Argo CD: malformed and oversized bodies are a precise 400 and store nothing', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const mutate = (f: (b: any) => void): Record<string, unknown> => {
    const b = argoEvent('sync-succeeded') as any;
    f(b);
    return b;
  };
  const cases: [string, unknown, string][] = [
    ['no app name', mutate((b) => delete b.app.metadata.name), 'app.metadata.name'],
    ['a project that is a number', mutate((b) => (b.app.spec.project = 7)), 'app.spec.project'],
    ['an event with spaces', mutate((b) => (b.event = 'sync succeeded')), 'event'],
    ['no event', mutate((b) => delete b.event), 'event'],
    ['resources that are not a list', mutate((b) => (b.app.status.operationState.syncResult.resources = {})), 'app.status.operationState.syncResult.resources'],
    ['a resource that is not an object', mutate((b) => (b.app.status.operationState.syncResult.resources = ['x'])), 'app.status.operationState.syncResult.resources[0]'],
    ['initiatedBy.automated that is a string', mutate((b) => (b.app.status.operationState.operation.initiatedBy = { automated: 'yes' })), 'app.status.operationState.operation.initiatedBy.automated'],
    ['an unknown top-level field', mutate((b) => (b.extra = 1)), 'extra'],
    ['a log that is not a log name', argoEvent('sync-succeeded'), 'log'],
    ['the whole app, with more resources than max_payload_bytes holds', mutate((b) => (b.app.status.operationState.syncResult.resources = Array.from({ length: 2000 }, (_, i) => ({ kind: 'ConfigMap', name: `cm-${i}`, namespace: 'guestbook', status: 'Synced', message: 'configmap configured' })))), 'payload_json'],
  ];
  const wrong: string[] = [];
  for (const [what, body, field] of cases) {
    const a = await httpCall(base, 'POST', `/v1/hooks/argocd?log=${field === 'log' ? 'Git_Ops' : 'gitops'}`, { body: body as object });
    problems.push(...check.problems('POST', '/v1/hooks/argocd', a));
    if (a.status !== 400 || a.json?.field !== field) wrong.push(`${what}: ${a.status} ${a.text.slice(0, 200)}`);
  }
  const raw: [string, Buffer | string, string][] = [
    ['not JSON', '{"event": "sync-succeeded", "app": ', 'body'],
    ['a JSON string', '"sync-succeeded"', 'body'],
    ['a body over the node\'s request limit', Buffer.concat([Buffer.from('{"event":"x","pad":"'), Buffer.alloc(4 * 1024 * 1024, 0x61), Buffer.from('"}')]), 'body'],
  ];
  for (const [what, body, field] of raw) {
    const a = await httpCall(base, 'POST', '/v1/hooks/argocd?log=gitops', { body, headers: { 'content-type': 'application/json' } });
    problems.push(...check.problems('POST', '/v1/hooks/argocd', a));
    if (a.status !== 400 || a.json?.field !== field) wrong.push(`${what}: ${a.status} ${a.text.slice(0, 200)}`);
  }
  t.same(wrong, [], 'bodies not refused with 400 naming the field');
  t.equal(await size(base, 'gitops'), 0, 'nothing was stored');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('Argo CD: the intake needs the credentials any append needs', async (t) => {
  const dir = await tempDir('cairn-hooks-auth-');
  t.teardown(dir.remove);
  const argo = createToken('argocd');
  await writeFile(join(dir.path, 'policy.yaml'), ['tenants:', '  gitops: [append:gitops, read:gitops]', 'identities:', "  - { match: 'token:argocd', tenant: gitops }", ''].join('\n'));
  await writeFile(join(dir.path, 'tokens'), `${argo.line}\n`);
  const tn = await startTestNode({ 'policy-file': join(dir.path, 'policy.yaml'), 'tokens-file': join(dir.path, 'tokens') });
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const anonymous = await httpCall(base, 'POST', '/v1/hooks/argocd?log=gitops', { body: argoEvent('sync-succeeded') });
  t.equal(anonymous.status, 401);
  const elsewhere = await httpCall(base, 'POST', '/v1/hooks/argocd?log=prod', { body: argoEvent('sync-succeeded'), headers: { authorization: `Bearer ${argo.token}` } });
  t.equal(elsewhere.status, 403, 'a log the token may not append to');
  const ok = await httpCall(base, 'POST', '/v1/hooks/argocd?log=gitops', { body: argoEvent('sync-succeeded'), headers: { authorization: `Bearer ${argo.token}` } });
  t.same([ok.status, ok.json.entry.fields.identity], [200, 'token:argocd'], 'the Argo CD token is the recorded identity');
});

t.test('Flux: a signed event becomes a flux.<reason> entry; the signature is checked before anything is parsed', async (t) => {
  const dir = await tempDir('cairn-hooks-flux-');
  t.teardown(dir.remove);
  const key = randomBytes(32).toString('base64');
  await writeFile(join(dir.path, 'flux.key'), `${key}\n`);
  const tn = await startTestNode({ 'flux-hmac-key-file': join(dir.path, 'flux.key') });
  t.teardown(() => tn.close());
  const base = tn.node.httpAddress!;
  const post = async (body: string | Buffer, signature: string | undefined): Promise<HttpAnswer> => {
    const a = await httpCall(base, 'POST', '/v1/hooks/flux?log=gitops', { body, headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'x-signature': signature }) } });
    problems.push(...check.problems('POST', '/v1/hooks/flux', a));
    return a;
  };

  const body = JSON.stringify(fluxEvent());
  const ok = await post(body, sign(key, body));
  t.equal(ok.status, 200);
  const f = ok.json.entry.fields;
  t.same(
    { action: f.action, configId: f.configId, commit: f.commit, operator: f.operator, source: f.source },
    { action: 'flux.ReconciliationSucceeded', configId: 'flux/Kustomization/apps/webapp', commit: REVISION, operator: 'kustomize-controller', source: 'kustomize-controller-7c7b47f5f-8bhrp' },
  );
  t.same([f.payload.severity, f.payload.revision, f.payload.message], ['info', `main@sha1:${REVISION}`, 'Reconciliation finished in 1.2s, next run in 10m0s']);
  const again = await post(body, sign(key, body));
  t.same([again.json.replayed, await size(base, 'gitops')], [true, 1], 'the same event delivered twice is recorded once');

  const legacy = JSON.stringify(fluxEvent({ metadata: { revision: `main/${REVISION}` }, reason: 'Progressing', timestamp: '2024-05-01T10:05:00Z' }));
  t.equal((await post(legacy, sign(key, legacy))).json.entry.fields.commit, REVISION, 'a Flux 1 style revision names its commit');
  const oci = JSON.stringify(fluxEvent({ metadata: { revision: `sha256:${'c'.repeat(64)}` }, reason: 'ArtifactUpToDate', timestamp: '2024-05-01T10:06:00Z' }));
  t.equal((await post(oci, sign(key, oci))).json.entry.fields.commit, '', 'an OCI digest is no commit');
  t.equal(await size(base, 'gitops'), 3);

  const tampered = body.replace('webapp', 'webapq');
  const refused: [string, string | Buffer, string | undefined][] = [
    ['no signature', body, undefined],
    ['a signature of another body', tampered, sign(key, body)],
    ['a signature under another key', body, sign(randomBytes(32).toString('base64'), body)],
    ['a signature in upper-case hex', body, sign(key, body).toUpperCase().replace('SHA256=', 'sha256=')],
    ['another hash function', body, `sha512=${createHmac('sha512', key).update(body).digest('hex')}`],
    ['a truncated signature', body, sign(key, body).slice(0, -2)],
    ['a malformed body with a wrong signature (401, not 400: nothing is parsed)', '{not json', sign(key, 'x')],
  ];
  const wrong: string[] = [];
  for (const [what, b, s] of refused) {
    const a = await post(b, s);
    if (a.status !== 401 || a.json?.code !== 'UNAUTHENTICATED') wrong.push(`${what}: ${a.status} ${a.text}`);
  }
  t.same(wrong, [], 'bodies not refused with 401');
  t.equal(await size(base, 'gitops'), 3, 'nothing was stored');

  const badJson = '{"involvedObject": ';
  const signedGarbage = await post(badJson, sign(key, badJson));
  t.same([signedGarbage.status, signedGarbage.json.field], [400, 'body'], 'a signed body that is not JSON: 400');
  const noKind = JSON.stringify(fluxEvent({ involvedObject: { name: 'webapp', namespace: 'apps' } }));
  t.same([(await post(noKind, sign(key, noKind))).json.field], ['involvedObject.kind']);
  const badSeverity = JSON.stringify(fluxEvent({ severity: 'panic' }));
  t.same([(await post(badSeverity, sign(key, badSeverity))).json.field], ['severity']);
  const badMeta = JSON.stringify(fluxEvent({ metadata: { revision: 7 } }));
  t.same([(await post(badMeta, sign(key, badMeta))).json.field], ['metadata.revision']);
  t.equal(await size(base, 'gitops'), 3, 'nothing was stored');
  t.same(problems.splice(0), [], 'answers that do not conform to the document');
});

t.test('Flux: without flux_hmac_key_file the intake is off; a short key refuses the start', async (t) => {
  const tn = await startTestNode();
  t.teardown(() => tn.close());
  const body = JSON.stringify(fluxEvent());
  const a = await httpCall(tn.node.httpAddress!, 'POST', '/v1/hooks/flux?log=gitops', { body, headers: { 'content-type': 'application/json', 'x-signature': sign('k', body) } });
  t.same([a.status, a.json.code], [400, 'FAILED_PRECONDITION']);

  const dir = await tempDir('cairn-hooks-key-');
  t.teardown(dir.remove);
  await writeFile(join(dir.path, 'short.key'), 'secret\n');
  const config = await loadConfig({ flags: { 'data-dir': join(dir.path, 'data'), listen: '127.0.0.1:0', 'http-listen': '127.0.0.1:0', 'metrics-listen': '', 'flux-hmac-key-file': join(dir.path, 'short.key') }, env: {} });
  const refused = await startNode(config, createLogger('silent')).then(async (n) => {
    await n.close();
    return undefined;
  }, (e: { field?: string }) => e);
  t.equal(refused?.field, 'flux_hmac_key_file');
});
