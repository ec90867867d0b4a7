/**
 * The one place where error codes become HTTP statuses, the twin of
 * src/server/status.ts for gRPC. The mapping follows google.rpc.Code's HTTP
 * column (googleapis google/rpc/code.proto), with CORRUPTION, which gRPC
 * sends as DATA_LOSS, as 500. The body is `{code, message, field}`: the
 * stable code, our own message (the same text gRPC sends, through
 * `toServiceError`), and the request field at fault or null.
 */
import { CairnError, type ErrorCode } from '../core/errors.js';
import { toServiceError } from '../server/status.js';

export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_ARGUMENT':
      return 400;
    case 'FAILED_PRECONDITION':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'PERMISSION_DENIED':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'ALREADY_EXISTS':
      return 409;
    case 'RESOURCE_EXHAUSTED':
      return 429;
    case 'UNAVAILABLE':
      return 503;
    case 'DEADLINE_EXCEEDED':
      return 504;
    case 'CORRUPTION':
      return 500;
    case 'INTERNAL':
      return 500;
    default: {
      const never: never = code;
      return never;
    }
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field: string | null;
}

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** Turns any thrown value into a reply safe to send. */
export function errorReply(err: unknown): ErrorReply {
  const ce = err instanceof CairnError ? err : new CairnError('INTERNAL', 'internal error');
  const body: ErrorBody = { code: ce.code, message: toServiceError(ce).details, field: ce.field ?? null };
  const headers: Record<string, string> = {};
  // RFC 6585 section 4 and RFC 9110 section 10.2.3: a 429 says when to come back, in whole
  // seconds rounded up so a client never returns early; a 503 does when the node gave a hint.
  const retryMs = ce.code === 'RESOURCE_EXHAUSTED' ? (ce.retryAfterMs ?? 1000) : ce.code === 'UNAVAILABLE' ? ce.retryAfterMs : undefined;
  if (retryMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryMs / 1000)));
  // RFC 9110 section 11.6.1: a 401 names the scheme that would be accepted.
  if (ce.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer';
  return { status: httpStatus(ce.code), body, headers };
}
