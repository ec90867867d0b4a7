/**
 * `cairn` as a user runs it: bin/cairn.js as a child process against a real
 * node on loopback. Exit codes are the contract: 0 ok, 1 verification failed
 * or tampering found, 2 usage, input or connection error.
 */
import t from 'tap';
import { createServer } from 'node:net';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CLI, startTestNode, runCli, tempDir } from './helpers/node.js';
import { spawn } from 'node:child_process';
import { loadConfig, DEFAULTS } from '../src/node/config.js';
import { CairnError } from '../src/core/errors.js';
import { decodeBody } from '../src/core/entry.js';
import { fromBase64, toBase64, utf8 } from '../src/core/bytes.js';
import { pemToDer } from '../src/core/ecdsa-der.js';

const tn = await startTestNode();
t.teardown(() => tn.close());
const work = await tempDir('cairn-cli-');
t.teardown(() => work.remove());
const server = ['--server', tn.node.grpcAddress];
const pubkey = ['--pubkey', tn.pubkeyPath];
// The CLI reads these from the environment: keep the caller's out of the way.
// NODE_OPTIONS: tap's process-tracking hook would double each child's start-up time.
const env = { CAIRN_SERVER: '', CAIRN_PUBKEY: '', CONFIG_PATH: '', NODE_OPTIONS: '' };
const cli = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { ...env, ...extraEnv });

const LOG = 'cli-log';
const record = (extra: string[] = []) =>
  cli(['record', ...server, '--log', LOG, '--config-id', 'svc/prod.yaml', '--operator', 'bob', '--action', 'deploy', ...extra]);

interface ReceiptJson {
  log: string;
  seq: number;
  hash: string;
  replayed: boolean;
  entry: { log: string; seq: number; hash: string; fields: Record<string, unknown>; body: string; signature: string };
  checkpoint: { size: number; rootHash: string; note: string };
  inclusionProof: string[];
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

t.test('record prints a receipt that verify-receipt checks offline', async (t) => {
  const r = await record(['--commit', 'abcdef1', '--source', 'ci', '--data', '{"replicas":2}', '--request-id', 'cli-1']);
  t.equal(r.code, 0, r.stderr);
  const receipt = JSON.parse(r.stdout) as ReceiptJson;
  t.equal(receipt.log, LOG);
  t.equal(receipt.seq, 0);
  t.match(receipt.hash, /^[0-9a-f]{64}$/);
  t.equal(receipt.replayed, false);
  t.ok(receipt.checkpoint.size >= 1);
  t.match(receipt.checkpoint.note, new RegExp(`^[^\\n]+/${LOG}\\n1\\n`));
  t.ok(Array.isArray(receipt.inclusionProof));
  t.match(receipt.entry.fields, { operator: 'bob', action: 'deploy', configId: 'svc/prod.yaml', commit: 'abcdef1', source: 'ci', payload: { replicas: 2 }, requestId: 'cli-1' });

  const file = join(work.path, 'receipt.json');
  await writeFile(file, r.stdout);
  const ok = await cli(['verify-receipt', file, ...pubkey]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { ok: true, log: LOG, seq: 0, checkpointSize: receipt.checkpoint.size });

  // Someone edits who made the change.
  const altered = { ...receipt, entry: { ...receipt.entry, body: receipt.entry.body.replace('"operator":"bob"', '"operator":"eve"') } };
  t.not(altered.entry.body, receipt.entry.body);
  const badFile = join(work.path, 'receipt-altered.json');
  await writeFile(badFile, JSON.stringify(altered));
  const bad = await cli(['verify-receipt', badFile, ...pubkey]);
  t.equal(bad.code, 1, 'an altered body fails verification');
  t.match(bad.stderr, /VERIFICATION FAILED/);

  // Same request id again: the original receipt, replayed.
  const again = await record(['--request-id', 'cli-1']);
  t.equal(again.code, 0, again.stderr);
  t.match(JSON.parse(again.stdout), { seq: 0, replayed: true, hash: receipt.hash });

});

t.test('get, checkpoint, logs, pubkey and proofs', async (t) => {
  // Sequential appends: each size has a signed checkpoint.
  for (let i = 0; i < 4; i++) await tn.client.append({ log: LOG, configId: 'svc/prod.yaml', operator: `op${i}`, action: 'deploy' });
  const [get, cp3, logs, pk, incl, cons, missing] = await Promise.all([
    cli(['get', ...server, '--log', LOG, '--seq', '2']),
    cli(['checkpoint', ...server, '--log', LOG, '--size', '3']),
    cli(['logs', ...server]),
    cli(['pubkey', ...server]),
    cli(['proof', ...server, '--log', LOG, '--seq', '1', '--size', '3', ...pubkey]),
    cli(['proof', ...server, '--log', LOG, '--from', '2', '--to', '5', ...pubkey]),
    cli(['get', ...server, '--log', LOG, '--seq', '99']),
  ]);
  t.equal(get.code, 0, get.stderr);
  t.match(JSON.parse(get.stdout), { log: LOG, seq: 2, fields: { operator: 'op1', seq: 2 } });
  t.equal(cp3.code, 0, cp3.stderr);
  t.match(JSON.parse(cp3.stdout), { log: LOG, size: 3 });
  t.equal(logs.code, 0, logs.stderr);
  t.match(JSON.parse(logs.stdout), [{ log: LOG, size: 5 }]);
  t.equal(pk.code, 0, pk.stderr);
  t.equal(pk.stdout, await readFile(tn.pubkeyPath, 'utf8'), 'pubkey prints the key file');
  t.equal(incl.code, 0, incl.stderr);
  t.match(JSON.parse(incl.stdout), { verified: true, seq: 1, size: 3 });
  t.equal(cons.code, 0, cons.stderr);
  t.match(JSON.parse(cons.stdout), { verified: true, from: 2, to: 5 });
  t.equal(missing.code, 2, 'a seq not recorded');
  t.match(missing.stderr, /NOT_FOUND/);
});

t.test('export and verify-bundle; an altered entry line is found and named', async (t) => {
  const bundle = join(work.path, 'log.jsonl');
  const ex = await cli(['export', ...server, '--log', LOG, '--out', bundle]);
  t.equal(ex.code, 0, ex.stderr);
  t.match(JSON.parse(ex.stdout), { log: LOG, size: 5, out: bundle });
  const ok = await cli(['verify-bundle', bundle, ...pubkey]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { ok: true, log: LOG, size: 5, entriesVerified: 5 });

  const lines = (await readFile(bundle, 'utf8')).split('\n');
  t.equal(lines.filter((l) => l !== '').length, 6, 'a header and five entries');

  // Line 3 is seq 1: change who made it, re-encoded as valid base64 of canonical JSON.
  const line = JSON.parse(lines[2]!) as { seq: number; body: string };
  t.equal(line.seq, 1);
  const body = new TextDecoder().decode(fromBase64(line.body));
  t.equal(decodeBody(utf8(body)).operator, 'op0');
  const edited = [...lines];
  edited[2] = JSON.stringify({ ...line, body: toBase64(utf8(body.replace('"operator":"op0"', '"operator":"eve"'))) });
  const tampered = join(work.path, 'tampered.jsonl');
  await writeFile(tampered, edited.join('\n'));

  // Line 3 again, with one base64 character of the body flipped.
  const flipped = [...lines];
  const b = line.body;
  const i = Math.floor(b.length / 2);
  flipped[2] = JSON.stringify({ ...line, body: b.slice(0, i) + (b[i] === 'A' ? 'B' : 'A') + b.slice(i + 1) });
  const tampered2 = join(work.path, 'tampered2.jsonl');
  await writeFile(tampered2, flipped.join('\n'));

  const unknownOut = join(work.path, 'unknown.jsonl');
  const [bad, bad2, again, unknown] = await Promise.all([
    cli(['verify-bundle', tampered, ...pubkey]),
    cli(['verify-bundle', tampered2, ...pubkey]),
    cli(['export', ...server, '--log', LOG, '--out', bundle]),
    cli(['export', ...server, '--log', 'no-such-log', '--out', unknownOut]),
  ]);
  t.equal(bad.code, 1, 'an edited entry fails verification');
  t.match(bad.stderr, /VERIFICATION FAILED .*entry 1\b/, 'the failure names seq 1');
  t.match(bad.stderr, /"seq":1/);
  t.equal(bad2.code, 1, 'a flipped byte fails verification');
  t.match(bad2.stderr, /entry 1\b|"seq":1/, 'the failure names seq 1');
  t.equal(again.code, 2, 'export does not overwrite an existing file');
  t.match(again.stderr, /exists/);
  t.equal(await readFile(bundle, 'utf8'), lines.join('\n'), 'the existing bundle is untouched');
  t.equal(unknown.code, 2, 'export of an unknown log');
  t.match(unknown.stderr, /NOT_FOUND/);
  await t.rejects(stat(unknownOut), 'a failed export leaves no partial bundle');
});

t.test('verify checks the whole log with a pinned key', async (t) => {
  const [ok, noKey] = await Promise.all([cli(['verify', ...server, '--log', LOG, ...pubkey]), cli(['verify', ...server, '--log', LOG])]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { ok: true, log: LOG, size: 5, entriesVerified: 5 });
  t.equal(noKey.code, 2, 'verify without --pubkey is a usage error');
  t.match(noKey.stderr, /--pubkey/);
});

t.test('usage, input and connection errors exit 2', async (t) => {
  const port = await closedPort();
  const CLI_BAD_JSON = join(work.path, 'bad-data.json');
  await writeFile(CLI_BAD_JSON, '{"replicas": }');
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['record without --log', ['record', ...server, '--config-id', 'c', '--operator', 'o', '--action', 'a'], /--log is required/],
    ['get with a bad --seq', ['get', ...server, '--log', LOG, '--seq', 'abc'], /--seq must be a non-negative integer/],
    ['an unknown flag', ['logs', ...server, '--bogus'], /bogus/],
    ['record with bad --data JSON', ['record', ...server, '--log', LOG, '--config-id', 'c', '--operator', 'o', '--action', 'a', '--data', '{nope'], /--data is not valid JSON/],
    ['record with a bad --data-file', ['record', ...server, '--log', LOG, '--config-id', 'c', '--operator', 'o', '--action', 'a', '--data-file', CLI_BAD_JSON], /--data-file .* is not valid JSON/],
    ['record refused by the node (bad action)', ['record', ...server, '--log', LOG, '--config-id', 'c', '--operator', 'o', '--action=-x'], /INVALID_ARGUMENT.*action/],
    ['connection refused', ['logs', '--server', `127.0.0.1:${port}`], /UNAVAILABLE/],
    ['proof with --seq and --from', ['proof', ...server, '--log', LOG, '--seq', '1', '--from', '1', '--to', '2', ...pubkey], /not both/],
  ];
  const results = await Promise.all(cases.map(([, args]) => cli(args)));
  cases.forEach(([name, , re], i) => {
    const r = results[i]!;
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr + r.stdout, re, `${name}: says why`);
  });
  t.equal((await tn.client.getCheckpoint(LOG)).size, 5, 'nothing was recorded by the failed commands');
});

t.test('keygen writes a 0600 private key and a public key, and never overwrites', async (t) => {
  const dir = join(work.path, 'keys');
  const r = await cli(['keygen', '--out', dir]);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { privateKey: string; publicKey: string; keyId: string };
  t.equal(out.privateKey, join(dir, 'signing-key.pem'));
  t.equal(out.publicKey, join(dir, 'signing-key.pub.pem'));
  t.match(out.keyId, /^[0-9a-f]{8}$/);
  t.equal((await stat(out.privateKey)).mode & 0o777, 0o600, 'private key mode 0600');
  const priv = await readFile(out.privateKey, 'utf8');
  const pub = await readFile(out.publicKey, 'utf8');
  t.match(priv, /^-----BEGIN PRIVATE KEY-----\n/);
  t.equal(pemToDer(pub, 'PUBLIC KEY').length, 91, 'a P-256 SPKI');

  const again = await cli(['keygen', '--out', dir]);
  t.equal(again.code, 2, 'a second keygen into the same dir fails');
  t.match(again.stderr, /already exists/);
  t.equal(await readFile(out.privateKey, 'utf8'), priv, 'the private key is untouched');
  t.equal(await readFile(out.publicKey, 'utf8'), pub, 'the public key is untouched');

  // A node started on that key signs with it.
  const node = await startTestNode({ 'key-file': out.privateKey });
  try {
    t.equal((await node.client.publicKey()).pem, pub);
  } finally {
    await node.close();
  }
});

t.test('serve settings: flags > environment > file > defaults', async (t) => {
  const file = join(work.path, 'config.json');
  await writeFile(
    file,
    JSON.stringify({ data_dir: join(work.path, 'from-file'), max_batch: 10, max_queue: 20, max_logs: 30, log_level: 'info', node_name: 'file-node' }),
  );
  const cfg = await loadConfig({
    flags: { config: file, 'max-logs': '32' },
    env: { CAIRN_MAX_QUEUE: '21', CAIRN_MAX_LOGS: '31', CAIRN_NODE_NAME: 'env-node' },
  });
  t.equal(cfg.maxBatch, 10, 'file over default');
  t.equal(cfg.maxQueue, 21, 'env over file');
  t.equal(cfg.maxLogs, 32, 'flag over env and file');
  t.equal(cfg.nodeName, 'env-node');
  t.equal(cfg.logLevel, 'info');
  t.equal(cfg.dataDir, join(work.path, 'from-file'));
  t.equal(cfg.keyFile, join(work.path, 'from-file', 'signing-key.pem'), 'the key file defaults into the data dir');
  t.equal(cfg.maxPayloadBytes, DEFAULTS.maxPayloadBytes, 'default where nothing is set');
  t.equal(cfg.listen, DEFAULTS.listen);
  t.ok(Object.isFrozen(cfg), 'resolved once, frozen');

  const viaEnv = await loadConfig({ env: { CONFIG_PATH: file, CAIRN_MAX_BATCH: '11' } });
  t.equal(viaEnv.maxQueue, 20, '$CONFIG_PATH names the file');
  t.equal(viaEnv.maxBatch, 11);
  const defaults = await loadConfig({});
  t.equal(defaults.maxBatch, DEFAULTS.maxBatch);
  t.equal(defaults.metricsListen, DEFAULTS.metricsListen);
  t.equal((await loadConfig({ flags: { 'metrics-listen': '' } })).metricsListen, '', 'an empty metrics address turns the endpoint off');
  t.equal((await loadConfig({ flags: { listen: '[::1]:7700' } })).listen, '[::1]:7700', 'IPv6 in brackets');
  t.equal((await loadConfig({ flags: { 'key-file': 'keys/k.pem' } })).keyFile, resolve('keys/k.pem'), 'a relative key file is made absolute');

  const rejects = async (src: Parameters<typeof loadConfig>[0], field: string, re: RegExp, what: string): Promise<void> => {
    try {
      await loadConfig(src);
      t.fail(`${what}: accepted`);
    } catch (e) {
      t.ok(e instanceof CairnError && e.code === 'INVALID_ARGUMENT', `${what}: INVALID_ARGUMENT`);
      t.equal((e as CairnError).field, field, `${what}: names ${field}`);
      t.match((e as Error).message, re, `${what}: ${(e as Error).message}`);
    }
  };
  const badFile = async (content: string): Promise<string> => {
    const p = join(work.path, `bad-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(p, content);
    return p;
  };
  await rejects({ flags: { listen: 'nope' } }, '--listen', /--listen.*HOST:PORT/, 'flag listen nope');
  await rejects({ flags: { listen: '127.0.0.1:65536' } }, '--listen', /--listen/, 'port above 65535');
  await rejects({ flags: { listen: '[nope]:1' } }, '--listen', /--listen/, 'bracketed non-IPv6');
  await rejects({ env: { CAIRN_MAX_BATCH: 'many' } }, 'CAIRN_MAX_BATCH', /CAIRN_MAX_BATCH/, 'env max batch not a number');
  await rejects({ env: { CAIRN_LOG_LEVEL: 'loud' } }, 'CAIRN_LOG_LEVEL', /CAIRN_LOG_LEVEL/, 'env log level');
  await rejects({ flags: { 'node-name': 'has space' } }, '--node-name', /--node-name/, 'node name with a space');
  await rejects({ configPath: await badFile('{"max_batch": 0}') }, 'max_batch', /max_batch.*\[1, 4096\]/, 'file max_batch 0');
  await rejects({ configPath: await badFile('{"max_batch": 2.5}') }, 'max_batch', /max_batch/, 'file max_batch 2.5');
  await rejects({ configPath: await badFile('{"max_batch": 5000}') }, 'max_batch', /max_batch/, 'file max_batch above 4096');
  await rejects({ configPath: await badFile('{"max_batchh": 5}') }, 'max_batchh', /unknown setting "max_batchh"/, 'file with an unknown key');
  await rejects({ configPath: await badFile('{"listen": 7700}') }, 'listen', /listen/, 'file listen as a number');
  await rejects({ configPath: await badFile('[1]') }, 'config', /JSON object/, 'file not an object');
  await rejects({ configPath: await badFile('{oops') }, 'config', /config file/, 'file not JSON');
  await rejects({ configPath: join(work.path, 'missing.json') }, 'config', /config file/, 'missing file');
  // A bad file is an error even when a flag would override the setting.
  await rejects({ configPath: await badFile('{"max_batch": 0}'), flags: { 'max-batch': '5' } }, 'max_batch', /max_batch/, 'bad file value under a good flag');
});

t.test('serve exits 2 naming a bad setting', async (t) => {
  const dataDir = join(work.path, 'serve-data');
  const badConfig = join(work.path, 'serve-bad.json');
  await writeFile(badConfig, JSON.stringify({ max_batch: 0 }));
  const unknownKey = join(work.path, 'serve-unknown.json');
  await writeFile(unknownKey, JSON.stringify({ listen: '127.0.0.1:0', colour: 'blue' }));
  const [flag, file, unknown] = await Promise.all([
    cli(['serve', '--data-dir', dataDir, '--listen', 'nope']),
    cli(['serve', '--data-dir', dataDir, '--config', badConfig]),
    cli(['serve', '--data-dir', dataDir], { CONFIG_PATH: unknownKey }),
  ]);
  t.equal(flag.code, 2, '--listen nope');
  t.match(flag.stderr, /setting --listen .*HOST:PORT/);
  t.equal(file.code, 2, 'max_batch: 0 in the config file');
  t.match(file.stderr, /setting max_batch .*\[1, 4096\]/);
  t.equal(unknown.code, 2, 'an unknown key in the config file');
  t.match(unknown.stderr, /unknown setting "colour"/);
  await t.rejects(stat(join(dataDir, 'signing-key.pem')), 'no key was created by a refused start');
});

t.test('serve started over an IPC channel stops cleanly when its supervisor goes away', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dir.path, '--listen', '127.0.0.1:0', '--http-listen', '', '--metrics-listen', '', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 200 && !/serving gRPC/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(err, /serving gRPC/, 'the node started');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // What a supervisor's death looks like from the node: the channel closes.
  child.disconnect();
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
  if (code === 'timeout') child.kill('SIGKILL');
  t.equal(code, 0, 'it exits 0 on its own');
  t.match(err, /supervisor gone/, 'and says why');
});
