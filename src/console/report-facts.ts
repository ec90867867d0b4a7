/**
 * The facts of an audit report the console states, gathered as `cairn
 * report` gathers them (src/cli/report-command.ts), so that the report the
 * console renders with src/report/ is the CLI's byte for byte.
 */
import { sha256 } from '#crypto';
import { toHex } from '../core/bytes.js';
import { ecdsaKeyId } from '../core/note.js';
import { followKeyChain, type KeyLink } from '../core/key-chain.js';
import type { VerificationError } from '../core/errors.js';
import type { ReportKey, ReportVerification } from '../report/report-data.js';

/** `cairn <version>`, as the CLI names itself in a report (set by the build from package.json). */
declare const CAIRN_VERSION: string;
export const GENERATOR = CAIRN_VERSION;

const keyIdHex = (spki: Uint8Array): string => ecdsaKeyId(spki).toString(16).padStart(8, '0');

/** The pinned key, and the keys the chain leads to when it verifies (the verifier fails the report when it does not). */
export function reportKey(spki: Uint8Array, chain: readonly KeyLink[]): ReportKey {
  let keys: Uint8Array[] = [spki];
  try {
    keys = followKeyChain(spki, chain);
  } catch {
    // Reported by the verifier, which follows the same chain.
  }
  return { fingerprint: toHex(sha256(spki)), keyId: keyIdHex(spki), rotatedTo: keys.slice(1).map((k) => ({ fingerprint: toHex(sha256(k)), keyId: keyIdHex(k) })) };
}

export function reportFailure(err: VerificationError): ReportVerification {
  const evidence: Record<string, string | number> = {};
  for (const [k, x] of Object.entries(err.evidence)) if (typeof x === 'string' || typeof x === 'number') evidence[k] = x;
  return { ok: false, code: err.code, message: err.message, ...(typeof err.evidence.seq === 'number' ? { seq: err.evidence.seq } : {}), evidence };
}

/** A file name for a log's report. */
export function reportName(log: string): string {
  return `${log.replace(/[^a-z0-9._-]/g, '_')}-report.html`;
}
