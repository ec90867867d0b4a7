/**
 * The node's ECDSA P-256 signing key, on node:crypto: about 18x faster than
 * @noble/curves for signing (docs/design.md), which the append rate needs. Signatures are emitted as DER with low-S so that @noble, OpenSSL
 * and every verifier accept exactly one signature per (key, message).
 *
 * Key files: PKCS#8 PEM written with mode 0600 (never logged), SPKI PEM beside it.
 * Or the key comes from $CAIRN_SIGNING_KEY_PEM (PKCS#8 PEM), which wins over
 * the file; then no key file is read or created.
 *
 * Rotation (cairn rotate-key) stages the next key as `signing-key.next.pem`
 * beside the key file, then replaces the key file with it and keeps the old
 * public key as `signing-key.<key ID hex>.retired.pub.pem`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile, open, stat, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { derToPem, normalizeLowS, p1363ToDer } from '../core/ecdsa-der.js';
import { ecdsaKeyId, type NoteSigner } from '../core/note.js';
import { toHex } from '../core/bytes.js';

export const PRIVATE_KEY_FILE = 'signing-key.pem';
export const PUBLIC_KEY_FILE = 'signing-key.pub.pem';
/** The key an interrupted `cairn rotate-key` will install: it finishes from here when run again. */
export const NEXT_KEY_FILE = 'signing-key.next.pem';
/** The environment variable a node may take its key from (config.ts SIGNING_KEY_ENV). */
export const SIGNING_KEY_ENV = 'CAIRN_SIGNING_KEY_PEM';

export function retiredPublicKeyFile(keyIdHex: string): string {
  return `signing-key.${keyIdHex}.retired.pub.pem`;
}

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

export interface NodeKeySource {
  /** The key file (absolute); its directory also holds the public and staged key files. */
  keyFile: string;
  dataDir: string;
  /** $CAIRN_SIGNING_KEY_PEM, when set: wins over the key file. */
  envPem?: { reveal(): string } | undefined;
}

/**
 * The node's signing key, by the rules `serve` and `rotate-key` share: the
 * environment's PKCS#8 PEM if set, else the key file, created on first start
 * only at the default location (`create`).
 * @throws CairnError INVALID_ARGUMENT naming CAIRN_SIGNING_KEY_PEM or the file (never quoting key material);
 *   FAILED_PRECONDITION for a key file readable by group or others; NOT_FOUND for a missing key file
 */
export async function loadNodeKey(src: NodeKeySource, create: boolean): Promise<{ key: SigningKey; source: 'env' | 'file'; created: boolean }> {
  if (src.envPem) {
    const pem = src.envPem.reveal();
    // PKCS#8 only: node:crypto would also take SEC1 ("EC PRIVATE KEY"), which the setting does not promise.
    if (!/^\s*-----BEGIN PRIVATE KEY-----\r?\n/.test(pem)) {
      throw new CairnError('INVALID_ARGUMENT', `${SIGNING_KEY_ENV}: not a PKCS#8 PEM private key (expected "-----BEGIN PRIVATE KEY-----")`, { field: SIGNING_KEY_ENV });
    }
    return { key: SigningKey.fromPem(pem, SIGNING_KEY_ENV), source: 'env', created: false };
  }
  if (create && src.keyFile === join(src.dataDir, PRIVATE_KEY_FILE)) {
    const r = await loadOrCreateKey(src.dataDir);
    return { key: r.key, source: 'file', created: r.created };
  }
  let mode: number;
  try {
    mode = (await stat(src.keyFile)).mode;
  } catch (cause) {
    throw new CairnError('NOT_FOUND', `signing key file ${src.keyFile} not found (and ${SIGNING_KEY_ENV} is not set)`, { cause });
  }
  return { key: await loadKeyFile(src.keyFile, mode), source: 'file', created: false };
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `text` to `path` atomically: a temporary file created with `mode`
 * (before any byte is written), synced, renamed over `path`, directory synced.
 * A crash leaves the old file or the new one, never a torn or looser one.
 */
export async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** Replaces (or creates) a private key file, 0600, atomically. */
export async function writePrivateKeyAtomic(path: string, key: SigningKey): Promise<void> {
  await writeFileAtomic(path, key.privateKeyPem(), 0o600);
}
