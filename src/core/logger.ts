/**
 * The structured logger every layer writes to; the service implements it
 * (node/logger.ts: JSON lines on stderr, quiet by default). Here, in core,
 * so that the sync engine and the service can both take one without
 * depending on each other.
 *
 * Pure module: types only.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}
