/**
 * Online and offline verification of a whole log, from a pinned key only.
 *
 * Online: the latest checkpoint is opened with the pinned key; with a state
 * file, its size must not go backwards (ROLLBACK) and the server must prove
 * consistency from the remembered checkpoint (a fork fails the proof, and the
 * root rebuilt from the entries at the remembered size must equal it too).
 * Then every entry is streamed and checked (see core/log-verifier.ts), and the
 * rebuilt root must equal the checkpoint's. Only then is the state advanced.
 */
import { createReadStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { LogVerifier, openLogCheckpoint } from '../core/log-verifier.js';
import { verifyConsistency } from '../core/merkle.js';
import { VerificationError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from '../core/bytes.js';
import { MAX_BUNDLE_LINE, parseBundleEntry, parseBundleHeader } from '../core/bundle.js';
import type { Checkpoint } from '../core/checkpoint.js';
import type { LedgerClient } from './ledger-client.js';
import { createProgress } from './progress.js';

export interface VerifyState {
  log: string;
  size: number;
  rootHash: string;
  checkpoint: string;
}

export interface VerifyResult {
  log: string;
  size: number;
  rootHash: string;
  entriesVerified: number;
  previousSize?: number;
}

export async function readState(path: string): Promise<VerifyState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const s = JSON.parse(text) as VerifyState;
  if (typeof s.log !== 'string' || !Number.isSafeInteger(s.size) || typeof s.rootHash !== 'string' || typeof s.checkpoint !== 'string') {
    throw new Error(`state file ${path} is malformed`);
  }
  return s;
}

async function writeState(path: string, s: VerifyState): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(s, null, 2) + '\n');
  await rename(tmp, path);
}

export interface VerifyOptions {
  publicKeySpki: Uint8Array;
  nodeName?: string;
  statePath?: string;
  progress?: boolean;
}

export async function verifyLogOnline(client: LedgerClient, log: string, opts: VerifyOptions): Promise<VerifyResult> {
  const state = opts.statePath ? await readState(opts.statePath) : undefined;
  if (state && state.log !== log) throw new Error(`state file is for log ${state.log}, not ${log}`);
  const latest = await client.getCheckpoint(log);
  const cp: Checkpoint = openLogCheckpoint(latest.note, log, opts.publicKeySpki, opts.nodeName);

  if (state) {
    // The remembered checkpoint was verified when stored; re-open it anyway: the file may have been edited.
    const old = openLogCheckpoint(state.checkpoint, log, opts.publicKeySpki, opts.nodeName);
    if (cp.size < old.size) {
      throw new VerificationError('ROLLBACK', `log ${log} shrank from ${old.size} to ${cp.size} entries since the last verification`, { log, expected: `>= ${old.size}`, actual: String(cp.size) });
    }
    if (old.size > 0 && old.size < cp.size) {
      const proof = await client.consistencyProof(log, old.size, cp.size);
      verifyConsistency(old.size, cp.size, proof.hashes, old.rootHash, cp.rootHash);
    } else if (old.size === cp.size && !bytesEqual(old.rootHash, cp.rootHash)) {
      throw new VerificationError('CONSISTENCY_PROOF_INVALID', `log ${log} has two different signed roots at size ${cp.size}: a forked history`, { log, size: cp.size, expected: toHex(old.rootHash), actual: toHex(cp.rootHash) });
    }
  }

  const verifier = new LogVerifier(log, opts.publicKeySpki, { nodeName: opts.nodeName, captureRootsAt: state ? [state.size] : [] });
  const bar = createProgress(`verify ${log}`, cp.size, opts.progress === false ? ({ isTTY: false } as NodeJS.WriteStream) : process.stderr);
  for await (const e of client.listEntries(log, 0, cp.size)) {
    verifier.push(e);
    if ((verifier.size & 1023) === 0) bar.update(verifier.size);
  }
  bar.finish();
  verifier.finish(latest.note);
  if (state) {
    const rebuilt = verifier.rootAt(state.size);
    if (rebuilt && !bytesEqual(rebuilt, fromHex(state.rootHash))) {
      throw new VerificationError('CONSISTENCY_PROOF_INVALID', `entries 0..${state.size - 1} no longer hash to the root verified before: history was rewritten`, { log, size: state.size, expected: state.rootHash, actual: toHex(rebuilt) });
    }
  }
  if (opts.statePath) await writeState(opts.statePath, { log, size: cp.size, rootHash: toHex(cp.rootHash), checkpoint: latest.note });
  return { log, size: cp.size, rootHash: toHex(cp.rootHash), entriesVerified: verifier.size, ...(state ? { previousSize: state.size } : {}) };
}

/** Verifies an export bundle with no server. */
export async function verifyBundleFile(path: string, opts: VerifyOptions): Promise<VerifyResult> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  let lineNo = 0;
  let verifier: LogVerifier | undefined;
  let header: ReturnType<typeof parseBundleHeader> | undefined;
  let bar: ReturnType<typeof createProgress> | undefined;
  for await (const line of rl) {
    lineNo++;
    if (line.length > MAX_BUNDLE_LINE) throw new VerificationError('BUNDLE_MALFORMED', `bundle line ${lineNo}: longer than ${MAX_BUNDLE_LINE} characters`, { line: lineNo });
    if (!header) {
      header = parseBundleHeader(line);
      verifier = new LogVerifier(header.log, opts.publicKeySpki, { nodeName: opts.nodeName });
      bar = createProgress(`verify ${header.log}`, header.size, opts.progress === false ? ({ isTTY: false } as NodeJS.WriteStream) : process.stderr);
      continue;
    }
    if (line === '') continue;
    verifier!.push(parseBundleEntry(header.log, line, lineNo));
    if ((verifier!.size & 1023) === 0) bar!.update(verifier!.size);
  }
  if (!header || !verifier) throw new VerificationError('BUNDLE_MALFORMED', 'bundle is empty', {});
  bar!.finish();
  const cp = verifier.finish(header.checkpoint);
  return { log: header.log, size: cp.size, rootHash: toHex(cp.rootHash), entriesVerified: verifier.size };
}
