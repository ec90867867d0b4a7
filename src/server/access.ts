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
 * `auth_reload_ms`, and at once on SIGHUP). A file that does not compile is
 * refused whole and the previous policy stays in force. Calls and streams in
 * progress are not dropped; each new call is checked against the policy in
 * force when it starts.
 *
 * With no policy file the node runs open (it then listens on loopback only,
 * see config.ts) and records an empty identity.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { CairnError } from '../core/errors.js';
import { compilePolicy, type CompiledPolicy, type Identity } from '../auth/policy.js';
import { parseTokens, type TokenStore } from '../auth/tokens.js';
import type { Logger } from '../core/logger.js';

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
  #policy: CompiledPolicy | undefined;
  #tokens: TokenStore = NO_TOKENS;
  #stamp = '';
  #timer: NodeJS.Timeout | undefined;
  /** Reloads run one after another, so a reload asked for after a change always reads it. */
  #queue: Promise<boolean> = Promise.resolve(false);
  /** Certificate fingerprint -> identity: parsing X.509 on every call would cost more than the call. */
  readonly #certs = new Map<string, Identity>();

  private constructor(files: AccessFiles, log: Logger) {
    this.enabled = files.policyFile !== '';
    this.#files = files;
    this.#log = log;
  }

  /**
   * Loads the policy and tokens and starts watching them.
   * @throws CairnError INVALID_ARGUMENT (`policy line N: ...`, `tokens line N: ...`, or a file that cannot be read)
   */
  static async open(files: AccessFiles, log: Logger): Promise<Access> {
    const a = new Access(files, log);
    if (a.enabled) {
      await a.#load(await a.#fileStamp());
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
    try {
      const stamp = await this.#fileStamp();
      if (!force && stamp === this.#stamp) return false;
      await this.#load(stamp);
      this.#log.info('policy reloaded', { tenants: this.#policy?.tenants.length, tokens: this.#tokens.names.length });
      return true;
    } catch (err) {
      this.#log.error('policy not reloaded; the previous policy stays in force', { reason: (err as Error).message });
      return false;
    }
  }

  async #fileStamp(): Promise<string> {
    const parts: string[] = [];
    for (const f of [this.#files.policyFile, this.#files.tokensFile]) {
      if (!f) continue;
      const s = await stat(f).catch(() => undefined);
      parts.push(s ? `${s.ino}:${s.size}:${s.mtimeMs}` : 'missing');
    }
    return parts.join('|');
  }

  /** `stamp`: the files' stat taken before reading them, so a change during the read is seen next time. */
  async #load(stamp: string): Promise<void> {
    const policy = compilePolicy(await readSetting(this.#files.policyFile, 'policy_file'));
    const tokens = this.#files.tokensFile ? parseTokens(await readSetting(this.#files.tokensFile, 'tokens_file')) : NO_TOKENS;
    // Swapped together: a call sees one consistent (policy, tokens) pair.
    this.#policy = policy;
    this.#tokens = tokens;
    this.#stamp = stamp;
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
      const m = auth.length === 1 && typeof auth[0] === 'string' ? /^Bearer ([\x21-\x7e]{1,256})$/.exec(auth[0]) : null;
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
