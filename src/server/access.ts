/**
 * Who is calling, and what may they do: the node's access control.
 *
 * Authentication: a client certificate that the TLS handshake verified against
 * the operator's client CA (its subject and SANs), and/or a bearer token
 * checked against the tokens file's salted hashes. A presented token that is
 * wrong fails the call even when a certificate is valid: a wrong credential
 * is never silently ignored.
 *
 * Authorization: the compiled policy (src/auth/policy.ts), deny by default.
 * The handlers ask {@link Access} before touching a log and answer a log the
 * caller may not read exactly like a log that does not exist.
 *
 * Policy and tokens are re-read when their files change (polled every
 * `auth_reload_ms`, and at once on SIGHUP), each file on its own. A policy
 * that does not compile is refused whole and the previous policy stays in
 * force. A tokens file that does not parse is refused too, but a revocation
 * in it wins: tokens whose line was deleted or changed stop working at once,
 * and no token is added (an attacker who can break the file must not keep a
 * revoked token alive by doing so). Either failure is reported each poll
 * until the file loads (config-health.ts). Calls and streams in progress are
 * not dropped; each new call is checked against the policy in force when it
 * starts.
 *
 * With no policy file the node runs open (it then listens on loopback only,
 * see config.ts) and records an empty identity.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { CairnError } from '../core/errors.js';
import { compilePolicy, type CompiledPolicy, type Identity, type ReadScope, type TenantQuota } from '../auth/policy.js';
import { parseTokens, tokensStillListed, type TokenStore } from '../auth/tokens.js';
import type { Logger } from '../core/logger.js';
import { ConfigHealth } from './config-health.js';
import { BEARER_RE, UNUSABLE_AUTHORIZATION } from './raw-authorization.js';

/** What a handler knows about its caller. */
export interface Caller {
  /** Written into each entry as its identity: the policy match, or '' when authentication is off. */
  readonly principal: string;
  /** `undefined` only when authentication is off. */
  readonly tenant: string | undefined;
  /** Rate limits and stream counts are kept per this key. */
  readonly limitKey: string;
}

/** The parts of a grpc-js server call that authentication reads. */
export interface CallCredentials {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer; fingerprint256?: string } };
  metadata: grpc.Metadata;
  getPeer(): string;
}

export interface AccessFiles {
  /** Empty: authentication off. */
  policyFile: string;
  tokensFile: string;
  reloadMs: number;
}

const NO_TOKENS: TokenStore = parseTokens('');
const MAX_CACHED_CERTS = 1024;

export class Access {
  readonly enabled: boolean;
  readonly #files: AccessFiles;
  readonly #log: Logger;
  readonly #health: ConfigHealth;
  #policy: CompiledPolicy | undefined;
  #tokens: TokenStore = NO_TOKENS;
  /** Per file: the stat of the version in force, or of the last one that failed (retried each poll while it fails). */
  readonly #stamps = new Map<string, string>();
  readonly #failing = new Set<string>();
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Reloads run one after another, so a reload asked for after a change always reads it. */
  #queue: Promise<boolean> = Promise.resolve(false);
  /** Certificate fingerprint -> identity: parsing X.509 on every call would cost more than the call. */
  readonly #certs = new Map<string, Identity>();

  private constructor(files: AccessFiles, log: Logger, health: ConfigHealth) {
    this.enabled = files.policyFile !== '';
    this.#files = files;
    this.#log = log;
    this.#health = health;
  }

  /** Counts policy loads: what depends on the policy (tenant log counts) recomputes when it changes. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Loads the policy and tokens and starts watching them.
   * @throws CairnError INVALID_ARGUMENT (`policy line N: ...`, `tokens line N: ...`, or a file that cannot be read)
   */
  static async open(files: AccessFiles, log: Logger, health: ConfigHealth = new ConfigHealth(log)): Promise<Access> {
    const a = new Access(files, log, health);
    if (a.enabled) {
      // At start a bad file refuses the start: there is nothing older to keep in force.
      const policy = compilePolicy(await readSetting(files.policyFile, 'policy_file'));
      const tokens = files.tokensFile ? parseTokens(await readSetting(files.tokensFile, 'tokens_file')) : NO_TOKENS;
      a.#policy = policy;
      a.#tokens = tokens;
      a.#stamps.set(files.policyFile, await fileStamp(files.policyFile));
      health.watch('policy_file');
      if (files.tokensFile) {
        a.#stamps.set(files.tokensFile, await fileStamp(files.tokensFile));
        health.watch('tokens_file');
      }
      a.#timer = setInterval(() => void a.reload(), files.reloadMs);
      a.#timer.unref();
    }
    return a;
  }

  /** Re-reads policy and tokens if their files changed. Resolves whether a new policy is in force. */
  reload(force = false): Promise<boolean> {
    if (!this.enabled) return Promise.resolve(false);
    this.#queue = this.#queue.then(() => this.#reload(force));
    return this.#queue;
  }

  async #reload(force: boolean): Promise<boolean> {
    const policyChanged = await this.#reloadFile(this.#files.policyFile, 'policy_file', force, (text) => {
      this.#policy = compilePolicy(text);
      this.#generation++;
    }, () => 'the previous policy stays in force');
    let tokensChanged = false;
    if (this.#files.tokensFile) {
      tokensChanged = await this.#reloadFile(this.#files.tokensFile, 'tokens_file', force, (text) => {
        this.#tokens = parseTokens(text);
      }, (text) => {
        if (text === undefined) return 'the previous tokens stay in force';
        const before = this.#tokens.names.length;
        this.#tokens = tokensStillListed(this.#tokens, text);
        return `tokens whose line was deleted or changed are revoked (${before - this.#tokens.names.length} now), no token is added, the others stay in force`;
      });
    }
    if (policyChanged || tokensChanged) this.#log.info('policy reloaded', { tenants: this.#policy?.tenants.length, tokens: this.#tokens.names.length });
    return policyChanged || tokensChanged;
  }

  /**
   * Reads one file if it changed since the version in force, or if it failed
   * last time (so a failing file is reported every poll). `apply` throws for
   * a file that does not load; `fallback` then does what can safely be done
   * with its text (undefined: unreadable) and says what stays in force.
   */
  async #reloadFile(path: string, setting: 'policy_file' | 'tokens_file', force: boolean, apply: (text: string) => void, fallback: (text: string | undefined) => string): Promise<boolean> {
    const stamp = await fileStamp(path);
    if (!force && !this.#failing.has(path) && stamp === this.#stamps.get(path)) return false;
    let text: string | undefined;
    try {
      text = await readSetting(path, setting);
      apply(text);
    } catch (err) {
      this.#failing.add(path);
      this.#stamps.set(path, stamp);
      this.#health.failed(setting, (err as Error).message, fallback(text));
      return false;
    }
    this.#failing.delete(path);
    this.#stamps.set(path, stamp);
    this.#health.loaded(setting);
    return true;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * @throws CairnError UNAUTHENTICATED (no valid credential, or a wrong token),
   *   PERMISSION_DENIED (authenticated, but the policy maps the caller to no tenant)
   */
  authenticate(call: CallCredentials): Caller {
    if (!this.enabled) return { principal: '', tenant: undefined, limitKey: `peer:${peerHost(call.getPeer())}` };
    const identity: Identity = {};
    const cert = call.getAuthContext().sslPeerCertificate;
    // grpc-js reports a peer certificate only when the handshake verified it against the client CA.
    if (cert?.raw) Object.assign(identity, this.#certIdentity(cert.raw, cert.fingerprint256));
    const auth = call.metadata.get('authorization');
    if (auth.length > 0) {
      if (auth.length !== 1 || auth[0] === UNUSABLE_AUTHORIZATION) {
        // raw-authorization.ts saw two values, or one HTTP/2 or grpc-js would have dropped.
        throw new CairnError('UNAUTHENTICATED', 'authorization header not usable: send exactly one "Bearer <name>.<secret>" of printable ASCII');
      }
      const m = typeof auth[0] === 'string' ? BEARER_RE.exec(auth[0]) : null;
      const name = m ? this.#tokens.check(m[1] as string) : undefined;
      if (name === undefined) throw new CairnError('UNAUTHENTICATED', 'bearer token not accepted');
      identity.token = name;
    }
    if (identity.subject === undefined && identity.token === undefined) {
      throw new CairnError('UNAUTHENTICATED', 'authentication required: a client certificate from the node\'s client CA, or a bearer token');
    }
    const r = this.#policy!.resolve(identity);
    if (!r) throw new CairnError('PERMISSION_DENIED', 'the node\'s policy grants this identity no tenant');
    return { principal: r.principal, tenant: r.tenant, limitKey: r.principal };
  }

  canAppend(c: Caller, log: string): boolean {
    return !this.enabled || this.#policy!.can(c.tenant, 'append', log);
  }

  canRead(c: Caller, log: string): boolean {
    return !this.enabled || this.#policy!.can(c.tenant, 'read', log);
  }

  canAnchorRead(c: Caller): boolean {
    return !this.enabled || this.#policy!.canAnchorRead(c.tenant);
  }

  /** The logs the caller may read as names and prefixes; `undefined`: every log (authentication off). */
  readScope(c: Caller): ReadScope | undefined {
    return this.enabled ? this.#policy!.readScope(c.tenant) : undefined;
  }

  /** The quotas the policy in force sets for `tenant`. */
  quotaOf(tenant: string): TenantQuota {
    return this.enabled ? this.#policy!.quotaOf(tenant) : {};
  }

  /** The tenant an entry's recorded identity maps to under the policy in force. */
  tenantOfPrincipal(principal: string): string | undefined {
    return this.enabled ? this.#policy!.tenantOfPrincipal(principal) : undefined;
  }

  #certIdentity(raw: Buffer, fingerprint: string | undefined): Identity {
    const key = fingerprint ?? raw.toString('base64');
    const hit = this.#certs.get(key);
    if (hit) return hit;
    const id = certificateIdentity(raw);
    if (this.#certs.size >= MAX_CACHED_CERTS) this.#certs.clear();
    this.#certs.set(key, id);
    return id;
  }
}

async function fileStamp(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : 'missing';
}

async function readSetting(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new CairnError('INVALID_ARGUMENT', `setting ${setting}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { field: setting });
  }
}

/** `ipv4:127.0.0.1:5000`, `127.0.0.1:5000`, `[::1]:5000` -> the host part. */
function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, '');
  const colon = p.lastIndexOf(':');
  return colon > 0 ? p.slice(0, colon) : p;
}

/**
 * The identity a verified client certificate carries, rendered as the policy
 * compares it: the subject's attributes in certificate order joined by `,`
 * (`CN=ci,O=example`), and each SAN as `<type>:<value>` with type dns, uri,
 * email or ip (other SAN types are ignored).
 */
export function certificateIdentity(raw: Buffer): Identity {
  const x = new X509Certificate(raw);
  const id: Identity = { subject: x.subject.split('\n').join(',') };
  const sans = parseSubjectAltName(x.subjectAltName ?? '');
  if (sans.length > 0) id.sans = sans;
  return id;
}

const SAN_PREFIX: Record<string, string> = { DNS: 'dns', URI: 'uri', email: 'email', 'IP Address': 'ip' };

/**
 * Node renders SANs as `DNS:a, IP Address:127.0.0.1, URI:spiffe://x`; a value
 * that contains a comma or a quote is written as a JSON string
 * (`DNS:"a,b"`), so values are read with that rule rather than split on ", ".
 */
export function parseSubjectAltName(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const type = s.slice(i, colon);
    let value: string;
    let end: number;
    if (s[colon + 1] === '"') {
      // JSON string: find the closing quote that is not escaped.
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        break;
      }
      end = j + 1;
    } else {
      const comma = s.indexOf(', ', colon + 1);
      end = comma < 0 ? s.length : comma;
      value = s.slice(colon + 1, end);
    }
    const prefix = SAN_PREFIX[type];
    if (prefix) out.push(`${prefix}:${value}`);
    i = end + 2;
  }
  return out;
}
