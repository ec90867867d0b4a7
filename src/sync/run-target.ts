/**
 * One sync target from its configuration to a running engine: the same code
 * behind `cairn sync` (recording into a node over gRPC) and the `serve`
 * config's sync targets (recording into the node's own ledger).
 *
 * The etcd and Kubernetes live sources are loaded on demand (dynamic
 * import), so a build without them still runs `dir` targets and says
 * clearly what is missing for the others.
 */
import { readFile, stat } from 'node:fs/promises';
import { CairnError, invalidArgument } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { compileIgnore, hmacMasker, PLAIN_MASK, type IgnoreRule, type Masker } from './diff.js';
import { DirSource, dirExists } from './dir-source.js';
import { SyncEngine, type RecordedInfo } from './engine.js';
import { GitDesired, validateBranch, validateSubpath } from './git-desired.js';
import type { LiveSource } from './live-source.js';
import type { SyncMetrics } from './metrics.js';
import type { Recorder } from './recorder.js';
import { TARGET_NAME_RE } from './sync-entry.js';
import { parseTargetSpec, type TargetSpec } from './target-spec.js';
import { kubeResourcesFromConfig, type KubeResource } from './kube-resources.js';
import { isClusterScoped } from './manifests.js';

export interface SyncTargetConfig {
  /** `[a-z0-9][a-z0-9._-]{0,62}`; operator `cairn-sync/<name>`. */
  name: string;
  /** Local path or URL of the Git repository. */
  repo: string;
  /** Default `main`. */
  branch?: string;
  /** Directory of the manifests inside the repository. Default the root. */
  path?: string;
  /** `dir:PATH`, `etcd:ENDPOINTS/PREFIX` or `kubernetes[:CONTEXT]` (target-spec.ts). */
  target: string;
  /** Default `sync`. */
  log?: string;
  apply?: boolean;
  /** Default 15000. */
  pollIntervalMs?: number;
  /** Default `default`. */
  defaultNamespace?: string;
  clusterScopedKinds?: string[];
  ignore?: IgnoreRule[];
  /**
   * For a `kubernetes` target: the kinds to follow (kube-resources.ts), as
   * `[GROUP/]VERSION/PLURAL/Kind[@NAMESPACE]` or objects. Default: the common
   * workload kinds (DEFAULT_RESOURCES).
   */
  kubeResources?: unknown[];
  /** For an `etcd` target: TLS and user authentication (see {@link EtcdAccess}). */
  etcd?: EtcdAccess;
}

/**
 * How an `etcd` target reaches a cluster that requires TLS or users, as in
 * etcdctl's --cacert, --cert, --key and --user. Files are read when the
 * target starts; the password only from a file, never from a flag.
 * Config keys: `etcd_ca_file`, `etcd_cert_file`, `etcd_key_file`,
 * `etcd_user`, `etcd_password_file` (flat, beside `target`).
 */
export interface EtcdAccess {
  /** CA certificates to trust for the endpoints (PEM); else the system's. Needs https:// endpoints. */
  caFile?: string;
  /** Client certificate and key (PEM), for `--client-cert-auth` clusters; both or neither. */
  certFile?: string;
  keyFile?: string;
  /** User name and a file holding its password; both or neither. */
  user?: string;
  passwordFile?: string;
}

/** A checked target configuration, defaults filled in. */
export type ValidSyncTarget = Required<Omit<SyncTargetConfig, 'clusterScopedKinds' | 'ignore' | 'kubeResources' | 'etcd'>> &
  Pick<SyncTargetConfig, 'clusterScopedKinds' | 'ignore' | 'etcd'> & { kubeResources?: KubeResource[] };

export interface SyncContext {
  recorder: Recorder;
  /** Masks Secret values with HMAC under this key; without one every value is `***`. */
  maskKey?: Uint8Array;
  /** Where remote repositories are fetched. */
  gitCacheDir?: string;
  metrics?: SyncMetrics;
  logger?: Logger;
  /** The node's max_payload_bytes. */
  maxPayloadBytes?: number;
  onRecorded?: (info: RecordedInfo) => void;
  /** Dir source tuning (tests, benchmarks). */
  dirOptions?: { debounceMs?: number; rescanMs?: number };
}

const LOG_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** A target's settings, as config-file keys (snake_case) and as SyncTargetConfig fields. */
const TARGET_KEYS = new Set([
  'name', 'repo', 'branch', 'path', 'target', 'log', 'apply',
  'pollIntervalMs', 'poll_interval_ms', 'defaultNamespace', 'default_namespace', 'clusterScopedKinds', 'cluster_scoped_kinds',
  'ignore', 'kubeResources', 'kube_resources', 'etcd', 'etcd_ca_file', 'etcd_cert_file', 'etcd_key_file', 'etcd_user', 'etcd_password_file',
]);

/**
 * Checks a target configuration (from flags or a config file) and fills in
 * defaults. `where` prefixes error fields (e.g. `sync_targets[0]`).
 * @throws CairnError INVALID_ARGUMENT naming the field
 */
export function validateSyncTargetConfig(raw: unknown, where = 'sync_target'): ValidSyncTarget {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalidArgument(where, 'must be an object');
  const r = raw as Record<string, unknown>;
  const unknownKey = Object.keys(r).find((k) => !TARGET_KEYS.has(k));
  if (unknownKey !== undefined) throw invalidArgument(`${where}.${unknownKey}`, 'unknown setting');
  const str = (k: string, def?: string): string => {
    const v = r[k] ?? def;
    if (typeof v !== 'string') throw invalidArgument(`${where}.${k}`, def === undefined ? 'is required (a string)' : 'must be a string');
    return v;
  };
  const name = str('name');
  if (!TARGET_NAME_RE.test(name)) throw invalidArgument(`${where}.name`, 'must match [a-z0-9][a-z0-9._-]{0,62}');
  const repo = str('repo');
  if (!repo) throw invalidArgument(`${where}.repo`, 'is required');
  const branch = validateBranch(str('branch', 'main'), `${where}.branch`);
  const path = validateSubpath(str('path', ''), `${where}.path`);
  const target = str('target');
  const spec = parseTargetSpec(target, `${where}.target`);
  const log = str('log', 'sync');
  if (!LOG_RE.test(log)) throw invalidArgument(`${where}.log`, 'must match [a-z0-9][a-z0-9._-]{0,62}');
  const apply = r.apply ?? false;
  if (typeof apply !== 'boolean') throw invalidArgument(`${where}.apply`, 'must be true or false');
  const poll = r.pollIntervalMs ?? r.poll_interval_ms ?? 15_000;
  if (typeof poll !== 'number' || !Number.isInteger(poll) || poll < 10 || poll > 86_400_000) throw invalidArgument(`${where}.poll_interval_ms`, 'must be an integer from 10 to 86400000');
  const defaultNamespace = str(r.defaultNamespace !== undefined ? 'defaultNamespace' : 'default_namespace', 'default');
  const kinds = r.clusterScopedKinds ?? r.cluster_scoped_kinds;
  if (kinds !== undefined && (!Array.isArray(kinds) || kinds.some((k) => typeof k !== 'string'))) throw invalidArgument(`${where}.cluster_scoped_kinds`, 'must be a list of kinds');
  const ignore = r.ignore;
  if (ignore !== undefined) {
    if (!Array.isArray(ignore)) throw invalidArgument(`${where}.ignore`, 'must be a list of {kind?, pointer?}');
    compileIgnore(ignore as IgnoreRule[]);
  }
  const resourcesRaw = r.kubeResources ?? r.kube_resources;
  let kubeResources: KubeResource[] | undefined;
  if (resourcesRaw !== undefined) {
    if (spec.kind !== 'kubernetes') throw invalidArgument(`${where}.kube_resources`, 'is only for kubernetes targets');
    const extra = new Set(kinds as string[] | undefined);
    kubeResources = kubeResourcesFromConfig(resourcesRaw, (k) => isClusterScoped(k, extra), `${where}.kube_resources`);
  }
  const etcd = validateEtcdAccess(r, spec, where);
  return { name, repo, branch, path, target, log, apply, pollIntervalMs: poll, defaultNamespace, clusterScopedKinds: kinds as string[] | undefined, ignore: ignore as IgnoreRule[] | undefined, kubeResources, etcd };
}

const ETCD_SETTINGS = [
  ['caFile', 'etcd_ca_file'],
  ['certFile', 'etcd_cert_file'],
  ['keyFile', 'etcd_key_file'],
  ['user', 'etcd_user'],
  ['passwordFile', 'etcd_password_file'],
] as const;

/**
 * The etcd access settings of a target, given flat (`etcd_ca_file`, ...) or
 * as an `etcd` object ({@link EtcdAccess}); undefined when none is set.
 * @throws CairnError INVALID_ARGUMENT naming the setting
 */
function validateEtcdAccess(r: Record<string, unknown>, spec: TargetSpec, where: string): EtcdAccess | undefined {
  const nested = r.etcd;
  if (nested !== undefined && (nested === null || typeof nested !== 'object' || Array.isArray(nested))) throw invalidArgument(`${where}.etcd`, 'must be an object');
  const from = (nested ?? {}) as Record<string, unknown>;
  const out: EtcdAccess = {};
  for (const [camel, snake] of ETCD_SETTINGS) {
    const v = from[camel] ?? r[snake];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw invalidArgument(`${where}.${snake}`, 'must be a non-empty string');
    out[camel] = v;
  }
  if (Object.keys(out).length === 0) return undefined;
  checkEtcdAccess(out, spec, (setting) => `${where}.${setting}`);
  return out;
}

/**
 * The rules between etcd access settings: only on etcd targets, certificate
 * with key, user with password file, TLS files with https:// endpoints.
 * `name` turns a config key (`etcd_ca_file`) into what the user wrote (a flag, a config path).
 * @throws CairnError INVALID_ARGUMENT naming the setting
 */
export function checkEtcdAccess(a: EtcdAccess, spec: TargetSpec, name: (setting: string) => string): void {
  const snake = Object.fromEntries(ETCD_SETTINGS) as Record<keyof EtcdAccess, string>;
  const first = ETCD_SETTINGS.find(([c]) => a[c] !== undefined);
  if (!first) return;
  if (spec.kind !== 'etcd') throw invalidArgument(name(first[1]), 'is only for etcd targets');
  if ((a.certFile === undefined) !== (a.keyFile === undefined)) throw invalidArgument(name(snake[a.certFile ? 'keyFile' : 'certFile']), 'is required too: a client certificate needs its key');
  if ((a.user === undefined) !== (a.passwordFile === undefined)) throw invalidArgument(name(snake[a.user ? 'passwordFile' : 'user']), 'is required too: a user needs its password file');
  if (a.caFile !== undefined || a.certFile !== undefined) {
    const plain = spec.endpoints.find((e) => !e.startsWith('https://'));
    if (plain) throw invalidArgument(name(snake[a.caFile ? 'caFile' : 'certFile']), `needs https:// endpoints (${plain} is plain http)`);
  }
}

/**
 * Reads an EtcdAccess's files into options for the etcd client.
 * @throws CairnError INVALID_ARGUMENT naming the setting whose file cannot be read
 */
async function etcdClientOptions(a: EtcdAccess, logger: Logger | undefined): Promise<Record<string, unknown>> {
  // Secrets readable by others are worth a warning, not a refusal: mounted
  // secrets (Kubernetes volumes) are often 0644, and the node cannot fix them.
  for (const [file, setting] of [[a.keyFile, 'etcd_key_file'], [a.passwordFile, 'etcd_password_file']] as const) {
    if (file === undefined) continue;
    const mode = await stat(file).then((st) => st.mode & 0o777, () => undefined);
    if (mode !== undefined && (mode & 0o077) !== 0) logger?.warn(`sync: ${setting} is readable by group or others; make it 0600`, { file, mode: mode.toString(8) });
  }
  const read = async (file: string | undefined, setting: string): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (cause) {
      throw new CairnError('INVALID_ARGUMENT', `${setting}: cannot read ${file} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { field: setting, cause });
    }
  };
  const opts: Record<string, unknown> = {};
  const [ca, cert, key, password] = await Promise.all([read(a.caFile, 'etcd_ca_file'), read(a.certFile, 'etcd_cert_file'), read(a.keyFile, 'etcd_key_file'), read(a.passwordFile, 'etcd_password_file')]);
  // grpc-js takes the system's roots when rootCertificate is null.
  if (ca || cert) opts.credentials = { rootCertificate: ca ?? null, privateKey: key, certChain: cert };
  if (a.user !== undefined) opts.auth = { username: a.user, password: password!.toString('utf8').replace(/\r?\n$/, '') };
  return opts;
}

/** The module and export each optional live source is expected under. */
const OPTIONAL_SOURCES = {
  etcd: { module: './etcd-source.js', factory: 'createEtcdSource', klass: 'EtcdSource' },
  kubernetes: { module: './kubernetes-source.js', factory: 'createKubernetesSource', klass: 'KubernetesSource' },
} as const;

/**
 * The live source for a target spec. `etcd` and `kubernetes` are imported on
 * demand; their modules export `createEtcdSource(options)` /
 * `createKubernetesSource(options)` (or a class `EtcdSource` /
 * `KubernetesSource` taking the same options).
 * @throws CairnError FAILED_PRECONDITION when that source is not in this build
 */
export async function createLiveSource(
  spec: TargetSpec,
  opts: { defaultNamespace?: string; clusterScopedKinds?: string[]; kubeResources?: readonly KubeResource[]; etcd?: EtcdAccess; logger?: Logger; dirOptions?: SyncContext['dirOptions'] } = {},
): Promise<LiveSource> {
  const defaultNamespace = opts.defaultNamespace ?? 'default';
  if (spec.kind === 'dir') {
    if (!(await dirExists(spec.path))) throw new CairnError('INVALID_ARGUMENT', `target: ${spec.path} is not a directory`, { field: 'target' });
    return new DirSource({ dir: spec.path, defaultNamespace, clusterScopedKinds: opts.clusterScopedKinds, onError: (m) => opts.logger?.warn('sync: live file unreadable', { error: m }), ...opts.dirOptions });
  }
  const which = OPTIONAL_SOURCES[spec.kind];
  let mod: Record<string, unknown>;
  try {
    const specifier: string = which.module;
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') throw new CairnError('FAILED_PRECONDITION', `the ${spec.kind} live source is not part of this build (src/sync/${which.module.slice(2, -3)}.ts is missing)`, { cause: e });
    throw new CairnError('FAILED_PRECONDITION', `the ${spec.kind} live source failed to load: ${(e as Error).message}`, { cause: e });
  }
  const options = {
    ...spec,
    defaultNamespace,
    clusterScopedKinds: opts.clusterScopedKinds,
    logger: opts.logger,
    ...(opts.kubeResources ? { resources: opts.kubeResources } : {}),
    ...(opts.etcd ? { clientOptions: await etcdClientOptions(opts.etcd, opts.logger) } : {}),
  };
  const factory = mod[which.factory];
  if (typeof factory === 'function') return (await (factory as (o: unknown) => LiveSource | Promise<LiveSource>)(options)) as LiveSource;
  const Klass = mod[which.klass];
  if (typeof Klass === 'function') return new (Klass as new (o: unknown) => LiveSource)(options);
  throw new CairnError('FAILED_PRECONDITION', `src/sync/${which.module.slice(2, -3)}.ts exports neither ${which.factory}() nor ${which.klass}`);
}

export interface StartedTarget {
  engine: SyncEngine;
  desired: GitDesired;
  live: LiveSource;
  /** Closes the sources (the recorder belongs to the caller). */
  close(): Promise<void>;
}

/** Builds the sources and the engine of one target (nothing runs yet). */
export async function createSyncTarget(config: SyncTargetConfig, ctx: SyncContext): Promise<StartedTarget> {
  const cfg = validateSyncTargetConfig(config);
  const spec = parseTargetSpec(cfg.target);
  const desired = new GitDesired({ repo: cfg.repo, branch: cfg.branch, path: cfg.path, cacheDir: ctx.gitCacheDir, defaultNamespace: cfg.defaultNamespace, clusterScopedKinds: cfg.clusterScopedKinds });
  const live = await createLiveSource(spec, { defaultNamespace: cfg.defaultNamespace, clusterScopedKinds: cfg.clusterScopedKinds, kubeResources: cfg.kubeResources, etcd: cfg.etcd, logger: ctx.logger, dirOptions: ctx.dirOptions });
  const mask: Masker = ctx.maskKey ? hmacMasker(ctx.maskKey) : PLAIN_MASK;
  let engine: SyncEngine;
  try {
    engine = new SyncEngine(
      { name: cfg.name, log: cfg.log, apply: cfg.apply, pollIntervalMs: cfg.pollIntervalMs, ignore: cfg.ignore, maxPayloadBytes: ctx.maxPayloadBytes },
      { desired, live, recorder: ctx.recorder, mask, metrics: ctx.metrics, logger: ctx.logger?.child({ target: cfg.name }), onRecorded: ctx.onRecorded },
    );
  } catch (e) {
    desired.close();
    await live.close();
    throw e;
  }
  return {
    engine,
    desired,
    live,
    close: async () => {
      desired.close();
      await live.close();
    },
  };
}

/**
 * Starts a target in the background (for `serve`): `done` settles once
 * `signal` aborts and the engine has stopped and its live source is closed.
 */
export async function startSyncTarget(config: SyncTargetConfig, ctx: SyncContext, signal: AbortSignal): Promise<StartedTarget & { done: Promise<void> }> {
  const t = await createSyncTarget(config, ctx);
  const done = t.engine.run(signal).finally(() => t.close());
  return { ...t, done };
}
