/**
 * verifyBundleFile closes the bundle on every way out, also when it fails on
 * the header before reading any entry: an auditor's long-running process that
 * checks many bundles must not keep a descriptor per rejected one until
 * garbage collection.
 */
import t from 'tap';
import { readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './helpers/node.js';
import { verifyBundleFile } from '../src/client/verify-log.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { BUNDLE_FORMAT } from '../src/core/bundle.js';

const dir = await tempDir('cairn-bundle-file-');
t.teardown(dir.remove);
const key = SigningKey.generate().publicKeySpki;

/** Paths of this process's open file descriptors (Linux /proc). */
async function openPaths(): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  return (await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')))).filter(Boolean);
}

const cases: [string, string, RegExp][] = [
  ['nothing in it', '', /bundle is empty/],
  ['a header that is not JSON', 'not a header\n{}\n', /header is not JSON/],
  ['a malformed anchor', JSON.stringify({ format: BUNDLE_FORMAT, log: 'a', size: 1, checkpoint: 'x', publicKey: 'x', anchors: [{ window: '1' }] }) + '\n{}\n', /anchors\[0\]/],
];
for (const [what, text, message] of cases) {
  t.test(`a bundle with ${what} is refused as BUNDLE_MALFORMED and left closed`, async (t) => {
    const path = join(dir.path, `${what.replace(/\W+/g, '-')}.jsonl`);
    await writeFile(path, text);
    await t.rejects(verifyBundleFile(path, { publicKeySpki: key, progress: false, signatureThreads: 0 }), { code: 'BUNDLE_MALFORMED', message });
    t.notOk((await openPaths()).includes(path), 'no descriptor of the bundle is open');
  });
}
