/**
 * The `peers` settings (src/federation/peers.ts): every key checked, an
 * unknown one refused by name, errors naming `peers[i].field`; a pinned key
 * that does not load refuses the start; connectPeer reaches a real node.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../src/node/config.js';
import { connectPeer, loadPeerKey, validatePeers } from '../src/federation/peers.js';
import { startTestNode, tempDir } from './helpers/node.js';

async function configWith(dir: string, peers: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify({ data_dir: join(dir, 'data'), node_name: 'a.example', peers, ...extra }));
  return path;
}

t.test('a valid peers list loads, with defaults and resolved paths', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const cfg = await loadConfig({ configPath: await configWith(dir.path, [
    { name: 'b.example', endpoint: '127.0.0.1:7710', public_key_file: 'b.pub.pem', token_file: '/etc/cairn/b.token' },
    { name: 'c.example', public_key_file: '/k/c.pem', follow: false, witness: false },
  ]), env: {} });
  t.equal(cfg.peers.length, 2);
  t.same(cfg.peers[0], { name: 'b.example', endpoint: '127.0.0.1:7710', publicKeyFile: join(process.cwd(), 'b.pub.pem'), tokenFile: '/etc/cairn/b.token', follow: true, witness: true });
  t.same(cfg.peers[1], { name: 'c.example', endpoint: '', publicKeyFile: '/k/c.pem', follow: false, witness: false });
});

t.test('each mistake in a peer entry is refused, naming peers[i].field', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const ok = { name: 'b', endpoint: '127.0.0.1:7710', public_key_file: 'b.pem' };
  const cases: [string, unknown, string][] = [
    ['not a list', { name: 'b' }, 'peers'],
    ['an unknown key', [{ ...ok, folow: false }], 'peers[0].folow'],
    ['no name', [{ endpoint: '127.0.0.1:1', public_key_file: 'x' }], 'peers[0].name'],
    ['a name with a space', [{ ...ok, name: 'b c' }], 'peers[0].name'],
    ['no public key file', [{ name: 'b', endpoint: '127.0.0.1:7710' }], 'peers[0].public_key_file'],
    ['a bad endpoint', [ok, { ...ok, name: 'c', endpoint: 'nowhere' }], 'peers[1].endpoint'],
    ['no endpoint while following', [{ name: 'b', public_key_file: 'b.pem' }], 'peers[0].endpoint'],
    ['follow not a boolean', [{ ...ok, follow: 'yes' }], 'peers[0].follow'],
    ['a certificate without its key', [{ ...ok, tls_ca_file: 'ca.pem', tls_cert_file: 'c.pem' }], 'peers[0].tls_key_file'],
    ['a certificate without a CA', [{ ...ok, tls_cert_file: 'c.pem', tls_key_file: 'k.pem' }], 'peers[0].tls_ca_file'],
    ['one name twice', [ok, { ...ok }], 'peers[1].name'],
    ['the node\'s own name', [{ ...ok, name: 'a.example' }], 'peers[0].name'],
  ];
  for (const [what, peers, field] of cases) {
    const err = await loadConfig({ configPath: await configWith(dir.path, peers), env: {} }).then(() => undefined, (e: unknown) => e as { code: string; field: string; message: string });
    t.equal(err?.code, 'INVALID_ARGUMENT', what);
    t.equal(err?.field, field, `${what}: names ${field}`);
    t.match(err?.message, field.split('.').pop()!, `${what}: the message names it`);
  }
  t.throws(() => validatePeers([{ ...ok, endpoint: '127.0.0.1:99999' }]), { field: 'peers[0].endpoint', message: /endpoint/ }, 'a port above 65535');
});

t.test('a pinned key that is missing or not a P-256 public key refuses the start, naming the peer', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const garbage = join(dir.path, 'garbage.pem');
  await writeFile(garbage, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
  await t.rejects(loadPeerKey({ name: 'b', endpoint: '', publicKeyFile: join(dir.path, 'absent.pem'), follow: false, witness: false }), { code: 'INVALID_ARGUMENT', message: /peers b: public_key_file .*absent\.pem: ENOENT/ });
  await t.rejects(loadPeerKey({ name: 'b', endpoint: '', publicKeyFile: garbage, follow: false, witness: false }), { code: 'INVALID_ARGUMENT', message: /peers b: public_key_file .*not a PEM P-256 public key/ });
  await t.rejects(
    startTestNode({ config: await configWith(dir.path, [{ name: 'b', public_key_file: garbage, follow: false, witness: false }]) }),
    { code: 'INVALID_ARGUMENT', message: /peers b: public_key_file/ },
  );
});

t.test('connectPeer opens a client of the peer as any client; its pinned key loads', async (t) => {
  const b = await startTestNode({ 'node-name': 'b.example' });
  t.teardown(b.close);
  const peer = { name: 'b.example', endpoint: b.node.grpcAddress, publicKeyFile: b.pubkeyPath, follow: true, witness: true };
  const key = await loadPeerKey(peer);
  const c = await connectPeer(peer);
  t.teardown(() => c.close());
  const pk = await c.publicKey();
  t.equal(pk.nodeName, 'b.example');
  t.same(Buffer.from(pk.spki), Buffer.from(key), 'the served key is the pinned one');
  await t.rejects(connectPeer({ ...peer, tokenFile: join(b.dataDir, 'no-token') }), { code: 'INVALID_ARGUMENT', message: /token_file/ });
});
