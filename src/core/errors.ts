/**
 * Typed errors with stable codes. Messages may change between releases; codes
 * do not. Service code maps codes to gRPC status in exactly one place
 * (`src/server/status.ts`); verification code throws {@link VerificationError}
 * whose `code` names the failed check and whose `evidence` keeps what was seen.
 *
 * Pure module: no Node-only imports.
 */

/** Codes for misuse, input and operational failures. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CORRUPTION'
  | 'INTERNAL';

/** Codes for failed verification: each names the check that failed. */
export type VerificationCode =
  | 'ENTRY_MALFORMED'
  | 'ENTRY_BODY_MISMATCH'
  | 'ENTRY_HASH_MISMATCH'
  | 'CHAIN_BROKEN'
  | 'SIGNATURE_INVALID'
  | 'ROOT_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'INCLUSION_PROOF_INVALID'
  | 'CONSISTENCY_PROOF_INVALID'
  | 'NOTE_MALFORMED'
  | 'NOTE_SIGNATURE_INVALID'
  | 'NOTE_UNSIGNED'
  | 'CHECKPOINT_MALFORMED'
  | 'CHECKPOINT_ORIGIN_MISMATCH'
  | 'ROLLBACK'
  | 'BUNDLE_MALFORMED'
  | 'KEY_LINK_MALFORMED'
  | 'KEY_CHAIN_BROKEN'
  /** A witness cosignature (core/cosignature.ts) that does not parse or does not verify. */
  | 'COSIGNATURE_INVALID'
  /** Fewer valid cosignatures from the pinned witness keys than the verifier demands. */
  | 'WITNESS_QUORUM'
  /** Two signed checkpoints of one log that cannot both be true (core/split-view.ts). */
  | 'SPLIT_VIEW'
  /**
   * The node says its stored data contradicts itself (its CairnError
   * CORRUPTION, sent as DATA_LOSS): a record that does not decode, an entry
   * or tree node missing below the log's size. The same fact as the node's
   * code, seen by a verifier: evidence of tampering like any failed check.
   */
  | 'CORRUPTION';

export interface ErrorOptions {
  /** The underlying error, for logs only: never sent over the wire. */
  cause?: unknown;
  /** For INVALID_ARGUMENT: the request field or setting at fault. */
  field?: string;
  /** For RESOURCE_EXHAUSTED / UNAVAILABLE: a suggested retry delay. */
  retryAfterMs?: number;
  /** Machine-readable facts a caller acts on (gRPC trailers `cairn-<key>`), e.g. a witness's size on a conflict. */
  details?: Readonly<Record<string, string>>;
}

export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly details: Readonly<Record<string, string>> | undefined;
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

/** Shorthand for the most common rejection: a named field failed validation. */
export function invalidArgument(field: string, problem: string): CairnError {
  return new CairnError('INVALID_ARGUMENT', `${field}: ${problem}`, { field });
}

/** What a failed check saw. Hashes are lowercase hex. */
export interface Evidence {
  log?: string;
  seq?: number;
  size?: number;
  expected?: string;
  actual?: string;
  [key: string]: unknown;
}

export class VerificationError extends Error {
  readonly code: VerificationCode;
  readonly evidence: Evidence;
  constructor(code: VerificationCode, message: string, evidence: Evidence = {}, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerificationError';
    this.code = code;
    this.evidence = evidence;
  }
}

export function isCairnError(e: unknown): e is CairnError {
  return e instanceof CairnError;
}

export function isVerificationError(e: unknown): e is VerificationError {
  return e instanceof VerificationError;
}
