/**
 * Chaos scenarios: which dependency a scenario attacks and the faults it
 * injects, read from YAML (`test/chaos/scenarios/*.yaml`) and checked
 * strictly: an unknown key, a fault that does not fit the target, or a value
 * out of range is refused with an error naming the field, as every setting of
 * Cairn is.
 *
 * ```yaml
 * name: kube-watch-cut
 * target: kube            # kube | etcd | fabric | node
 * duration_ms: 8000       # the fault window; load runs through it
 * faults:
 *   - fault: cut-watch    # cut a watch response in the middle of an event
 *     path: /api/v1/configmaps
 *     rate: 0.5           # share of matching requests (or of ticks) hit
 *     start_ms: 0         # offset in the fault window; default 0
 *     duration_ms: 6000   # default: to the end of the window
 * ```
 *
 * Faults by target:
 * - kube (HTTP proxy in front of the API server): `latency` (`min_ms`..`max_ms`,
 *   or a fixed `min_ms`), `status` (`status` 429/503/..., `retry_after` s),
 *   `gone` (410 on a list page with a continue token, `on: continue`, or on a
 *   watch, `on: watch`), `cut-watch` (`after_events`), `reset`, `hang`;
 * - etcd (TCP proxy in front of etcd, and the etcd process): `latency`,
 *   `reset`, `restart` (`every_ms`, `down_ms`: the member stops and starts on
 *   the same data directory);
 * - fabric (the Gateway test peer's fault hooks): `unavailable` and `deadline`
 *   (`method`: Endorse, Submit, CommitStatus, Evaluate), `lost-commit-status`;
 * - node (the ledger node under `cairn sync` in client mode): `kill`
 *   (`every_ms`, `down_ms`: kill -9, then restarted on the same data and port).
 */
import { parse as parseYaml } from 'yaml';

export type ChaosTarget = 'kube' | 'etcd' | 'fabric' | 'node';
export type FaultKind = 'latency' | 'status' | 'gone' | 'cut-watch' | 'reset' | 'hang' | 'restart' | 'unavailable' | 'deadline' | 'lost-commit-status' | 'kill';
export type GatewayMethodName = 'Evaluate' | 'Endorse' | 'Submit' | 'CommitStatus';

export interface FaultSpec {
  fault: FaultKind;
  /** kube: requests whose path starts with this (default every path). */
  path?: string;
  /** fabric: the Gateway method (default Endorse for unavailable and deadline). */
  method?: GatewayMethodName;
  /** Share of matching requests, connections or ticks the fault hits, 0 < rate <= 1. Default 1. */
  rate: number;
  /** Offset of the fault in the scenario's window. Default 0. */
  startMs: number;
  /** How long it lasts. Default: to the end of the window. */
  durationMs: number;
  /** latency: fixed (`min_ms` alone) or uniform in [min_ms, max_ms]. */
  minMs?: number;
  maxMs?: number;
  /** status: the HTTP status answered. */
  status?: number;
  /** status: the Retry-After header, in seconds. */
  retryAfter?: number;
  /** gone: on a list page with a continue token, or on a watch request. */
  on?: 'continue' | 'watch';
  /** cut-watch: events passed through before the cut (the cut splits the next one). Default 0. */
  afterEvents?: number;
  /** restart, kill: time between two, and how long the process stays down. */
  everyMs?: number;
  downMs?: number;
}

export interface Scenario {
  name: string;
  target: ChaosTarget;
  /** The fault window. */
  durationMs: number;
  /** The engine must be back in steady state this long after the window. Default 30,000. */
  steadyWithinMs: number;
  /** Largest growth of the engine process's resident set, from the warm-up to the end. Default 128 MiB. */
  memoryMb: number;
  /** The load: a drift started every `interval_ms` (default 150), at most `max_open` at once (default 6). */
  load: { intervalMs: number; maxOpen: number };
  faults: FaultSpec[];
}

/** A scenario file that does not describe a scenario; `field` names the first bad setting. */
export class ScenarioError extends Error {
  readonly code = 'INVALID_ARGUMENT';
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'ScenarioError';
    this.field = field;
  }
}

const TARGETS: readonly ChaosTarget[] = ['kube', 'etcd', 'fabric', 'node'];
const FAULTS_BY_TARGET: Readonly<Record<ChaosTarget, readonly FaultKind[]>> = {
  kube: ['latency', 'status', 'gone', 'cut-watch', 'reset', 'hang'],
  etcd: ['latency', 'reset', 'restart'],
  fabric: ['unavailable', 'deadline', 'lost-commit-status'],
  node: ['kill'],
};
const METHODS: readonly GatewayMethodName[] = ['Evaluate', 'Endorse', 'Submit', 'CommitStatus'];
/** Keys each fault kind takes besides `fault`, `rate`, `start_ms` and `duration_ms`. */
const FAULT_KEYS: Readonly<Record<FaultKind, readonly string[]>> = {
  latency: ['path', 'min_ms', 'max_ms'],
  status: ['path', 'status', 'retry_after'],
  gone: ['path', 'on'],
  'cut-watch': ['path', 'after_events'],
  reset: ['path'],
  hang: ['path'],
  restart: ['every_ms', 'down_ms'],
  unavailable: ['method'],
  deadline: ['method'],
  'lost-commit-status': [],
  kill: ['every_ms', 'down_ms'],
};
const SCENARIO_KEYS = ['name', 'target', 'duration_ms', 'steady_within_ms', 'memory_mb', 'load', 'faults'];
const LOAD_KEYS = ['interval_ms', 'max_open'];

function object(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ScenarioError(field, 'must be a mapping');
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], field: string): void {
  const bad = Object.keys(o).find((k) => !allowed.includes(k));
  if (bad !== undefined) throw new ScenarioError(`${field}.${bad}`, 'unknown setting');
}

function int(o: Record<string, unknown>, key: string, field: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ScenarioError(`${field}.${key}`, `must be an integer from ${min} to ${max}`);
  return v;
}

function required<T>(v: T | undefined, field: string, what: string): T {
  if (v === undefined) throw new ScenarioError(field, `is required (${what})`);
  return v;
}

function parseFault(raw: unknown, target: ChaosTarget, windowMs: number, field: string): FaultSpec {
  const o = object(raw, field);
  const fault = o.fault;
  if (typeof fault !== 'string' || !(fault in FAULT_KEYS)) throw new ScenarioError(`${field}.fault`, `must be one of ${Object.keys(FAULT_KEYS).join(', ')}`);
  const kind = fault as FaultKind;
  if (!FAULTS_BY_TARGET[target].includes(kind)) throw new ScenarioError(`${field}.fault`, `${kind} is not a fault of target ${target} (it takes ${FAULTS_BY_TARGET[target].join(', ')})`);
  onlyKeys(o, ['fault', 'rate', 'start_ms', 'duration_ms', ...FAULT_KEYS[kind]], field);
  const rate = o.rate ?? 1;
  if (typeof rate !== 'number' || !(rate > 0 && rate <= 1)) throw new ScenarioError(`${field}.rate`, 'must be a number in (0, 1]');
  const startMs = int(o, 'start_ms', field, 0, windowMs) ?? 0;
  const durationMs = int(o, 'duration_ms', field, 1, windowMs - startMs) ?? windowMs - startMs;
  const spec: FaultSpec = { fault: kind, rate, startMs, durationMs };
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || !o.path.startsWith('/')) throw new ScenarioError(`${field}.path`, 'must be a URL path starting with /');
    spec.path = o.path;
  }
  if (o.method !== undefined) {
    if (typeof o.method !== 'string' || !METHODS.includes(o.method as GatewayMethodName)) throw new ScenarioError(`${field}.method`, `must be one of ${METHODS.join(', ')}`);
    spec.method = o.method as GatewayMethodName;
  }
  switch (kind) {
    case 'latency': {
      spec.minMs = required(int(o, 'min_ms', field, 0, 60_000), `${field}.min_ms`, 'the delay, or the low end of its range');
      spec.maxMs = int(o, 'max_ms', field, spec.minMs, 60_000) ?? spec.minMs;
      break;
    }
    case 'status': {
      spec.status = required(int(o, 'status', field, 400, 599), `${field}.status`, 'the HTTP status answered');
      spec.retryAfter = int(o, 'retry_after', field, 0, 3600);
      break;
    }
    case 'gone': {
      if (o.on !== 'continue' && o.on !== 'watch') throw new ScenarioError(`${field}.on`, 'is required: continue (a list page with a continue token) or watch');
      spec.on = o.on;
      break;
    }
    case 'cut-watch':
      spec.afterEvents = int(o, 'after_events', field, 0, 1000) ?? 0;
      break;
    case 'restart':
    case 'kill': {
      spec.everyMs = required(int(o, 'every_ms', field, 100, 600_000), `${field}.every_ms`, 'time between two');
      spec.downMs = int(o, 'down_ms', field, 0, 60_000) ?? 0;
      break;
    }
    default:
      break;
  }
  return spec;
}

/**
 * Checks a parsed scenario and fills in defaults.
 * @throws ScenarioError naming the field
 */
export function validateScenario(raw: unknown, where = 'scenario'): Scenario {
  const o = object(raw, where);
  onlyKeys(o, SCENARIO_KEYS, where);
  const name = o.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw new ScenarioError(`${where}.name`, 'is required, [a-z0-9][a-z0-9-]{0,62}');
  const target = o.target;
  if (typeof target !== 'string' || !TARGETS.includes(target as ChaosTarget)) throw new ScenarioError(`${where}.target`, `must be one of ${TARGETS.join(', ')}`);
  const durationMs = required(int(o, 'duration_ms', where, 100, 120_000), `${where}.duration_ms`, 'the fault window');
  const steadyWithinMs = int(o, 'steady_within_ms', where, 100, 300_000) ?? 30_000;
  const memoryMb = int(o, 'memory_mb', where, 1, 8192) ?? 128;
  const loadRaw = o.load === undefined ? {} : object(o.load, `${where}.load`);
  onlyKeys(loadRaw, LOAD_KEYS, `${where}.load`);
  const load = { intervalMs: int(loadRaw, 'interval_ms', `${where}.load`, 10, 60_000) ?? 150, maxOpen: int(loadRaw, 'max_open', `${where}.load`, 1, 100) ?? 6 };
  if (!Array.isArray(o.faults) || o.faults.length === 0) throw new ScenarioError(`${where}.faults`, 'must be a non-empty list');
  const faults = o.faults.map((f, i) => parseFault(f, target as ChaosTarget, durationMs, `${where}.faults[${i}]`));
  return { name, target: target as ChaosTarget, durationMs, steadyWithinMs, memoryMb, load, faults };
}

/**
 * Reads one scenario from YAML text.
 * @throws ScenarioError naming the field (`file` prefixes it)
 */
export function parseScenario(text: string, file = 'scenario'): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (e) {
    throw new ScenarioError(file, `is not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateScenario(raw, file);
}

/** Whether `f` is in effect `elapsedMs` into the fault window. */
export function faultActive(f: FaultSpec, elapsedMs: number): boolean {
  return elapsedMs >= f.startMs && elapsedMs < f.startMs + f.durationMs;
}
