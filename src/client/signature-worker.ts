/**
 * Worker of SignaturePool: answers each chunk with the index of its first bad
 * signature, or -1. Keys arrive once each (`{key, index}`) before the chunks
 * that refer to them by index; index 0 is the pinned key.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkEntrySignature } from '../core/entry.js';

const keys: Uint8Array[] = [(workerData as { spki: Uint8Array }).spki];
parentPort!.on('message', (m: { key: Uint8Array; index: number } | { id: number; items: { body: Uint8Array; signature: Uint8Array; key: number }[] }) => {
  if ('key' in m) {
    keys[m.index] = m.key;
    return;
  }
  let bad = -1;
  for (let i = 0; i < m.items.length; i++) {
    const it = m.items[i]!;
    const key = keys[it.key];
    if (key === undefined || !checkEntrySignature(it, key)) {
      bad = i;
      break;
    }
  }
  parentPort!.postMessage({ id: m.id, bad });
});
