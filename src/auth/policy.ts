/**
 * Authorization policy: who is which tenant, and what each tenant may do.
 *
 * A policy file is YAML with two top-level keys:
 *
 *   tenants:                       # tenant name -> list of rules
 *     team-a:
 *       - append:team-a-*          # append to logs whose name starts "team-a-"
 *       - read:team-a-*
 *       - read:shared              # one log, by its exact name
 *     auditors:
 *       - read:*                   # every log
 *       - anchor:read              # anchor windows and their proofs
 *     ops:
 *       - admin                    # admin operations (not log access: see below)
 *   identities:                    # who is which tenant
 *     - { match: 'cert-subject:CN=ci,O=example', tenant: team-a }
 *     - { match: 'cert-san:dns:ci.example.com', tenant: team-a }
 *     - { match: 'token:auditor-2026', tenant: auditors }
 *
 * Guarantees:
 *  - **Deny by default.** An identity no line maps, a tenant the policy does
 *    not define, an action no rule grants and a string that is not a valid log
 *    name all answer `false` (or `undefined` for {@link CompiledPolicy.tenantOf}).
 *  - **No existence oracle.** {@link CompiledPolicy.can} looks only at the
 *    policy and the name, never at storage, so callers answer a denied log and
 *    a missing log alike (NOT_FOUND), and {@link CompiledPolicy.visibleLogs}
 *    filters listings with the same rule as reads.
 *  - **Compiled once.** {@link compilePolicy} validates everything up front (at
 *    start and on reload) and every error names the policy line at fault, so a
 *    bad reload is rejected whole and the previous policy stays in force.
 *
 * Rules, closed list: `append:<pattern>`, `read:<pattern>`, `anchor:read`,
 * `admin`. `admin` grants admin operations only; it implies no log access
 * (least privilege: an operator who also reads every log writes `read:*`).
 * `read` covers every way of learning about a log: read, list, watch and
 * proofs against its checkpoints.
 *
 * Patterns: a log name (`[a-z0-9][a-z0-9._-]{0,62}`), or a prefix of one
 * followed by a single trailing `*`, which matches zero or more characters:
 * `team-a-*` matches `team-a-`, `team-a-prod` and `team-a-x.y`, but not
 * `team-a` nor `team-ab` (the prefix is compared literally, `-` included);
 * `*` matches every log. No other wildcard exists, so patterns are prefixes,
 * never regular expressions.
 *
 * Identities are compared literally (principle: compare literally): a
 * certificate subject as the node renders it (`CN=ci,O=example`), a SAN as
 * `<type>:<value>` with type `dns`, `uri`, `email` or `ip`, and a token by its
 * name (never its secret). When one caller's credentials map to two different
 * tenants (say its subject to `a` and a SAN to `b`) it gets no tenant at all:
 * an ambiguous identity is denied, never resolved by a precedence rule.
 *
 * Pure module: no Node-only imports.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { CairnError } from '../core/errors.js';
import { LOG_NAME_RE } from '../core/entry.js';
import { TOKEN_NAME_RE, TOKEN_NAME_RULE } from './tokens.js';

/** A policy file larger than this is refused before parsing (1 MiB is ~20,000 tenants). */
export const MAX_POLICY_BYTES = 1 << 20;

/** Tenant names share the log-name grammar: short, lowercase, compared literally. */
export const TENANT_NAME_RE = LOG_NAME_RE;

/** The SAN types a `cert-san:` match may name. */
export const SAN_TYPES: readonly string[] = ['dns', 'uri', 'email', 'ip'];

/** The actions a log rule grants. */
export type LogAction = 'append' | 'read';

/** What the transport established about a caller. Every field is optional. */
export interface Identity {
  /** Client certificate subject, e.g. `CN=ci,O=example`. */
  subject?: string;
  /** Client certificate SANs as `<type>:<value>`, e.g. `dns:ci.example.com`. */
  sans?: string[];
  /** Name of the bearer token the caller presented (not its secret). */
  token?: string;
}

/**
 * A tenant's quotas as the policy sets them (top-level `quotas:` map); a
 * quota not set here takes the node-wide default (`tenant_*` settings).
 */
export interface TenantQuota {
  /** Logs the tenant may create. */
  logs?: number;
  /** Appends of the tenant waiting for the ledger at once. */
  queuedAppends?: number;
  /** Streams the tenant may have open at once, over all its identities. */
  streams?: number;
  /** Appends per second over all its identities (0: no limit). */
  appendsPerSecond?: number;
  /** Appends the tenant may send at once after being idle. */
  appendBurst?: number;
}

/** Policy keys of {@link TenantQuota}, in the order error messages list them. */
export const QUOTA_KEYS: Readonly<Record<string, keyof TenantQuota>> = {
  logs: 'logs',
  queued_appends: 'queuedAppends',
  streams: 'streams',
  appends_per_second: 'appendsPerSecond',
  append_burst: 'appendBurst',
};
const MAX_QUOTA = 1_000_000_000;

/** The logs a tenant may read, as the index that lists them is searched: exact names and name prefixes. */
export interface ReadScope {
  readonly exact: readonly string[];
  /** Sorted and prefix-free; `''` (from `read:*`) means every log. */
  readonly prefixes: readonly string[];
}

/** A compiled, immutable policy. Every method denies by default. */
export interface CompiledPolicy {
  /** Tenant names in file order. */
  readonly tenants: readonly string[];
  /**
   * The tenant the caller's credentials map to, or `undefined` when none maps
   * or when they map to two different tenants (ambiguous: denied).
   */
  tenantOf(identity: Identity): string | undefined;
  /**
   * The tenant and the credential that mapped to it (`cert-subject:...`,
   * `cert-san:...` or `token:...`, exactly as the policy line matched it): what
   * the node records as an entry's identity. `undefined` exactly when
   * {@link tenantOf} is.
   */
  resolve(identity: Identity): { tenant: string; principal: string } | undefined;
  /** Whether `tenant` may `action` the log `log`. False for an undefined or unknown tenant and for an invalid log name. */
  can(tenant: string | undefined, action: LogAction, log: string): boolean;
  /** Whether `tenant` may read anchor windows and their proofs (`anchor:read`). */
  canAnchorRead(tenant: string | undefined): boolean;
  /** Whether `tenant` may run admin operations (`admin`). */
  isAdmin(tenant: string | undefined): boolean;
  /** The subset of `logs` that `tenant` may read, in input order: listings show nothing else. */
  visibleLogs(tenant: string | undefined, logs: readonly string[]): string[];
  /** The logs `tenant` may read as exact names and prefixes (empty for an unknown tenant). */
  readScope(tenant: string | undefined): ReadScope;
  /** The quotas the policy sets for `tenant` (empty: the node-wide defaults). */
  quotaOf(tenant: string | undefined): TenantQuota;
  /** The tenant an entry's recorded identity (`token:...`, `cert-subject:...`) maps to now. */
  tenantOfPrincipal(principal: string): string | undefined;
}

/**
 * Compile a policy file into a {@link CompiledPolicy}.
 *
 * The text is operator-supplied but still parsed defensively: size is bounded,
 * aliases and non-string scalars are refused, and only the two known levels
 * are walked (no recursion over attacker-shaped nesting).
 *
 * @throws {CairnError} `INVALID_ARGUMENT` with `field: 'policy'` and a message
 *   `policy line N: ...` for YAML syntax errors, an empty file, unknown
 *   top-level or identity keys, duplicate tenant names, unknown rule verbs, bad
 *   log patterns, bad or duplicate identity matches and identities naming an
 *   undefined tenant. Never any other error.
 * @example
 *   const policy = compilePolicy(readFileSync('policy.yaml', 'utf8'));
 *   const tenant = policy.tenantOf({ subject: 'CN=ci,O=example' });
 *   if (!policy.can(tenant, 'append', 'team-a-prod')) throw notFound();
 */
export function compilePolicy(text: string): CompiledPolicy {
  if (typeof text !== 'string') throw policyError(1, 'must be a string');
  if (text.length > MAX_POLICY_BYTES) throw policyError(1, `larger than ${MAX_POLICY_BYTES} bytes`);

  const deep = nestingProblem(text);
  if (deep !== undefined) throw policyError(deep.line, deep.problem);

  const lineCounter = new LineCounter();
  // 1-based line of a node; `fallback` for a node without a range (an empty value).
  const lineOf = (node: unknown, fallback = 1): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? fallback : lineCounter.linePos(range[0]).line;
  };

  let doc: ReturnType<typeof parseDocument>;
  try {
    // uniqueKeys off: duplicates are reported below with a message that names them.
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  } catch (cause) {
    // The parser collects errors rather than throwing; this only catches the
    // unexpected (e.g. a stack overflow on absurd nesting).
    throw policyError(1, 'cannot be parsed as YAML', cause);
  }
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    // An unterminated scalar or collection is reported at end of input; name the
    // last line that has text rather than the empty one after the final newline.
    const lastLine = lineCounter.linePos(text.trimEnd().length).line; // trimEnd: linear, unlike /\s+$/
    const line = Math.min(lineCounter.linePos(syntax.pos[0]).line, lastLine);
    throw policyError(line, `YAML ${syntax.code}: ${syntax.message.split('\n')[0]}`);
  }

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) throw policyError(1, 'is empty');
  if (!isMap(root)) throw policyError(lineOf(root), 'must be a map with keys tenants and identities');
  if (root.items.length === 0) throw policyError(lineOf(root), 'is empty');

  let tenantsNode: unknown;
  let identitiesNode: unknown;
  let quotasNode: unknown;
  let tenantsLine = 1;
  let identitiesLine = 1;
  let quotasLine = 1;
  for (const pair of root.items) {
    const key = stringKey(pair.key, lineOf, 'top-level key');
    const line = lineOf(pair.key);
    if (key === 'tenants') {
      if (tenantsNode !== undefined) throw policyError(line, 'duplicate key tenants');
      tenantsNode = pair.value ?? null;
      tenantsLine = line;
    } else if (key === 'identities') {
      if (identitiesNode !== undefined) throw policyError(line, 'duplicate key identities');
      identitiesNode = pair.value ?? null;
      identitiesLine = line;
    } else if (key === 'quotas') {
      if (quotasNode !== undefined) throw policyError(line, 'duplicate key quotas');
      quotasNode = pair.value ?? null;
      quotasLine = line;
    } else {
      throw policyError(line, `unknown top-level key ${JSON.stringify(key)} (expected tenants, identities, quotas)`);
    }
  }

  // ---- tenants ----------------------------------------------------------------
  const tenants = new Map<string, TenantRules>();
  if (tenantsNode !== undefined) {
    if (!isMap(tenantsNode)) throw policyError(lineOf(tenantsNode, tenantsLine), 'tenants must be a map of tenant name to rule list');
    for (const pair of tenantsNode.items) {
      const name = stringKey(pair.key, lineOf, 'tenant name');
      const line = lineOf(pair.key);
      if (!TENANT_NAME_RE.test(name)) throw policyError(line, `tenant name ${JSON.stringify(name)} must match [a-z0-9][a-z0-9._-]{0,62}`);
      const first = tenants.get(name);
      if (first !== undefined) throw policyError(line, `duplicate tenant ${name} (first defined on line ${first.line})`);
      const rules = pair.value;
      if (!isSeq(rules)) throw policyError(lineOf(rules, line), `tenant ${name}: rules must be a list (use [] for none)`);
      const builder = new RuleBuilder(line);
      for (const item of rules.items) builder.add(ruleString(item, lineOf), lineOf(item));
      tenants.set(name, builder.build());
    }
  }

  // ---- identities -------------------------------------------------------------
  const byMatch = new Map<string, { tenant: string; line: number }>();
  if (identitiesNode !== undefined) {
    if (!isSeq(identitiesNode)) throw policyError(lineOf(identitiesNode, identitiesLine), 'identities must be a list of { match, tenant }');
    for (const item of identitiesNode.items) {
      const itemLine = lineOf(item);
      if (isAlias(item)) throw policyError(itemLine, 'YAML aliases are not supported');
      if (!isMap(item)) throw policyError(itemLine, 'identity must be a map { match, tenant }');
      let match: string | undefined;
      let matchLine = itemLine;
      let tenant: string | undefined;
      let tenantLine = itemLine;
      for (const pair of item.items) {
        const key = stringKey(pair.key, lineOf, 'identity key');
        const keyLine = lineOf(pair.key);
        const value = pair.value;
        if (key === 'match') {
          if (match !== undefined) throw policyError(keyLine, 'duplicate key match');
          match = scalarString(value, lineOf, keyLine, 'match');
          matchLine = lineOf(value, keyLine);
        } else if (key === 'tenant') {
          if (tenant !== undefined) throw policyError(keyLine, 'duplicate key tenant');
          tenant = scalarString(value, lineOf, keyLine, 'tenant');
          tenantLine = lineOf(value, keyLine);
        } else {
          throw policyError(keyLine, `unknown identity key ${JSON.stringify(key)} (expected match, tenant)`);
        }
      }
      if (match === undefined) throw policyError(itemLine, 'identity has no match');
      if (tenant === undefined) throw policyError(itemLine, 'identity has no tenant');
      const problem = matchProblem(match);
      if (problem !== undefined) throw policyError(matchLine, `match ${JSON.stringify(match)}: ${problem}`);
      const earlier = byMatch.get(match);
      if (earlier !== undefined) throw policyError(matchLine, `duplicate identity match ${JSON.stringify(match)} (first on line ${earlier.line})`);
      if (!tenants.has(tenant)) throw policyError(tenantLine, `tenant ${JSON.stringify(tenant)} is not defined under tenants`);
      byMatch.set(match, { tenant, line: matchLine });
    }
  }

  // ---- quotas -----------------------------------------------------------------
  const quotas = new Map<string, TenantQuota>();
  if (quotasNode !== undefined && quotasNode !== null) {
    if (!isMap(quotasNode)) throw policyError(lineOf(quotasNode, quotasLine), 'quotas must be a map of tenant name to { logs, queued_appends, streams, appends_per_second, append_burst }');
    for (const pair of quotasNode.items) {
      const tenant = stringKey(pair.key, lineOf, 'tenant name');
      const line = lineOf(pair.key);
      if (!tenants.has(tenant)) throw policyError(line, `quotas: tenant ${JSON.stringify(tenant)} is not defined under tenants`);
      if (quotas.has(tenant)) throw policyError(line, `quotas: duplicate tenant ${tenant}`);
      const value = pair.value;
      if (isAlias(value)) throw policyError(lineOf(value, line), 'YAML aliases are not supported');
      if (!isMap(value)) throw policyError(lineOf(value, line), `quotas: tenant ${tenant}: must be a map of quota to integer, e.g. { logs: 100 }`);
      const q: TenantQuota = {};
      for (const item of value.items) {
        const k = stringKey(item.key, lineOf, 'quota');
        const kLine = lineOf(item.key);
        const field = QUOTA_KEYS[k];
        if (field === undefined || !Object.hasOwn(QUOTA_KEYS, k)) throw policyError(kLine, `quotas: tenant ${tenant}: unknown quota ${JSON.stringify(k)} (expected ${Object.keys(QUOTA_KEYS).join(', ')})`);
        if (q[field] !== undefined) throw policyError(kLine, `quotas: tenant ${tenant}: duplicate quota ${k}`);
        const v = item.value;
        const n = isScalar(v) && typeof v.value === 'number' ? v.value : NaN;
        const min = field === 'appendBurst' ? 1 : 0;
        if (!Number.isSafeInteger(n) || n < min || n > MAX_QUOTA) throw policyError(lineOf(v, kLine), `quotas: tenant ${tenant}: ${k} must be an integer in [${min}, ${MAX_QUOTA}]`);
        q[field] = n;
      }
      quotas.set(tenant, Object.freeze(q));
    }
  }

  const matchToTenant = new Map<string, string>();
  for (const [match, { tenant }] of byMatch) matchToTenant.set(match, tenant);
  return new CompiledPolicyImpl(tenants, matchToTenant, quotas);
}

// ---- internals ------------------------------------------------------------------

/** Columns of indentation plus block indicators on one line; a policy needs under 16. */
export const MAX_BLOCK_NESTING = 128;
/** Open `[` / `{` at any point; a policy needs 1. */
export const MAX_FLOW_NESTING = 32;

/**
 * Bounds nesting before the YAML parser sees the text. The parser recurses per
 * level: about 1,000 levels overflow the stack (reported as a YAML error), and
 * in Node 20 a second such overflow in the same process was seen to abort it
 * with an uncatchable out-of-memory in V8's RegExp compiler (measured with
 * `[` x 200,000 then `- ` x 100,000). Block nesting needs either more
 * indentation or another `- ` / `? ` / `: ` indicator per level, so
 * indentation plus indicators bounds it; brackets bound flow nesting (counted
 * even inside quotes: conservative, and no policy value needs 32 of them).
 * One linear pass, no regular expression.
 */
function nestingProblem(text: string): { line: number; problem: string } | undefined {
  let line = 1;
  let flow = 0;
  let depth = 0;
  let atIndent = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 /* \n */) {
      line++;
      depth = 0;
      atIndent = true;
      continue;
    }
    if (c === 32 || c === 9) {
      if (atIndent) depth++;
    } else {
      atIndent = false;
      if (c === 91 || c === 123) {
        if (++flow > MAX_FLOW_NESTING) return { line, problem: `nests deeper than ${MAX_FLOW_NESTING} [ or {` };
      } else if (c === 93 || c === 125) {
        if (flow > 0) flow--;
      } else if (c === 45 || c === 63 || c === 58) {
        // - ? : as an indicator: followed by a space, tab or end of line.
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 10;
        if (next === 32 || next === 9 || next === 10 || next === 13) depth++;
      }
    }
    if (depth > MAX_BLOCK_NESTING) return { line, problem: `nests deeper than ${MAX_BLOCK_NESTING} levels` };
  }
  return undefined;
}

function policyError(line: number, problem: string, cause?: unknown): CairnError {
  return new CairnError('INVALID_ARGUMENT', `policy line ${line}: ${problem}`, cause === undefined ? { field: 'policy' } : { field: 'policy', cause });
}

type LineOf = (node: unknown, fallback?: number) => number;

function stringKey(key: unknown, lineOf: LineOf, what: string): string {
  if (isAlias(key)) throw policyError(lineOf(key), 'YAML aliases are not supported');
  if (!isScalar(key) || typeof key.value !== 'string') throw policyError(lineOf(key), `${what} must be a string`);
  return key.value;
}

function scalarString(value: unknown, lineOf: LineOf, fallbackLine: number, what: string): string {
  if (isAlias(value)) throw policyError(lineOf(value, fallbackLine), 'YAML aliases are not supported');
  if (!isScalar(value) || typeof value.value !== 'string') throw policyError(lineOf(value, fallbackLine), `${what} must be a string`);
  return value.value;
}

function ruleString(item: unknown, lineOf: LineOf): string {
  if (isAlias(item)) throw policyError(lineOf(item), 'YAML aliases are not supported');
  if (isPair(item) || !isScalar(item) || typeof item.value !== 'string') throw policyError(lineOf(item), 'rule must be a string such as read:team-a-*');
  return item.value;
}

/** Returns what is wrong with an identity match string, or undefined. */
function matchProblem(match: string): string | undefined {
  if (/[\u0000-\u001f\u007f]/.test(match)) return 'contains control characters';
  if (match.startsWith('cert-subject:')) {
    return match.length > 'cert-subject:'.length ? undefined : 'empty subject';
  }
  if (match.startsWith('cert-san:')) {
    const rest = match.slice('cert-san:'.length);
    const colon = rest.indexOf(':');
    const type = colon < 0 ? rest : rest.slice(0, colon);
    if (!SAN_TYPES.includes(type)) return `SAN type must be one of ${SAN_TYPES.join(', ')} (cert-san:dns:host.example)`;
    return colon >= 0 && colon < rest.length - 1 ? undefined : 'empty SAN value';
  }
  if (match.startsWith('token:')) {
    return TOKEN_NAME_RE.test(match.slice('token:'.length)) ? undefined : `token name must be ${TOKEN_NAME_RULE} (the rule of cairn token create)`;
  }
  return 'must start with cert-subject:, cert-san: or token:';
}

/**
 * The log patterns of one action, compiled for lookup in O(1) + O(log n):
 *
 *  - `exact`: a Set of literal names;
 *  - `prefixes`: the glob prefixes, sorted and made prefix-free (a prefix
 *    another prefix already covers is dropped). In a prefix-free sorted list
 *    the only candidate that can be a prefix of `log` is the greatest entry
 *    <= `log` (every string between a prefix p and a name starting with p also
 *    starts with p), so one binary search plus one `startsWith` decides.
 *
 * Not a RegExp per tenant or per call: an alternation of a thousand patterns
 * compiles slowly, costs a regex engine run on every Append/Read/Watch, and
 * would make a typo in a pattern a regex-syntax question rather than a
 * grammar error; a Set and a binary search cost the same for 1 or 10,000
 * patterns and cannot backtrack (no ReDoS).
 */
class PatternSet {
  readonly #exact: ReadonlySet<string>;
  readonly #prefixes: readonly string[];
  constructor(exact: Set<string>, prefixes: Set<string>) {
    const sorted = [...prefixes].sort(); // UTF-16 order, the same order `<=` uses below
    const minimal: string[] = [];
    for (const p of sorted) {
      const last = minimal[minimal.length - 1];
      // Sorted order puts a covering prefix immediately before what it covers.
      if (last === undefined || !p.startsWith(last)) minimal.push(p);
    }
    this.#exact = exact;
    this.#prefixes = minimal;
  }
  /** The exact names and the prefix-free sorted prefixes. */
  scope(): ReadScope {
    return { exact: [...this.#exact], prefixes: this.#prefixes };
  }
  matches(log: string): boolean {
    if (this.#exact.has(log)) return true;
    const prefixes = this.#prefixes;
    let lo = 0;
    let hi = prefixes.length; // find the greatest prefix <= log
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((prefixes[mid] as string) <= log) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && log.startsWith(prefixes[lo - 1] as string);
  }
}

interface TenantRules {
  readonly line: number;
  readonly append: PatternSet;
  readonly read: PatternSet;
  readonly anchorRead: boolean;
  readonly admin: boolean;
}

const GLOB_PREFIX_RE = /^(?:[a-z0-9][a-z0-9._-]{0,62})?$/;

class RuleBuilder {
  readonly #line: number;
  readonly #exact = { append: new Set<string>(), read: new Set<string>() };
  readonly #prefixes = { append: new Set<string>(), read: new Set<string>() };
  #anchorRead = false;
  #admin = false;
  constructor(line: number) {
    this.#line = line;
  }
  add(rule: string, line: number): void {
    if (rule === 'admin') {
      this.#admin = true;
      return;
    }
    if (rule === 'anchor:read') {
      this.#anchorRead = true;
      return;
    }
    const colon = rule.indexOf(':');
    const verb = colon < 0 ? rule : rule.slice(0, colon);
    if (verb !== 'append' && verb !== 'read') {
      if (verb === 'anchor') throw policyError(line, `unknown rule ${JSON.stringify(rule)} (anchor rules: anchor:read)`);
      throw policyError(line, `unknown rule verb ${JSON.stringify(verb)} (expected append:<pattern>, read:<pattern>, anchor:read, admin)`);
    }
    if (colon < 0) throw policyError(line, `rule ${verb} needs a log pattern (${verb}:<pattern>)`);
    const pattern = rule.slice(colon + 1);
    const star = pattern.indexOf('*');
    if (star < 0) {
      if (!LOG_NAME_RE.test(pattern)) throw policyError(line, `bad log pattern ${JSON.stringify(pattern)}: a log name must match [a-z0-9][a-z0-9._-]{0,62}`);
      this.#exact[verb].add(pattern);
      return;
    }
    if (star !== pattern.length - 1) throw policyError(line, `bad log pattern ${JSON.stringify(pattern)}: only one trailing * is allowed`);
    const prefix = pattern.slice(0, -1);
    if (!GLOB_PREFIX_RE.test(prefix)) throw policyError(line, `bad log pattern ${JSON.stringify(pattern)}: the part before * must start a log name [a-z0-9][a-z0-9._-]{0,62}`);
    this.#prefixes[verb].add(prefix);
  }
  build(): TenantRules {
    return {
      line: this.#line,
      append: new PatternSet(this.#exact.append, this.#prefixes.append),
      read: new PatternSet(this.#exact.read, this.#prefixes.read),
      anchorRead: this.#anchorRead,
      admin: this.#admin,
    };
  }
}

class CompiledPolicyImpl implements CompiledPolicy {
  readonly tenants: readonly string[];
  readonly #rules: ReadonlyMap<string, TenantRules>;
  readonly #matches: ReadonlyMap<string, string>;
  readonly #quotas: ReadonlyMap<string, TenantQuota>;
  constructor(rules: Map<string, TenantRules>, matches: Map<string, string>, quotas: Map<string, TenantQuota>) {
    this.#rules = rules;
    this.#matches = matches;
    this.#quotas = quotas;
    this.tenants = Object.freeze([...rules.keys()]);
    Object.freeze(this);
  }

  tenantOf(identity: Identity): string | undefined {
    return this.resolve(identity)?.tenant;
  }

  resolve(identity: Identity): { tenant: string; principal: string } | undefined {
    if (identity === null || typeof identity !== 'object') return undefined;
    let found: string | undefined;
    let principal = '';
    let ambiguous = false;
    const consider = (key: string): void => {
      const tenant = this.#matches.get(key);
      if (tenant === undefined) return;
      if (found !== undefined && found !== tenant) ambiguous = true;
      // The first credential that matched names the caller: subject, then SANs, then token.
      if (found === undefined) principal = key;
      found = tenant;
    };
    if (typeof identity.subject === 'string') consider(`cert-subject:${identity.subject}`);
    if (Array.isArray(identity.sans)) for (const san of identity.sans) if (typeof san === 'string') consider(`cert-san:${san}`);
    if (typeof identity.token === 'string') consider(`token:${identity.token}`);
    return ambiguous || found === undefined ? undefined : { tenant: found, principal };
  }

  can(tenant: string | undefined, action: LogAction, log: string): boolean {
    if (tenant === undefined || typeof log !== 'string' || !LOG_NAME_RE.test(log)) return false;
    const rules = this.#rules.get(tenant);
    if (rules === undefined) return false;
    if (action === 'append') return rules.append.matches(log);
    if (action === 'read') return rules.read.matches(log);
    return false;
  }

  canAnchorRead(tenant: string | undefined): boolean {
    return tenant !== undefined && this.#rules.get(tenant)?.anchorRead === true;
  }

  isAdmin(tenant: string | undefined): boolean {
    return tenant !== undefined && this.#rules.get(tenant)?.admin === true;
  }

  visibleLogs(tenant: string | undefined, logs: readonly string[]): string[] {
    if (tenant === undefined || !this.#rules.has(tenant)) return [];
    return logs.filter((log) => this.can(tenant, 'read', log));
  }

  readScope(tenant: string | undefined): ReadScope {
    const rules = tenant === undefined ? undefined : this.#rules.get(tenant);
    return rules ? rules.read.scope() : { exact: [], prefixes: [] };
  }

  quotaOf(tenant: string | undefined): TenantQuota {
    return (tenant === undefined ? undefined : this.#quotas.get(tenant)) ?? {};
  }

  tenantOfPrincipal(principal: string): string | undefined {
    return typeof principal === 'string' ? this.#matches.get(principal) : undefined;
  }
}
