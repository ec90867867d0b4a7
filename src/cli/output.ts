/**
 * How the CLI prints: results as JSON on stdout (one object, or one per line
 * for streams), diagnostics on stderr, and exit codes 0 ok, 1 verification
 * failed / tampering found, 2 usage, input or connection error.
 */
import * as grpc from '@grpc/grpc-js';
import { CairnError, VerificationError } from '../core/errors.js';

export const EXIT_OK = 0;
export const EXIT_VERIFY_FAILED = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function printJson(v: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(JSON.stringify(v, null, 2) + '\n');
}

export { entryJson } from '../core/receipt-json.js';

/** Reports an error on stderr and returns the exit code it maps to. */
export function reportError(err: unknown, err$: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof VerificationError) {
    err$.write(`cairn: VERIFICATION FAILED [${err.code}] ${err.message}\n`);
    const ev = Object.entries(err.evidence).filter(([, v]) => v !== undefined);
    if (ev.length > 0) err$.write(`  evidence: ${JSON.stringify(Object.fromEntries(ev))}\n`);
    return EXIT_VERIFY_FAILED;
  }
  if (err instanceof UsageError) {
    err$.write(`cairn: ${err.message}\nRun 'cairn help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (err instanceof CairnError) {
    err$.write(`cairn: [${err.code}] ${err.message}\n`);
    return EXIT_USAGE;
  }
  const ge = err as Partial<grpc.ServiceError>;
  if (typeof ge.code === 'number' && typeof ge.details === 'string') {
    err$.write(`cairn: server said ${grpc.status[ge.code] ?? ge.code}: ${ge.details}\n`);
    return EXIT_USAGE;
  }
  err$.write(`cairn: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT_USAGE;
}
