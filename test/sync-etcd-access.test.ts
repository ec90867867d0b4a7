/**
 * An etcd target reaching a cluster that requires TLS client certificates
 * (`--client-cert-auth`) and users, as production clusters do: a real etcd
 * with a throwaway PKI made by openssl, the settings as a config file and
 * the CLI give them, and each wrong setting refused naming itself.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { createLogger } from '../src/node/logger.js';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startEtcd } from './helpers/etcd.js';
import { makePki } from './helpers/pki.js';
import { tempDir } from './helpers/node.js';
import { createLiveSource, validateSyncTargetConfig } from '../src/sync/run-target.js';
import { parseTargetSpec } from '../src/sync/target-spec.js';
import { main } from '../src/cli/main.js';

const dir = await tempDir('cairn-etcd-tls-');
t.teardown(dir.remove);
const pki = await makePki(join(dir.path, 'pki'));
const client = await pki.client('sync', '/CN=cairn-sync');
const stranger = await pki.foreignClient('stranger', '/CN=stranger');
const etcd = await startEtcd({ tls: { ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key, client } });
t.teardown(() => etcd.close());
const port = new URL(etcd.endpoint).port;
const target = `etcd:https://localhost:${port}/config/`;

// Seed with an admin connection of our own.
const admin = new Etcd3({ hosts: etcd.endpoint.replace('127.0.0.1', 'localhost'), credentials: { rootCertificate: readFileSync(pki.ca.cert), certChain: readFileSync(client.cert), privateKey: readFileSync(client.key) } });
t.teardown(() => admin.close());
await admin.put('/config/default/ConfigMap/web').value(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web', namespace: 'default' }, data: { color: 'blue' } }));

const base = { name: 'e', repo: '/nowhere', target };

t.test('with the CA, a client certificate and its key, the target lists over TLS', async (t) => {
  const cfg = validateSyncTargetConfig({ ...base, etcd_ca_file: pki.ca.cert, etcd_cert_file: client.cert, etcd_key_file: client.key });
  t.same(cfg.etcd, { caFile: pki.ca.cert, certFile: client.cert, keyFile: client.key });
  const src = await createLiveSource(parseTargetSpec(cfg.target), { etcd: cfg.etcd });
  t.teardown(() => src.close());
  t.same([...(await src.list()).objects.keys()], ['default/ConfigMap/web']);
  t.match(src.describe, `https://localhost:${port}`);
});

t.test('the nested form { etcd: { caFile, certFile, keyFile } } is the same', async (t) => {
  const cfg = validateSyncTargetConfig({ ...base, etcd: { caFile: pki.ca.cert, certFile: client.cert, keyFile: client.key } });
  const src = await createLiveSource(parseTargetSpec(cfg.target), { etcd: cfg.etcd });
  t.teardown(() => src.close());
  t.equal((await src.list()).objects.size, 1);
});

t.test('without a client certificate, or with another CA\'s, etcd refuses and list fails', async (t) => {
  for (const [what, etcdAccess] of [
    ['CA only', { caFile: pki.ca.cert }],
    ['another CA\'s client certificate', { caFile: pki.ca.cert, certFile: stranger.cert, keyFile: stranger.key }],
  ] as const) {
    const src = await createLiveSource(parseTargetSpec(target), { etcd: etcdAccess });
    await t.rejects(Promise.race([src.list(), new Promise((_, reject) => setTimeout(() => reject(new Error('list hung')), 15_000))]), { code: 'UNAVAILABLE' }, what);
    await src.close();
  }
});

t.test('with a user and a password file, etcd authentication is used', async (t) => {
  const password = 'correct horse battery staple';
  await admin.user('root').create(password);
  await admin.user('root').addRole('root');
  const sync = admin.user('cairn-sync');
  await sync.create(password);
  await admin.role('reader').create();
  await admin.role('reader').grant({ permission: 'Read', range: admin.range({ prefix: '/config/' }) });
  await sync.addRole('reader');
  await admin.auth.authEnable();
  t.teardown(async () => {
    const root = new Etcd3({ hosts: etcd.endpoint.replace('127.0.0.1', 'localhost'), auth: { username: 'root', password }, credentials: { rootCertificate: readFileSync(pki.ca.cert), certChain: readFileSync(client.cert), privateKey: readFileSync(client.key) } });
    await root.auth.authDisable();
    root.close();
  });
  const pwFile = join(dir.path, 'etcd-password');
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  const tls = { etcd_ca_file: pki.ca.cert, etcd_cert_file: client.cert, etcd_key_file: client.key };
  const cfg = validateSyncTargetConfig({ ...base, ...tls, etcd_user: 'cairn-sync', etcd_password_file: pwFile });
  const src = await createLiveSource(parseTargetSpec(cfg.target), { etcd: cfg.etcd });
  t.teardown(() => src.close());
  t.same([...(await src.list()).objects.keys()], ['default/ConfigMap/web'], 'the reader role reads the prefix');

  const warnings: string[] = [];
  const logger = createLogger('warn', {}, (line) => warnings.push(line));
  await chmod(pwFile, 0o644);
  const loose = await createLiveSource(parseTargetSpec(cfg.target), { etcd: cfg.etcd, logger });
  await loose.close();
  t.match(warnings.join(''), /etcd_password_file is readable by group or others; make it 0600/, 'a password file others can read is warned about');
  t.notMatch(warnings.join(''), new RegExp(password), 'and the password is not in the log');

  await writeFile(pwFile, 'wrong\n');
  const wrong = await createLiveSource(parseTargetSpec(target), { etcd: validateSyncTargetConfig({ ...base, ...tls, etcd_user: 'cairn-sync', etcd_password_file: pwFile }).etcd });
  await t.rejects(wrong.list(), { code: 'FAILED_PRECONDITION' }, 'a wrong password is a configuration error, not retried');
  await wrong.close();
});

t.test('each wrong setting is refused before connecting, naming itself', async (t) => {
  const refused = (extra: Record<string, unknown>, message: RegExp, spec = target): void => {
    t.throws(() => validateSyncTargetConfig({ ...base, target: spec, ...extra }), { code: 'INVALID_ARGUMENT', message }, JSON.stringify(extra));
  };
  refused({ etcd_ca_file: pki.ca.cert }, /^sync_target\.etcd_ca_file: is only for etcd targets/, 'dir:/tmp');
  refused({ etcd_cert_file: client.cert }, /^sync_target\.etcd_key_file: is required too/);
  refused({ etcd_key_file: client.key }, /^sync_target\.etcd_cert_file: is required too/);
  refused({ etcd_user: 'u' }, /^sync_target\.etcd_password_file: is required too/);
  refused({ etcd_password_file: '/x' }, /^sync_target\.etcd_user: is required too/);
  refused({ etcd_ca_file: pki.ca.cert }, /^sync_target\.etcd_ca_file: needs https:\/\/ endpoints \(127\.0\.0\.1:2379 is plain http\)/, 'etcd:127.0.0.1:2379/config/');
  refused({ etcd_ca_file: '' }, /^sync_target\.etcd_ca_file: must be a non-empty string/);
  refused({ etcd: 'tls' }, /^sync_target\.etcd: must be an object/);
  refused({ etcd_cafile: pki.ca.cert }, /^sync_target\.etcd_cafile: unknown setting/);
  await t.rejects(createLiveSource(parseTargetSpec(target), { etcd: { caFile: join(dir.path, 'missing.pem') } }), { code: 'INVALID_ARGUMENT', message: /^etcd_ca_file: cannot read .*missing\.pem \(ENOENT\)/ });
});

t.test('the CLI takes the same settings as flags and names the flag when one is wrong', async (t) => {
  const stderr = process.stderr.write;
  let err = '';
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    for (const [args, says] of [
      [['diff', '--repo', dir.path, '--target', 'dir:/tmp', '--etcd-ca', pki.ca.cert], /--etcd-ca: is only for etcd targets/],
      [['diff', '--repo', dir.path, '--target', target, '--etcd-cert', client.cert], /--etcd-key: is required too/],
      [['sync', '--repo', dir.path, '--target', 'etcd:127.0.0.1:2379/c/', '--etcd-ca', pki.ca.cert], /--etcd-ca: needs https:\/\/ endpoints/],
    ] as const) {
      err = '';
      t.equal(await main([...args]), 2, args.join(' '));
      t.match(err, says, err.trim());
    }
  } finally {
    process.stderr.write = stderr;
  }
});
