/**
 * `cairn sync` and `cairn diff`: the GitOps sync engine as a client of a
 * node (`sync` records into the node at --server) and as a dry run (`diff`
 * records nothing). Exit codes as for every command: 0 ok, 1 drift found
 * with `diff --exit-code` (like `git diff --exit-code`), 2 usage, input or
 * connection error (also: the desired state has manifest errors).
 */
import { CONNECT_OPTIONS, connect, serverAddress } from './connect.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createLogger, isLogLevel } from '../node/logger.js';
import { compileIgnore, diffStates, hmacMasker, PLAIN_MASK, type IgnoreRule } from '../sync/diff.js';
import { formatChanges } from '../sync/diff-format.js';
import { GitDesired } from '../sync/git-desired.js';
import { loadOrCreateMaskKey, MASK_KEY_FILE } from '../sync/mask-key.js';
import { clientRecorder } from '../sync/recorder.js';
import { checkEtcdAccess, createLiveSource, createSyncTarget, validateSyncTargetConfig, type EtcdAccess } from '../sync/run-target.js';
import { parseTargetSpec } from '../sync/target-spec.js';
import { formatManifestError, isClusterScoped } from '../sync/manifests.js';
import { kubeResourcesFromConfig, type KubeResource } from '../sync/kube-resources.js';
import { EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED, UsageError, printJson } from './output.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

function parse(args: string[], options: Options): Values {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true }).values as Values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function need(v: Values, name: string): string {
  const x = v[name];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} is required`);
  return x;
}

/** `500ms`, `15s`, `2m`, or a number of seconds. */
export function parseDuration(s: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(s);
  if (!m) throw new UsageError(`--${flag} must be a duration like 500ms, 15s or 2m`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (ms < 10 || ms > 86_400_000) throw new UsageError(`--${flag} must be between 10ms and 24h`);
  return Math.round(ms);
}

/** `--ignore /pointer` (every kind), `--ignore Kind:/pointer`, `--ignore Kind` (the whole kind). */
export function parseIgnoreFlag(s: string): IgnoreRule {
  if (s.startsWith('/')) return { pointer: s };
  const colon = s.indexOf(':/');
  if (colon > 0) return { kind: s.slice(0, colon), pointer: s.slice(colon + 1) };
  if (/^[A-Za-z][A-Za-z0-9]*$/.test(s)) return { kind: s };
  throw new UsageError(`--ignore ${s}: give /json/pointer, Kind:/json/pointer or Kind`);
}

const COMMON: Options = {
  repo: { type: 'string' },
  branch: { type: 'string' },
  path: { type: 'string' },
  target: { type: 'string' },
  namespace: { type: 'string' },
  ignore: { type: 'string', multiple: true },
  'cluster-scoped': { type: 'string', multiple: true },
  'kube-resource': { type: 'string', multiple: true },
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
  'etcd-password-file': { type: 'string' },
  'cache-dir': { type: 'string' },
  'mask-key': { type: 'string' },
  'log-level': { type: 'string' },
};

/** Config keys of the etcd access settings, as flags (for messages). */
const ETCD_FLAGS: Record<string, string> = {
  etcd_ca_file: '--etcd-ca',
  etcd_cert_file: '--etcd-cert',
  etcd_key_file: '--etcd-key',
  etcd_user: '--etcd-user',
  etcd_password_file: '--etcd-password-file',
};

const configHome = (): string => process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
const cacheHome = (): string => process.env.XDG_CACHE_HOME || join(homedir(), '.cache');

function common(v: Values): {
  repo: string;
  branch: string;
  path: string;
  target: string;
  defaultNamespace: string;
  ignore: IgnoreRule[];
  clusterScopedKinds: string[] | undefined;
  kubeResources: KubeResource[] | undefined;
  etcd: EtcdAccess | undefined;
  cacheDir: string;
} {
  const ignore = ((v.ignore as string[] | undefined) ?? []).map(parseIgnoreFlag);
  const clusterScopedKinds = v['cluster-scoped'] as string[] | undefined;
  let kubeResources: KubeResource[] | undefined;
  const etcdGiven: EtcdAccess = {
    caFile: v['etcd-ca'] as string | undefined,
    certFile: v['etcd-cert'] as string | undefined,
    keyFile: v['etcd-key'] as string | undefined,
    user: v['etcd-user'] as string | undefined,
    passwordFile: v['etcd-password-file'] as string | undefined,
  };
  const etcd = Object.values(etcdGiven).some((x) => x !== undefined) ? (JSON.parse(JSON.stringify(etcdGiven)) as EtcdAccess) : undefined;
  try {
    compileIgnore(ignore);
    const spec = parseTargetSpec(need(v, 'target'), '--target');
    if (etcd) checkEtcdAccess(etcd, spec, (setting) => ETCD_FLAGS[setting] ?? setting);
    const given = v['kube-resource'] as string[] | undefined;
    if (given) {
      if (spec.kind !== 'kubernetes') throw new UsageError('--kube-resource is only for --target kubernetes[:CONTEXT]');
      const extra = new Set(clusterScopedKinds);
      kubeResources = kubeResourcesFromConfig(given, (k) => isClusterScoped(k, extra), '--kube-resource');
    }
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    repo: need(v, 'repo'),
    branch: (v.branch as string | undefined) ?? 'main',
    path: (v.path as string | undefined) ?? '',
    target: need(v, 'target'),
    defaultNamespace: (v.namespace as string | undefined) ?? 'default',
    ignore,
    clusterScopedKinds,
    kubeResources,
    etcd,
    cacheDir: (v['cache-dir'] as string | undefined) ?? join(cacheHome(), 'cairn', 'git'),
  };
}

function logger(v: Values) {
  const level = (v['log-level'] as string | undefined) ?? 'warn';
  if (!isLogLevel(level)) throw new UsageError('--log-level must be debug, info, warn, error or silent');
  return createLogger(level);
}

export async function sync(args: string[]): Promise<number> {
  const v = parse(args, {
    ...COMMON,
    ...CONNECT_OPTIONS,
    log: { type: 'string' },
    name: { type: 'string' },
    interval: { type: 'string' },
    once: { type: 'boolean' },
    apply: { type: 'boolean' },
  });
  const c = common(v);
  const spec = parseTargetSpec(c.target);
  const config = (() => {
    try {
      return validateSyncTargetConfig({
        name: (v.name as string | undefined) ?? spec.kind,
        repo: c.repo,
        branch: c.branch,
        path: c.path,
        target: c.target,
        log: (v.log as string | undefined) ?? 'sync',
        apply: v.apply === true,
        pollIntervalMs: v.interval === undefined ? 15_000 : parseDuration(v.interval as string, 'interval'),
        defaultNamespace: c.defaultNamespace,
        clusterScopedKinds: c.clusterScopedKinds,
        ignore: c.ignore,
        kubeResources: c.kubeResources,
        etcd: c.etcd,
      }, '--');
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError((e as Error).message.replace(/^--\./, '--'));
    }
  })();
  const log = logger(v);
  const maskKey = await loadOrCreateMaskKey((v['mask-key'] as string | undefined) || process.env.CAIRN_SYNC_MASK_KEY || join(configHome(), 'cairn', MASK_KEY_FILE));
  const address = serverAddress(v);
  const client = connect(v);
  const recorder = clientRecorder(client, address);
  const once = v.once === true;
  try {
    const t = await createSyncTarget(config, {
      recorder,
      maskKey,
      gitCacheDir: c.cacheDir,
      logger: log,
      onRecorded: once ? undefined : (r) => process.stdout.write(JSON.stringify({ target: config.name, ...r, latencyMs: Math.round(r.latencyMs * 100) / 100 }) + '\n'),
    });
    try {
      if (once) {
        const r = await t.engine.runOnce();
        printJson({ target: config.name, log: config.log, commit: r.commit, drifts: r.changes.length, recorded: r.recorded, open: t.engine.openDrifts().size, desiredErrors: r.desiredErrors });
        return r.desiredErrors.length > 0 ? EXIT_USAGE : EXIT_OK;
      }
      const ac = new AbortController();
      const stop = (): void => ac.abort(new Error('stopped by signal'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stderr.write(`cairn: syncing ${t.engine.source} into log ${config.log} at ${address}${config.apply ? ' (apply mode)' : ''}\n`);
      try {
        await t.engine.run(ac.signal);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      return EXIT_OK;
    } finally {
      await t.close();
    }
  } finally {
    await recorder.close();
    client.close();
  }
}

export async function diff(args: string[]): Promise<number> {
  const v = parse(args, { ...COMMON, json: { type: 'boolean' }, 'exit-code': { type: 'boolean' }, color: { type: 'string' } });
  const c = common(v);
  const color = (v.color as string | undefined) ?? 'auto';
  if (!['auto', 'always', 'never'].includes(color)) throw new UsageError('--color must be auto, always or never');
  const log = logger(v);
  let desired: GitDesired;
  try {
    desired = new GitDesired({ repo: c.repo, branch: c.branch, path: c.path, cacheDir: c.cacheDir, defaultNamespace: c.defaultNamespace, clusterScopedKinds: c.clusterScopedKinds });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // diff creates nothing: a mask key is used only when one is named.
  const keyPath = (v['mask-key'] as string | undefined) || process.env.CAIRN_SYNC_MASK_KEY;
  const mask = keyPath ? hmacMasker(await loadOrCreateMaskKey(keyPath)) : PLAIN_MASK;
  let commit: string;
  let state;
  try {
    commit = await desired.head();
    state = await desired.read(commit);
  } finally {
    desired.close();
  }
  if (state.errors.length > 0) {
    for (const e of state.errors) process.stderr.write(`cairn: ${formatManifestError(e)}\n`);
    process.stderr.write(`cairn: the desired state at ${commit} has ${state.errors.length} manifest error(s); nothing compared\n`);
    return EXIT_USAGE;
  }
  const live = await createLiveSource(parseTargetSpec(c.target), { defaultNamespace: c.defaultNamespace, clusterScopedKinds: c.clusterScopedKinds, kubeResources: c.kubeResources, etcd: c.etcd, logger: log });
  let snapshot;
  try {
    snapshot = await live.list();
  } finally {
    await live.close();
  }
  const changes = diffStates(state.objects, snapshot.objects, { ignore: compileIgnore(c.ignore), mask, listKeys: live.listKeys });
  if (v.json === true) {
    printJson({ commit, desired: desired.describe, live: live.describe, changes: changes.map((ch) => ({ key: ch.key, status: ch.status, patch: ch.patch })) });
  } else {
    const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
    process.stdout.write(formatChanges(changes, { color: color === 'always' || (color === 'auto' && tty), commit }));
  }
  return v['exit-code'] === true && changes.length > 0 ? EXIT_VERIFY_FAILED : EXIT_OK;
}
