/**
 * The key that masks Secret values in sync entries (see diff.ts): 32 random
 * bytes, hex, in a file of mode 0600, created on first use. It must persist:
 * masks (and so drift identities) of the same value stay equal across
 * restarts only under the same key. It is never logged and never recorded.
 */
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { CairnError } from '../core/errors.js';

export const MASK_KEY_FILE = 'sync-mask.key';

/**
 * @throws CairnError FAILED_PRECONDITION for a key file readable by group or
 *   others, INVALID_ARGUMENT for one that does not hold a key
 */
export async function loadOrCreateMaskKey(path: string): Promise<Uint8Array> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  if (!st) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(key.toString('hex') + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      return new Uint8Array(key);
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } else if ((st.mode & 0o077) !== 0) {
    throw new CairnError('FAILED_PRECONDITION', `${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const hex = (await readFile(path, 'utf8')).trim();
  if (!/^[0-9a-f]{32,128}$/.test(hex) || hex.length % 2 !== 0) throw new CairnError('INVALID_ARGUMENT', `${path} does not hold a hex mask key`, { field: 'mask_key' });
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
