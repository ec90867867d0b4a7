/**
 * Writes docs/example/cosignature/: a real cosignature, by a throwaway
 * witness key, on the real checkpoint of docs/example/, so that
 * docs/format.md section 9 can show real bytes and a reader can re-check them
 * with OpenSSL (docs/example/cosignature/verify-with-openssl.sh).
 * test/cosignature.test.ts keeps these files honest.
 *
 *   node dist/scripts/make-cosignature-example.js
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../test/helpers/node.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { cosignedMessage, cosignedNote, cosignLine, witnessKey } from '../src/core/cosignature.js';
import { parseNote } from '../src/core/note.js';
import { toHex, utf8 } from '../src/core/bytes.js';

const dir = join(ROOT, 'docs', 'example');
const out = join(dir, 'cosignature');
const note = await readFile(join(dir, 'checkpoint.txt'), 'utf8');
const text = parseNote(note).text;
const key = SigningKey.generate();
const w = witnessKey('witness.example', key.publicKeySpki);
// A fixed time, so the message in the doc is stable: 2026-11-26T09:10:00Z.
const time = 1795770600;
const line = cosignLine(text, time, w, (m) => key.sign(m));
await writeFile(join(out, 'witness.pub.pem'), key.publicKeyPem);
await writeFile(join(out, 'cosigned-checkpoint.txt'), cosignedNote(note, [line]));
const values = {
  witnessName: w.name,
  keyId: w.keyId.toString(16).padStart(8, '0'),
  time,
  message: new TextDecoder().decode(cosignedMessage(text, time)),
  line,
  messageBytes: utf8(new TextDecoder().decode(cosignedMessage(text, time))).length,
  spkiHex: toHex(key.publicKeySpki),
};
await writeFile(join(out, 'values.json'), JSON.stringify(values, null, 2) + '\n');
console.log(JSON.stringify(values, null, 2));
