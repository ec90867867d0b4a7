/**
 * Messages between the page and the verification worker, and the one
 * function that serves a request (in the worker, or in the page when no
 * worker can start).
 */
import { NodeApi, type EntryJson } from './api.js';
import { primitive, type PrimitiveName } from './crypto.js';
import { SignatureWorkers } from './signature-workers.js';
import type { VerifyP256Async } from '../core/async-verifier.js';
import { failure, parsePinnedKey, verifyShown, type Mark, type VerifyOutcome } from './verify-core.js';
import { verifyLogAndReport } from './log-report.js';
import type { ReportData } from '../report/report-data.js';
import { verifyAndReport } from './bundle-report.js';

export type VerifyRequest = { pinnedPem: string; primitive: PrimitiveName | 'auto' } & (
  | { kind: 'shown'; base: string; token: string; log: string; entries: EntryJson[] }
  | { kind: 'log'; base: string; token: string; log: string }
  | { kind: 'bundle'; bundle: Blob | string }
) & {
  /** Helper workers for the signatures (default: see helpersFor; 0: checked in line). */
  helpers?: number;
};

/** `report`: the facts of the audit report of what was verified, as `cairn report` gathers them (rendered when asked for). */
export type VerifyAnswer = { kind: 'shown'; marks: Mark[] } | { kind: 'outcome'; outcome: VerifyOutcome; report?: { data: ReportData; name: string } };

export interface Finished {
  answer: VerifyAnswer;
  /** Helper workers that checked the signatures (0: in line). */
  helpers: number;
  /** The P-256 primitive used, and the time the verification took. */
  primitive: PrimitiveName;
  ms: number;
}

export type WorkerMessage = { id: number; progress: [number, number] } | { id: number; done: Finished } | { id: number; error: string };

/**
 * Helper workers for the signatures of a whole log or bundle (nested
 * workers): two per core, at least two, whichever the primitive. With a core
 * free they verify faster than the verification worker alone (WebCrypto
 * 7,612 entries/s against 5,233 in line on this machine), at some more CPU
 * per entry, so under heavy load they are about even (docs/design.md). The
 * page itself (file://, where no worker starts) checks them in line.
 */
function helpersFor(name: PrimitiveName, count: number | undefined): SignatureWorkers | undefined {
  const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
  const n = count ?? Math.min(4, Math.max(2, 2 * (navigator.hardwareConcurrency || 1)));
  if (!inWorker || n === 0) return undefined;
  return SignatureWorkers.start(new URL('verify-worker.js', location.href).href, name, n);
}

export async function serve(req: VerifyRequest, progress: (done: number, total: number) => void): Promise<Finished> {
  const t0 = performance.now();
  const chosen = primitive(req.primitive);
  const helpers = req.kind === 'shown' ? undefined : helpersFor(chosen.name, req.helpers);
  try {
    return { ...(await serveWith(req, { name: chosen.name, verify: helpers?.verify ?? chosen.verify }, progress, t0)), helpers: helpers?.count ?? 0 };
  } finally {
    helpers?.close();
  }
}

async function serveWith(req: VerifyRequest, p: { name: PrimitiveName; verify: VerifyP256Async }, progress: (done: number, total: number) => void, t0: number): Promise<Omit<Finished, 'helpers'>> {
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
    answer = { kind: 'outcome', ...(await verifyLogAndReport(new NodeApi(req.base, req.token), req.log, pinned, p.verify, progress)) };
  } else {
    const bytes = typeof req.bundle === 'string' ? new TextEncoder().encode(req.bundle) : new Uint8Array(await req.bundle.arrayBuffer());
    answer = { kind: 'outcome', ...(await verifyAndReport(bytes, pinned, p.verify, progress)) };
  }
  return { answer, primitive: p.name, ms: performance.now() - t0 };
}
