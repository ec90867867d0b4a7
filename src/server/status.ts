/**
 * The one place where error codes become gRPC statuses. Only our own
 * messages cross the wire; causes (stack traces, paths, library errors) stay
 * in the node's log.
 */
import * as grpc from '@grpc/grpc-js';
import { CairnError, type ErrorCode } from '../core/errors.js';

export function grpcCode(code: ErrorCode): grpc.status {
  switch (code) {
    case 'INVALID_ARGUMENT':
      return grpc.status.INVALID_ARGUMENT;
    case 'NOT_FOUND':
      return grpc.status.NOT_FOUND;
    case 'UNAUTHENTICATED':
      return grpc.status.UNAUTHENTICATED;
    case 'PERMISSION_DENIED':
      return grpc.status.PERMISSION_DENIED;
    case 'ALREADY_EXISTS':
      return grpc.status.ALREADY_EXISTS;
    case 'FAILED_PRECONDITION':
      return grpc.status.FAILED_PRECONDITION;
    case 'RESOURCE_EXHAUSTED':
      return grpc.status.RESOURCE_EXHAUSTED;
    case 'UNAVAILABLE':
      return grpc.status.UNAVAILABLE;
    case 'DEADLINE_EXCEEDED':
      return grpc.status.DEADLINE_EXCEEDED;
    case 'CORRUPTION':
      return grpc.status.DATA_LOSS;
    case 'INTERNAL':
      return grpc.status.INTERNAL;
    default: {
      const never: never = code;
      return never;
    }
  }
}

/** Turns any thrown value into a status safe to send. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> & { code: grpc.status; details: string } {
  if (err instanceof CairnError) {
    const metadata = new grpc.Metadata();
    if (err.retryAfterMs !== undefined) {
      // gRFC A6: the server's pushback hint for client-side retry.
      metadata.set('grpc-retry-pushback-ms', String(err.retryAfterMs));
    }
    if (err.field) metadata.set('cairn-field', err.field);
    metadata.set('cairn-code', err.code);
    for (const [k, v] of Object.entries(err.details ?? {})) metadata.set(`cairn-${k}`, v);
    // INTERNAL messages may name files or wrap library errors: say only what kind of
    // failure it was. CORRUPTION messages name only the log and seq/node at fault.
    // Messages may quote client input cut at any code unit (V8's JSON.parse errors quote a
    // snippet that can split a surrogate pair); grpc-js percent-encodes details with
    // encodeURI, which throws on a lone surrogate and so would crash the node.
    const details = err.code === 'INTERNAL' ? 'internal error' : err.message.toWellFormed();
    return { code: grpcCode(err.code), details, metadata };
  }
  return { code: grpc.status.INTERNAL, details: 'internal error' };
}
