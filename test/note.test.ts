/**
 * C2SP signed notes (c2sp.org/signed-note), read like the spec.
 *
 * Known answers come from public sources, copied byte for byte:
 *  - Ed25519: golang.org/x/mod sumdb/note/note_test.go (TestSign, TestOpen,
 *    TestVerifierList): the PeterNeumann and EnochRoot keys and notes.
 *  - ECDSA (type 0x02): transparency-dev/formats note/note_verifier_test.go:
 *    the Sigstore Rekor and Pixel 6 log keys and checkpoints they signed.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { CairnError, VerificationError, type VerificationCode } from '../src/core/errors.js';
import {
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  ecdsaKeyId,
  ecdsaNoteVerifier,
  ed25519KeyId,
  formatNote,
  noteFromBytes,
  openNote,
  parseNote,
  signNote,
  type NoteSigner,
  type NoteVerifier,
} from '../src/core/note.js';

// ---- Go sumdb/note vectors (note_test.go) ----------------------------------
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const PETER_NOTE = TEXT + '\n' + PETER_SIG;

// ---- transparency-dev/formats vectors (note_verifier_test.go) ----------------
const REKOR_KEY_MATERIAL = 'AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=';
const REKOR_NOTE =
  'Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n— rekor.sigstore.dev wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgqq20uDLet7MCoTURUCRdxwWBHHufk=\n';
const PIXEL_KEY_MATERIAL = 'AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=';
const PIXEL_NOTE =
  'DEFAULT\n10\nbsWRucJU5xJPHb5eBdOm6+DM+VelCZBuvtI3sHERJ9Y=\n\n— pixel6_transparency_log kcFuMDBFAiEAhqMAP8P6qf6QxtUJhzMhbN+MbZ9dwfUHzGQJmffJHtoCIGD0cNe47dHWBoPwYdgBCepB06/+g5O1FmYjXl06owL4\n';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** Splits at the first `n - 1` '+' like Go's chop: the base64 key may itself contain '+'. */
function splitPlus(s: string, n: number): string[] {
  const parts = s.split('+');
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join('+')];
}

/** An Ed25519 verifier from a Go verifier key `<name>+<hash>+<base64(0x01 || pub)>`. */
function ed25519Verifier(vkey: string): NoteVerifier {
  const [name, , keyB64] = splitPlus(vkey, 3) as [string, string, string];
  const raw = b64(keyB64);
  if (raw[0] !== 0x01 || raw.length !== 33) throw new Error('not an Ed25519 verifier key');
  const pub = raw.subarray(1);
  return {
    name,
    keyId: ed25519KeyId(name, pub),
    verify: (msg, sig) => {
      try {
        return ed25519.verify(sig, msg, pub);
      } catch {
        return false;
      }
    },
  };
}

/** An Ed25519 signer from a Go signer key `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`. */
function ed25519SignerFromGoKey(skey: string): NoteSigner {
  const [, , name, , keyB64] = splitPlus(skey, 5) as [string, string, string, string, string];
  const seed = b64(keyB64).subarray(1);
  return { name, keyId: ed25519KeyId(name, ed25519.getPublicKey(seed)), sign: (msg) => ed25519.sign(msg, seed) };
}

/** A fresh P-256 key: node:crypto signer plus SPKI DER for the verifier. */
function p256(name: string): { signer: NoteSigner; spki: Uint8Array; privateKey: KeyObject; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const signer: NoteSigner = {
    name,
    keyId: ecdsaKeyId(spki),
    sign: (msg) => new Uint8Array(nodeSign('sha256', msg, { key: privateKey, dsaEncoding: 'der' })),
  };
  return { signer, spki, privateKey, publicKey };
}

/** The subtest type tap passes to callbacks. */
type T = Parameters<Parameters<typeof t.test>[0]>[0];

function rejects(t: T, fn: () => unknown, code: VerificationCode, message?: RegExp): void {
  try {
    fn();
    t.fail(`expected ${code}, but it was accepted`);
  } catch (e) {
    t.ok(e instanceof VerificationError, `throws VerificationError (got ${String(e)})`);
    t.equal((e as VerificationError).code, code, `code ${code}: ${(e as Error).message}`);
    if (message) t.match((e as Error).message, message);
  }
}

function misuse(t: T, fn: () => unknown, field?: RegExp): void {
  try {
    fn();
    t.fail('expected INVALID_ARGUMENT, but it was accepted');
  } catch (e) {
    t.ok(e instanceof CairnError, `throws CairnError (got ${String(e)})`);
    t.equal((e as CairnError).code, 'INVALID_ARGUMENT', (e as Error).message);
    if (field) t.match((e as CairnError).field, field);
  }
}


const peter = ed25519Verifier(PETER_VKEY);
const enoch = ed25519Verifier(ENOCH_VKEY);

t.test('known answers: Go sumdb/note Ed25519 (type 0x01)', async (t) => {
  t.test('key ID = SHA-256(name || 0x0A || 0x01 || pubkey)[:4]', async (t) => {
    t.equal(peter.keyId, 0xc74f20a3, 'PeterNeumann+c74f20a3');
    t.equal(enoch.keyId, 0xaf0cfe78, 'EnochRoot+af0cfe78');
  });

  t.test("signNote reproduces Go's TestSign output byte for byte", async (t) => {
    const signer = ed25519SignerFromGoKey(PETER_SKEY);
    t.equal(signer.keyId, 0xc74f20a3);
    t.equal(signNote(TEXT, [signer]), PETER_NOTE);
  });

  t.test('openNote verifies the PeterNeumann note and returns its text', async (t) => {
    const opened = openNote(PETER_NOTE, [peter]);
    t.equal(opened.text, TEXT, 'text includes its final newline, not the blank line');
    t.same(opened.verifiedBy, ['PeterNeumann']);
    t.same(opened.verifiedKeys, [{ name: 'PeterNeumann', keyId: 0xc74f20a3 }]);
  });

  t.test('a doubly signed note opens with either key or both', async (t) => {
    const note = TEXT + '\n' + PETER_SIG + ENOCH_SIG;
    t.same(openNote(note, [peter]).verifiedBy, ['PeterNeumann']);
    t.same(openNote(note, [enoch]).verifiedBy, ['EnochRoot']);
    t.same(openNote(note, [enoch, peter]).verifiedBy, ['PeterNeumann', 'EnochRoot'], 'in note order');
  });

  t.test('parseNote decodes the lines; formatNote spells them back identically', async (t) => {
    const note = TEXT + '\n' + PETER_SIG + ENOCH_SIG;
    const parsed = parseNote(note);
    t.equal(parsed.text, TEXT);
    t.same(
      parsed.signatures.map((s) => [s.name, s.keyId, s.signature.length]),
      [
        ['PeterNeumann', 0xc74f20a3, 64],
        ['EnochRoot', 0xaf0cfe78, 64],
      ],
    );
    t.equal(formatNote(parsed), note);
  });
});

t.test('known answers: ECDSA P-256 (type 0x02), transparency-dev/formats', async (t) => {
  const rekorDer = b64(REKOR_KEY_MATERIAL).subarray(1);
  const pixelDer = b64(PIXEL_KEY_MATERIAL).subarray(1);
  t.equal(b64(REKOR_KEY_MATERIAL)[0], 0x02, 'key material starts with the type byte 0x02');

  t.test('key ID is SHA-256 of the DER SPKI only (signed-note, type 0x02)', async (t) => {
    t.equal(ecdsaKeyId(rekorDer), 0xc0d23d6a, 'rekor.sigstore.dev+c0d23d6a');
    t.equal(ecdsaKeyId(pixelDer), 0x91c16e30, 'pixel6_transparency_log+91c16e30');
    const rekor = ecdsaNoteVerifier('rekor.sigstore.dev', rekorDer);
    t.equal(rekor.keyId, 0xc0d23d6a, 'the verifier carries the same key ID');
  });

  t.test('the Rekor and Pixel checkpoints verify', async (t) => {
    const rekor = openNote(REKOR_NOTE, [ecdsaNoteVerifier('rekor.sigstore.dev', rekorDer)]);
    t.equal(rekor.text, 'Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n');
    t.same(rekor.verifiedBy, ['rekor.sigstore.dev']);
    const pixel = openNote(PIXEL_NOTE, [ecdsaNoteVerifier('pixel6_transparency_log', pixelDer)]);
    t.same(pixel.verifiedBy, ['pixel6_transparency_log']);
  });

  t.test('a verifier under another name does not know the key', async (t) => {
    rejects(t, () => openNote(REKOR_NOTE, [ecdsaNoteVerifier('bananas.sigstore.dev', rekorDer)]), 'NOTE_UNSIGNED');
  });

  t.test('a corrupted Rekor signature is rejected', async (t) => {
    const bad = REKOR_NOTE.replace('wNI9ajBEAiAR', 'wNI9ajBEAiAS');
    rejects(t, () => openNote(bad, [ecdsaNoteVerifier('rekor.sigstore.dev', rekorDer)]), 'NOTE_SIGNATURE_INVALID');
  });
});

t.test('ECDSA P-256: sign with node:crypto, open with ecdsaNoteVerifier', async (t) => {
  const { signer, spki } = p256('cairn.example/log');
  t.equal(
    signer.keyId,
    createHash('sha256').update(spki).digest().readUInt32BE(0),
    'key ID = first 4 bytes of SHA-256(DER SPKI), big-endian',
  );
  const text = 'cairn.example/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n';
  const note = signNote(text, [signer]);
  const opened = openNote(note, [ecdsaNoteVerifier('cairn.example/log', spki)]);
  t.equal(opened.text, text);
  t.same(opened.verifiedBy, ['cairn.example/log']);

  t.test('ecdsaNoteVerifier refuses keys that are not P-256 SPKI', async (t) => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'der' });
    misuse(t, () => ecdsaNoteVerifier('x', new Uint8Array(p384)), /spkiDer/);
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    misuse(t, () => ecdsaNoteVerifier('x', new Uint8Array(ed)), /spkiDer/);
    misuse(t, () => ecdsaNoteVerifier('x', new Uint8Array([0x30, 0x00])), /spkiDer/);
    misuse(t, () => ecdsaNoteVerifier('bad name', spki), /name/);
  });
});

t.test('OpenSSL interop (ECDSA P-256, SHA-256, DER)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-note-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { signer, spki, privateKey, publicKey } = p256('interop.example/log');
  writeFileSync(join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'priv.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const text = 'interop.example/log\n42\n' + Buffer.alloc(32, 7).toString('base64') + '\nan extension — with UTF-8\n';
  writeFileSync(join(dir, 'text'), text);

  t.test('openssl verifies our note signature over the note text', async (t) => {
    const sig = parseNote(signNote(text, [signer])).signatures[0]!;
    writeFileSync(join(dir, 'sig.der'), sig.signature);
    const r = spawnSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig.der'), join(dir, 'text')], {
      encoding: 'utf8',
    });
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout.trim(), 'Verified OK');
  });

  t.test('we verify a signature made by openssl', async (t) => {
    const r = spawnSync('openssl', ['dgst', '-sha256', '-sign', join(dir, 'priv.pem'), '-out', join(dir, 'ossl.der'), join(dir, 'text')], {
      encoding: 'utf8',
    });
    t.equal(r.status, 0, r.stderr);
    const signature = new Uint8Array(readFileSync(join(dir, 'ossl.der')));
    const note = formatNote({ text, signatures: [{ name: 'interop.example/log', keyId: ecdsaKeyId(spki), signature }] });
    t.same(openNote(note, [ecdsaNoteVerifier('interop.example/log', spki)]).verifiedBy, ['interop.example/log']);
  });
});

t.test('Format: what a signed note looks like (signed-note "Format")', async (t) => {
  t.test('the text may contain empty lines; the LAST empty line separates the signatures', async (t) => {
    const { signer, spki } = p256('k');
    const v = ecdsaNoteVerifier('k', spki);
    for (const text of ['a\n\nb\n', 'a\n\n', '\n', 'line\n\n\n\nend\n', '— looks like a signature line\n']) {
      const note = signNote(text, [signer]);
      t.equal(openNote(note, [v]).text, text, JSON.stringify(text));
      t.equal(formatNote(parseNote(note)), note, 'round trip');
    }
  });

  t.test('missing blank line before the signatures', async (t) => {
    rejects(t, () => parseNote(TEXT + PETER_SIG), 'NOTE_MALFORMED', /blank line/);
    rejects(t, () => parseNote(TEXT), 'NOTE_MALFORMED', /blank line/);
  });

  t.test('no signature lines', async (t) => {
    rejects(t, () => parseNote(TEXT + '\n'), 'NOTE_MALFORMED', /no signature lines/);
  });

  t.test('signature block must end in a newline', async (t) => {
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.slice(0, -1)), 'NOTE_MALFORMED');
  });

  t.test('every line after the blank line must be a signature line', async (t) => {
    rejects(t, () => openNote(PETER_NOTE + 'Unexpected line.\n', [peter]), 'NOTE_MALFORMED', /em dash/);
  });

  t.test('signature lines start with an em dash (U+2014) and a space', async (t) => {
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.replace('—', '-')), 'NOTE_MALFORMED', /em dash/);
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.replace('—', '\u2013')), 'NOTE_MALFORMED', /em dash/);
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.replace('— ', '—')), 'NOTE_MALFORMED', /em dash/);
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.replace('— ', '—\u00a0')), 'NOTE_MALFORMED');
  });

  t.test('no ASCII control characters other than newline', async (t) => {
    rejects(t, () => parseNote('\x01' + PETER_NOTE), 'NOTE_MALFORMED', /control character U\+0001/);
    rejects(t, () => parseNote(PETER_NOTE.replace('problem,\n', 'problem,\r\n')), 'NOTE_MALFORMED', /U\+000d/);
    rejects(t, () => parseNote(PETER_NOTE.replace('If you', 'If\tyou')), 'NOTE_MALFORMED', /U\+0009/);
    rejects(t, () => parseNote(PETER_NOTE.replace('If you', 'If\0you')), 'NOTE_MALFORMED', /U\+0000/);
    rejects(t, () => parseNote(PETER_NOTE.replace('x08go', 'x08go\x0b')), 'NOTE_MALFORMED', /control/);
  });

  t.test('valid UTF-8 only', async (t) => {
    const bytes = new Uint8Array([0xff, ...Buffer.from(PETER_NOTE)]);
    rejects(t, () => noteFromBytes(bytes), 'NOTE_MALFORMED', /UTF-8/);
    rejects(t, () => noteFromBytes(new Uint8Array([...Buffer.from(TEXT), 0xe2, 0x80, 0x0a])), 'NOTE_MALFORMED', /UTF-8/);
    rejects(t, () => parseNote('\ud800' + PETER_NOTE), 'NOTE_MALFORMED', /surrogate/);
    rejects(t, () => parseNote(PETER_NOTE.replace('If', 'If\udc00')), 'NOTE_MALFORMED', /surrogate/);
    t.equal(noteFromBytes(new Uint8Array(Buffer.from(PETER_NOTE))), PETER_NOTE, 'valid bytes decode unchanged');
    const bom = noteFromBytes(new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(PETER_NOTE)]));
    t.equal(bom, '\ufeff' + PETER_NOTE, 'a leading BOM is kept, not silently dropped');
    rejects(t, () => openNote(bom, [peter]), 'NOTE_SIGNATURE_INVALID', /PeterNeumann/);
  });

  t.test('signatures are canonical, padded base64', async (t) => {
    rejects(t, () => parseNote(TEXT + '\n— PeterNeumann !!!!\n'), 'NOTE_MALFORMED', /base64/);
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.replace('AM=\n', 'AM\n')), 'NOTE_MALFORMED', /base64/);
    // Same bytes, second spelling (non-zero trailing bits). Go's lenient
    // decoder would accept and verify it; one note, one spelling here.
    rejects(t, () => openNote(TEXT + '\n' + PETER_SIG.replace('AM=\n', 'AN=\n'), [peter]), 'NOTE_MALFORMED', /base64/);
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.replace('x08go', 'x08 go')), 'NOTE_MALFORMED', /base64/);
  });

  t.test('signatures are at least 5 bytes: 4-byte key ID and a signature', async (t) => {
    rejects(t, () => parseNote(TEXT + '\n— PeterNeumann x08gow==\n'), 'NOTE_MALFORMED', /4 bytes/);
    rejects(t, () => parseNote(TEXT + '\n— PeterNeumann \n'), 'NOTE_MALFORMED', /0 bytes/);
    rejects(t, () => parseNote(TEXT + '\n— PeterNeumann\n'), 'NOTE_MALFORMED', /no space/);
    t.equal(parseNote(TEXT + '\n— PeterNeumann x08go/8=\n').signatures[0]!.signature.length, 1, '5 bytes parse');
  });

  t.test("key names are non-empty, without Unicode spaces or '+'", async (t) => {
    const sig = PETER_SIG.slice('— PeterNeumann '.length);
    rejects(t, () => parseNote(`${TEXT}\n— Peter+Neumann ${sig}`), 'NOTE_MALFORMED', /'\+'/);
    rejects(t, () => parseNote(`${TEXT}\n— Peter Neumann ${sig}`), 'NOTE_MALFORMED', /base64/);
    for (const space of ['\u00a0', '\u0085', '\u2003', '\u3000', '\u2028']) {
      rejects(t, () => parseNote(`${TEXT}\n— Peter${space}Neumann ${sig}`), 'NOTE_MALFORMED', /Unicode space/);
    }
    rejects(t, () => parseNote(`${TEXT}\n—  ${sig}`), 'NOTE_MALFORMED', /empty/);
    t.equal(parseNote(`${TEXT}\n— Пётр/Ноймaн ${sig}`).signatures[0]!.name, 'Пётр/Ноймaн', 'non-ASCII names are fine');
  });
});

t.test('Signatures: which keys count (signed-note "Signatures")', async (t) => {
  t.test('a note signed only by unknown keys is rejected', async (t) => {
    rejects(t, () => openNote(PETER_NOTE, [enoch]), 'NOTE_UNSIGNED');
    rejects(t, () => openNote(PETER_NOTE, []), 'NOTE_UNSIGNED');
  });

  t.test('a known key with a bad signature rejects the whole note', async (t) => {
    // Go's TestOpen "Invalid signature": "ABCD" inserted at byte 60 of the
    // line, i.e. 43 characters into the base64 (the em dash is 3 UTF-8 bytes).
    const at = '— PeterNeumann '.length + 43;
    const bad = PETER_SIG.slice(0, at) + 'ABCD' + PETER_SIG.slice(at);
    rejects(t, () => openNote(TEXT + '\n' + bad, [peter]), 'NOTE_SIGNATURE_INVALID', /PeterNeumann\+c74f20a3/);
    rejects(t, () => openNote(TEXT + '\n' + ENOCH_SIG + bad, [peter, enoch]), 'NOTE_SIGNATURE_INVALID', /PeterNeumann/);
    rejects(t, () => openNote(PETER_NOTE.replace('problem,', 'problem;'), [peter]), 'NOTE_SIGNATURE_INVALID');
  });

  t.test('every signature from a known key is verified, repeated lines too', async (t) => {
    // Go's note.Open checks only the first signature per key; the spec says
    // verifiers MUST verify signatures from known keys.
    const at = '— PeterNeumann '.length + 43;
    const bad = PETER_SIG.slice(0, at) + 'ABCD' + PETER_SIG.slice(at);
    rejects(t, () => openNote(TEXT + '\n' + PETER_SIG + bad, [peter]), 'NOTE_SIGNATURE_INVALID');
    t.same(openNote(TEXT + '\n' + PETER_SIG + PETER_SIG, [peter]).verifiedBy, ['PeterNeumann'], 'identical repeats are fine');
  });

  t.test('unknown keys are ignored when a known one verifies, even sharing a name or an ID', async (t) => {
    const sameNameOtherId = '— PeterNeumann AAAAAAAAAAAAAAAA\n';
    const sameIdOtherName = PETER_SIG.replace('PeterNeumann', 'PeterNeuman');
    const garbage = '— witness.example/w1 q83vEgABAgME\n';
    const note = TEXT + '\n' + ENOCH_SIG + sameNameOtherId + sameIdOtherName + garbage + PETER_SIG;
    const opened = openNote(note, [peter]);
    t.equal(opened.text, TEXT);
    t.same(opened.verifiedBy, ['PeterNeumann']);
  });

  t.test('duplicate (name, keyId) among verifiers is a configuration error', async (t) => {
    misuse(t, () => openNote(PETER_NOTE, [peter, enoch, peter]), /verifiers\[2\]/);
    misuse(t, () => openNote(PETER_NOTE, [{ ...peter, keyId: -1 }]), /keyId/);
    misuse(t, () => openNote(PETER_NOTE, [{ ...peter, name: 'a+b' }]), /name/);
  });
});

t.test('Bounds: size and signature count', async (t) => {
  const { signer, spki } = p256('big');
  const v = ecdsaNoteVerifier('big', spki);

  t.test(`at most ${MAX_NOTE_SIGNATURES} signature lines`, async (t) => {
    rejects(t, () => parseNote(TEXT + '\n' + PETER_SIG.repeat(MAX_NOTE_SIGNATURES + 1)), 'NOTE_MALFORMED', /more than 100/);
    rejects(t, () => openNote(TEXT + '\n' + PETER_SIG.repeat(MAX_NOTE_SIGNATURES + 1), []), 'NOTE_MALFORMED');
    t.same(openNote(TEXT + '\n' + PETER_SIG.repeat(MAX_NOTE_SIGNATURES), [peter]).verifiedBy, ['PeterNeumann']);
  });

  t.test('at least 16 distinct signatures are accepted (the spec minimum)', async (t) => {
    const keys = Array.from({ length: 16 }, (_, i) => p256(`witness.example/${i}`));
    const note = signNote(TEXT, keys.map((k) => k.signer));
    const opened = openNote(
      note,
      keys.map((k) => ecdsaNoteVerifier(k.signer.name, k.spki)),
    );
    t.equal(opened.verifiedBy.length, 16);
  });

  t.test(`at most ${MAX_NOTE_BYTES} UTF-8 bytes`, async (t) => {
    // Fill the text so the whole note is exactly at the limit. ECDSA DER
    // signatures vary in length by a byte or two, so re-sign until it fits.
    const sigLineBytes = Buffer.byteLength(signNote('x\n', [signer]).slice('x\n\n'.length));
    const text = 'a'.repeat(MAX_NOTE_BYTES - sigLineBytes - 2) + '\n';
    let exact: string | undefined;
    for (let tries = 0; tries < 50 && exact === undefined; tries++) {
      try {
        const note = signNote(text, [signer]);
        if (Buffer.byteLength(note) === MAX_NOTE_BYTES) exact = note;
      } catch {
        // signature one byte longer than the probe's: too big, try again
      }
    }
    t.ok(exact, 'built a note of exactly the limit');
    t.equal(openNote(exact!, [v]).verifiedBy[0], 'big', 'a note at the limit opens');
    rejects(t, () => parseNote('a' + exact!), 'NOTE_MALFORMED', /1048576/);
    rejects(t, () => noteFromBytes(new Uint8Array(MAX_NOTE_BYTES + 1)), 'NOTE_MALFORMED', /1048576/);
    // Counted in UTF-8 bytes, not UTF-16 code units: 600k 'é' is 1.2 MB.
    const wide = 'é'.repeat(600_000) + '\n\n' + PETER_SIG;
    t.ok(wide.length < MAX_NOTE_BYTES);
    rejects(t, () => parseNote(wide), 'NOTE_MALFORMED', /1048576/);
    misuse(t, () => signNote('é'.repeat(600_000) + '\n', [signer]), /text/);
  });
});

t.test('Misuse: signing and formatting refuse what parsing would reject', async (t) => {
  const { signer } = p256('ok');
  misuse(t, () => signNote('no newline', [signer]), /^text$/);
  misuse(t, () => signNote('tab\there\n', [signer]), /^text$/);
  misuse(t, () => signNote(TEXT, []), /signers/);
  misuse(t, () => signNote(TEXT, [{ ...signer, name: 'a+b' }]), /name/);
  misuse(t, () => signNote(TEXT, [{ ...signer, name: 'a b' }]), /name/);
  misuse(t, () => signNote(TEXT, [{ ...signer, keyId: 2 ** 32 }]), /keyId/);
  misuse(t, () => signNote(TEXT, [signer, signer]), /signers\[1\]/);
  misuse(t, () => signNote(TEXT, [{ ...signer, sign: () => new Uint8Array(0) }]), /signers\[0\]/);
  misuse(t, () => formatNote({ text: TEXT, signatures: [] }), /signatures/);
  misuse(t, () => formatNote({ text: TEXT, signatures: [{ name: '', keyId: 1, signature: new Uint8Array(1) }] }), /name/);
  misuse(t, () => ed25519KeyId('PeterNeumann', new Uint8Array(31)), /publicKey/);
  misuse(t, () => ecdsaKeyId(new Uint8Array(0)), /spkiDer/);
});
