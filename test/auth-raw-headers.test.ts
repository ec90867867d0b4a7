/**
 * A present but unusable `authorization` header fails the call with
 * UNAUTHENTICATED, even beside a valid client certificate (docs/security.md:
 * "a wrong token fails the call even beside a valid certificate"). The
 * headers are sent as raw HTTP/2 frames, because the cases that matter are
 * the ones a normal client refuses to send and that HTTP/2 or grpc-js would
 * otherwise drop before Cairn's code sees them: a value with a tab, a
 * non-breaking space or a non-ASCII character, and two `authorization` fields.
 *
 * The outcome is read from the node: its request counter by status, and the
 * log's size (a refused Append records nothing).
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir } from './helpers/node.js';
import { makePki } from './helpers/pki.js';
import { rawGrpcCall } from './helpers/raw-h2.js';
import { createToken } from '../src/auth/tokens.js';
import { clientOptions, LedgerClient } from '../src/client/ledger-client.js';
import { ledgerServiceDefinition, LEDGER_SERVICE } from '../src/api/proto.js';

t.test('an unusable authorization header fails the call beside a valid client certificate', async (t) => {
  const dir = await tempDir('cairn-rawauth-');
  t.teardown(() => dir.remove());
  const pki = await makePki(join(dir.path, 'pki'));
  const bot = createToken('bot-a');
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, [
    'tenants:',
    "  team-a: ['append:team-a-*', 'read:team-a-*']",
    'identities:',
    "  - { match: 'cert-subject:CN=ci-a,O=example', tenant: team-a }",
    "  - { match: 'token:bot-a', tenant: team-a }",
    '',
  ].join('\n'));
  await writeFile(tokensFile, `${bot.line}\n`);
  const n = await startTestNode({
    'tls-cert-file': pki.server.cert,
    'tls-key-file': pki.server.key,
    'tls-client-ca-file': pki.ca.cert,
    'policy-file': policyFile,
    'tokens-file': tokensFile,
  });
  t.teardown(() => n.close());
  const ca = await readFile(pki.ca.cert);
  const pair = await pki.client('ci-a', '/CN=ci-a/O=example');
  const cert = await readFile(pair.cert);
  const key = await readFile(pair.key);
  const certClient = new LedgerClient(n.node.grpcAddress, clientOptions({ caPem: ca, serverName: 'localhost', certPem: cert, keyPem: key }));
  t.teardown(() => certClient.close());
  await certClient.append({ log: 'team-a-prod', configId: 'c', operator: 'o', action: 'apply' });

  const port = Number(n.node.grpcAddress.split(':').pop());
  const append = ledgerServiceDefinition().Append!;
  const message = append.requestSerialize({ log: 'team-a-prod', configId: 'c', operator: 'mallory', action: 'apply' }) as Buffer;
  const counted = async (code: string): Promise<number> => {
    const m = await n.node.metrics.rpcs.get();
    return m.values.filter((v) => v.labels.method === 'Append' && v.labels.code === code).reduce((s, v) => s + v.value, 0);
  };
  const secret = bot.token.slice(bot.token.indexOf('.') + 1);

  const cases: [string, [string, string][]][] = [
    ['a tab after Bearer', [['authorization', `Bearer\t${bot.token}`]]],
    ['a trailing non-breaking space', [['authorization', `Bearer ${bot.token}\u00a0`]]],
    ['a non-ASCII character in the token', [['authorization', `Bearer ${bot.token.slice(0, 6)}\u00e9${bot.token.slice(7)}`]]],
    ['two authorization fields, the first valid', [['authorization', `Bearer ${bot.token}`], ['authorization', 'Bearer nobody.x']]],
    ['two authorization fields, both valid', [['authorization', `Bearer ${bot.token}`], ['authorization', `Bearer ${bot.token}`]]],
    ['an empty authorization value', [['authorization', '']]],
    ['a scheme other than Bearer', [['authorization', `Basic ${secret}`]]],
  ];
  const problems: string[] = [];
  for (const [what, headers] of cases) {
    const size = (await certClient.getCheckpoint('team-a-prod')).size;
    const before = { unauth: await counted('UNAUTHENTICATED'), ok: await counted('OK') };
    const r = await rawGrpcCall({ host: '127.0.0.1', port, path: `/${LEDGER_SERVICE}/Append`, headers, message, tls: { ca, cert, key, servername: 'localhost' } });
    const after = { unauth: await counted('UNAUTHENTICATED'), ok: await counted('OK') };
    const sizeAfter = (await certClient.getCheckpoint('team-a-prod')).size;
    if (r.ended !== 'stream-end') problems.push(`${what}: the stream ended by ${r.ended}, not with a status`);
    if (after.unauth !== before.unauth + 1) problems.push(`${what}: not counted UNAUTHENTICATED (ok ${after.ok - before.ok}, unauthenticated ${after.unauth - before.unauth})`);
    if (sizeAfter !== size) problems.push(`${what}: the append was recorded on the certificate's identity (size ${size} -> ${sizeAfter})`);
  }
  t.same(problems, [], 'every unusable authorization header fails the call with UNAUTHENTICATED and records nothing');

  // The same raw client with one well-formed header is accepted: the refusals above are the header's doing.
  const size = (await certClient.getCheckpoint('team-a-prod')).size;
  const ok = await rawGrpcCall({ host: '127.0.0.1', port, path: `/${LEDGER_SERVICE}/Append`, headers: [['authorization', `Bearer ${bot.token}`]], message, tls: { ca, cert, key, servername: 'localhost' } });
  t.equal(ok.ended, 'stream-end');
  t.equal((await certClient.getCheckpoint('team-a-prod')).size, size + 1, 'one valid authorization header beside the certificate is accepted');
});
