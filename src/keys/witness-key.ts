/**
 * The node's witness key: a P-256 key of its own, apart from the signing
 * key, that cosigns other nodes' checkpoints (docs/format.md section 9,
 * docs/federation.md#witnessing). Apart, so that a witness key can be
 * replaced without a key rotation of the node's logs, and a leaked one
 * cannot sign entries or checkpoints (nor a leaked signing key cosign).
 *
 * `<data_dir>/witness-key.pem` (PKCS#8, 0600) unless `witness_key_file`
 * names another; the public key is written beside it as
 * `witness-key.pub.pem`, the file auditors pin with `--witness-key`.
 */
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { loadKeyFile, SigningKey } from './signing-key.js';

export const WITNESS_KEY_FILE = 'witness-key.pem';
export const WITNESS_PUBLIC_KEY_FILE = 'witness-key.pub.pem';

/**
 * Loads the witness key from `path`; creates it (and its public key) when
 * `path` does not exist and `create` is set (the default location).
 * @throws CairnError NOT_FOUND for a missing file that is not created; FAILED_PRECONDITION for a file readable by group or others
 */
export async function loadOrCreateWitnessKey(path: string, create: boolean): Promise<{ key: SigningKey; created: boolean; publicPath: string }> {
  const publicPath = join(dirname(path), WITNESS_PUBLIC_KEY_FILE);
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (cause) {
    if (!create) throw new CairnError('NOT_FOUND', `witness key file ${path} not found`, { cause });
    const key = SigningKey.generate();
    // 'wx': never overwrite a key; the mode applies at creation, before any byte is written.
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(key.privateKeyPem());
      await fh.sync();
    } finally {
      await fh.close();
    }
    await writeFile(publicPath, key.publicKeyPem, { mode: 0o644 });
    return { key, created: true, publicPath };
  }
  const key = await loadKeyFile(path, mode);
  // The public file is a convenience for operators: rewrite it if missing or stale.
  const pub = await readFile(publicPath, 'utf8').catch(() => '');
  if (pub !== key.publicKeyPem) await writeFile(publicPath, key.publicKeyPem, { mode: 0o644 }).catch(() => undefined);
  return { key, created: false, publicPath };
}
