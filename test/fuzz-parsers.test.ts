/**
 * The parsers that take operator and client input, as properties
 * (fast-check, fixed seeds, run counts in the test names):
 *
 *  1. Node settings (src/node/config.ts): any config file, environment and
 *     flags resolve to a config whose every field is within its documented
 *     bounds and follows flags > env > file > defaults, or fail with
 *     INVALID_ARGUMENT naming a setting that was made invalid (file key, env
 *     name or --flag); a resolved config written back as a file resolves to
 *     itself.
 *  2. Policies (src/auth/policy.ts): a model policy, rendered three ways,
 *     answers exactly as the reference model; mutated and random YAML either
 *     compiles or fails with `policy line N: ...`, N a line of the text, in
 *     bounded time.
 *  3. Appends (src/core/append-request.ts): any input is a ValidAppend whose
 *     payload survives RFC 8785 canonicalization, or INVALID_ARGUMENT naming
 *     one request field that really was at fault (repairing it moves the
 *     rejection elsewhere or clears it).
 */
import t from 'tap';
import fc from 'fast-check';
import { writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { canonicalize } from 'json-canonicalize';
import { CairnError } from '../src/core/errors.js';
import { DEFAULTS, loadConfig, isLoopbackHost, parseHostPort, SETTINGS, type NodeConfig } from '../src/node/config.js';
import { compilePolicy, type Identity } from '../src/auth/policy.js';
import { validateAppend, type AppendInput } from '../src/core/append-request.js';
import { nameArb, naiveCan, naiveTenantOf, policyArb as policyArbOf, ruleArb, toYaml, type ModelIdentity, type ModelTenant } from './helpers/policy-model.js';
import { tempDir } from './helpers/node.js';
import { deep, preview } from './helpers/grpc-fuzz.js';

const dir = await tempDir('cairn-fuzz-parsers-');
t.teardown(() => dir.remove());

/** A value and whether the parser must accept it. */
interface Tagged {
  v: unknown;
  ok: boolean;
}
const good = (...vs: unknown[]): fc.Arbitrary<Tagged> => fc.constantFrom(...vs).map((v) => ({ v, ok: true }));
const bad = (...vs: unknown[]): fc.Arbitrary<Tagged> => fc.constantFrom(...vs).map((v) => ({ v, ok: false }));

// ---------------------------------------------------------------- 1. config

type Setting = (typeof SETTINGS)[number];
const CONFIG_SEED = 0xc0f1;
const CONFIG_RUNS = 1000;

/** String forms (file, env and flags alike), valid and invalid, per kind of setting. */
function stringValues(s: Setting): fc.Arbitrary<Tagged> {
  switch (s.kind) {
    case 'string':
      return fc.oneof(good('x', './data', '/tmp/a b', 'é/日本'), bad(''));
    case 'string?':
    case 'path?': {
      const any = fc.oneof(good('', 'x', '/etc/ca.pem', 'a b', 'é'), bad('a\nb', 'a\u0000', '\u007f', 'a\tb'));
      // TLS, policy and tokens files depend on each other (safe defaults): mostly unset, so valid cases still resolve.
      return /^(tls_|policy_|tokens_)/.test(s.file) ? fc.oneof({ arbitrary: good(''), weight: 5 }, { arbitrary: any, weight: 1 }) : any;
    }
    case 'hostport':
    case 'hostport?':
      return fc.oneof(
        { arbitrary: good('127.0.0.1:0', 'localhost:7700', '[::1]:65535', ...(s.kind === 'hostport?' ? [''] : [])), weight: 4 },
        good('a.b-c:1', '0.0.0.0:00080'),
        bad('host', ':80', 'h:65536', '[zz]:1', '[::1]', 'h:123456', 'h :1', '[1.2.3.4]:1', 'h:-1', ...(s.kind === 'hostport' ? [''] : [])),
      );
    case 'int': {
      const min = s.min!;
      const max = s.max!;
      return fc.oneof(
        fc.integer({ min, max }).map((n) => ({ v: String(n), ok: true })),
        good(String(min), String(max), `00${max}`),
        bad(min > 0 ? String(min - 1) : '-1', String(max + 1), '1.5', '1e3', ' 1', '', 'abc', '0x10', '99999999999999999999', `${min}\n`),
      );
    }
    case 'level':
      return fc.oneof(good('debug', 'info', 'warn', 'error', 'silent'), bad('WARN', 'trace', ''));
    case 'name':
      return fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,30}$/).map((v) => ({ v, ok: true })),
        good('x'.repeat(128)),
        bad('', 'a b', 'a+b', 'x'.repeat(129), '-a', 'é', 'a\n'),
      );
    case 'signing':
      return fc.oneof(good('worker', 'inline'), bad('Worker', '', 'thread'));
    case 'anchor':
      // fabric rarely: it also needs every Fabric setting, which random sources seldom all give.
      return fc.oneof({ arbitrary: good('local', 'off'), weight: 4 }, { arbitrary: good('fabric'), weight: 1 }, { arbitrary: bad('Local', '', 'none'), weight: 1 });
    case 'channel?':
      return fc.oneof(good('', 'mychannel', `a${'b'.repeat(248)}`, 'a.b-c'), bad('A', '1a', 'a'.repeat(250), 'a_b'));
    case 'chaincode?':
      return fc.oneof(good('', 'cairn', 'a-b_c1', 'A9'), bad('a--b', '-a', 'a-', 'a b', 'é'));
    case 'clientcert':
      return fc.oneof(good('optional', 'required'), bad('Optional', '', 'yes'));
    case 'bool':
      return fc.oneof(good('true', 'false'), bad('yes', '1', '', 'TRUE'));
  }
}

/** File values: the string forms, numbers for ints, and every other JSON type, which no setting accepts. */
function fileValues(s: Setting): fc.Arbitrary<Tagged> {
  if (s.kind === 'bool') return fc.oneof(stringValues(s), good(true, false), bad(null, ['x'], {}, 42));
  const wrongType = bad(true, null, ['x'], {}, ...(s.kind === 'int' ? [1.5, -1, s.max! + 1, 2 ** 53, 'x'] : [42]));
  if (s.kind === 'int') return fc.oneof(stringValues(s), fc.integer({ min: s.min!, max: s.max! }).map((v) => ({ v, ok: true })), wrongType);
  return fc.oneof({ arbitrary: stringValues(s), weight: 4 }, { arbitrary: wrongType, weight: 1 });
}

/** `a` one time in `n`, else undefined (the setting is not given). */
const absent = <T>(a: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> => fc.oneof({ arbitrary: fc.constant(undefined), weight: n - 1 }, { arbitrary: a, weight: 1 });
/** Mostly valid: with two dozen settings in three sources, a case should have zero, one or two bad values, not ten. */
const mostlyValid = (a: fc.Arbitrary<Tagged>): fc.Arbitrary<Tagged> => fc.oneof({ arbitrary: a.filter((x) => x.ok), weight: 10 }, { arbitrary: a, weight: 1 });

interface ConfigCase {
  file: Record<string, Tagged | undefined>;
  env: Record<string, Tagged | undefined>;
  flags: Record<string, Tagged | undefined>;
  /** Replaces the whole file: not JSON, or not an object. */
  wholeFile?: string | undefined;
  /** Extra top-level or fabric-section keys, all unknown. */
  unknown: string[];
  /** The fabric section replaced by something that is not an object. */
  fabricNotObject?: unknown;
  syncTargets?: { v: unknown; ok: boolean; field?: string } | undefined;
}

const validTarget = (name: string): Record<string, unknown> => ({ name, repo: '/tmp/repo', target: 'dir:/tmp/out' });
const syncTargetsArb: fc.Arbitrary<ConfigCase['syncTargets']> = fc.oneof(
  good([], [validTarget('t1')], [validTarget('t1'), { ...validTarget('t2'), log: 'sync-2', poll_interval_ms: 10 }]),
  bad({}, 'x', null).map((x) => ({ ...x, field: 'sync_targets' })),
  bad([42], [{ name: 'A', repo: '/r', target: 'dir:/x' }], [{ ...validTarget('t1'), repo: '' }], [{ ...validTarget('t1'), target: 'dir:' }]).map((x) => ({ ...x, field: 'sync_targets[0]' })),
  bad([validTarget('t1'), validTarget('t1')]).map((x) => ({ ...x, field: 'sync_targets[1].name' })),
);

const configCaseArb: fc.Arbitrary<ConfigCase> = fc.record(
  {
    file: fc.record(Object.fromEntries(SETTINGS.map((s) => [s.file, absent(mostlyValid(fileValues(s)), 3)]))),
    env: fc.record(Object.fromEntries(SETTINGS.map((s) => [s.env, absent(mostlyValid(stringValues(s)), 6)]))),
    flags: fc.record(Object.fromEntries(SETTINGS.map((s) => [s.flag, absent(mostlyValid(stringValues(s)), 6)]))),
    wholeFile: absent(fc.constantFrom('', '{', '[]', '"x"', 'null', '42', '{"listen": }', '\ufeff{}'), 30),
    unknown: fc.oneof({ arbitrary: fc.constant([] as string[]), weight: 12 }, { arbitrary: fc.subarray(['listen_addr', 'fabric.peer', 'Listen', '__proto__x', 'fabric.endpoint.x']), weight: 1 }),
    fabricNotObject: absent(fc.constantFrom('x', 1, null, [], true), 30),
    syncTargets: absent(syncTargetsArb, 4),
  },
  { requiredKeys: ['file', 'env', 'flags', 'unknown'] },
);

const sourceName = (s: Setting, where: 'file' | 'env' | 'flag'): string => (where === 'file' ? s.file : where === 'env' ? s.env : `--${s.flag}`);

/** The config file's JSON object for a case: nested fabric section, extras. */
function fileObject(c: ConfigCase): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const fabric: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const x = c.file[s.file];
    if (x === undefined) continue;
    if (s.file.startsWith('fabric.')) fabric[s.file.slice('fabric.'.length)] = x.v;
    else o[s.file] = x.v;
  }
  for (const k of c.unknown) {
    if (k.startsWith('fabric.')) fabric[k.slice('fabric.'.length)] = 1;
    else o[k] = 1;
  }
  if (c.fabricNotObject !== undefined) o.fabric = c.fabricNotObject;
  else if (Object.keys(fabric).length > 0) o.fabric = fabric;
  if (c.syncTargets !== undefined) o.sync_targets = c.syncTargets.v;
  return o;
}

/** The settings a correct loader may name when it refuses this case; empty when it must accept it. */
function faults(c: ConfigCase): string[] {
  if (c.wholeFile !== undefined) return ['config'];
  const out: string[] = [];
  for (const s of SETTINGS) {
    if (c.file[s.file]?.ok === false && !(s.file.startsWith('fabric.') && c.fabricNotObject !== undefined)) out.push(s.file);
    if (c.env[s.env]?.ok === false) out.push(s.env);
    if (c.flags[s.flag]?.ok === false) out.push(`--${s.flag}`);
  }
  for (const k of c.unknown) if (!(k.startsWith('fabric.') && c.fabricNotObject !== undefined)) out.push(k);
  if (c.fabricNotObject !== undefined) out.push('fabric');
  if (c.syncTargets?.ok === false) out.push(c.syncTargets.field!);
  return out;
}

/** A setting's value after precedence (flags > env > file > default), before conversion; undefined: the default. */
function rawWinner(c: ConfigCase, s: Setting): unknown {
  return c.flags[s.flag]?.v ?? c.env[s.env]?.v ?? (s.file.startsWith('fabric.') && c.fabricNotObject !== undefined ? undefined : c.file[s.file]?.v);
}

function expectedValue(s: Setting, raw: unknown): unknown {
  const v = raw === undefined ? DEFAULTS[s.key] : raw;
  if (s.kind === 'int') return Number(v);
  if (s.kind === 'bool') return v === true || v === 'true';
  if (s.key === 'dataDir' || ((s.kind === 'path?' || s.key === 'keyFile') && v !== '')) return resolve(String(v));
  return v;
}

/**
 * The model of config.ts's checkExposure for a case whose every value is
 * valid: the setting it must name, or undefined when the combination is safe.
 * Written from the rules of docs/format.md, not from the code.
 */
function exposureFault(c: ConfigCase): string | undefined {
  const value = (key: keyof NodeConfig): unknown => {
    const s = SETTINGS.find((x) => x.key === key)!;
    return expectedValue(s, rawWinner(c, s));
  };
  const cert = value('tlsCertFile') !== '';
  const key = value('tlsKeyFile') !== '';
  if (cert !== key) return cert ? 'tls_key_file' : 'tls_cert_file';
  if (value('tlsClientCaFile') !== '' && !cert) return 'tls_client_ca_file';
  const policy = value('policyFile') !== '';
  if (value('tokensFile') !== '' && !policy) return 'tokens_file';
  const loopback = (hp: string): boolean => isLoopbackHost(parseHostPort(hp)!.host);
  if (!loopback(value('listen') as string) && !(cert && policy)) return 'listen';
  const http = value('httpListen') as string;
  if (http !== '' && !loopback(http) && !(cert && policy)) return 'http_listen';
  const metrics = value('metricsListen') as string;
  if (metrics !== '' && !loopback(metrics) && value('metricsRemote') !== true) return 'metrics_listen';
  return undefined;
}

/** Every documented bound of a resolved config; returns what is out of bounds. */
function outOfBounds(cfg: Readonly<NodeConfig>): string[] {
  const out: string[] = [];
  for (const s of SETTINGS) {
    const v = cfg[s.key];
    const okay = ((): boolean => {
      switch (s.kind) {
        case 'int':
          return Number.isSafeInteger(v) && (v as number) >= s.min! && (v as number) <= s.max!;
        case 'string':
          return typeof v === 'string' && v !== '';
        case 'string?':
        case 'path?':
          return typeof v === 'string' && !/[\u0000-\u001f\u007f]/.test(v) && (s.kind === 'string?' || v === '' || isAbsolute(v));
        case 'hostport':
          return typeof v === 'string' && parseHostPort(v) !== undefined;
        case 'hostport?':
          return v === '' || (typeof v === 'string' && parseHostPort(v) !== undefined);
        case 'level':
          return ['debug', 'info', 'warn', 'error', 'silent'].includes(v as string);
        case 'name':
          return v === '' || (typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(v));
        case 'signing':
          return v === 'worker' || v === 'inline';
        case 'anchor':
          return v === 'local' || v === 'fabric' || v === 'off';
        case 'channel?':
          return v === '' || (typeof v === 'string' && /^[a-z][a-z0-9.-]{0,248}$/.test(v));
        case 'chaincode?':
          return v === '' || (typeof v === 'string' && /^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$/.test(v));
        case 'clientcert':
          return v === 'optional' || v === 'required';
        case 'bool':
          return typeof v === 'boolean';
      }
    })();
    if (!okay) out.push(`${s.key}=${JSON.stringify(v)}`);
  }
  if (!isAbsolute(cfg.dataDir) || !isAbsolute(cfg.keyFile)) out.push('dataDir and keyFile must be absolute');
  if (cfg.anchorBackend === 'fabric' && ['fabricEndpoint', 'fabricTlsCaFile', 'fabricMspId', 'fabricCertFile', 'fabricKeyFile', 'fabricChannel', 'fabricChaincode'].some((k) => cfg[k as keyof NodeConfig] === '')) {
    out.push('anchor_backend fabric without every Fabric setting');
  }
  if (!Array.isArray(cfg.syncTargets)) out.push('syncTargets');
  return out;
}

/**
 * The resolved config as a config file, as an operator would write it: a
 * setting at its default is left out (node_name's default, empty, is not a
 * value the file may spell: the key name is derived from the key instead).
 */
function asFile(cfg: Readonly<NodeConfig>): Record<string, unknown> {
  const o: Record<string, unknown> = { sync_targets: cfg.syncTargets };
  const fabric: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    if (cfg[s.key] === DEFAULTS[s.key]) continue;
    if (s.file.startsWith('fabric.')) fabric[s.file.slice('fabric.'.length)] = cfg[s.key];
    else o[s.file] = cfg[s.key];
  }
  o.fabric = fabric;
  return o;
}

const defined = (r: Record<string, Tagged | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).flatMap(([k, x]) => (x === undefined ? [] : [[k, x.v as string]])));

t.test(`config: any file, env and flags resolve within bounds or name a bad setting (seed ${CONFIG_SEED}, ${CONFIG_RUNS} runs)`, async (t) => {
  const path = join(dir.path, 'config.json');
  const again = join(dir.path, 'config-again.json');
  const outcomes = { resolved: 0, refused: 0, fabricIncomplete: 0, unsafe: 0 };
  await fc.assert(
    fc.asyncProperty(configCaseArb, async (c) => {
      await writeFile(path, c.wholeFile ?? JSON.stringify(fileObject(c)));
      const expectFaults = faults(c);
      let cfg: Readonly<NodeConfig>;
      try {
        cfg = await loadConfig({ configPath: path, env: defined(c.env), flags: defined(c.flags) });
      } catch (e) {
        if (!(e instanceof CairnError) || e.code !== 'INVALID_ARGUMENT') throw new Error(`not an INVALID_ARGUMENT CairnError: ${String(e)}`);
        const field = e.field ?? '';
        if (!e.message.includes(field === 'config' ? path : field)) throw new Error(`message does not name ${field}: ${e.message}`);
        if (expectFaults.length > 0) {
          const named = expectFaults.some((f) => field === f || (f === 'sync_targets[0]' && field.startsWith('sync_targets[0]')));
          if (!named) throw new Error(`refused naming ${field} (${e.message}); the bad settings were ${expectFaults.join(', ')}`);
          outcomes.refused++;
          return;
        }
        // All given values are valid: only an incomplete Fabric section may be refused, naming a missing setting.
        const fabricRequired = SETTINGS.filter((s) => ['fabricEndpoint', 'fabricTlsCaFile', 'fabricMspId', 'fabricCertFile', 'fabricKeyFile', 'fabricChannel', 'fabricChaincode'].includes(s.key));
        const anchor = expectedValue(SETTINGS.find((s) => s.key === 'anchorBackend')!, rawWinner(c, SETTINGS.find((s) => s.key === 'anchorBackend')!));
        const missing = fabricRequired.filter((s) => expectedValue(s, rawWinner(c, s)) === '').map((s) => s.file);
        if (anchor === 'fabric' && missing.includes(field)) {
          outcomes.fabricIncomplete++;
          return;
        }
        // Or a combination the safe defaults refuse (config.ts checkExposure), naming the setting the model expects.
        const exposure = exposureFault(c);
        if (exposure === undefined || exposure !== field) throw new Error(`refused a valid config naming ${field} (model: ${exposure ?? 'none'}): ${e.message}`);
        outcomes.unsafe++;
        return;
      }
      if (expectFaults.length > 0) throw new Error(`accepted, though ${expectFaults.join(', ')} ${expectFaults.length === 1 ? 'is' : 'are'} invalid`);
      const exposure = exposureFault(c);
      if (exposure !== undefined) throw new Error(`accepted, though the safe defaults refuse it at ${exposure}`);
      const oob = outOfBounds(cfg);
      if (oob.length > 0) throw new Error(`resolved out of bounds: ${oob.join('; ')}`);
      for (const s of SETTINGS) {
        if (s.key === 'keyFile' && rawWinner(c, s) === undefined) continue; // derived from data_dir
        const want = expectedValue(s, rawWinner(c, s));
        if (cfg[s.key] !== want) throw new Error(`${s.key} is ${JSON.stringify(cfg[s.key])}, precedence says ${JSON.stringify(want)}`);
      }
      // Round trip: the resolved config as a file resolves to itself.
      await writeFile(again, JSON.stringify(asFile(cfg)));
      const cfg2 = await loadConfig({ configPath: again, env: {} });
      if (JSON.stringify(cfg2) !== JSON.stringify(cfg)) throw new Error(`round trip changed the config: ${JSON.stringify(cfg)} -> ${JSON.stringify(cfg2)}`);
      outcomes.resolved++;
    }),
    { seed: CONFIG_SEED, numRuns: CONFIG_RUNS, endOnFailure: true, includeErrorInReport: true },
  );
  t.comment(`${outcomes.resolved} resolved (and round-tripped), ${outcomes.refused} refused naming a bad setting, ${outcomes.fabricIncomplete} refused for an incomplete Fabric section, ${outcomes.unsafe} refused by the safe defaults`);
  t.ok(outcomes.resolved > 100 && outcomes.refused > 100, 'both outcomes are well represented');
});

// ---------------------------------------------------------------- 2. policy

const POLICY_SEED = 0x9011c7;
const MODEL_RUNS = 400;
const TEXT_RUNS = 3000;
/** Far above what any case takes (a few ms); a parser that backtracks or loops would blow it. */
const CASE_MS = 2000;

const SUBJECTS = ['CN=ci,O=example', 'CN=a', 'CN=b, O=x'];
const SANS = ['dns:a.example', 'dns:b.example', 'email:x@example.com', 'ip:10.0.0.1', 'uri:spiffe://x/y'];
// '!x' starts a YAML tag when unquoted (names with '#' or '.' are refused: the rule of cairn token create).
const TOKENS = ['ci', 'ops', 't1', '!x'];
const identityArb: fc.Arbitrary<Identity> = fc.record({ subject: fc.constantFrom(...SUBJECTS, 'CN=other'), sans: fc.subarray(SANS), token: fc.constantFrom(...TOKENS, 'nope') }, { requiredKeys: [] });
const policyArb = policyArbOf({ subjects: SUBJECTS, sans: SANS, tokens: TOKENS });

const sq = (s: string): string => `'${s.replaceAll("'", "''")}'`;
/** Block style: plain rules and matches where YAML allows, identities first, comments between. */
function toBlockYaml(tenants: ModelTenant[], identities: ModelIdentity[]): string {
  let s = '# generated\n';
  if (identities.length > 0) s += `identities:\n${identities.map((i) => `- match: ${/^[A-Za-z]/.test(i.match) && !i.match.includes(' #') ? i.match : sq(i.match)}   # who\n  tenant: ${sq(i.tenant)}\n`).join('')}`;
  s += tenants.length === 0 ? 'tenants: {}\n' : 'tenants:\n';
  for (const x of tenants) s += x.rules.length === 0 ? `  ${sq(x.name)}: []\n` : `  ${sq(x.name)}:\n\n${x.rules.map((r) => `  - ${r}\n`).join('')}`;
  return s;
}
/** Flow style on one line, every scalar single-quoted. */
function toFlowYaml(tenants: ModelTenant[], identities: ModelIdentity[]): string {
  const ts = tenants.map((x) => `${sq(x.name)}: [${x.rules.map(sq).join(', ')}]`).join(', ');
  const is = identities.map((i) => `{match: ${sq(i.match)}, tenant: ${sq(i.tenant)}}`).join(', ');
  return `{tenants: {${ts}}, identities: [${is}]}\n`;
}

t.test(`policy: a model policy in three renderings answers as the reference model (seed ${POLICY_SEED}, ${MODEL_RUNS} runs)`, async (t) => {
  const logArb = fc.oneof(nameArb, fc.constantFrom('', 'A', '-a', 'a*', 'a/b', 'a'.repeat(64), 'a'.repeat(63)));
  fc.assert(
    fc.property(policyArb, fc.array(logArb, { maxLength: 10 }), fc.array(identityArb, { maxLength: 5 }), ({ tenants, identities }, randomLogs, whos) => {
      // Probe names built from the patterns too, so that globs hit and just miss.
      const derived = tenants.flatMap((x) => x.rules.map((r) => r.slice(r.indexOf(':') + 1).replace('*', '')).flatMap((n) => [n, `${n}a`, `${n}-1`, n.slice(0, -1)]));
      const logs = [...randomLogs, ...derived];
      for (const [style, text] of [['json-quoted', toYaml(tenants, identities)], ['block', toBlockYaml(tenants, identities)], ['flow', toFlowYaml(tenants, identities)]] as const) {
        const p = compilePolicy(text);
        const where = `${style} rendering:\n${text}`;
        if (JSON.stringify(p.tenants) !== JSON.stringify(tenants.map((x) => x.name))) throw new Error(`tenants ${JSON.stringify(p.tenants)} in ${where}`);
        for (const tenant of [undefined, 'zz-unknown', ...tenants.map((x) => x.name)]) {
          for (const log of logs) {
            for (const action of ['append', 'read'] as const) {
              if (p.can(tenant, action, log) !== naiveCan(tenants, tenant, action, log)) throw new Error(`can(${tenant}, ${action}, ${log}) in ${where}`);
            }
          }
          const visible = p.visibleLogs(tenant, logs);
          if (JSON.stringify(visible) !== JSON.stringify(logs.filter((l) => naiveCan(tenants, tenant, 'read', l)))) throw new Error(`visibleLogs(${tenant}) in ${where}`);
          const def = tenants.find((x) => x.name === tenant);
          if (p.isAdmin(tenant) !== (def?.rules.includes('admin') ?? false)) throw new Error(`isAdmin(${tenant}) in ${where}`);
          if (p.canAnchorRead(tenant) !== (def?.rules.includes('anchor:read') ?? false)) throw new Error(`canAnchorRead(${tenant}) in ${where}`);
        }
        for (const who of whos) if (p.tenantOf(who) !== naiveTenantOf(identities, who)) throw new Error(`tenantOf(${JSON.stringify(who)}) in ${where}`);
      }
    }),
    { seed: POLICY_SEED, numRuns: MODEL_RUNS, includeErrorInReport: true },
  );
  t.pass(`${MODEL_RUNS} policies x 3 renderings agree with the model`);
});

const EXAMPLE = `tenants:
  team-a:
    - append:team-a-*
    - read:team-a-*
    - read:shared
  auditors: [read:*, anchor:read]
  ops:
    - admin
identities:
  - match: cert-subject:CN=ci,O=example
    tenant: team-a
  - { match: 'token:auditor-2026', tenant: auditors }
  - match: token:ops
    tenant: ops
`;

/** Text edits a careless or hostile editor makes. */
const fragment = fc.oneof(
  fc.constantFrom(
    '\n', '  ', '- ', ': ', '? ', '[', ']', '{', '}', ',', '"', "'", '#', '&a ', '*a', '<<: *a', '!!str ', '!!binary ', '!foo ', '---\n', '...\n', '%YAML 1.2\n',
    '|', '>-\n', '~', 'null', '0x1f', '\t', '\u0000', '\ufeff', '\r', '\r\n', '\u2028', '\ud800', 'tenants:', 'identities:', 'read:*', 'token:x', 'x'.repeat(300),
  ),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), what: fc.array(fragment, { minLength: 1, maxLength: 4 }).map((xs) => xs.join('')) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('duplicate-line' as const), at: fc.nat() }),
);
function mutate(text: string, ms: { kind: string; at: number; what?: string; n?: number }[]): string {
  let s = text;
  for (const m of ms) {
    const i = s.length === 0 ? 0 : m.at % (s.length + 1);
    if (m.kind === 'insert') s = s.slice(0, i) + m.what + s.slice(i);
    else if (m.kind === 'delete') s = s.slice(0, i) + s.slice(i + m.n!);
    else {
      const start = s.lastIndexOf('\n', i - 1) + 1;
      const end = s.indexOf('\n', i);
      const line = s.slice(start, end < 0 ? s.length : end + 1);
      s = s.slice(0, start) + line + s.slice(start);
    }
  }
  return s;
}
const policyTextArb = fc.oneof(
  { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => mutate(EXAMPLE, ms)), weight: 6 },
  { arbitrary: fc.tuple(policyArb, fc.array(mutation, { maxLength: 3 })).map(([p, ms]) => mutate(toBlockYaml(p.tenants, p.identities), ms)), weight: 3 },
  { arbitrary: fc.array(fragment, { maxLength: 40 }).map((xs) => xs.join('')), weight: 2 },
  // Nesting and size at and past the limits the compiler states (128 block levels, 32 flow levels, 1 MiB).
  {
    arbitrary: fc.oneof(
      fc.integer({ min: 1, max: 400 }).map((n) => `tenants:\n${'  - '.repeat(n)}x\n`),
      fc.integer({ min: 1, max: 300 }).map((n) => `tenants: ${deep(n, '[', 'x', ']')}\n`),
      fc.integer({ min: 1, max: 300 }).map((n) => `tenants: ${deep(n, '{a: ', 'x', '}')}\n`),
      fc.integer({ min: 1, max: 200 }).map((n) => `identities:\n${Array.from({ length: n }, (_, i) => `  - &a${i} { match: 'token:t${i}', tenant: *a${Math.max(0, i - 1)} }\n`).join('')}`),
      fc.constantFrom(
        `a: &a [${'*a, '.repeat(50)}]\n`,
        `tenants:\n  x: ${'y'.repeat(1 << 20)}\n`,
        `tenants:\n  x: ${'y'.repeat((1 << 20) - 20)}\n`,
        `tenants:\n  x: [read:a]\nidentities:\n${'  - {match: "token:a", tenant: x}\n'.repeat(2)}`,
        `${'\n'.repeat(5000)}tenants: [`,
        `tenants:\n  ${'? '.repeat(200)}x`,
      ),
    ),
    weight: 1,
  },
);

t.test(`policy: mutated and random YAML compiles or names a line of the text, in bounded time (seed ${POLICY_SEED + 1}, ${TEXT_RUNS} runs)`, async (t) => {
  let compiled = 0;
  let slowest = 0;
  const lines = new Map<string, number>();
  fc.assert(
    fc.property(policyTextArb, (text) => {
      const started = performance.now();
      let outcome: unknown;
      try {
        compilePolicy(text);
        compiled++;
      } catch (e) {
        outcome = e;
      }
      const ms = performance.now() - started;
      slowest = Math.max(slowest, ms);
      if (ms > CASE_MS) throw new Error(`took ${ms.toFixed(0)} ms`);
      if (outcome === undefined) return;
      const e = outcome as CairnError;
      if (!(e instanceof CairnError) || e.code !== 'INVALID_ARGUMENT' || e.field !== 'policy') throw new Error(`not an INVALID_ARGUMENT CairnError for field policy: ${String(e)}`);
      const m = /^policy line ([1-9][0-9]*): ./s.exec(e.message);
      if (!m) throw new Error(`message is not "policy line N: ...": ${e.message}`);
      // Lines as YAML counts them: LF ends a line (a lone CR does not, YAML 1.2 section 5.4 aside, and the yaml package agrees).
      const count = text.split('\n').length;
      if (Number(m[1]) > count) throw new Error(`names line ${m[1]} of a ${count}-line text: ${e.message}`);
      const kind = e.message.replace(/^policy line [0-9]+: /, '').replace(/".*$|\(.*$|[0-9]+/g, '').slice(0, 40);
      lines.set(kind, (lines.get(kind) ?? 0) + 1);
    }),
    { seed: POLICY_SEED + 1, numRuns: TEXT_RUNS, includeErrorInReport: true },
  );
  t.comment(`${compiled} of ${TEXT_RUNS} texts compiled; the slowest case took ${slowest.toFixed(0)} ms`);
  t.comment(`rejections: ${[...lines].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, n]) => `${n} x ${k.trim()}`).join('; ')}`);
  t.ok(compiled > 0 && compiled < TEXT_RUNS, 'some texts compile and some are refused');
});

// ---------------------------------------------------------------- 3. append validation

const APPEND_SEED = 0xa99e;
const APPEND_RUNS = 5000;
const APPEND_FIELDS: Record<keyof AppendInput, string> = {
  log: 'log',
  configId: 'config_id',
  operator: 'operator',
  action: 'action',
  source: 'source',
  commit: 'commit',
  payloadJson: 'payload_json',
  requestId: 'request_id',
};
/** A value each field accepts: what "repairing" a named field puts in. */
const REPAIR: AppendInput = { log: 'a', configId: 'c', operator: 'o', action: 'a', source: '', commit: '', payloadJson: '', requestId: '' };

// Outside gRPC nothing replaces lone surrogates: validation itself must refuse them.
const anyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('a', ' ', '\u0000', '\ud800', '\udc00', '😀', '\u00a0', '-', '.', 'F', '0'), maxLength: 12 }),
  fc.constantFrom('', ' ', 'x'.repeat(65), 'x'.repeat(129), 'x'.repeat(257), 'x'.repeat(513)),
);
const nonString = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}));
const maybe = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: anyString, weight: 1 }, { arbitrary: nonString, weight: 1 });
const payloadText = fc.oneof(
  fc.constant(''),
  fc.json({ maxDepth: 5 }),
  fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
  // Any JS value that JSON can carry, keys and strings with lone surrogates included.
  fc.anything({ maxDepth: 4, withNullPrototype: true }).map((v) => {
    try {
      return JSON.stringify(v) ?? 'undefined';
    } catch {
      return '{';
    }
  }),
  fc.integer({ min: 30, max: 36 }).map((n) => deep(n, '[', '0', ']')),
  fc.integer({ min: 30, max: 36 }).map((n) => deep(n, '{"k":', '{}', '}')),
  fc.constantFrom('-0', '1e400', '-1e-400', '5e-324', '1.7976931348623157e308', '1e308', '[1e309]', '"\\ud800"', '{"\\udfff":0}', '{"__proto__":[1]}', '{"a":1,"a":2}', '0.1', '1E21', '[]', '{}', '"\u2028"', '1e21', '100000000000000000000'),
);
const appendInputArb = fc.record({
  log: maybe(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/)),
  configId: maybe(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })),
  operator: maybe(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 })),
  action: maybe(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/)),
  source: maybe(fc.oneof(fc.constant(''), fc.webUrl())),
  commit: maybe(fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9a-f]{7,40}$/), fc.stringMatching(/^[0-9a-f]{64}$/))),
  payloadJson: fc.oneof({ arbitrary: payloadText, weight: 12 }, { arbitrary: anyString, weight: 1 }, { arbitrary: nonString, weight: 1 }),
  requestId: maybe(fc.oneof(fc.constant(''), fc.stringMatching(/^[\x21-\x7e]{1,128}$/))),
});
const limitsArb = fc.oneof({ arbitrary: fc.constant(64 * 1024), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 64 }), weight: 1 });

/** JSON equality with JSON's own number semantics (-0 is 0). */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function rejection(input: AppendInput, maxPayloadBytes: number): CairnError | undefined {
  try {
    validateAppend(input, { maxPayloadBytes });
    return undefined;
  } catch (e) {
    if (e instanceof CairnError) return e;
    throw new Error(`threw ${String(e)}, not a CairnError`);
  }
}

t.test(`append validation: a canonical payload or one named field at fault (seed ${APPEND_SEED}, ${APPEND_RUNS} runs)`, async (t) => {
  const named = new Map<string, number>();
  let valid = 0;
  fc.assert(
    fc.property(appendInputArb, limitsArb, (raw, maxPayloadBytes) => {
      const input = raw as unknown as AppendInput;
      const e = rejection(input, maxPayloadBytes);
      if (e === undefined) {
        const v = validateAppend(input, { maxPayloadBytes });
        const canonical = canonicalize(v.payload);
        if (!sameJson(JSON.parse(canonical), v.payload)) throw new Error(`payload ${preview(v.payload)} does not survive canonicalization: ${canonical.slice(0, 200)}`);
        if (canonicalize(JSON.parse(canonical)) !== canonical) throw new Error(`canonical form is not a fixed point: ${canonical.slice(0, 200)}`);
        for (const k of Object.keys(APPEND_FIELDS) as (keyof AppendInput)[]) {
          if (k !== 'payloadJson' && v[k as Exclude<keyof AppendInput, 'payloadJson'>] !== (input[k] || '')) throw new Error(`${k} changed in validation`);
        }
        valid++;
        return;
      }
      const field = e.field ?? '';
      const key = (Object.keys(APPEND_FIELDS) as (keyof AppendInput)[]).find((k) => APPEND_FIELDS[k] === field);
      if (e.code !== 'INVALID_ARGUMENT' || key === undefined) throw new Error(`${e.code} naming ${field}: ${e.message}`);
      if (!e.message.startsWith(`${field}: `)) throw new Error(`message does not start with "${field}: ": ${e.message}`);
      // The named field really was at fault: with it repaired, the rejection names another field or goes away.
      const after = rejection({ ...input, [key]: REPAIR[key] }, maxPayloadBytes);
      if (after?.field === field) throw new Error(`${field} still refused after repair: ${after.message}`);
      named.set(field, (named.get(field) ?? 0) + 1);
    }),
    { seed: APPEND_SEED, numRuns: APPEND_RUNS, includeErrorInReport: true },
  );
  t.comment(`${valid} valid; refusals by field: ${[...named].map(([k, n]) => `${k}=${n}`).join(' ')}`);
  t.ok(valid > 100, 'valid inputs are well represented');
  t.equal(named.size, Object.keys(APPEND_FIELDS).length, 'every field is named in some refusal');
});
