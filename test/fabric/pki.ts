/**
 * Throw-away PKI for the Gateway test peer: a TLS CA with a server
 * certificate for loopback, and per-organisation MSP CAs issuing the X.509
 * identities Fabric expects (client and peer certificates with a NodeOU in
 * the subject). Keys are P-256, made with node:crypto; node:crypto cannot
 * write certificates, so the `openssl` command (OpenSSL 3, installed by
 * scripts/test-deps.sh) signs them.
 *
 * Also the ECDSA details Fabric insists on: signatures are DER with a low S
 * (fabric `bccsp/utils.IsLowS`), over SHA-256 of the message.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A private key and its certificate, both PEM. */
export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

/** A certificate authority that issues end-entity certificates. */
export interface CertificateAuthority {
  readonly certPem: string;
  readonly cert: X509Certificate;
  /** Issues a leaf certificate for a fresh P-256 key. */
  issue(subject: string, extensions: readonly string[]): Promise<KeyAndCert>;
}

function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('the Fabric test peer needs the openssl command (apt-get install openssl)', { cause: e });
    throw new Error(`openssl ${args[0]} failed: ${err.stderr ?? err.message}`, { cause: e });
  }
}

/**
 * Creates a self-signed CA whose files live in a temporary directory only
 * while a certificate is being signed.
 */
export async function createCertificateAuthority(subject: string): Promise<CertificateAuthority> {
  const keyPem = newKeyPem();
  const dir = await mkdtemp(join(tmpdir(), 'cairn-pki-'));
  let certPem: string;
  try {
    await writeFile(join(dir, 'ca.key'), keyPem, { mode: 0o600 });
    await openssl([
      'req', '-x509', '-new', '-key', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'),
      '-subj', subject, '-days', '3650', '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-addext', 'subjectKeyIdentifier=hash',
    ]);
    certPem = await readFile(join(dir, 'ca.pem'), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const cert = new X509Certificate(certPem);

  async function issue(leafSubject: string, extensions: readonly string[]): Promise<KeyAndCert> {
    const leafKeyPem = newKeyPem();
    const work = await mkdtemp(join(tmpdir(), 'cairn-pki-'));
    try {
      await writeFile(join(work, 'ca.key'), keyPem, { mode: 0o600 });
      await writeFile(join(work, 'ca.pem'), certPem);
      await writeFile(join(work, 'leaf.key'), leafKeyPem, { mode: 0o600 });
      await openssl([
        'req', '-x509', '-new', '-key', join(work, 'leaf.key'), '-out', join(work, 'leaf.pem'),
        '-CA', join(work, 'ca.pem'), '-CAkey', join(work, 'ca.key'),
        '-subj', leafSubject, '-days', '365', '-sha256',
        '-set_serial', `0x${randomBytes(16).toString('hex')}`,
        '-addext', 'basicConstraints=critical,CA:FALSE',
        '-addext', 'authorityKeyIdentifier=keyid',
        ...extensions.flatMap((e) => ['-addext', e]),
      ]);
      const leafCertPem = await readFile(join(work, 'leaf.pem'), 'utf8');
      return { keyPem: leafKeyPem, certPem: leafCertPem };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  return { certPem, cert, issue };
}

/** Extensions of a TLS server certificate valid for loopback. */
export const TLS_SERVER_EXTENSIONS = [
  'keyUsage=critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage=serverAuth',
  'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
] as const;

/** Extensions of a Fabric MSP identity (signing only). */
export const MSP_IDENTITY_EXTENSIONS = ['keyUsage=critical,digitalSignature'] as const;

// ---------------------------------------------------------------- ECDSA, Fabric style

// P-256 group order n, and n / 2 (fabric bccsp/sw: "curveHalfOrders").
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

function readDerSignature(der: Uint8Array): { r: bigint; s: bigint } {
  // SEQUENCE { INTEGER r, INTEGER s }, short-form lengths (P-256 signatures are < 128 bytes).
  if (der[0] !== 0x30 || der[1] !== der.length - 2) throw new Error('signature is not a DER SEQUENCE');
  let at = 2;
  const ints: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[at] !== 0x02) throw new Error('signature component is not a DER INTEGER');
    const len = der[at + 1] ?? 0;
    const body = der.subarray(at + 2, at + 2 + len);
    if (body.length !== len || len === 0) throw new Error('signature INTEGER is truncated');
    ints.push(BigInt(`0x${Buffer.from(body).toString('hex')}`));
    at += 2 + len;
  }
  if (at !== der.length) throw new Error('signature has trailing bytes');
  return { r: ints[0] ?? 0n, s: ints[1] ?? 0n };
}

function encodeDerInteger(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let body = Buffer.from(hex, 'hex');
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.of(0), body]);
  return Buffer.concat([Buffer.of(0x02, body.length), body]);
}

/** Signs SHA-256(`message`) and returns a DER signature with a low S. */
export function signLowS(key: KeyObject, message: Uint8Array): Buffer {
  const der = sign('sha256', message, key);
  const { r, s } = readDerSignature(der);
  if (s <= P256_HALF_N) return der;
  const body = Buffer.concat([encodeDerInteger(r), encodeDerInteger(P256_N - s)]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}

/**
 * Verifies a Fabric signature: ECDSA P-256 over SHA-256(`message`), DER,
 * with a low S. Returns false for any malformed input.
 */
export function verifyFabricSignature(cert: X509Certificate, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (readDerSignature(signature).s > P256_HALF_N) return false;
    return verify('sha256', message, cert.publicKey, signature);
  } catch {
    return false;
  }
}
