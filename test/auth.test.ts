/**
 * Tenants, authentication and authorization, over real TLS on loopback with
 * certificates made by openssl: every RPC refused to whoever must be refused,
 * with the right status and nothing leaked; a tenant cannot learn that
 * another tenant's log exists; the server writes the authenticated identity
 * into each entry; policy, tokens and certificates reload without a restart
 * and without dropping streams.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { connect as tlsConnect } from 'node:tls';
import { readFile, rename, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { makePki, type Pair, type Pki } from './helpers/pki.js';
import { clientOptions, LedgerClient, type ClientAuth } from '../src/client/ledger-client.js';
import { createToken } from '../src/auth/tokens.js';
import { decodeBody } from '../src/core/entry.js';
import { loadConfig } from '../src/node/config.js';
import { startNode } from '../src/node/node.js';
import { createLogger } from '../src/node/logger.js';
import { CairnError } from '../src/core/errors.js';

const SECRET_PAYLOAD = 'team-a-secret-value-7f3a';

function policyYaml(extraTeamB: string[] = []): string {
  return [
    'tenants:',
    '  team-a:',
    '    - append:team-a-*',
    '    - read:team-a-*',
    '    - anchor:read',
    '  team-b:',
    '    - append:team-b-*',
    '    - read:team-b-*',
    ...extraTeamB.map((r) => `    - ${r}`),
    '  auditors:',
    '    - read:*',
    '    - anchor:read',
    '  nobody: []',
    'identities:',
    "  - { match: 'cert-subject:CN=ci-a,O=example', tenant: team-a }",
    "  - { match: 'cert-san:dns:ci-a2.example', tenant: team-a }",
    "  - { match: 'token:bot-b', tenant: team-b }",
    "  - { match: 'token:old-bot', tenant: team-b }",
    "  - { match: 'token:auditor', tenant: auditors }",
    '',
  ].join('\n');
}

/** Each RPC of cairn.ledger.v1.Ledger, called on `log` (seq 0, sizes 1). */
const RPCS: [string, (c: LedgerClient, log: string) => Promise<unknown>][] = [
  ['Append', (c, log) => c.append({ log, configId: 'cfg', operator: 'mallory', action: 'apply' })],
  [
    'AppendStream',
    async (c, log) => {
      const s = c.appendStream();
      try {
        return await s.append({ log, configId: 'cfg', operator: 'mallory', action: 'apply' });
      } finally {
        await s.end().catch(() => undefined);
      }
    },
  ],
  ['GetEntry', (c, log) => c.getEntry(log, 0)],
  ['ListEntries', async (c, log) => {
    const out = [];
    for await (const e of c.listEntries(log, 0)) out.push(e);
    return out;
  }],
  ['Watch', async (c, log) => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 3000);
    try {
      for await (const e of c.watch(log, 0, ac.signal)) return e;
      return undefined;
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }],
  ['GetCheckpoint', (c, log) => c.getCheckpoint(log)],
  ['GetInclusionProof', (c, log) => c.inclusionProof(log, 0)],
  ['GetConsistencyProof', (c, log) => c.consistencyProof(log, 1)],
  ['ListLogs', (c) => c.listLogs()],
  ['GetPublicKey', (c) => c.publicKey()],
  ['GetAnchor', (c) => c.getAnchor(0)],
  ['ListAnchors', (c, log) => c.listAnchors(log)],
  ['GetAnchorProof', (c, log) => c.anchorProof(log)],
  ['GetFederationStatus', (c) => c.federationStatus()],
];

async function status(p: Promise<unknown>): Promise<{ code: number; details: string; value?: unknown }> {
  try {
    const value = await p;
    return { code: grpc.status.OK, details: '', value };
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details ?? err.message };
  }
}

const name = (code: number): string => grpc.status[code] ?? String(code);

t.test('a node with TLS, client certificates, tokens and a policy', async (t) => {
  const dir = await tempDir('cairn-auth-');
  t.teardown(() => dir.remove());
  const pki: Pki = await makePki(join(dir.path, 'pki'));
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  const bot = createToken('bot-b');
  const oldBot = createToken('old-bot');
  const auditor = createToken('auditor');
  await writeFile(policyFile, policyYaml());
  await writeFile(tokensFile, `# CI tokens\n${bot.line}\n${oldBot.line}\n${auditor.line}\n`);
  // Served from copies, so a renewal can replace them.
  const certFile = join(dir.path, 'server.pem');
  const keyFile = join(dir.path, 'server.key');
  await copyFile(pki.server.cert, certFile);
  await copyFile(pki.server.key, keyFile);

  const n: TestNode = await startTestNode({
    'tls-cert-file': certFile,
    'tls-key-file': keyFile,
    'tls-client-ca-file': pki.ca.cert,
    'policy-file': policyFile,
    'tokens-file': tokensFile,
    'auth-reload-ms': '200',
    'anchor-interval-ms': '50',
  });
  t.teardown(() => n.close());
  const caPem = await readFile(pki.ca.cert);
  const clients: LedgerClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const mk = (auth: Omit<ClientAuth, 'caPem'> = {}): LedgerClient => {
    const c = new LedgerClient(n.node.grpcAddress, clientOptions({ caPem, serverName: 'localhost', ...auth }));
    clients.push(c);
    return c;
  };
  const withCert = async (p: Pair): Promise<LedgerClient> => mk({ certPem: await readFile(p.cert), keyPem: await readFile(p.key) });

  const teamA = await withCert(await pki.client('ci-a', '/CN=ci-a/O=example'));
  const teamA2 = await withCert(await pki.client('ci-a2', '/CN=ci-a2', { dns: ['ci-a2.example'] }));
  const teamB = mk({ token: bot.token });
  const audit = mk({ token: auditor.token });

  // Some history: two tenants' logs, and anchors over both.
  const a0 = await teamA.append({ log: 'team-a-prod', configId: 'payments', operator: 'alice', action: 'apply', payloadJson: JSON.stringify({ secret: SECRET_PAYLOAD }) });
  await teamA.append({ log: 'team-a-prod', configId: 'payments', operator: 'alice', action: 'apply' });
  const b0 = await teamB.append({ log: 'team-b-prod', configId: 'search', operator: 'bob', action: 'apply' });
  const a2 = await teamA2.append({ log: 'team-a-prod', configId: 'payments', operator: 'alice', action: 'apply' });

  t.test('the server writes the authenticated identity into each entry, beside the client\'s operator', async (t) => {
    const bodyA = decodeBody(a0.entry.body);
    t.equal(bodyA.identity, 'cert-subject:CN=ci-a,O=example', 'certificate subject, rendered as the policy compares it');
    t.equal(bodyA.operator, 'alice', 'the client-supplied operator is kept');
    t.equal(decodeBody(a2.entry.body).identity, 'cert-san:dns:ci-a2.example', 'a SAN that the policy matched');
    t.equal(decodeBody(b0.entry.body).identity, 'token:bot-b', 'a token by its name, never its secret');
    t.notOk(Buffer.from(b0.entry.body).toString().includes(bot.token.split('.')[1]!), 'the secret is not recorded');
  });

  const anon = mk();
  const expired = await withCert(await pki.client('ci-a-expired', '/CN=ci-a/O=example', { expired: true }));
  const foreign = await withCert(await pki.foreignClient('ci-a-foreign', '/CN=ci-a/O=example'));
  const wrongSecret = mk({ token: `bot-b.${'A'.repeat(43)}` });
  const unknownToken = mk({ token: createToken('ghost').token });
  const stranger = await withCert(await pki.client('stranger', '/CN=stranger'));

  const refusals: [string, LedgerClient, grpc.status, string][] = [
    ['an unauthenticated client', anon, grpc.status.UNAUTHENTICATED, 'authentication required'],
    ['an expired client certificate', expired, grpc.status.UNAUTHENTICATED, 'authentication required'],
    ['a certificate from another CA', foreign, grpc.status.UNAUTHENTICATED, 'authentication required'],
    ['a wrong token secret', wrongSecret, grpc.status.UNAUTHENTICATED, 'bearer token not accepted'],
    ['a token the node never issued', unknownToken, grpc.status.UNAUTHENTICATED, 'bearer token not accepted'],
    ['a valid certificate the policy maps to no tenant', stranger, grpc.status.PERMISSION_DENIED, 'policy grants this identity no tenant'],
  ];
  for (const [who, client, code, words] of refusals) {
    t.test(`every RPC tried by ${who} is ${name(code)}, and the answer names no log`, async (t) => {
      for (const [rpc, call] of RPCS) {
        const s = await status(call(client, 'team-a-prod'));
        t.equal(name(s.code), name(code), `${rpc}: ${name(code)}`);
        t.match(s.details, words, `${rpc}: says why`);
        t.notMatch(s.details, /team-a|team-b|secret/, `${rpc}: no log name or content in the message`);
      }
    });
  }

  t.test('another tenant cannot read, watch, prove against or learn of a log: denied answers as missing', async (t) => {
    for (const [rpc, call] of RPCS) {
      if (['ListLogs', 'GetPublicKey', 'GetAnchor', 'Append', 'AppendStream', 'ListAnchors', 'GetAnchorProof', 'GetFederationStatus'].includes(rpc)) continue;
      const denied = await status(call(teamB, 'team-a-prod'));
      const missing = await status(call(teamB, 'team-b-nothing'));
      t.equal(name(denied.code), 'NOT_FOUND', `${rpc} on another tenant's log: NOT_FOUND`);
      t.equal(denied.code, missing.code, `${rpc}: the same status as a log that does not exist`);
      t.equal(denied.details.replace('team-a-prod', 'LOG'), missing.details.replace('team-b-nothing', 'LOG'), `${rpc}: the same message`);
      t.notMatch(denied.details, /secret|alice|payments/, `${rpc}: no content`);
    }
    const logs = await teamB.listLogs();
    t.same(logs.map((l) => l.log), ['team-b-prod'], 'ListLogs lists only what the tenant may read');
    t.same((await audit.listLogs()).map((l) => l.log).sort(), ['team-a-prod', 'team-b-prod'], 'read:* lists every log');
    t.same((await teamB.federationStatus()).vector.map((v) => v.log), ['team-b-prod'], 'the federation vector lists only what the tenant may read');
  });

  t.test('appending to another tenant\'s log is PERMISSION_DENIED, on Append and on AppendStream', async (t) => {
    const unary = await status(teamB.append({ log: 'team-a-prod', configId: 'cfg', operator: 'mallory', action: 'apply' }));
    t.equal(name(unary.code), 'PERMISSION_DENIED');
    const s = teamB.appendStream();
    const streamed = await status(s.append({ log: 'team-a-prod', configId: 'cfg', operator: 'mallory', action: 'apply' }));
    const ok = await status(s.append({ log: 'team-b-prod', configId: 'cfg', operator: 'bob', action: 'apply' }));
    await s.end();
    t.equal(name(streamed.code), 'PERMISSION_DENIED', 'the refused request gets its own error');
    t.equal(name(ok.code), 'OK', 'and the stream goes on for the tenant\'s own log');
    t.equal((await audit.getCheckpoint('team-a-prod')).size, 3, 'nothing was added to the other tenant\'s log');
  });

  t.test('anchors: anchor:read is required, and a window shows only the logs the caller may read', async (t) => {
    let proofB;
    for (let i = 0; i < 200 && !proofB; i++) {
      proofB = await audit.anchorProof('team-b-prod').catch(() => undefined);
      const proofA = await audit.anchorProof('team-a-prod').catch(() => undefined);
      if (!proofA || !proofB || proofA.window !== proofB.window) {
        proofB = undefined;
        await teamA.append({ log: 'team-a-prod', configId: 'payments', operator: 'alice', action: 'apply' });
        await teamB.append({ log: 'team-b-prod', configId: 'search', operator: 'bob', action: 'apply' });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    t.ok(proofB, 'a window anchors both tenants\' logs');
    const window = proofB!.window;
    const full = await audit.getAnchor(window);
    t.same(full.checkpoints.map((c) => c.log).sort(), ['team-a-prod', 'team-b-prod'], 'an auditor sees the whole window');
    const seenByA = await teamA.getAnchor(window);
    t.same(seenByA.checkpoints.map((c) => c.log), ['team-a-prod'], 'team-a sees only its own checkpoint');
    t.equal(seenByA.root, full.root, 'with the same window root, which it proves into');
    const proofA = await teamA.anchorProof('team-a-prod');
    t.ok(proofA.path.every((h) => /^[0-9a-f]{64}$/.test(h)), 'the path is hashes only');
    const bViaA = await status(teamA.anchorProof('team-b-prod'));
    const missing = await status(teamA.anchorProof('team-a-nothing'));
    t.equal(name(bViaA.code), 'NOT_FOUND');
    t.equal(bViaA.details.replace('team-b-prod', 'LOG'), missing.details.replace('team-a-nothing', 'LOG'), 'another tenant\'s log has no anchors, like a missing log');
    t.same(await teamA.listAnchors('team-b-prod'), [], 'ListAnchors of another tenant\'s log is empty, like a missing log');
    for (const rpc of ['GetAnchor', 'ListAnchors', 'GetAnchorProof']) {
      const s = await status(RPCS.find(([r]) => r === rpc)![1](teamB, 'team-b-prod'));
      t.equal(name(s.code), 'PERMISSION_DENIED', `${rpc} without anchor:read`);
    }
  });

  t.test('policy and tokens reload without a restart and without dropping streams', async (t) => {
    const old = mk({ token: oldBot.token });
    t.equal(name((await status(old.getCheckpoint('team-b-prod'))).code), 'OK', 'old-bot works before the reload');
    // A watch that is open across the reload.
    const ac = new AbortController();
    t.teardown(() => ac.abort());
    const seen: number[] = [];
    const watching = (async () => {
      for await (const e of teamB.watch('team-b-prod', 0, ac.signal)) seen.push(e.seq);
    })().catch((e: unknown) => e);
    const before = (await audit.getCheckpoint('team-b-prod')).size;
    for (let i = 0; i < 100 && seen.length < before; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(seen.length, before, 'the watch caught up');

    // A policy that does not compile is refused whole: the old one stays.
    await writeFile(policyFile, 'tenants: [unclosed\n');
    await n.node.reloadAuth();
    t.equal(name((await status(teamB.getCheckpoint('team-b-prod'))).code), 'OK', 'a broken policy file leaves the previous policy in force');

    // Revoke old-bot, and let team-b read team-a's logs. Picked up by the file poll (auth_reload_ms 200).
    await writeFile(`${tokensFile}.new`, `${bot.line}\n${auditor.line}\n`);
    await rename(`${tokensFile}.new`, tokensFile);
    await writeFile(`${policyFile}.new`, policyYaml(['read:team-a-*']));
    await rename(`${policyFile}.new`, policyFile);
    let revoked;
    for (let i = 0; i < 100; i++) {
      revoked = await status(old.getCheckpoint('team-b-prod'));
      if (revoked.code !== grpc.status.OK && (await status(teamB.getEntry('team-a-prod', 0))).code === grpc.status.OK) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.equal(name(revoked!.code), 'UNAUTHENTICATED', 'a revoked token is refused');
    for (const [rpc, call] of RPCS) {
      const s = await status(call(old, 'team-b-prod'));
      t.equal(name(s.code), 'UNAUTHENTICATED', `${rpc} with the revoked token: UNAUTHENTICATED`);
      t.notMatch(s.details, /old-bot|team-b/, `${rpc}: names neither the token nor the log`);
    }
    const granted = await teamB.getEntry('team-a-prod', 0);
    t.equal(granted.seq, 0, 'the new rule is in force for new calls');

    await teamB.append({ log: 'team-b-prod', configId: 'search', operator: 'bob', action: 'apply' });
    for (let i = 0; i < 100 && seen.length < before + 1; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(seen.length, before + 1, 'the watch opened before the reload still delivers');
    ac.abort();
    const ended = await watching;
    t.ok(ended === undefined || (ended as grpc.ServiceError).code === grpc.status.CANCELLED, 'and it ended only because the client left');
  });

  t.test('a renewed server certificate is served to new connections without a restart', async (t) => {
    const serial = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const port = Number(n.node.grpcAddress.split(':').pop());
        const s = tlsConnect({ host: '127.0.0.1', port, ca: caPem, ALPNProtocols: ['h2'], servername: 'localhost' }, () => {
          const sn = s.getPeerCertificate().serialNumber;
          s.destroy();
          resolve(sn);
        });
        s.once('error', reject);
      });
    const first = await serial();
    const renewed = await pki.renewServer('server-2');
    await copyFile(renewed.cert, `${certFile}.new`);
    await copyFile(renewed.key, `${keyFile}.new`);
    await rename(`${keyFile}.new`, keyFile);
    await rename(`${certFile}.new`, certFile);
    await n.node.reloadAuth();
    const second = await serial();
    t.not(second, first, 'a new handshake gets the renewed certificate');
    t.equal(name((await status(teamA.getCheckpoint('team-a-prod'))).code), 'OK', 'existing clients go on working');
    t.equal(name((await status(mk({ token: bot.token }).getCheckpoint('team-b-prod'))).code), 'OK', 'and new ones connect');
  });
});

t.test('with client certificates required, a bad certificate fails the handshake', async (t) => {
  const dir = await tempDir('cairn-mtls-');
  t.teardown(() => dir.remove());
  const pki = await makePki(join(dir.path, 'pki'));
  const policyFile = join(dir.path, 'policy.yaml');
  await writeFile(policyFile, "tenants:\n  a: [read:*]\nidentities:\n  - { match: 'cert-subject:CN=ci-a,O=example', tenant: a }\n");
  const n = await startTestNode({ 'tls-cert-file': pki.server.cert, 'tls-key-file': pki.server.key, 'tls-client-ca-file': pki.ca.cert, 'tls-client-cert': 'required', 'policy-file': policyFile });
  t.teardown(() => n.close());
  const caPem = await readFile(pki.ca.cert);
  const mk = async (p?: Pair): Promise<LedgerClient> =>
    new LedgerClient(n.node.grpcAddress, clientOptions({ caPem, serverName: 'localhost', ...(p ? { certPem: await readFile(p.cert), keyPem: await readFile(p.key) } : {}) }));
  const good = await mk(await pki.client('ci-a', '/CN=ci-a/O=example'));
  t.equal(name((await status(good.listLogs())).code), 'OK', 'a valid certificate connects');
  for (const [who, client] of [
    ['no certificate', await mk()],
    ['an expired certificate', await mk(await pki.client('old', '/CN=ci-a/O=example', { expired: true }))],
    ['another CA\'s certificate', await mk(await pki.foreignClient('foreign', '/CN=ci-a/O=example'))],
  ] as const) {
    const s = await status(client.listLogs());
    t.equal(name(s.code), 'UNAVAILABLE', `${who}: the handshake fails, no RPC runs`);
    client.close();
  }
  good.close();
});

t.test('per-identity limits: an append rate and a number of open streams', async (t) => {
  const dir = await tempDir('cairn-limits-');
  t.teardown(() => dir.remove());
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  const a = createToken('a');
  const b = createToken('b');
  await writeFile(policyFile, "tenants:\n  a: ['append:*', 'read:*']\n  b: ['append:*', 'read:*']\nidentities:\n  - { match: 'token:a', tenant: a }\n  - { match: 'token:b', tenant: b }\n");
  await writeFile(tokensFile, `${a.line}\n${b.line}\n`);
  const n = await startTestNode({ 'policy-file': policyFile, 'tokens-file': tokensFile, 'rate-limit-appends': '1', 'rate-limit-burst': '3', 'max-streams-per-identity': '2' });
  t.teardown(() => n.close());
  const ca = new LedgerClient(n.node.grpcAddress, { token: a.token });
  const cb = new LedgerClient(n.node.grpcAddress, { token: b.token });
  t.teardown(() => {
    ca.close();
    cb.close();
  });
  const rec = { log: 'l', configId: 'c', operator: 'o', action: 'apply' };
  // Sent at once, so the bucket (3, refilled at 1/s) cannot refill in between.
  const results = await Promise.all(Array.from({ length: 6 }, () => status(ca.append(rec))));
  t.same(results.map((r) => name(r.code)).sort(), ['OK', 'OK', 'OK', 'RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED'], 'the burst, then pushback');
  t.match(results.find((r) => r.code !== grpc.status.OK)!.details, /rate limit .* retry in \d+ ms/, 'with a retry hint');
  t.equal((await ca.getCheckpoint('l')).size, 3, 'nothing of a refused append is stored');
  t.equal(name((await status(cb.append(rec))).code), 'OK', 'another identity is not limited by it');

  const acs = [new AbortController(), new AbortController(), new AbortController()];
  t.teardown(() => acs.forEach((x) => x.abort()));
  const open = (c: LedgerClient, ac: AbortController): Promise<unknown> => (async () => {
    for await (const _ of c.watch('l', 0, ac.signal)) void _;
  })().catch((e: unknown) => e);
  const w1 = open(ca, acs[0]!);
  const w2 = open(ca, acs[1]!);
  await new Promise((r) => setTimeout(r, 300));
  const third = (await open(ca, acs[2]!)) as grpc.ServiceError;
  t.equal(name(third.code), 'RESOURCE_EXHAUSTED', 'a third stream is refused');
  t.match(third.details, /max_streams_per_identity/);
  const otherAc = new AbortController();
  const otherWatch = open(cb, otherAc);
  await new Promise((r) => setTimeout(r, 300));
  acs[0]!.abort();
  await w1;
  await new Promise((r) => setTimeout(r, 200));
  const again = new AbortController();
  const w3 = open(ca, again);
  await new Promise((r) => setTimeout(r, 300));
  again.abort();
  const w3End = (await w3) as grpc.ServiceError | undefined;
  t.ok(w3End === undefined || w3End.code === grpc.status.CANCELLED, 'after one closes, a new stream is allowed');
  acs[1]!.abort();
  otherAc.abort();
  await Promise.all([w2, otherWatch]);
});

t.test('safe defaults: without TLS and a policy the node serves loopback only, and says so', async (t) => {
  const tls = { 'tls-cert-file': '/etc/cert.pem', 'tls-key-file': '/etc/key.pem' };
  const refused = async (flags: Record<string, string>): Promise<CairnError | undefined> => {
    try {
      await loadConfig({ flags, env: {} });
      return undefined;
    } catch (e) {
      return e as CairnError;
    }
  };
  const open = await refused({ listen: '0.0.0.0:7700' });
  t.equal(open?.field, 'listen', 'a non-loopback address without TLS and auth is refused, naming listen');
  t.match(open?.message, /TLS .*authentication/, 'and says what is missing');
  const tlsOnly = await refused({ listen: '0.0.0.0:7700', ...tls });
  t.match(tlsOnly?.message, /no authentication \(policy_file\)/, 'TLS alone is not enough');
  t.equal(await refused({ listen: '0.0.0.0:7700', ...tls, 'policy-file': '/etc/policy.yaml' }), undefined, 'TLS and a policy may listen anywhere');
  t.equal((await refused({ 'metrics-listen': '0.0.0.0:9464' }))?.field, 'metrics_listen', 'metrics (which name logs) stay local unless metrics_remote');
  t.equal(await refused({ 'metrics-listen': '0.0.0.0:9464', 'metrics-remote': 'true' }), undefined);
  t.equal((await refused({ 'tokens-file': '/etc/tokens' }))?.field, 'tokens_file', 'tokens without a policy are refused');

  const dir = await tempDir('cairn-open-');
  t.teardown(() => dir.remove());
  const lines: string[] = [];
  const node = await startNode(await loadConfig({ flags: { 'data-dir': dir.path, listen: '127.0.0.1:0', 'http-listen': '', 'metrics-listen': '' }, env: {} }), createLogger('warn', {}, (l) => lines.push(l)));
  await node.close();
  t.ok(lines.some((l) => /authentication is off.*loopback only/.test(l) && JSON.parse(l).level === 'warn'), 'the start says, at the default log level, that authentication is off');
});

t.test('the CLI talks TLS and sends a token from $CAIRN_TOKEN or --token-file', async (t) => {
  const dir = await tempDir('cairn-cli-auth-');
  t.teardown(() => dir.remove());
  const pki = await makePki(join(dir.path, 'pki'));
  const made = await runCli(['token', 'create', '--name', 'cli-bot']);
  t.equal(made.code, 0, 'token create');
  const { token, line } = JSON.parse(made.stdout) as { token: string; line: string };
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, "tenants:\n  ci: ['append:ci-*', 'read:ci-*']\nidentities:\n  - { match: 'token:cli-bot', tenant: ci }\n");
  await writeFile(tokensFile, `${line}\n`);
  const n = await startTestNode({ 'tls-cert-file': pki.server.cert, 'tls-key-file': pki.server.key, 'policy-file': policyFile, 'tokens-file': tokensFile });
  t.teardown(() => n.close());
  const common = ['--server', n.node.grpcAddress, '--tls-ca', pki.ca.cert, '--tls-server-name', 'localhost'];
  const record = ['record', '--log', 'ci-prod', '--config-id', 'app', '--operator', 'alice', '--action', 'apply', ...common];
  const ok = await runCli(record, { CAIRN_TOKEN: token });
  t.equal(ok.code, 0, ok.stderr);
  t.equal((JSON.parse(ok.stdout) as { entry: { fields: { identity: string } } }).entry.fields.identity, 'token:cli-bot', 'recorded under the token\'s name');
  const tokenFile = join(dir.path, 'token.txt');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const viaFile = await runCli(['get', '--log', 'ci-prod', '--seq', '0', '--token-file', tokenFile, ...common], { CAIRN_TOKEN: '' });
  t.equal(viaFile.code, 0, viaFile.stderr);
  const none = await runCli(record, { CAIRN_TOKEN: '' });
  t.equal(none.code, 2, 'no token: exit 2');
  t.match(none.stderr, /UNAUTHENTICATED|authentication required/);
});
