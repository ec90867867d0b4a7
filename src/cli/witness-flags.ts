/**
 * `--witness-key FILE` (repeatable) and `--min-witnesses K`: the witnesses
 * an auditor pins and how many of them must have cosigned a checkpoint
 * (tlog-cosignature; the bytes are in docs/format.md). Shared by every
 * command that accepts a checkpoint: verify, verify-bundle, verify-receipt,
 * proof, export and report.
 */
import { readFile } from 'node:fs/promises';
import type { ParseArgsConfig } from 'node:util';
import type { PinnedWitness } from '../core/cosignature.js';
import { pemToDer } from '../core/ecdsa-der.js';
import { UsageError } from './output.js';

/**
 * Reads a pinned public key (`--pubkey FILE`, or $CAIRN_PUBKEY): every
 * verifying command takes the key from the auditor, never from the server.
 */
export async function readPinnedKey(path: string | undefined, why: string): Promise<Uint8Array> {
  if (!path) throw new UsageError(`--pubkey FILE is required: ${why}`);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --pubkey ${path}: ${(e as Error).message}`);
  }
  return pemToDer(pem, 'PUBLIC KEY', '--pubkey');
}

export const WITNESS_FLAGS: NonNullable<ParseArgsConfig['options']> = { 'witness-key': { type: 'string', multiple: true }, 'min-witnesses': { type: 'string' } };

export interface WitnessPolicy {
  keys: PinnedWitness[];
  min: number;
}

/**
 * The pinned witness keys and the quorum, or undefined when no key is
 * pinned. K defaults to every pinned key.
 */
export async function witnessPolicy(v: Readonly<Record<string, unknown>>): Promise<WitnessPolicy | undefined> {
  const files = (v['witness-key'] as string[] | undefined) ?? [];
  const min = minWitnesses(v['min-witnesses']);
  if (files.length === 0) {
    if (min !== undefined) throw new UsageError('--min-witnesses needs the witnesses\' keys: one --witness-key FILE per pinned witness');
    return undefined;
  }
  const keys = await Promise.all(
    files.map(async (f) => {
      let pem: string;
      try {
        pem = await readFile(f, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read --witness-key ${f}: ${(e as Error).message}`);
      }
      return { spki: pemToDer(pem, 'PUBLIC KEY', '--witness-key'), label: f };
    }),
  );
  const k = min ?? keys.length;
  if (k < 1 || k > keys.length) throw new UsageError(`--min-witnesses must be from 1 to the number of --witness-key files (${keys.length})`);
  return { keys, min: k };
}

function minWitnesses(x: unknown): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== 'string' || !/^[0-9]{1,16}$/.test(x) || !Number.isSafeInteger(Number(x))) throw new UsageError('--min-witnesses must be a non-negative integer');
  return Number(x);
}
