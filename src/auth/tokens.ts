/**
 * Bearer tokens for CI systems that cannot hold a client certificate.
 *
 * A token is `<name>.<secret>`: the name says which line of the tokens file to
 * check (and is what the policy's `token:<name>` matches and what entries
 * record); the secret is 32 random bytes, base64url. The node stores only
 * `sha256:<salt>:<digest>` with digest = SHA-256(salt || secret), a fresh
 * 16-byte salt per token, and compares digests in constant time.
 *
 * Why salted SHA-256 and not a slow KDF: the secrets are 256-bit random
 * values made by `cairn token create`, so a stolen hash file cannot be
 * brute-forced whatever the hash's speed; a slow KDF only protects guessable
 * secrets, and it would cost milliseconds of CPU on every RPC (or a cache of
 * verified secrets, which is a secret store again). The salt keeps equal
 * secrets from having equal hashes across nodes.
 *
 * Tokens file, one token per line, `#` starts a comment:
 *
 *   release-bot sha256:Pq0...:Zk1...
 *
 * Revoking a token is deleting its line: the node reloads the file and the
 * next call with that token is UNAUTHENTICATED.
 *
 * Pure module: no Node-only imports.
 */
import { sha256 } from '#crypto';
import { concatBytes, fromBase64Url, toBase64Url, utf8 } from '../core/bytes.js';
import { CairnError } from '../core/errors.js';

/**
 * Token names, the one rule that `cairn token create`, the tokens-file parser
 * and the policy's `token:<name>` matches share: printable ASCII without the
 * space (separates the name from the hash on a line), the `.` (separates the
 * name from the secret in a token) and the `#` (starts a comment in the
 * tokens file, so a line holding it would not load).
 */
export const TOKEN_NAME_RE = /^[\x21\x22\x24-\x2d\x2f-\x7e]{1,128}$/;
/** What {@link TOKEN_NAME_RE} allows, in words, for error messages. */
export const TOKEN_NAME_RULE = '1-128 printable ASCII characters without spaces, dots or #';
const SECRET_BYTES = 32;
const SALT_BYTES = 16;
/** A tokens file larger than this is refused (about 10,000 tokens). */
export const MAX_TOKENS_FILE_BYTES = 1 << 20;
/** A presented token longer than this is not looked at. */
const MAX_PRESENTED = 256;

interface StoredToken {
  readonly salt: Uint8Array;
  readonly digest: Uint8Array;
  /** The `sha256:<salt>:<digest>` field as the file wrote it. */
  readonly hash?: string;
}

/** The compiled tokens file. */
export interface TokenStore {
  /** Token names in file order. */
  readonly names: readonly string[];
  /**
   * The name of the token `presented` is, or `undefined` for an unknown,
   * malformed or wrong token. Takes the same time for a wrong secret as for a
   * right one (the digest compare is constant-time; an unknown name is
   * checked against a dummy entry).
   */
  check(presented: string): string | undefined;
}

/** A new token: give `token` to the CI system once; put `line` in the tokens file. */
export function createToken(name: string): { token: string; line: string } {
  if (!TOKEN_NAME_RE.test(name)) throw new CairnError('INVALID_ARGUMENT', `name: must be ${TOKEN_NAME_RULE}`, { field: 'name' });
  const secret = toBase64Url(randomBytes(SECRET_BYTES));
  return { token: `${name}.${secret}`, line: `${name} ${hashLine(secret, randomBytes(SALT_BYTES))}` };
}

/** `sha256:<salt>:<digest>` for a secret and salt. */
export function hashLine(secret: string, salt: Uint8Array): string {
  return `sha256:${toBase64Url(salt)}:${toBase64Url(digestOf(salt, secret))}`;
}

/**
 * Compiles a tokens file.
 * @throws CairnError INVALID_ARGUMENT (field `tokens`) `tokens line N: ...`
 */
export function parseTokens(text: string): TokenStore {
  if (typeof text !== 'string') throw tokensError(1, 'must be text');
  if (text.length > MAX_TOKENS_FILE_BYTES) throw tokensError(1, `larger than ${MAX_TOKENS_FILE_BYTES} bytes`);
  const tokens = new Map<string, StoredToken & { line: number }>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const content = (lines[i] as string).replace(/#.*$/, '').trim();
    if (content === '') continue;
    const parts = content.split(/[ \t]+/);
    if (parts.length !== 2) throw tokensError(line, 'expected "<name> sha256:<salt>:<digest>"');
    const [name, hash] = parts as [string, string];
    if (!TOKEN_NAME_RE.test(name)) throw tokensError(line, `token name ${JSON.stringify(name.slice(0, 40))} must be ${TOKEN_NAME_RULE}`);
    const earlier = tokens.get(name);
    if (earlier) throw tokensError(line, `duplicate token ${name} (first on line ${earlier.line})`);
    const m = /^sha256:([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/.exec(hash);
    const salt = m ? decode(m[1] as string) : undefined;
    const digest = m ? decode(m[2] as string) : undefined;
    if (!salt || !digest || salt.length < 8 || digest.length !== 32) {
      throw tokensError(line, `token ${name}: hash must be sha256:<salt, base64url, 8+ bytes>:<SHA-256 digest, base64url> (made by cairn token create)`);
    }
    tokens.set(name, { salt, digest, hash, line });
  }
  return new TokenStoreImpl(tokens);
}

/**
 * The tokens of `current` whose exact line (name and hash) `text` still
 * holds, for a tokens file that does not parse: a revocation (a deleted or
 * changed line) takes effect even though the rest of the file is refused,
 * and nothing is added. Reads `text` leniently, line by line, and never
 * throws on its content.
 */
export function tokensStillListed(current: TokenStore, text: string): TokenStore {
  const listed = new Set<string>();
  if (typeof text === 'string') {
    const lines = text.slice(0, MAX_TOKENS_FILE_BYTES).split('\n');
    for (const raw of lines) {
      const parts = raw.trim().split(/[ \t]+/);
      // The comment is not stripped first: a `#` inside a bad name must not turn its line into another token's.
      if (parts.length >= 2) listed.add(`${parts[0]} ${parts[1]}`);
    }
  }
  const impl = current as TokenStoreImpl;
  const kept = new Map<string, StoredToken>();
  for (const [name, stored] of impl.entries()) {
    if (stored.hash !== undefined && listed.has(`${name} ${stored.hash}`)) kept.set(name, stored);
  }
  return new TokenStoreImpl(kept);
}

class TokenStoreImpl implements TokenStore {
  readonly names: readonly string[];
  readonly #tokens: ReadonlyMap<string, StoredToken>;
  constructor(tokens: Map<string, StoredToken>) {
    this.#tokens = tokens;
    this.names = Object.freeze([...tokens.keys()]);
    Object.freeze(this);
  }

  /** Name and stored token, in file order (for {@link tokensStillListed}). */
  entries(): IterableIterator<[string, StoredToken]> {
    return this.#tokens.entries();
  }

  check(presented: string): string | undefined {
    if (typeof presented !== 'string' || presented.length > MAX_PRESENTED) return undefined;
    const dot = presented.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const name = presented.slice(0, dot);
    const stored = this.#tokens.get(name);
    // An unknown name still costs one hash and compare, so timing does not say which names exist.
    const against = stored ?? DUMMY;
    const ok = constantTimeEqual(digestOf(against.salt, presented.slice(dot + 1)), against.digest);
    return ok && stored !== undefined ? name : undefined;
  }
}

const DUMMY: StoredToken = { salt: new Uint8Array(SALT_BYTES), digest: new Uint8Array(32) };

function digestOf(salt: Uint8Array, secret: string): Uint8Array {
  return sha256(concatBytes(salt, utf8(secret)));
}

/** Compares equal-length digests without an early exit. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

function decode(s: string): Uint8Array | undefined {
  try {
    return fromBase64Url(s);
  } catch {
    return undefined;
  }
}

function randomBytes(n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

function tokensError(line: number, problem: string): CairnError {
  return new CairnError('INVALID_ARGUMENT', `tokens line ${line}: ${problem}`, { field: 'tokens' });
}
