/**
 * Authentication under hostile credentials: arbitrary `authorization`
 * metadata (garbage, near-miss tokens, several values, huge values) on
 * arbitrary RPCs against a node with a policy. Each call is answered
 * UNAUTHENTICATED unless it carries exactly one valid token, the node never
 * crashes, and nothing is stored for a refused append.
 */
import t from 'tap';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir } from './helpers/node.js';
import { ledgerClient, S, UNARY_DEADLINE_MS, type RawClient } from './helpers/grpc-fuzz.js';
import { createToken } from '../src/auth/tokens.js';

const SEED = 0xa07;
const RUNS = 600;

t.test(`arbitrary authorization metadata on arbitrary RPCs (seed ${SEED}, ${RUNS} runs)`, async (t) => {
  const dir = await tempDir('cairn-fuzz-auth-');
  t.teardown(() => dir.remove());
  const good = createToken('ci');
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, "tenants:\n  ci: ['append:ci-*', 'read:ci-*']\nidentities:\n  - { match: 'token:ci', tenant: ci }\n");
  await writeFile(tokensFile, `${good.line}\n`);
  const n = await startTestNode({ 'policy-file': policyFile, 'tokens-file': tokensFile, 'anchor-backend': 'off' });
  t.teardown(() => n.close());
  const c: RawClient = ledgerClient(n.node.grpcAddress);
  t.teardown(() => c.close());

  const secret = good.token.slice('ci.'.length);
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((x) => String.fromCharCode(x)), maxLength: 80 });
  const mutated = fc.tuple(fc.nat({ max: good.token.length - 1 }), fc.integer({ min: 0x21, max: 0x7e })).map(([i, ch]) => good.token.slice(0, i) + String.fromCharCode(ch) + good.token.slice(i + 1)).filter((x) => x !== good.token);
  /** [header values, whether the call must authenticate] */
  const credentials: fc.Arbitrary<[string[], boolean]> = fc.oneof(
    fc.constant<[string[], boolean]>([[`Bearer ${good.token}`], true]),
    fc.constant<[string[], boolean]>([[], false]),
    printable.map((v): [string[], boolean] => [[v], false]),
    printable.map((v): [string[], boolean] => [[`Bearer ${v}`], false]),
    mutated.map((v): [string[], boolean] => [[`Bearer ${v}`], false]),
    fc.constantFrom<[string[], boolean]>(
      [[`bearer ${good.token}`], false],
      [[`Bearer  ${good.token}`], false],
      [[`Bearer ${good.token} `], false],
      [[good.token], false],
      [[`Basic ${good.token}`], false],
      [[`Bearer ci.${secret}${secret}`], false],
      [[`Bearer ${'x'.repeat(4000)}`], false],
      // (Two authorization values never leave a grpc-js client: it fails such a call itself.)
    ),
  );
  const calls = fc.constantFrom(
    ['Append', { log: 'ci-prod', configId: 'c', operator: 'o', action: 'apply' }],
    ['Append', { log: 'other-prod', configId: 'c', operator: 'o', action: 'apply' }],
    ['GetCheckpoint', { log: 'ci-prod' }],
    ['GetEntry', { log: 'ci-prod', seq: '0' }],
    ['ListLogs', {}],
    ['GetPublicKey', {}],
    ['GetInclusionProof', { log: 'ci-prod', seq: '0' }],
  ) as fc.Arbitrary<[string, Record<string, unknown>]>;

  let okAppends = 0;
  const counts: Record<string, number> = {};
  await fc.assert(
    fc.asyncProperty(credentials, calls, async ([values, authentic], [method, req]) => {
      const md = new grpc.Metadata();
      for (const v of values) md.add('authorization', v);
      const r = await new Promise<{ code: number; details: string }>((resolve) => {
        c[method]!(req, md, { deadline: Date.now() + UNARY_DEADLINE_MS }, (err: grpc.ServiceError | null) =>
          resolve(err ? { code: err.code, details: err.details } : { code: S.OK, details: '' }),
        );
      });
      counts[S[r.code]!] = (counts[S[r.code]!] ?? 0) + 1;
      if (!authentic) {
        if (r.code !== S.UNAUTHENTICATED) throw new Error(`${method} with ${JSON.stringify(values).slice(0, 80)}: ${S[r.code]} ${r.details}`);
        if (r.details.includes(secret) || /ci-prod|other/.test(r.details)) throw new Error(`the refusal leaks: ${r.details}`);
        return;
      }
      const allowed = method === 'Append' && req.log === 'other-prod' ? [S.PERMISSION_DENIED] : [S.OK, S.NOT_FOUND];
      if (!allowed.includes(r.code)) throw new Error(`${method} with the valid token: ${S[r.code]} ${r.details}`);
      if (method === 'Append' && r.code === S.OK) okAppends++;
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  t.comment(`statuses: ${JSON.stringify(counts)}`);
  t.ok((counts.UNAUTHENTICATED ?? 0) > RUNS / 3 && (counts.OK ?? 0) > 10, 'both refusals and successes were exercised');
  const size = okAppends === 0 ? 0 : (await n.node.ledger.getCheckpoint('ci-prod')).size;
  t.equal(size, okAppends, 'the log holds exactly the authenticated appends');
  t.same((await n.node.ledger.listLogs()).map((l) => l.log), okAppends === 0 ? [] : ['ci-prod'], 'no other log was created');
});
