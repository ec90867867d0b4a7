/**
 * What an audit report states: already-verified facts, handed to the
 * renderer by whoever verified them (`cairn report`, or a browser that
 * verified the entries itself). The renderer checks nothing; it states
 * exactly this, and only this.
 *
 * Pure module: no Node-only imports.
 */
import type { ReportSummary } from './summarize.js';

/** The verifier's result: passed, or the first failure with its evidence. */
export type ReportVerification =
  | { ok: true; entriesVerified: number }
  | {
      ok: false;
      /** The VerificationError's code (SIGNATURE_INVALID, ROOT_MISMATCH, ...). */
      code: string;
      message: string;
      /** The first bad seq, when the failure is an entry's. */
      seq?: number;
      /** The rest of the evidence (size, window, expected, actual), as the verifier gave it. */
      evidence: Readonly<Record<string, string | number>>;
    };

export interface ReportKey {
  /** Lowercase hex SHA-256 of the pinned key's DER SubjectPublicKeyInfo. */
  fingerprint: string;
  /** The 4-byte key id the checkpoint signatures carry (C2SP signed-note), hex. */
  keyId: string;
  /** Keys the node's key chain leads to from the pinned key, after it: rotations. */
  rotatedTo: readonly { fingerprint: string; keyId: string }[];
}

export interface ReportCheckpoint {
  origin: string;
  size: number;
  rootHash: string;
  /** The signed note as served, shown verbatim. */
  note: string;
}

export interface ReportAnchorWindow {
  window: number;
  /** The log's size in the anchored checkpoint. */
  size: number;
  /** The window's root, hex. */
  root: string;
  backend: string;
  txId: string;
  block: number;
}

export interface ReportAnchors {
  /** `off` when the node anchors nothing. */
  status: 'off' | 'checked';
  /** Where the anchored roots were read from (the node's local store, a Fabric channel, the bundle). */
  readFrom: string;
  windows: readonly ReportAnchorWindow[];
}

/** A witness cosignature on the checkpoint (a federation of nodes); none exists before federation. */
export interface ReportWitness {
  name: string;
  keyId: string;
  verified: boolean;
}

export interface ReportData {
  log: string;
  /** Where the entries came from: `node` (fetched and verified online) or `bundle` (an export, offline). */
  source: { kind: 'node' } | { kind: 'bundle'; sha256: string };
  verification: ReportVerification;
  key: ReportKey;
  /** The checkpoint the entries were checked against; absent when verification failed before opening one. */
  checkpoint?: ReportCheckpoint;
  anchors?: ReportAnchors;
  /** Absent: no witnesses, stated as such. */
  witnesses?: readonly ReportWitness[];
  /** The figures; absent when verification failed (a failed log is not summarized as if it were evidence). */
  summary?: ReportSummary;
  /** Shown only when given: a report without it is reproducible byte for byte. */
  generatedAt?: string;
  /** The program that verified and rendered, e.g. `cairn 0.1.0`. */
  generator?: string;
}
