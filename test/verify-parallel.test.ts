/**
 * Offline and online verification check signatures on worker threads, and
 * still name the FIRST bad seq, whichever check (signature, or body/chain on
 * the main thread) finds it, with the same answer as inline checking.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, runCli, tempDir } from './helpers/node.js';
import { verifyBundleFile } from '../src/client/verify-log.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { fromBase64, toBase64 } from '../src/core/bytes.js';
import { bundleLines, verifyBundleLines } from '../src/core/bundle-verifier.js';
import { verifyP256 } from '#crypto';

const LOG = 'par';
const N = 1300;

t.test('verification with signature threads names the first bad seq, as inline does', async (t) => {
const dir = await tempDir();
t.teardown(dir.remove);
const tn = await startTestNode({}, join(dir.path, 'node'));
const s = tn.client.appendStream();
await Promise.all(Array.from({ length: N }, (_, i) => s.append({ log: LOG, configId: `c${i}`, operator: 'o', action: 'x' })));
await s.end();
const bundle = join(dir.path, 'b.jsonl');
t.equal((await runCli(['export', '--server', tn.node.grpcAddress, '--log', LOG, '--out', bundle])).code, 0);
await tn.stop();
const key = pemToDer(await readFile(tn.pubkeyPath, 'utf8'), 'PUBLIC KEY');
const lines = (await readFile(bundle, 'utf8')).split('\n');

/** Writes a copy of the bundle with the given entry lines edited. */
async function edited(name: string, edits: Record<number, (o: { body: string; signature: string }) => void>): Promise<string> {
  const copy = [...lines];
  for (const [seq, f] of Object.entries(edits)) {
    const o = JSON.parse(copy[Number(seq) + 1]!);
    f(o);
    copy[Number(seq) + 1] = JSON.stringify(o);
  }
  const p = join(dir.path, name);
  await writeFile(p, copy.join('\n'));
  return p;
}
const badSig = (o: { signature: string }): void => {
  const b = fromBase64(o.signature);
  b[b.length - 3]! ^= 0x40;
  o.signature = toBase64(b);
};
const badBody = (o: { body: string }): void => {
  const b = fromBase64(o.body);
  b[b.length - 20]! ^= 0x01;
  o.body = toBase64(b);
};

for (const threads of [0, 2]) {
  t.test(`with ${threads === 0 ? 'inline' : `${threads} signature threads`}`, async (t) => {
    const ok = await verifyBundleFile(bundle, { publicKeySpki: key, signatureThreads: threads, progress: false });
    t.equal(ok.entriesVerified, N);
    const cases: [string, Record<number, (o: { body: string; signature: string }) => void>, number, string][] = [
      ['a bad signature alone', { 700: badSig }, 700, 'SIGNATURE_INVALID'],
      ['a bad signature before a bad body', { 611: badSig, 1100: badBody }, 611, 'SIGNATURE_INVALID'],
      ['a bad body before a bad signature', { 300: badBody, 1200: badSig }, 300, ''],
      ['a bad signature in the last partial chunk', { 1299: badSig }, 1299, 'SIGNATURE_INVALID'],
    ];
    for (const [what, edits, seq, code] of cases) {
      const p = await edited(`${threads}-${seq}.jsonl`, edits);
      const err = await verifyBundleFile(p, { publicKeySpki: key, signatureThreads: threads, progress: false }).then(
        () => undefined,
        (e: unknown) => e as { code: string; evidence: { seq?: number } },
      );
      t.ok(err, `${what}: rejected`);
      t.equal(err?.evidence.seq, seq, `${what}: names seq ${seq}`);
      if (code) t.equal(err?.code, code);
    }
  });
}

t.test('the pure bundle verifier with an asynchronous primitive (what the browser console runs) gives the same answers', async (t) => {
  // Resolved on a later turn, as WebCrypto's answers are: checks finish out of order.
  const verify = (k: Uint8Array, m: Uint8Array, s: Uint8Array): Promise<boolean> => new Promise((r) => setImmediate(() => r(verifyP256(k, m, s))));
  const ok = await verifyBundleLines(bundleLines(await readFile(bundle, 'utf8')), { publicKeySpki: key, verify, chunk: 64 });
  const cli = await verifyBundleFile(bundle, { publicKeySpki: key, signatureThreads: 0, progress: false });
  t.same(ok, cli, 'the same result as verifyBundleFile');
  for (const [edits, seq, code] of [[{ 700: badSig }, 700, 'SIGNATURE_INVALID'], [{ 611: badSig, 1100: badBody }, 611, 'SIGNATURE_INVALID'], [{ 300: badBody, 1200: badSig }, 300, ''], [{ 1299: badSig }, 1299, 'SIGNATURE_INVALID']] as const) {
    const p = await edited(`async-${seq}.jsonl`, edits);
    const expected = await verifyBundleFile(p, { publicKeySpki: key, signatureThreads: 0, progress: false }).then(() => undefined, (e: unknown) => e as { code: string; evidence: { seq?: number } });
    const err = await verifyBundleLines(bundleLines(await readFile(p, 'utf8')), { publicKeySpki: key, verify, chunk: 64 }).then(() => undefined, (e: unknown) => e as { code: string; evidence: { seq?: number } });
    t.equal(err?.evidence.seq, seq, `names seq ${seq}`);
    if (code) t.equal(err?.code, code);
    t.same([err?.code, err?.evidence.seq], [expected?.code, expected?.evidence.seq], 'as verifyBundleFile');
  }
});
});
