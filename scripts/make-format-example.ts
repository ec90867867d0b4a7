/**
 * Writes docs/example/: a real two-entry log made by the real code with a
 * throwaway key, so that docs/format.md can show real bytes and a reader can
 * re-check them with OpenSSL (docs/example/verify-with-openssl.sh).
 * test/format-example.test.ts keeps these files honest.
 *
 *   node dist/scripts/make-format-example.js
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, tempDir } from '../test/helpers/node.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { Ledger } from '../src/ledger/ledger.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { toHex } from '../src/core/bytes.js';
import { leafHash } from '../src/core/merkle.js';
import { sha256 } from '#crypto';

const outDir = join(ROOT, 'docs', 'example');
await mkdir(outDir, { recursive: true });
const tmp = await tempDir();
const store = await LedgerStore.open(join(tmp.path, 'l'));
const key = SigningKey.generate();
const ledger = new Ledger(store, key, { nodeName: 'cairn.example', maxBatch: 16, maxQueue: 16, maxLogs: 1, limits: { maxPayloadBytes: 1024 } });
const r0 = await ledger.append({ log: 'prod', configId: 'payments/api', operator: 'alice@example.com', action: 'update', source: 'ci/pipeline/4711', commit: '9fceb02d0ae598e95dc970b74767f19372d61af8', payloadJson: '{"replicas":3,"image":"registry.example/payments:2.4.1"}', requestId: 'job-4711-step-3' }, 'cert-subject:CN=ci-payments,O=example');
const r1 = await ledger.append({ log: 'prod', configId: 'payments/api', operator: 'bob@example.com', action: 'rollback', commit: '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d', payloadJson: '{"replicas":2}' }, 'token:release-bot');
for (const [i, r] of [r0, r1].entries()) {
  await writeFile(join(outDir, `entry-${i}.body.json`), r.entry.body);
  await writeFile(join(outDir, `entry-${i}.sig.der`), r.entry.signature);
  await writeFile(join(outDir, `entry-${i}.hash.hex`), toHex(r.entry.hash) + '\n');
}
await writeFile(join(outDir, 'checkpoint.txt'), r1.checkpoint.note);
await writeFile(join(outDir, 'pub.pem'), key.publicKeyPem);
const summary = {
  contentHash0: toHex(sha256(r0.entry.body)),
  entryHash0: toHex(r0.entry.hash),
  leaf0: toHex(leafHash(r0.entry.hash)),
  contentHash1: toHex(sha256(r1.entry.body)),
  entryHash1: toHex(r1.entry.hash),
  leaf1: toHex(leafHash(r1.entry.hash)),
  root: toHex(r1.checkpoint.rootHash),
  keyId: key.keyIdHex,
  inclusionProofOf1InSize2: r1.inclusionProof.map(toHex),
};
await writeFile(join(outDir, 'values.json'), JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary, null, 2));
await ledger.close();
await store.close();
await tmp.remove();
