/**
 * The authorization policy (src/auth/policy.ts), read like the spec: each rule
 * kind, deny by default, prefix globs, admin, one test per validation error
 * asserting the line it names, and two properties: the compiled matcher agrees
 * with a naive reference, and no input makes the compiler throw anything but
 * INVALID_ARGUMENT.
 */
import t from 'tap';
import fc from 'fast-check';
import { CairnError } from '../src/core/errors.js';
import { compilePolicy, type CompiledPolicy, type Identity, type LogAction } from '../src/auth/policy.js';
import { nameArb, naiveCan, naiveTenantOf, policyArb as policyArbOf, toYaml } from './helpers/policy-model.js';
import { largePolicy, probePairs } from '../scripts/bench-policy.js';

const EXAMPLE = `# Cairn policy
tenants:
  team-a:
    - append:team-a-*
    - read:team-a-*
    - read:shared
  auditors:
    - read:*
    - anchor:read
  ops:
    - admin
  nobody: []
identities:
  - match: cert-subject:CN=ci,O=example
    tenant: team-a
  - match: cert-san:dns:ci.example.com
    tenant: team-a
  - { match: 'token:auditor-2026', tenant: auditors }
  - match: token:ops
    tenant: ops
`;

/** Asserts that compiling `text` fails with INVALID_ARGUMENT naming `line`. */
type T = Parameters<Parameters<typeof t.test>[0]>[0];

function rejects(t: T, text: string, line: number, what: RegExp): void {
  try {
    compilePolicy(text);
  } catch (e) {
    t.ok(e instanceof CairnError, 'a CairnError');
    const err = e as CairnError;
    t.equal(err.code, 'INVALID_ARGUMENT');
    t.equal(err.field, 'policy');
    t.match(err.message, new RegExp(`^policy line ${line}: `), `names line ${line}: ${err.message}`);
    t.match(err.message, what);
    return;
  }
  t.fail('expected INVALID_ARGUMENT');
}

t.test('the example policy', async (t) => {
  const p = compilePolicy(EXAMPLE);
  t.same(p.tenants, ['team-a', 'auditors', 'ops', 'nobody']);

  t.test('identities map to tenants, compared literally', async (t) => {
    t.equal(p.tenantOf({ subject: 'CN=ci,O=example' }), 'team-a');
    t.equal(p.tenantOf({ sans: ['dns:other.example', 'dns:ci.example.com'] }), 'team-a');
    t.equal(p.tenantOf({ token: 'auditor-2026' }), 'auditors');
    t.equal(p.tenantOf({ token: 'ops' }), 'ops');
    t.equal(p.tenantOf({ subject: 'CN=ci, O=example' }), undefined, 'no DN normalisation');
    t.equal(p.tenantOf({ subject: 'cn=ci,o=example' }), undefined, 'case matters');
    t.equal(p.tenantOf({ sans: ['DNS:ci.example.com'] }), undefined);
    t.equal(p.tenantOf({ token: 'auditor-2026 ' }), undefined);
    t.equal(p.tenantOf({}), undefined, 'no credentials, no tenant');
  });

  t.test('credentials mapping to two tenants are ambiguous and denied', async (t) => {
    t.equal(p.tenantOf({ subject: 'CN=ci,O=example', token: 'auditor-2026' }), undefined);
    t.equal(p.tenantOf({ subject: 'CN=ci,O=example', sans: ['dns:ci.example.com'] }), 'team-a', 'same tenant twice is fine');
  });

  t.test('append:<pattern> grants append only', async (t) => {
    t.ok(p.can('team-a', 'append', 'team-a-prod'));
    t.notOk(p.can('team-a', 'append', 'shared'), 'read:shared does not grant append');
    t.notOk(p.can('auditors', 'append', 'team-a-prod'), 'read:* does not grant append');
  });

  t.test('read:<pattern> grants read, and with it listing', async (t) => {
    t.ok(p.can('team-a', 'read', 'team-a-prod'));
    t.ok(p.can('team-a', 'read', 'shared'));
    t.notOk(p.can('team-a', 'read', 'shared2'), 'a literal pattern is an exact name');
    t.notOk(p.can('team-a', 'read', 'team-b-prod'));
    t.ok(p.can('auditors', 'read', 'team-b-prod'), '* matches every log');
    const logs = ['team-b-prod', 'shared', 'team-a-prod', 'team-a-dev', 'zzz'];
    t.same(p.visibleLogs('team-a', logs), ['shared', 'team-a-prod', 'team-a-dev'], 'input order, others hidden');
    t.same(p.visibleLogs('auditors', logs), logs);
    t.same(p.visibleLogs('nobody', logs), []);
    t.same(p.visibleLogs(undefined, logs), []);
  });

  t.test('anchor:read', async (t) => {
    t.ok(p.canAnchorRead('auditors'));
    t.notOk(p.canAnchorRead('team-a'));
    t.notOk(p.canAnchorRead('ops'));
  });

  t.test('admin grants admin operations and no log access', async (t) => {
    t.ok(p.isAdmin('ops'));
    t.notOk(p.isAdmin('auditors'));
    t.notOk(p.can('ops', 'read', 'team-a-prod'));
    t.notOk(p.can('ops', 'append', 'team-a-prod'));
    t.notOk(p.canAnchorRead('ops'));
    t.same(p.visibleLogs('ops', ['team-a-prod']), []);
  });

  t.test('deny by default', async (t) => {
    for (const action of ['append', 'read'] as const) {
      t.notOk(p.can(undefined, action, 'team-a-prod'), `undefined tenant cannot ${action}`);
      t.notOk(p.can('intruder', action, 'team-a-prod'), `unknown tenant cannot ${action}`);
      t.notOk(p.can('nobody', action, 'team-a-prod'), `a tenant with no rules cannot ${action}`);
      t.notOk(p.can('__proto__', action, 'x'));
    }
    t.notOk(p.can('team-a', 'delete' as LogAction, 'team-a-prod'), 'unknown action');
    t.notOk(p.canAnchorRead(undefined));
    t.notOk(p.isAdmin(undefined));
    t.notOk(p.isAdmin('intruder'));
  });

  t.test('a string that is not a log name matches nothing, not even *', async (t) => {
    for (const bad of ['', 'Team-a-prod', '-x', 'team-a-prod/..', 'a'.repeat(64), 'team-a-*']) {
      t.notOk(p.can('auditors', 'read', bad), JSON.stringify(bad));
    }
    t.same(p.visibleLogs('auditors', ['ok', 'NOT OK']), ['ok']);
  });
});

t.test('prefix globs: team-a-* matches names that start with "team-a-", literally', async (t) => {
  const p = compilePolicy('tenants:\n  a: [read:team-a-*]\n');
  t.ok(p.can('a', 'read', 'team-a-'), '* matches zero characters');
  t.ok(p.can('a', 'read', 'team-a-prod'));
  t.ok(p.can('a', 'read', 'team-a-x.y_z'));
  t.notOk(p.can('a', 'read', 'team-a'), 'the dash is part of the prefix');
  t.notOk(p.can('a', 'read', 'team-ab'), 'team-ab is another tenant\'s name space');
  t.notOk(p.can('a', 'read', 'team-b-prod'));
  t.notOk(p.can('a', 'read', 'xteam-a-prod'), 'anchored at the start');

  const nested = compilePolicy('tenants:\n  a: [read:t*, read:team-*, read:u-*, read:v]\n');
  for (const log of ['t', 'team-x', 'tz', 'u-1', 'v']) t.ok(nested.can('a', 'read', log), log);
  for (const log of ['u', 'u1', 'v1', 's']) t.notOk(nested.can('a', 'read', log), log);
});

t.test('an identities-only or empty-rules policy compiles and grants nothing', async (t) => {
  const p = compilePolicy('tenants:\n  a: []\nidentities:\n  - { match: "token:x", tenant: a }\n');
  t.equal(p.tenantOf({ token: 'x' }), 'a');
  t.notOk(p.can('a', 'read', 'x'));
});

t.test('validation errors name the line', async (t) => {
  t.test('empty file', async (t) => {
    rejects(t, '', 1, /empty/);
    rejects(t, '# nothing but a comment\n\n', 1, /empty/);
    rejects(t, '{}\n', 1, /empty/);
  });
  t.test('YAML syntax error', async (t) => {
    rejects(t, 'tenants:\n  a: []\n b: x\n', 3, /YAML BAD_INDENT/);
    rejects(t, 'tenants:\n  a: [read:x]\n  b: [admin]\n\n\nidentities: "unterminated\n', 6, /YAML MISSING_CHAR/);
  });
  t.test('not a map at the top', async (t) => {
    rejects(t, '\n- tenants\n', 2, /must be a map/);
  });
  t.test('unknown top-level key', async (t) => {
    rejects(t, 'tenants:\n  a: [admin]\n\nroles:\n  - x\n', 4, /unknown top-level key "roles"/);
  });
  t.test('duplicate top-level key', async (t) => {
    rejects(t, 'tenants:\n  a: [admin]\ntenants:\n  b: [admin]\n', 3, /duplicate key tenants/);
  });
  t.test('duplicate tenant name', async (t) => {
    rejects(t, 'tenants:\n  a:\n    - admin\n  b: []\n  a:\n    - read:*\n', 5, /duplicate tenant a \(first defined on line 2\)/);
  });
  t.test('bad tenant name', async (t) => {
    rejects(t, 'tenants:\n  a: []\n  Team A: []\n', 3, /tenant name "Team A"/);
  });
  t.test('tenant rules not a list', async (t) => {
    rejects(t, 'tenants:\n  a:\n  b: []\n', 2, /rules must be a list/);
    rejects(t, 'tenants:\n  a: read:*\n', 2, /rules must be a list/);
  });
  t.test('unknown rule verb', async (t) => {
    rejects(t, 'tenants:\n  a:\n    - read:x\n    - write:x\n', 4, /unknown rule verb "write"/);
    rejects(t, 'tenants:\n  a:\n    - anchor:write\n', 3, /anchor:read/);
    rejects(t, 'tenants:\n  a:\n    - Admin\n', 3, /unknown rule verb "Admin"/);
  });
  t.test('rule that is not a string', async (t) => {
    rejects(t, 'tenants:\n  a:\n    - 42\n', 3, /rule must be a string/);
    rejects(t, 'tenants:\n  a:\n    - { read: x }\n', 3, /rule must be a string/);
  });
  t.test('bad log patterns', async (t) => {
    const cases: Array<[string, RegExp]> = [
      ['read:', /bad log pattern ""/],
      ['read', /needs a log pattern/],
      ['append:Team-A', /bad log pattern "Team-A"/],
      ['read:team-*-prod', /only one trailing \*/],
      ['read:*team', /only one trailing \*/],
      ['read:**', /only one trailing \*/],
      ['read:-team*', /the part before \*/],
      ['read:team?', /bad log pattern/],
      ['read:team/a', /bad log pattern/],
      [`read:${'a'.repeat(64)}`, /bad log pattern/],
    ];
    for (const [rule, what] of cases) rejects(t, `tenants:\n  a:\n    - admin\n    - ${JSON.stringify(rule)}\n`, 4, what);
  });
  t.test('tenant referenced but not defined', async (t) => {
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - match: token:x\n    tenant: b\n', 5, /tenant "b" is not defined/);
    rejects(t, 'identities:\n  - match: token:x\n    tenant: a\n', 3, /tenant "a" is not defined/);
  });
  t.test('duplicate identity match', async (t) => {
    rejects(
      t,
      'tenants:\n  a: []\n  b: []\nidentities:\n  - match: token:x\n    tenant: a\n  - match: token:x\n    tenant: b\n',
      7,
      /duplicate identity match "token:x" \(first on line 5\)/,
    );
  });
  t.test('bad identity match', async (t) => {
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - { match: "user:bob", tenant: a }\n', 4, /must start with cert-subject:, cert-san: or token:/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - { match: "cert-san:dn:x", tenant: a }\n', 4, /SAN type/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - { match: "cert-san:dns:", tenant: a }\n', 4, /empty SAN value/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - { match: "cert-subject:", tenant: a }\n', 4, /empty subject/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - { match: "token:a b", tenant: a }\n', 4, /token name/);
  });
  t.test('identity keys', async (t) => {
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - match: token:x\n    tenant: a\n    role: admin\n', 6, /unknown identity key "role"/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - match: token:x\n', 4, /has no tenant/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - tenant: a\n', 4, /has no match/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  - token:x\n', 4, /must be a map/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n  a: token:x\n', 4, /identities must be a list/);
  });
  t.test('YAML aliases are refused', async (t) => {
    rejects(t, 'tenants:\n  a: &r [admin]\n  b:\n    - *r\n', 4, /aliases/);
  });
  t.test('nesting deep enough to overflow the parser is refused before parsing', async (t) => {
    rejects(t, 'tenants:\n  a: []\n' + '- '.repeat(100_000), 3, /nests deeper than 128 levels/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n' + '['.repeat(200_000), 4, /nests deeper than 32/);
    rejects(t, 'tenants:\n  a: []\nidentities:\n' + ' '.repeat(200) + '- x\n', 4, /nests deeper than 128 levels/);
    // Twice in one process: this once aborted Node (see nestingProblem in policy.ts).
    rejects(t, '['.repeat(200_000), 1, /nests deeper/);
    rejects(t, '- '.repeat(100_000), 1, /nests deeper/);
  });
  t.test('oversized file', async (t) => {
    rejects(t, '#'.repeat((1 << 20) + 1), 1, /larger than/);
  });
});

// ---- properties -------------------------------------------------------------

const SUBJECTS = ['CN=ci,O=example', 'CN=a', 'CN=b'];
const SANS = ['dns:a.example', 'dns:b.example', 'email:x@example.com', 'ip:10.0.0.1', 'uri:spiffe://x/y'];
const TOKENS = ['ci', 'ops', 't1'];
const identityArb: fc.Arbitrary<Identity> = fc.record(
  { subject: fc.constantFrom(...SUBJECTS), sans: fc.subarray(SANS), token: fc.constantFrom(...TOKENS) },
  { requiredKeys: [] },
);
const policyArb = policyArbOf({ subjects: SUBJECTS, sans: SANS, tokens: TOKENS });
const logArb = fc.oneof(nameArb, fc.constantFrom('', 'A', '-a', 'a*', 'a/b', 'a'.repeat(64), 'a'.repeat(63)));

t.test('property: the compiled matcher agrees with a naive reference', async (t) => {
  fc.assert(
    fc.property(policyArb, fc.array(logArb, { maxLength: 12 }), fc.array(identityArb, { maxLength: 4 }), ({ tenants, identities }, randomLogs, whos) => {
      const p: CompiledPolicy = compilePolicy(toYaml(tenants, identities));
      // Also probe names built from the patterns themselves, so globs hit.
      const derived = tenants.flatMap((x) => x.rules.map((r) => r.slice(r.indexOf(':') + 1).replace('*', '')).flatMap((n) => [n, `${n}a`, `${n}-1`, n.slice(0, -1)]));
      const logs = [...randomLogs, ...derived];
      for (const tenant of [undefined, 'zz-unknown', ...tenants.map((x) => x.name)]) {
        for (const log of logs) {
          for (const action of ['append', 'read'] as const) {
            if (p.can(tenant, action, log) !== naiveCan(tenants, tenant, action, log)) return false;
          }
        }
        if (JSON.stringify(p.visibleLogs(tenant, logs)) !== JSON.stringify(logs.filter((l) => naiveCan(tenants, tenant, 'read', l)))) return false;
        const def = tenants.find((x) => x.name === tenant);
        if (p.isAdmin(tenant) !== (def?.rules.includes('admin') ?? false)) return false;
        if (p.canAnchorRead(tenant) !== (def?.rules.includes('anchor:read') ?? false)) return false;
      }
      return whos.every((who) => p.tenantOf(who) === naiveTenantOf(identities, who));
    }),
    { numRuns: 300 },
  );
  t.pass('300 random policies agree');
});

t.test('property: any text compiles or throws INVALID_ARGUMENT naming a line', async (t) => {
  const fragments = fc.constantFrom(
    'tenants:', 'identities:', 'roles:', '\n', '  ', '    ', '- ', 'match: ', 'tenant: ', 'token:x', 'cert-san:dns:x', 'a', 'b',
    'append:', 'read:', 'anchor:read', 'admin', '*', 'a-*', '&x ', '*x', '[', ']', '{', '}', ',', ':', '"', "'", '!!str ', '!!binary ',
    '!foo ', '#', '---', '...', '%YAML 1.2', '? ', '|', '>', '~', 'null', '1', '0x1f', '\t', '\u0000', '\uFEFF', '<<: ',
  );
  const textArb = fc.oneof(
    fc.array(fragments, { maxLength: 40 }).map((xs) => xs.join('')),
    fc.string({ maxLength: 120 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    // The example with a random fragment spliced in or a slice cut out: mostly
    // near-valid policies, so the semantic checks are exercised, not only YAML's.
    fc.tuple(fc.nat(EXAMPLE.length), fc.nat(12), fc.array(fragments, { maxLength: 3 })).map(([at, cut, xs]) => EXAMPLE.slice(0, at) + xs.join('') + EXAMPLE.slice(at + cut)),
  );
  let compiled = 0;
  fc.assert(
    fc.property(textArb, (text) => {
      try {
        compilePolicy(text);
        compiled++;
        return true;
      } catch (e) {
        return e instanceof CairnError && e.code === 'INVALID_ARGUMENT' && e.field === 'policy' && /^policy line [1-9]\d*: /.test(e.message);
      }
    }),
    { numRuns: 2000 },
  );
  t.comment(`${compiled} of 2000 random texts compiled; the rest threw INVALID_ARGUMENT`);
  t.pass();
});

// ---- scale: the decisions stay right at 1,000 tenants (timings: scripts/bench-policy.ts) ----

t.test('at 1,000 tenants and 1,000 identities, every decision agrees with the naive reference', async (t) => {
  const N = 1000;
  const { tenants, identities, text } = largePolicy(N);
  const p = compilePolicy(text);
  t.same(p.tenants, tenants.map((x) => x.name), 'every tenant compiled, in order');

  const { tenants: probeTenants, logs: probeLogs } = probePairs(N);
  const logs = [...new Set([...probeLogs, `team-${N - 1}-x`, `team-${N}-x`, `w${N - 1}-a`, `w${N}-a`, `shared-${N - 1}`, `shared-${N}`, 'common', 'commons', 'team-1', 'w1'])];
  const who = [...new Set([...probeTenants, 'team-0', `team-${N - 1}`, 'wide', 'zz-unknown', undefined])];
  const problems: string[] = [];
  for (const tenant of who) {
    for (const log of logs) {
      for (const action of ['append', 'read'] as const) {
        const want = naiveCan(tenants, tenant, action, log);
        if (p.can(tenant, action, log) !== want) problems.push(`can(${tenant}, ${action}, ${log}) should be ${want}`);
      }
    }
  }
  for (let i = 0; i <= N; i++) {
    const id = { token: `t${i}` };
    const want = naiveTenantOf(identities, id);
    if (p.tenantOf(id) !== want) problems.push(`tenantOf(token t${i}) should be ${want}`);
  }
  t.same(problems, [], `${who.length} tenants x ${logs.length} logs x 2 actions, and ${N + 1} tokens`);
  // The reference itself grants and refuses at this scale (so agreeing with it says something).
  t.ok(p.can('team-999', 'append', 'team-999-prod') && p.can('wide', 'read', 'w999-x') && p.can('team-5', 'read', 'common'), 'grants at the far end of the policy');
  t.notOk(p.can('team-5', 'append', 'team-6-prod') || p.can('wide', 'append', 'w1-x') || p.can('team-5', 'read', 'shared-6'), 'refusals next to grants');
  t.equal(p.tenantOf({ token: `t${N}` }), undefined, 'an unknown token has no tenant');
});
