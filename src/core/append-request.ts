/**
 * Validation of what a client asks to record. Every field is bounded and
 * checked here, before anything is sequenced, so a rejected append leaves no
 * trace and each rejection names its field.
 *
 * Pure module: no Node-only imports.
 */
import { invalidArgument } from './errors.js';
import { validateLogName } from './entry.js';

export interface AppendInput {
  log: string;
  configId: string;
  operator: string;
  action: string;
  source?: string;
  commit?: string;
  /** JSON text; empty or absent records a null payload. */
  payloadJson?: string;
  requestId?: string;
}

export interface ValidAppend {
  /** Set by the server from the authenticated caller, never from the request (see EntryBody.identity). */
  identity: string;
  log: string;
  configId: string;
  operator: string;
  action: string;
  source: string;
  commit: string;
  payload: unknown;
  requestId: string;
}

export interface AppendLimits {
  /** Bytes of payload JSON text (UTF-8). */
  maxPayloadBytes: number;
}

export const DEFAULT_APPEND_LIMITS: AppendLimits = { maxPayloadBytes: 64 * 1024 };

const MAX_DEPTH = 32;
// C0/C1 controls and DEL: none belong in an identifier and some break log lines and terminals.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
/** Actions the node writes itself (core/key-chain.ts KEY_ROTATION_ACTION); clients' are refused. */
export const RESERVED_ACTION_PREFIX = 'cairn.';
const ACTION_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;
const COMMIT_RE = /^(?:[0-9a-f]{7,40}|[0-9a-f]{64})$/;
const REQUEST_ID_RE = /^[\x21-\x7e]{1,128}$/;

function text(field: string, v: unknown, max: number, required: boolean): string {
  if (v === undefined || v === null || v === '') {
    if (required) throw invalidArgument(field, 'is required');
    return '';
  }
  if (typeof v !== 'string') throw invalidArgument(field, 'must be a string');
  if (v.length > max) throw invalidArgument(field, `is longer than ${max} characters`);
  if (!v.isWellFormed()) throw invalidArgument(field, 'is not well-formed Unicode');
  if (CONTROL_RE.test(v)) throw invalidArgument(field, 'contains control characters');
  if (v.trim() !== v) throw invalidArgument(field, 'has leading or trailing white space');
  return v;
}

/**
 * @throws CairnError INVALID_ARGUMENT naming the first bad field
 */
export function validateAppend(input: AppendInput, limits: AppendLimits = DEFAULT_APPEND_LIMITS): ValidAppend {
  const log = validateLogName(input.log, 'log');
  const configId = text('config_id', input.configId, 256, true);
  const operator = text('operator', input.operator, 256, true);
  const action = text('action', input.action, 64, true);
  if (!ACTION_RE.test(action)) throw invalidArgument('action', 'must match [A-Za-z0-9][A-Za-z0-9._:/-]{0,63}');
  // Reserved for entries the node writes itself (key rotation): a client's must not pass for one.
  if (action.toLowerCase().startsWith(RESERVED_ACTION_PREFIX)) throw invalidArgument('action', `must not start with "${RESERVED_ACTION_PREFIX}" (reserved for entries the node writes)`);
  const source = text('source', input.source, 512, false);
  const commit = text('commit', input.commit, 64, false);
  if (commit && !COMMIT_RE.test(commit)) throw invalidArgument('commit', 'must be a lowercase hex commit id (7-40 or 64 digits)');
  const requestId = text('request_id', input.requestId, 128, false);
  if (requestId && !REQUEST_ID_RE.test(requestId)) throw invalidArgument('request_id', 'must be 1-128 printable ASCII characters without spaces');
  const payload = parsePayload(input.payloadJson ?? '', limits.maxPayloadBytes);
  return { log, configId, operator, identity: '', action, source, commit, payload, requestId };
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Parses payload JSON with the limits RFC 8785 needs: finite numbers, well-formed strings, bounded depth. */
export function parsePayload(json: string, maxBytes: number): unknown {
  const field = 'payload_json';
  if (json === '') return null;
  if (typeof json !== 'string') throw invalidArgument(field, 'must be a string');
  const bytes = utf8Length(json);
  if (bytes > maxBytes) throw invalidArgument(field, `is ${bytes} bytes, over the limit of ${maxBytes}`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw invalidArgument(field, `is not valid JSON (${(e as Error).message})`);
  }
  checkJsonValue(value, field);
  return value;
}

/** Nesting counts arrays and objects: `[]` is 1 level, `[[1]]` is 2. */
function checkJsonValue(root: unknown, field: string): void {
  // depth: how many arrays/objects enclose v.
  const stack: { v: unknown; depth: number }[] = [{ v: root, depth: 0 }];
  const tooDeep = (): never => {
    throw invalidArgument(field, `nests deeper than ${MAX_DEPTH} levels`);
  };
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'number') {
      // JSON.parse turns 1e400 into Infinity; RFC 8785 section 3.2.2.3 has no form for it.
      if (!Number.isFinite(v)) throw invalidArgument(field, 'contains a number out of IEEE 754 double range');
    } else if (typeof v === 'string') {
      if (!v.isWellFormed()) throw invalidArgument(field, 'contains a lone surrogate (RFC 8785 section 3.2.2.2)');
    } else if (Array.isArray(v)) {
      if (depth >= MAX_DEPTH) tooDeep();
      for (const x of v) stack.push({ v: x, depth: depth + 1 });
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_DEPTH) tooDeep();
      for (const [k, x] of Object.entries(v)) {
        if (!k.isWellFormed()) throw invalidArgument(field, 'contains a key with a lone surrogate');
        stack.push({ v: x, depth: depth + 1 });
      }
    }
  }
}
