/**
 * grpc-js's own log output, routed through the node's structured logger with
 * credentials removed. grpc-js logs through a process-wide logger (stderr by
 * default) and quotes what it refuses: a metadata value with a character it
 * considers illegal is printed whole (`Failed to add metadata entry
 * authorization: Bearer\t<name>.<secret>`), and some tracers print metadata.
 * Every line it emits passes through {@link redactCredentials} first.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../core/logger.js';

const REDACTED = '[redacted]';

/**
 * Removes credentials from free text:
 *  - whatever follows an `authorization` key up to the end of its line (the
 *    value may hold any character, whitespace included, so nothing after it
 *    on that line is trusted);
 *  - a `Bearer` scheme and the value after it, whatever separates them;
 *  - anything shaped like a token, `<name>.<secret>` with a secret of 32 or
 *    more base64url characters (a token's is 43): the secret goes, the name
 *    stays (it is what the policy names, and no secret).
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/(authorization["']?\s*(?:[:=,]|\]\s*[:=])?)[^\n]*/gi, `$1 ${REDACTED}`)
    .replace(/bearer[\s\u00a0\u2000-\u200b\u3000]*[^\s"',;\]]*/gi, `Bearer ${REDACTED}`)
    .replace(/([\x21-\x7e]{1,128}?\.)[A-Za-z0-9_-]{32,}/g, `$1${REDACTED}`);
}

type LevelName = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** grpc-js's verbosity for the node's log level: it has no warn, and its INFO is chatty. */
function verbosityOf(level: LevelName): grpc.logVerbosity {
  switch (level) {
    case 'debug':
      return grpc.logVerbosity.DEBUG;
    case 'info':
      return grpc.logVerbosity.INFO;
    case 'silent':
      return grpc.logVerbosity.NONE;
    default:
      return grpc.logVerbosity.ERROR;
  }
}

/**
 * Sends grpc-js's log output to `log` (process-wide: grpc-js has one logger
 * per process; the last node started in a process owns it). Its severities
 * map to debug, info and error; `GRPC_TRACE` still chooses tracers, printed
 * at debug.
 */
export function routeGrpcLogs(log: Logger, level: LevelName): void {
  const line = (args: unknown[]): string => redactCredentials(args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : String(a))).join(' '));
  grpc.setLogger({
    debug: (...args: unknown[]) => log.debug(line(args)),
    info: (...args: unknown[]) => log.info(line(args)),
    error: (...args: unknown[]) => log.error(line(args)),
  });
  grpc.setLogVerbosity(verbosityOf(level));
}
