/**
 * The node's ECDSA P-256 signing key, on node:crypto: measured 20x faster than
 * @noble/curves for signing on this machine (docs/PERF.md), which the append
 * rate needs. Signatures are emitted as DER with low-S so that @noble, OpenSSL
 * and every verifier accept exactly one signature per (key, message).
 *
 * Key files: PKCS#8 PEM written with mode 0600 (never logged), SPKI PEM beside it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { derToPem, normalizeLowS, p1363ToDer } from '../core/ecdsa-der.js';
import { ecdsaKeyId, type NoteSigner } from '../core/note.js';
import { toHex } from '../core/bytes.js';

export const PRIVATE_KEY_FILE = 'signing-key.pem';
export const PUBLIC_KEY_FILE = 'signing-key.pub.pem';

export class SigningKey {
  readonly #key: KeyObject;
  readonly publicKeySpki: Uint8Array;
  readonly publicKeyPem: string;
  /** C2SP signed-note key ID for signature type 0x02 (ECDSA). */
  readonly keyId: number;

  private constructor(key: KeyObject) {
    this.#key = key;
    const pub = createPublicKey(key);
    this.publicKeySpki = new Uint8Array(pub.export({ format: 'der', type: 'spki' }));
    this.publicKeyPem = derToPem(this.publicKeySpki, 'PUBLIC KEY');
    this.keyId = ecdsaKeyId(this.publicKeySpki);
  }

  static fromPem(pem: string, source = 'key'): SigningKey {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch (cause) {
      // The cause may quote key material: keep it out of the message.
      throw new CairnError('INVALID_ARGUMENT', `${source}: not a PEM private key`, { field: source });
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CairnError('INVALID_ARGUMENT', `${source}: not an ECDSA P-256 key`, { field: source });
    }
    return new SigningKey(key);
  }

  static generate(): SigningKey {
    return new SigningKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  /** PKCS#8 PEM of the private key: only for writing the key file. */
  privateKeyPem(): string {
    return this.#key.export({ format: 'pem', type: 'pkcs8' }) as string;
  }

  /** ECDSA P-256 / SHA-256 over `message`, DER, low-S. */
  sign(message: Uint8Array): Uint8Array {
    const p1363 = nodeSign('sha256', message, { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return p1363ToDer(normalizeLowS(new Uint8Array(p1363.buffer, p1363.byteOffset, p1363.byteLength)));
  }

  /** A C2SP note signer under `name` (the checkpoint key name). */
  noteSigner(name: string): NoteSigner {
    return { name, keyId: this.keyId, sign: (m) => this.sign(m) };
  }

  get keyIdHex(): string {
    return toHex(Uint8Array.of(this.keyId >>> 24, (this.keyId >>> 16) & 255, (this.keyId >>> 8) & 255, this.keyId & 255));
  }

  toString(): string {
    return `SigningKey(${this.keyIdHex})`;
  }
}

/** Writes a key pair into `dir`: private key 0600 (created exclusively), public key 0644. */
export async function writeKeyFiles(dir: string, key: SigningKey): Promise<{ privatePath: string; publicPath: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  // 'wx': never overwrite an existing key; mode applies at creation, before any byte is written.
  const fh = await open(privatePath, 'wx', 0o600).catch((cause) => {
    throw new CairnError('ALREADY_EXISTS', `${privatePath} already exists`, { cause });
  });
  try {
    await fh.writeFile(key.privateKeyPem());
    await fh.sync();
  } finally {
    await fh.close();
  }
  await writeFile(publicPath, key.publicKeyPem, { mode: 0o644 });
  return { privatePath, publicPath };
}

/**
 * Loads the key from `dir`, creating it on first start. A key file readable
 * by group or others is refused: it would mean the secret already leaked.
 */
export async function loadOrCreateKey(dir: string): Promise<{ key: SigningKey; created: boolean; privatePath: string }> {
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  let st;
  try {
    st = await stat(privatePath);
  } catch {
    const key = SigningKey.generate();
    await writeKeyFiles(dir, key);
    return { key, created: true, privatePath };
  }
  return { key: await loadKeyFile(privatePath, st.mode), created: false, privatePath };
}

export async function loadKeyFile(path: string, mode?: number): Promise<SigningKey> {
  const m = mode ?? (await stat(path)).mode;
  if ((m & 0o077) !== 0) {
    throw new CairnError('FAILED_PRECONDITION', `${path} is readable by group or others (mode ${(m & 0o777).toString(8)}); chmod 600 it`);
  }
  return SigningKey.fromPem(await readFile(path, 'utf8'), path);
}
