/**
 * ECDSA encodings: DER <-> P1363 round-trips, strict DER parsing (one
 * encoding per signature), low-S normalisation that every verifier accepts,
 * and SPKI handling. Signatures come from node:crypto and from OpenSSL.
 */
import t from 'tap';
import fc from 'fast-check';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { derToP1363, p1363ToDer, normalizeLowS, isLowS, spkiToRawP256, rawP256ToSpki, pemToDer, derToPem } from '../src/core/ecdsa-der.js';
import { fromHex } from '../src/core/bytes.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
const raw = spkiToRawP256(spki);
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

t.test('DER and P1363 round-trip for node:crypto signatures, and normalised ones verify everywhere', async (t) => {
  let highS = 0;
  await fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (msg) => {
      const der = new Uint8Array(sign('sha256', msg, { key: privateKey, dsaEncoding: 'der' }));
      const p = derToP1363(der);
      if (!isLowS(der)) highS++;
      if (p1363ToDer(p).join() !== der.join()) return false;
      const low = p1363ToDer(normalizeLowS(p));
      return isLowS(low) && verify('sha256', msg, { key: publicKey, dsaEncoding: 'der' }, low) && p256.verify(low, msg, raw, { format: 'der' });
    }),
    { numRuns: 200, seed: 42 },
  );
  t.ok(highS > 20, `node:crypto emitted ${highS}/200 high-S signatures, all normalised`);
});

t.test('low-S normalisation is s -> n - s exactly when s > n/2, for any s below n', async (t) => {
  const toBig = (b: Uint8Array): bigint => b.reduce((x, v) => (x << 8n) | BigInt(v), 0n);
  const to32 = (x: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * (31 - i))) & 0xffn));
  const half = N / 2n;
  // Random s, and s around the edges: 1, n/2, n/2 + 1, n - 1.
  const edges = [1n, half, half + 1n, N - 1n].map((v) => fc.constant(v));
  let flipped = 0;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.oneof(fc.bigInt({ min: 1n, max: N - 1n }), ...edges), (r, s) => {
      const out = normalizeLowS(Uint8Array.from([...r, ...to32(s)]));
      const want = s > half ? N - s : s;
      if (s > half) flipped++;
      return out.subarray(0, 32).join() === r.join() && toBig(out.subarray(32)) === want;
    }),
    { numRuns: 2000, seed: 7 },
  );
  t.ok(flipped > 100, `${flipped} of 2000 cases had s > n/2 and were flipped to n - s`);
});

t.test('an OpenSSL signature normalised to low-S still verifies with openssl', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-der-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(join(dir, 'pub.pem'), derToPem(spki, 'PUBLIC KEY'));
  writeFileSync(join(dir, 'msg'), 'hello cairn');
  for (let i = 0; i < 8; i++) {
    execFileSync('openssl', ['dgst', '-sha256', '-sign', join(dir, 'key.pem'), '-out', join(dir, 'sig'), join(dir, 'msg')]);
    const low = p1363ToDer(normalizeLowS(derToP1363(new Uint8Array(readFileSync(join(dir, 'sig'))))));
    writeFileSync(join(dir, 'low'), low);
    const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'low'), join(dir, 'msg')]).toString();
    t.match(out, /Verified OK/);
  }
});

t.test('strict DER: every malformed or non-minimal encoding is refused', async (t) => {
  const good = new Uint8Array(sign('sha256', Buffer.from('x'), { key: privateKey, dsaEncoding: 'der' }));
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['trailing byte', Uint8Array.from([...good, 0])],
    ['wrong SEQUENCE length', Uint8Array.from([0x30, good[1]! + 1, ...good.subarray(2)])],
    ['not a SEQUENCE', Uint8Array.from([0x31, ...good.subarray(1)])],
    ['negative r', fromHex('3006020180020101')],
    ['zero r', fromHex('3006020100020101')],
    ['non-minimal r', fromHex('300702020001020101')],
    ['r = n', p1363ToDerUnchecked(N, 1n)],
    ['s = n', p1363ToDerUnchecked(1n, N)],
  ];
  for (const [what, der] of cases) t.throws(() => derToP1363(der), { code: 'INVALID_ARGUMENT' }, what);
});

t.test('SPKI and PEM helpers round-trip and reject other keys', async (t) => {
  t.same(rawP256ToSpki(raw), spki);
  t.same(pemToDer(derToPem(spki, 'PUBLIC KEY'), 'PUBLIC KEY'), spki);
  const ed = new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }));
  t.throws(() => spkiToRawP256(ed), { code: 'INVALID_ARGUMENT' });
  t.throws(() => pemToDer('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'PUBLIC KEY'), { code: 'INVALID_ARGUMENT' });
});

function p1363ToDerUnchecked(r: bigint, s: bigint): Uint8Array {
  const enc = (x: bigint): number[] => {
    let h = x.toString(16);
    if (h.length % 2) h = '0' + h;
    const b = [...fromHex(h)];
    if (b[0]! & 0x80) b.unshift(0);
    return [0x02, b.length, ...b];
  };
  const body = [...enc(r), ...enc(s)];
  return Uint8Array.from([0x30, body.length, ...body]);
}
