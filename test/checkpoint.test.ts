/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint), read like the spec.
 *
 * Known answers, copied byte for byte from public sources:
 *  - the example checkpoint in C2SP tlog-checkpoint.md;
 *  - Sigstore Rekor and Pixel 6 checkpoints signed with ECDSA P-256 keys, from
 *    transparency-dev/formats note/note_verifier_test.go.
 */
import t from 'tap';
import fc from 'fast-check';
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { CairnError, VerificationError, type VerificationCode } from '../src/core/errors.js';
import { ecdsaKeyId, ecdsaNoteVerifier, noteFromBytes, openNote, parseNote, signNote, type NoteSigner } from '../src/core/note.js';
import { formatCheckpoint, parseCheckpoint, signCheckpoint, verifyCheckpoint, type Checkpoint } from '../src/core/checkpoint.js';

// C2SP tlog-checkpoint.md, the example at the top.
const C2SP_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const C2SP_NOTE =
  C2SP_TEXT + '\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';

// transparency-dev/formats note/note_verifier_test.go.
const REKOR_KEY_MATERIAL = 'AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=';
const REKOR_NOTE =
  'Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n— rekor.sigstore.dev wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgqq20uDLet7MCoTURUCRdxwWBHHufk=\n';
const PIXEL_KEY_MATERIAL = 'AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0aiWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=';
const PIXEL_NOTE =
  'DEFAULT\n10\nbsWRucJU5xJPHb5eBdOm6+DM+VelCZBuvtI3sHERJ9Y=\n\n— pixel6_transparency_log kcFuMDBFAiEAhqMAP8P6qf6QxtUJhzMhbN+MbZ9dwfUHzGQJmffJHtoCIGD0cNe47dHWBoPwYdgBCepB06/+g5O1FmYjXl06owL4\n';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const ROOT = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='; // bytes 0..31

function p256(name: string): { signer: NoteSigner; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  return {
    spki,
    signer: {
      name,
      keyId: ecdsaKeyId(spki),
      sign: (msg) => new Uint8Array(nodeSign('sha256', msg, { key: privateKey, dsaEncoding: 'der' })),
    },
  };
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

function misuse(t: T, fn: () => unknown, field: RegExp): void {
  try {
    fn();
    t.fail('expected INVALID_ARGUMENT, but it was accepted');
  } catch (e) {
    t.ok(e instanceof CairnError, `throws CairnError (got ${String(e)})`);
    t.equal((e as CairnError).code, 'INVALID_ARGUMENT', (e as Error).message);
    t.match((e as CairnError).field, field);
  }
}

const LOG = 'cairn.example/audit';
const log = p256(LOG);
const logVerifier = ecdsaNoteVerifier(LOG, log.spki);
const cp: Checkpoint = { origin: LOG, size: 1234, rootHash: b64(ROOT), extensions: [] };

t.test('known answers', async (t) => {
  t.test('the C2SP example parses, and formats back to the same bytes', async (t) => {
    const parsed = parseCheckpoint(C2SP_TEXT);
    t.equal(parsed.origin, 'example.com/behind-the-sofa');
    t.equal(parsed.size, 20852163);
    t.equal(Buffer.from(parsed.rootHash).toString('base64'), 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    t.same(parsed.extensions, []);
    t.equal(formatCheckpoint(parsed), C2SP_TEXT);
  });

  t.test("the C2SP example's signature line parses, but its key is unknown to us", async (t) => {
    t.equal(parseNote(C2SP_NOTE).text, C2SP_TEXT);
    rejects(t, () => verifyCheckpoint(C2SP_NOTE, logVerifier), 'NOTE_UNSIGNED');
  });

  t.test('Rekor: ECDSA-signed checkpoint whose origin differs from the key name', async (t) => {
    const rekor = ecdsaNoteVerifier('rekor.sigstore.dev', b64(REKOR_KEY_MATERIAL).subarray(1));
    const got = verifyCheckpoint(REKOR_NOTE, rekor, 'Rekor');
    t.equal(got.origin, 'Rekor');
    t.equal(got.size, 798034);
    t.equal(Buffer.from(got.rootHash).toString('base64'), 'f+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=');
    // Without expectedOrigin the origin must equal the key name
    // (tlog-checkpoint "Signatures": it SHOULD), so Rekor needs it spelled out.
    rejects(t, () => verifyCheckpoint(REKOR_NOTE, rekor), 'CHECKPOINT_ORIGIN_MISMATCH', /rekor\.sigstore\.dev/);
  });

  t.test('Pixel 6 transparency log checkpoint', async (t) => {
    const pixel = ecdsaNoteVerifier('pixel6_transparency_log', b64(PIXEL_KEY_MATERIAL).subarray(1));
    const got = verifyCheckpoint(PIXEL_NOTE, pixel, 'DEFAULT');
    t.equal(got.size, 10);
    t.equal(got.origin, 'DEFAULT');
  });
});

t.test('sign and verify a checkpoint (ECDSA P-256)', async (t) => {
  const signed = signCheckpoint(cp, log.signer);
  t.equal(signed.slice(0, signed.indexOf('\n\n') + 1), `${LOG}\n1234\n${ROOT}\n`, 'the note text is the checkpoint body');
  const got = verifyCheckpoint(signed, logVerifier);
  t.same(got, cp);
  t.same(verifyCheckpoint(signed, logVerifier, LOG), cp, 'explicit expected origin');

  t.test('extension lines are carried and signed', async (t) => {
    const withExt = { ...cp, extensions: ['ext one', '— not a signature', 'ü'] };
    t.same(verifyCheckpoint(signCheckpoint(withExt, log.signer), logVerifier), withExt);
  });

  t.test('witness cosignatures (unknown keys) are ignored', async (t) => {
    const w = p256('witness.example/w1');
    const cosigned = signNote(formatCheckpoint(cp), [log.signer, w.signer]);
    t.same(verifyCheckpoint(cosigned, logVerifier), cp);
  });

  t.test('a checkpoint signed by another key is rejected', async (t) => {
    const impostor = p256(LOG);
    rejects(t, () => verifyCheckpoint(signCheckpoint(cp, impostor.signer), logVerifier), 'NOTE_UNSIGNED');
  });

  t.test('the text is not interpreted before its signature verifies', async (t) => {
    // Malformed body and a forged signature: the signature failure is reported.
    const forged = signed.replace('1234\n', '01234\n');
    rejects(t, () => verifyCheckpoint(forged, logVerifier), 'NOTE_SIGNATURE_INVALID');
  });
});

t.test('origin (tlog-checkpoint "Note text" 1)', async (t) => {
  t.test('a checkpoint for another log is rejected', async (t) => {
    const other = signCheckpoint({ ...cp, origin: 'cairn.example/other' }, log.signer);
    try {
      verifyCheckpoint(other, logVerifier, LOG);
      t.fail('accepted');
    } catch (e) {
      t.equal((e as VerificationError).code, 'CHECKPOINT_ORIGIN_MISMATCH');
      t.same((e as VerificationError).evidence, { expected: LOG, actual: 'cairn.example/other', size: 1234 });
    }
    rejects(t, () => verifyCheckpoint(other, logVerifier), 'CHECKPOINT_ORIGIN_MISMATCH');
    t.equal(verifyCheckpoint(other, logVerifier, 'cairn.example/other').origin, 'cairn.example/other');
  });

  t.test('the origin must be non-empty', async (t) => {
    rejects(t, () => parseCheckpoint(`\n1\n${ROOT}\n`), 'CHECKPOINT_MALFORMED', /line 1 is empty/);
  });

  t.test('the origin need not look like a URL (clients MUST NOT assume it)', async (t) => {
    t.equal(parseCheckpoint(`Any origin+at all\n1\n${ROOT}\n`).origin, 'Any origin+at all');
  });
});

t.test('tree size (tlog-checkpoint "Note text" 2)', async (t) => {
  const withSize = (s: string): string => `${LOG}\n${s}\n${ROOT}\n`;
  t.equal(parseCheckpoint(withSize('0')).size, 0, 'the empty tree is "0"');
  t.equal(parseCheckpoint(withSize('9007199254740991')).size, Number.MAX_SAFE_INTEGER, '2^53 - 1 is the largest');

  t.test('no leading zeros', async (t) => {
    rejects(t, () => parseCheckpoint(withSize('01')), 'CHECKPOINT_MALFORMED', /leading zeros/);
    rejects(t, () => parseCheckpoint(withSize('00')), 'CHECKPOINT_MALFORMED', /leading zeros/);
  });
  t.test('no sign', async (t) => {
    rejects(t, () => parseCheckpoint(withSize('-1')), 'CHECKPOINT_MALFORMED');
    rejects(t, () => parseCheckpoint(withSize('+1')), 'CHECKPOINT_MALFORMED');
    rejects(t, () => parseCheckpoint(withSize('-0')), 'CHECKPOINT_MALFORMED');
  });
  t.test('ASCII decimal only', async (t) => {
    for (const s of ['1e3', '1.0', ' 1', '1 ', '0x10', '١٢', 'Infinity', 'NaN', '']) {
      rejects(t, () => parseCheckpoint(withSize(s)), 'CHECKPOINT_MALFORMED', undefined);
    }
  });
  t.test('sizes above 2^53 - 1 are refused, not rounded', async (t) => {
    rejects(t, () => parseCheckpoint(withSize('9007199254740992')), 'CHECKPOINT_MALFORMED', /2\^53/);
    rejects(t, () => parseCheckpoint(withSize('9007199254740993')), 'CHECKPOINT_MALFORMED', /2\^53/);
    rejects(t, () => parseCheckpoint(withSize('18446744073709551615')), 'CHECKPOINT_MALFORMED', /2\^53/);
    rejects(t, () => parseCheckpoint(withSize('9'.repeat(10_000))), 'CHECKPOINT_MALFORMED', /2\^53/);
  });
});

t.test('root hash (tlog-checkpoint "Note text" 3)', async (t) => {
  const withRoot = (r: string): string => `${LOG}\n1\n${r}\n`;
  rejects(t, () => parseCheckpoint(withRoot(Buffer.alloc(31).toString('base64'))), 'CHECKPOINT_MALFORMED', /32 bytes/);
  rejects(t, () => parseCheckpoint(withRoot(Buffer.alloc(33).toString('base64'))), 'CHECKPOINT_MALFORMED', /32 bytes/);
  rejects(t, () => parseCheckpoint(withRoot(Buffer.alloc(48).toString('base64'))), 'CHECKPOINT_MALFORMED', /32 bytes/);
  rejects(t, () => parseCheckpoint(withRoot(ROOT.slice(0, -1))), 'CHECKPOINT_MALFORMED', /base64/);
  rejects(t, () => parseCheckpoint(withRoot(ROOT.replace('8=', '9='))), 'CHECKPOINT_MALFORMED', /canonical base64/);
  rejects(t, () => parseCheckpoint(withRoot(ROOT.replace(/\+|\//, '-').replace('A', '_'))), 'CHECKPOINT_MALFORMED', /base64/);
  rejects(t, () => parseCheckpoint(withRoot(Buffer.alloc(32).toString('hex'))), 'CHECKPOINT_MALFORMED', /base64/);
});

t.test('lines (tlog-checkpoint "Note text")', async (t) => {
  t.test('at least three lines', async (t) => {
    rejects(t, () => parseCheckpoint(`${LOG}\n1\n`), 'CHECKPOINT_MALFORMED', /at least 3 lines/);
    rejects(t, () => parseCheckpoint(`${LOG}\n`), 'CHECKPOINT_MALFORMED', /at least 3 lines/);
    rejects(t, () => parseCheckpoint(''), 'CHECKPOINT_MALFORMED', /newline/);
  });
  t.test('every line ends in a newline', async (t) => {
    rejects(t, () => parseCheckpoint(`${LOG}\n1\n${ROOT}`), 'CHECKPOINT_MALFORMED', /newline/);
  });
  t.test('extension lines MUST be non-empty', async (t) => {
    rejects(t, () => parseCheckpoint(`${LOG}\n1\n${ROOT}\n\n`), 'CHECKPOINT_MALFORMED', /line 4 is empty/);
    rejects(t, () => parseCheckpoint(`${LOG}\n1\n${ROOT}\next\n\next\n`), 'CHECKPOINT_MALFORMED', /line 5 is empty/);
    // Also when signed: the note's LAST blank line separates signatures, so
    // an empty line inside the text survives to the checkpoint parser.
    const signed = signNote(`${LOG}\n1\n${ROOT}\n\next\n`, [log.signer]);
    rejects(t, () => verifyCheckpoint(signed, logVerifier), 'CHECKPOINT_MALFORMED', /line 4 is empty/);
  });
  t.test('no control characters or lone surrogates', async (t) => {
    rejects(t, () => parseCheckpoint(`${LOG}\n1\n${ROOT}\nex\tt\n`), 'CHECKPOINT_MALFORMED', /control/);
    rejects(t, () => parseCheckpoint(`${LOG}\r\n1\n${ROOT}\n`), 'CHECKPOINT_MALFORMED', /control/);
    rejects(t, () => parseCheckpoint(`${LOG}\ud800\n1\n${ROOT}\n`), 'CHECKPOINT_MALFORMED', /surrogate/);
  });
});

t.test('formatCheckpoint refuses what parseCheckpoint would reject', async (t) => {
  misuse(t, () => formatCheckpoint({ ...cp, origin: '' }), /origin/);
  misuse(t, () => formatCheckpoint({ ...cp, origin: 'a\nb' }), /origin/);
  misuse(t, () => formatCheckpoint({ ...cp, size: -1 }), /size/);
  misuse(t, () => formatCheckpoint({ ...cp, size: 1.5 }), /size/);
  misuse(t, () => formatCheckpoint({ ...cp, size: 2 ** 53 }), /size/);
  misuse(t, () => formatCheckpoint({ ...cp, size: NaN }), /size/);
  misuse(t, () => formatCheckpoint({ ...cp, rootHash: new Uint8Array(31) }), /rootHash/);
  misuse(t, () => formatCheckpoint({ ...cp, extensions: [''] }), /extensions\[0\]/);
  misuse(t, () => formatCheckpoint({ ...cp, extensions: ['ok', 'two\nlines'] }), /extensions\[1\]/);
  misuse(t, () => formatCheckpoint({ ...cp, extensions: ['\x7f ok', 'bell\x07'] }), /extensions\[1\]/);
});

t.test('property: formatCheckpoint and parseCheckpoint round-trip', async (t) => {
  const line = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((s) => !/[\u0000-\u001f]/.test(s));
  fc.assert(
    fc.property(
      line,
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(line, { maxLength: 4 }),
      (origin, size, rootHash, extensions) => {
        const c = { origin, size, rootHash, extensions };
        const text = formatCheckpoint(c);
        const back = parseCheckpoint(text);
        return formatCheckpoint(back) === text && back.size === size && Buffer.from(back.rootHash).equals(rootHash);
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('1000 random checkpoints round-trip');
});

t.test('property: any single-byte change to a signed checkpoint is rejected', async (t) => {
  const signed = signCheckpoint({ ...cp, extensions: ['ext—ü'] }, log.signer);
  const bytes = new Uint8Array(Buffer.from(signed));
  t.same(verifyCheckpoint(noteFromBytes(bytes), logVerifier), { ...cp, extensions: ['ext—ü'] }, 'the original verifies');

  const accept = (b: Uint8Array): boolean => {
    try {
      verifyCheckpoint(noteFromBytes(b), logVerifier);
      return true;
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      return false;
    }
  };

  // Exhaustive: every position, every one of the 255 other byte values.
  let tried = 0;
  let accepted = 0;
  const codes = new Map<string, number>();
  for (let i = 0; i < bytes.length; i++) {
    for (let v = 0; v < 256; v++) {
      if (v === bytes[i]) continue;
      const m = bytes.slice();
      m[i] = v;
      tried++;
      try {
        verifyCheckpoint(noteFromBytes(m), logVerifier);
        accepted++;
        t.fail(`byte ${i} set to ${v} was accepted`);
      } catch (e) {
        if (!(e instanceof VerificationError)) throw e;
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
  }
  t.equal(accepted, 0, `all ${tried} single-byte changes rejected (${[...codes].map(([c, n]) => `${c}: ${n}`).join(', ')})`);

  // Random: deleting, inserting or duplicating bytes is rejected too.
  fc.assert(
    fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), fc.constantFrom('delete', 'insert'), (i, v, op) => {
      const m =
        op === 'delete'
          ? new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(i + 1)])
          : new Uint8Array([...bytes.subarray(0, i), v, ...bytes.subarray(i)]);
      return !accept(m);
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random single-byte insertions and deletions rejected');
  t.ok(openNote(signed, [logVerifier]), 'sanity: the untouched note still opens');
});
