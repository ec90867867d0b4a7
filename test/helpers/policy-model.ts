/**
 * A reference model of an authorization policy (src/auth/policy.ts): the
 * obvious, slow implementation that property tests compare the compiled
 * matcher with, and a YAML rendering of a model policy.
 */
import fc from 'fast-check';
import { LOG_NAME_RE } from '../../src/core/entry.js';
import type { Identity, LogAction } from '../../src/auth/policy.js';

export interface ModelTenant {
  name: string;
  rules: string[];
}
export interface ModelIdentity {
  match: string;
  tenant: string;
}

/** The obvious implementation the compiled matcher must agree with. */
export function naiveCan(tenants: ModelTenant[], tenant: string | undefined, action: LogAction, log: string): boolean {
  if (tenant === undefined || !LOG_NAME_RE.test(log)) return false;
  const def = tenants.find((x) => x.name === tenant);
  if (def === undefined) return false;
  return def.rules.some((rule) => {
    if (!rule.startsWith(`${action}:`)) return false;
    const pattern = rule.slice(action.length + 1);
    return pattern.endsWith('*') ? log.startsWith(pattern.slice(0, -1)) : log === pattern;
  });
}

export function naiveTenantOf(identities: ModelIdentity[], who: Identity): string | undefined {
  const keys = [
    ...(who.subject === undefined ? [] : [`cert-subject:${who.subject}`]),
    ...(who.sans ?? []).map((s) => `cert-san:${s}`),
    ...(who.token === undefined ? [] : [`token:${who.token}`]),
  ];
  const found = new Set(identities.filter((i) => keys.includes(i.match)).map((i) => i.tenant));
  return found.size === 1 ? [...found][0] : undefined;
}

export function toYaml(tenants: ModelTenant[], identities: ModelIdentity[]): string {
  const q = JSON.stringify; // a JSON string is a YAML double-quoted scalar
  let s = tenants.length === 0 ? 'tenants: {}\n' : 'tenants:\n';
  for (const x of tenants) s += x.rules.length === 0 ? `  ${q(x.name)}: []\n` : `  ${q(x.name)}:\n${x.rules.map((r) => `    - ${q(r)}\n`).join('')}`;
  if (identities.length > 0) s += `identities:\n${identities.map((i) => `  - match: ${q(i.match)}\n    tenant: ${q(i.tenant)}\n`).join('')}`;
  return s;
}

// ---- generators shared by the property tests ----------------------------------

/** Log and tenant names from a small alphabet, so names, prefixes and patterns collide often ('0' and '0.1' also look like YAML numbers). */
export const nameArb: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('a', 'b', '0'), fc.string({ unit: fc.constantFrom('a', 'b', '-', '.', '1'), maxLength: 5 }))
  .map(([h, rest]) => h + rest);
const patternArb = fc.oneof(nameArb, fc.oneof(fc.constant(''), nameArb).map((p) => `${p}*`));
export const ruleArb: fc.Arbitrary<string> = fc.oneof(patternArb.map((p) => `append:${p}`), patternArb.map((p) => `read:${p}`), fc.constant('admin'), fc.constant('anchor:read'));

/** The credentials identities are drawn from. */
export interface CredentialAlphabet {
  subjects: string[];
  sans: string[];
  tokens: string[];
}

/** A model policy: up to 5 tenants with up to 6 rules, up to 6 identities mapping credentials of `alphabet` to them. */
export function policyArb(alphabet: CredentialAlphabet): fc.Arbitrary<{ tenants: ModelTenant[]; identities: ModelIdentity[] }> {
  const matchArb = fc.oneof(
    fc.constantFrom(...alphabet.subjects).map((s) => `cert-subject:${s}`),
    fc.constantFrom(...alphabet.sans).map((s) => `cert-san:${s}`),
    fc.constantFrom(...alphabet.tokens).map((s) => `token:${s}`),
  );
  return fc
    .uniqueArray(fc.record({ name: nameArb, rules: fc.array(ruleArb, { maxLength: 6 }) }), { selector: (x) => x.name, maxLength: 5 })
    .chain((tenants) =>
      fc.record({
        tenants: fc.constant(tenants),
        identities:
          tenants.length === 0
            ? fc.constant([] as ModelIdentity[])
            : fc.uniqueArray(fc.record({ match: matchArb, tenant: fc.constantFrom(...tenants.map((x) => x.name)) }), { selector: (i) => i.match, maxLength: 6 }),
      }),
    );
}
