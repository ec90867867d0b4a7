/**
 * Worker thread of WorkerChainSigner: holds each log's chain head and signs
 * groups in the order they arrive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SigningKey } from '../keys/signing-key.js';
import { packSigned, signChain, type EntryFields } from './chain-signer.js';

const key = SigningKey.fromPem((workerData as { pem: string }).pem, 'signing key');
const heads = new Map<string, Uint8Array>();

type Msg =
  | { type: 'reset'; log: string; lastHash: Uint8Array }
  | { type: 'sign'; id: number; log: string; startSeq: number; time: string; items: string };

parentPort!.on('message', (m: Msg) => {
  if (m.type === 'reset') {
    heads.set(m.log, m.lastHash);
    return;
  }
  try {
    const prev = heads.get(m.log);
    if (!prev) throw new Error(`chain head of ${m.log} was never set`);
    const out = signChain((b) => key.sign(b), m.log, prev, m.startSeq, m.time, JSON.parse(m.items) as EntryFields[]);
    if (out.length > 0) heads.set(m.log, out[out.length - 1]!.hash);
    const packed = packSigned(out);
    parentPort!.postMessage({ id: m.id, startSeq: m.startSeq, packed }, [packed.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, startSeq: m.startSeq, error: (e as Error).message });
  }
});
