/**
 * Small helpers shared by the Fabric tests: anchor arguments, the error a
 * call fails with, and bounded waits on event streams.
 */
import { createHash } from 'node:crypto';
import { buildWindow } from '../../src/anchoring/window-tree.js';
export { nextWithin } from '../helpers/async.js';

/** The node name the helpers anchor under unless told otherwise. */
export const NODE = 'cairn-test';

export interface CheckpointArg {
  log: string;
  origin: string;
  size: number;
  rootHash: string;
  note: string;
}

/** A deterministic 32-byte hex value. */
export function hex32(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** A checkpoint argument for `log` at `size` (root derived from both unless given). */
export function checkpoint(log: string, size: number, rootHash = hex32(`${log}@${size}`)): CheckpointArg {
  const origin = `cairn-test/${log}`;
  return { log, origin, size, rootHash, note: `${origin}\n${size}\n${Buffer.from(rootHash, 'hex').toString('base64')}\n\n— cairn-test AAAA\n` };
}

/**
 * The `anchorJson` argument of RecordAnchor: the checkpoints sorted by log
 * and the root over their notes as the node computes it (src/anchoring/window-tree.ts),
 * unless `extra` says otherwise.
 */
export function anchorJson(checkpoints: CheckpointArg[], extra: Record<string, unknown> = {}): string {
  const w = buildWindow(0, NODE, checkpoints);
  return JSON.stringify({ root: w.root, checkpoints: w.checkpoints, ...extra });
}

/** The arguments of RecordAnchor: node, window, anchorJson. */
export function recordArgs(window: number, checkpoints: CheckpointArg[], extra: Record<string, unknown> = {}, node = NODE): [string, string, string] {
  return [node, String(window), anchorJson(checkpoints, extra)];
}

/** The error `p` rejects with; throws if it resolves. */
export async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail, it succeeded');
}


export const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
