/**
 * One rule for token names, shared by `cairn token create`, the tokens-file
 * parser and the policy's `token:` matches; and a tokens, policy or TLS file
 * that fails to reload is reported loudly and measurably: an error log line
 * each poll, `cairn_config_reload_failures_total{file}`, the
 * `cairn_config_stale{file}` gauge and `/healthz` degraded with the reason.
 * A revocation wins even when the rest of the tokens file is bad.
 */
import t from 'tap';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/node.js';
import { createToken, parseTokens } from '../src/auth/tokens.js';
import { compilePolicy } from '../src/auth/policy.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { loadConfig } from '../src/node/config.js';
import { startNode } from '../src/node/node.js';
import { createLogger } from '../src/node/logger.js';

t.test('a name token create accepts is a name the tokens file and the policy hold (fast-check, seed 5, 2000 runs)', async (t) => {
  t.throws(() => createToken('ci#1'), { code: 'INVALID_ARGUMENT', field: 'name' }, '# starts a comment in the tokens file: refused');
  t.throws(() => createToken('a.b'), { code: 'INVALID_ARGUMENT', field: 'name' }, '. separates the secret: refused');
  const problems: string[] = [];
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20, unit: fc.integer({ min: 0x20, max: 0x7f }).map((c) => String.fromCharCode(c)) }), (name) => {
      let made;
      try {
        made = createToken(name);
      } catch {
        // Refused names must be refused by the policy's token: match too.
        try {
          compilePolicy(`tenants:\n  a: []\nidentities:\n  - { match: ${JSON.stringify(`token:${name}`)}, tenant: a }\n`);
          problems.push(`policy accepts token:${name} that token create refuses`);
        } catch {
          /* refused by both */
        }
        return;
      }
      try {
        const store = parseTokens(`${made.line}\n`);
        if (store.check(made.token) !== name) problems.push(`${JSON.stringify(name)}: its line does not accept its token`);
      } catch (e) {
        problems.push(`${JSON.stringify(name)}: its line does not parse (${(e as Error).message})`);
      }
      try {
        compilePolicy(`tenants:\n  a: []\nidentities:\n  - { match: ${JSON.stringify(`token:${name}`)}, tenant: a }\n`);
      } catch (e) {
        problems.push(`${JSON.stringify(name)}: the policy refuses token:${name} (${(e as Error).message})`);
      }
    }),
    { seed: 5, numRuns: 2000 },
  );
  t.same(problems.slice(0, 5), [], 'created, parsed and matched alike');
  const cli = await runCli(['token', 'create', '--name', 'ci#1']);
  t.equal(cli.code, 2, 'cairn token create --name ci#1 exits 2');
  t.match(cli.stderr, /name.*#/, 'and says that # is not allowed');
});

t.test('a tokens file that fails to reload: the revocation in the same edit wins, and the node says so loudly', async (t) => {
  const dir = await tempDir('cairn-reload-');
  t.teardown(() => dir.remove());
  const keep = createToken('keep');
  const revoke = createToken('revoke');
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  const policy = "tenants:\n  a: ['append:a-*', 'read:a-*']\nidentities:\n  - { match: 'token:keep', tenant: a }\n  - { match: 'token:revoke', tenant: a }\n";
  await writeFile(policyFile, policy);
  await writeFile(tokensFile, `${keep.line}\n${revoke.line}\n`);
  const lines: string[] = [];
  const node = await startNode(
    await loadConfig({ flags: { 'data-dir': join(dir.path, 'data'), listen: '127.0.0.1:0', 'metrics-listen': '127.0.0.1:0', 'policy-file': policyFile, 'tokens-file': tokensFile, 'auth-reload-ms': '100', 'anchor-backend': 'off' }, env: {} }),
    createLogger('warn', {}, (l) => lines.push(l)),
  );
  t.teardown(() => node.close());
  const kept = new LedgerClient(node.grpcAddress, { token: keep.token });
  const revoked = new LedgerClient(node.grpcAddress, { token: revoke.token });
  t.teardown(() => {
    kept.close();
    revoked.close();
  });
  const code = async (c: LedgerClient): Promise<string> => c.listLogs().then(() => 'OK', (e: grpc.ServiceError) => grpc.status[e.code]!);
  t.equal(await code(revoked), 'OK', 'both tokens work before the edit');
  const health = async (): Promise<{ status: number; body: { status: string; problems?: { file: string; reason: string }[] } }> => {
    const r = await fetch(`http://${node.metricsAddress}/healthz`);
    return { status: r.status, body: (await r.json()) as { status: string; problems?: { file: string; reason: string }[] } };
  };
  const metric = async (name: string, file: string): Promise<number> => {
    const text = await (await fetch(`http://${node.metricsAddress}/metrics`)).text();
    const m = new RegExp(`^${name}\\{file="${file}"\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  t.same((await health()).body.status, 'SERVING');

  // One edit: revoke a token, and add a line the parser refuses (a name with #, as token create once allowed).
  const badLine = `ci#1 ${createToken('x').line.split(' ')[1]}`;
  await writeFile(`${tokensFile}.new`, `${keep.line}\n${badLine}\n`);
  await rename(`${tokensFile}.new`, tokensFile);
  let revokedCode = 'OK';
  for (let i = 0; i < 100 && revokedCode === 'OK'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    revokedCode = await code(revoked);
  }
  t.equal(revokedCode, 'UNAUTHENTICATED', 'the token deleted in the same edit no longer works');
  t.equal(await code(kept), 'OK', 'a token whose line is unchanged still works');
  await new Promise((r) => setTimeout(r, 350));
  const h = await health();
  t.equal(h.status, 200, '/healthz still answers 200: the node serves, a supervisor must not restart it into a refused start');
  t.equal(h.body.status, 'DEGRADED', '/healthz says DEGRADED');
  t.match(h.body.problems, [{ file: 'tokens_file', reason: /tokens line 2/ }], 'naming the file and the line at fault');
  t.ok((await metric('cairn_config_reload_failures_total', 'tokens_file')) >= 2, 'cairn_config_reload_failures_total{file="tokens_file"} counts each failed poll');
  t.equal(await metric('cairn_config_stale', 'tokens_file'), 1, 'cairn_config_stale{file="tokens_file"} is 1');
  const errors = lines.filter((l) => /"level":"error"/.test(l) && /tokens/.test(l));
  t.ok(errors.length >= 2, `an error log line each poll (${errors.length})`);
  t.notOk(lines.some((l) => l.includes(keep.token.split('.')[1]!) || l.includes(revoke.token.split('.')[1]!)), 'no secret is logged');

  // The operator fixes the file: the node is healthy again.
  await writeFile(`${tokensFile}.new`, `${keep.line}\n`);
  await rename(`${tokensFile}.new`, tokensFile);
  let fixed = await health();
  for (let i = 0; i < 100 && fixed.body.status !== 'SERVING'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    fixed = await health();
  }
  t.equal(fixed.body.status, 'SERVING', '/healthz is SERVING once the file loads');
  t.equal(await metric('cairn_config_stale', 'tokens_file'), 0, 'and the stale gauge is back to 0');
  t.equal(await code(revoked), 'UNAUTHENTICATED', 'the revoked token stays revoked');

  // A policy that does not compile: the previous policy stays (it cannot be half-applied), reported the same way.
  await writeFile(`${policyFile}.new`, 'tenants: [unclosed\n');
  await rename(`${policyFile}.new`, policyFile);
  let p = await health();
  for (let i = 0; i < 100 && p.body.status === 'SERVING'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    p = await health();
  }
  t.match(p.body.problems, [{ file: 'policy_file', reason: /policy line 1/ }], 'a broken policy is named in /healthz');
  t.equal(await metric('cairn_config_stale', 'policy_file'), 1);
  t.equal(await code(kept), 'OK', 'and the previous policy stays in force');
});
