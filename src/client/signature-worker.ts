/** Worker of SignaturePool: answers each chunk with the index of its first bad signature, or -1. */
import { parentPort, workerData } from 'node:worker_threads';
import { checkEntrySignature } from '../core/entry.js';

const spki = (workerData as { spki: Uint8Array }).spki;
parentPort!.on('message', (m: { id: number; items: { body: Uint8Array; signature: Uint8Array }[] }) => {
  let bad = -1;
  for (let i = 0; i < m.items.length; i++) {
    if (!checkEntrySignature(m.items[i]!, spki)) {
      bad = i;
      break;
    }
  }
  parentPort!.postMessage({ id: m.id, bad });
});
