/**
 * The authorization policy at scale (src/auth/policy.ts): compiling a policy
 * of many tenants and identities, and the per-request checks the server runs
 * against it (can() on every call, tenantOf() on every new identity).
 * Reported, never asserted: the decisions themselves are tested in
 * test/policy.test.ts against the same policy.
 */
import { compilePolicy } from '../src/auth/policy.js';

export interface LargePolicy {
  /** The tenants and their rules, as written in the text. */
  tenants: { name: string; rules: string[] }[];
  /** The identity rows, as written in the text. */
  identities: { match: string; tenant: string }[];
  /** The policy file. */
  text: string;
}

/**
 * `n` tenants `team-i` (append and read their own prefix, read `shared-i`
 * and `common`), one tenant `wide` with `n` read prefixes, and one token
 * identity `t<i>` per team.
 */
export function largePolicy(n: number): LargePolicy {
  const tenants: LargePolicy['tenants'] = [];
  for (let i = 0; i < n; i++) tenants.push({ name: `team-${i}`, rules: [`append:team-${i}-*`, `read:team-${i}-*`, `read:shared-${i}`, 'read:common'] });
  tenants.push({ name: 'wide', rules: Array.from({ length: n }, (_, i) => `read:w${i}-*`) });
  const identities = Array.from({ length: n }, (_, i) => ({ match: `token:t${i}`, tenant: `team-${i}` }));
  let text = 'tenants:\n';
  for (const x of tenants) text += `  ${x.name}:\n${x.rules.map((r) => `    - ${r}\n`).join('')}`;
  text += 'identities:\n';
  for (const id of identities) text += `  - { match: "${id.match}", tenant: ${id.tenant} }\n`;
  return { tenants, identities, text };
}

/** The (tenant, log) pairs the checks cycle through: own prefixes, near misses, exact names, and the wide tenant's prefixes. */
export function probePairs(n: number): { tenants: string[]; logs: string[] } {
  const logs = Array.from({ length: 64 }, (_, i) => [`team-${(i * 7) % n}-prod`, `team-${(i * 7 + 1) % n}x`, `shared-${i % n}`, 'common', `w${(i * 13) % n}-log`][i % 5] as string);
  const tenants = Array.from({ length: 64 }, (_, i) => (i % 8 === 0 ? 'wide' : `team-${(i * 7) % n}`));
  return { tenants, logs };
}

export interface BenchTable {
  title: string;
  header: string[];
  rows: (string | number)[][];
}

/** Compile time and check rates for a policy of `tenants` tenants (default 1,000). */
export function policyBench(tenants = 1000, checks = 400_000): BenchTable {
  const policy = largePolicy(tenants);
  let start = performance.now();
  const p = compilePolicy(policy.text);
  const compileMs = performance.now() - start;

  const { tenants: who, logs } = probePairs(tenants);
  let granted = 0;
  start = performance.now();
  for (let i = 0; i < checks; i++) if (p.can(who[i & 63], 'read', logs[(i * 31) & 63]!)) granted++;
  const canSeconds = (performance.now() - start) / 1000;

  let mapped = 0;
  start = performance.now();
  for (let i = 0; i < checks; i++) if (p.tenantOf({ token: `t${i % tenants}` }) !== undefined) mapped++;
  const tenantOfSeconds = (performance.now() - start) / 1000;

  return {
    title: `Authorization policy: ${tenants.toLocaleString('en-US')} tenants + a ${tenants.toLocaleString('en-US')}-prefix tenant + ${tenants.toLocaleString('en-US')} identities (${policy.text.length.toLocaleString('en-US')} bytes)`,
    header: ['operation', 'result'],
    rows: [
      ['compile (ms)', compileMs],
      [`can() checks/s (${granted.toLocaleString('en-US')} of ${checks.toLocaleString('en-US')} granted)`, checks / canSeconds],
      [`tenantOf() lookups/s (${mapped.toLocaleString('en-US')} of ${checks.toLocaleString('en-US')} mapped)`, checks / tenantOfSeconds],
    ],
  };
}
