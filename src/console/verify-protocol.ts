/**
 * Messages between the page and the verification worker, and the one
 * function that serves a request (in the worker, or in the page when no
 * worker can start).
 */
import { NodeApi, type EntryJson } from './api.js';
import { primitive, type PrimitiveName } from './crypto.js';
import { failure, parsePinnedKey, verifyBundleText, verifyShown, verifyWholeLog, type Mark, type VerifyOutcome } from './verify-core.js';

export type VerifyRequest = { pinnedPem: string; primitive: PrimitiveName | 'auto' } & (
  | { kind: 'shown'; base: string; token: string; log: string; entries: EntryJson[] }
  | { kind: 'log'; base: string; token: string; log: string }
  | { kind: 'bundle'; bundle: Blob | string }
);

export type VerifyAnswer = { kind: 'shown'; marks: Mark[] } | { kind: 'outcome'; outcome: VerifyOutcome };

export interface Finished {
  answer: VerifyAnswer;
  /** The P-256 primitive used, and the time the verification took. */
  primitive: PrimitiveName;
  ms: number;
}

export type WorkerMessage = { id: number; progress: [number, number] } | { id: number; done: Finished } | { id: number; error: string };

export async function serve(req: VerifyRequest, progress: (done: number, total: number) => void): Promise<Finished> {
  const t0 = performance.now();
  const p = primitive(req.primitive);
  let answer: VerifyAnswer;
  let pinned: Uint8Array;
  try {
    pinned = parsePinnedKey(req.pinnedPem);
  } catch (err) {
    return { answer: { kind: 'outcome', outcome: failure(err) }, primitive: p.name, ms: 0 };
  }
  if (req.kind === 'shown') {
    answer = { kind: 'shown', marks: await verifyShown(new NodeApi(req.base, req.token), req.log, req.entries, pinned, p.verify) };
  } else if (req.kind === 'log') {
    answer = { kind: 'outcome', outcome: await verifyWholeLog(new NodeApi(req.base, req.token), req.log, pinned, p.verify, progress) };
  } else {
    const text = typeof req.bundle === 'string' ? req.bundle : await req.bundle.text();
    answer = { kind: 'outcome', outcome: await verifyBundleText(text, pinned, p.verify, progress) };
  }
  return { answer, primitive: p.name, ms: performance.now() - t0 };
}
