/**
 * the worked example of docs/format.md is real: the files in docs/example verify
 * with OpenSSL alone (the documented independent procedure) and with the
 * pure core, and a one-byte change breaks both.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers/node.js';
import { LogVerifier } from '../src/core/log-verifier.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { fromHex } from '../src/core/bytes.js';
import { encodeBody, decodeBody } from '../src/core/entry.js';

const run = promisify(execFile);
const EXAMPLE = join(ROOT, 'docs', 'example');

async function loadEntries(dir: string): Promise<{ log: string; seq: number; body: Uint8Array; signature: Uint8Array; hash: Uint8Array }[]> {
  return Promise.all(
    [0, 1].map(async (seq) => ({
      log: 'prod',
      seq,
      body: new Uint8Array(await readFile(join(dir, `entry-${seq}.body.json`))),
      signature: new Uint8Array(await readFile(join(dir, `entry-${seq}.sig.der`))),
      hash: fromHex((await readFile(join(dir, `entry-${seq}.hash.hex`), 'utf8')).trim()),
    })),
  );
}

t.test('the example verifies with only OpenSSL and coreutils', async (t) => {
  const { stdout } = await run('bash', [join(EXAMPLE, 'verify-with-openssl.sh')]);
  t.match(stdout, /VERIFIED/);
});

t.test('the example verifies with the pure core against the pinned key', async (t) => {
  const pub = pemToDer(await readFile(join(EXAMPLE, 'pub.pem'), 'utf8'), 'PUBLIC KEY');
  const v = new LogVerifier('prod', pub, { nodeName: 'cairn.example' });
  for (const e of await loadEntries(EXAMPLE)) v.push(e);
  const cp = v.finish(await readFile(join(EXAMPLE, 'checkpoint.txt'), 'utf8'));
  t.equal(cp.size, 2);
  t.equal(cp.origin, 'cairn.example/prod');
});

t.test('entry bodies are RFC 8785 canonical: re-encoding the decoded body gives the same bytes', async (t) => {
  for (const e of await loadEntries(EXAMPLE)) {
    t.same(encodeBody(decodeBody(e.body)), e.body);
  }
});

t.test('one changed byte in a body fails the OpenSSL procedure too', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  await cp(EXAMPLE, dir.path, { recursive: true });
  const path = join(dir.path, 'entry-1.body.json');
  const body = await readFile(path, 'utf8');
  await writeFile(path, body.replace('"replicas":2', '"replicas":9'));
  await t.rejects(run('bash', [join(dir.path, 'verify-with-openssl.sh')]));
});
