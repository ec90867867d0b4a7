/**
 * A throwaway PKI made with the openssl CLI (installed by scripts/test-deps.sh):
 * a CA, a server certificate for localhost, and client certificates that are
 * valid, expired, or issued by another CA. ECDSA P-256 throughout.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: Pair;
  server: Pair;
  /** A client certificate from this CA: subject like `/CN=ci/O=example`, optional SAN DNS names. */
  client(name: string, subject: string, opts?: { dns?: string[]; expired?: boolean }): Promise<Pair>;
  /** A client certificate that a different CA issued. */
  foreignClient(name: string, subject: string): Promise<Pair>;
  /** A server certificate for localhost (another serial): what a renewal installs. */
  renewServer(name: string): Promise<Pair>;
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

async function newCa(dir: string, name: string): Promise<Pair> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '3',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return { cert, key };
}

/**
 * Issues with `openssl ca`, which (unlike `x509 -req` in OpenSSL 3.0) takes
 * explicit start and end dates, so an expired certificate can be made.
 */
async function issue(dir: string, ca: Pair, name: string, subject: string, ext: string, dates?: { start: string; end: string }): Promise<Pair> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const caDir = join(dir, `ca-db-${name}`);
  await mkdir(join(caDir, 'new'), { recursive: true });
  await writeFile(join(caDir, 'index.txt'), '');
  await writeFile(join(caDir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  const cnf = join(caDir, 'ca.cnf');
  await writeFile(
    cnf,
    [
      '[ ca ]',
      'default_ca = d',
      '[ d ]',
      `database = ${join(caDir, 'index.txt')}`,
      `new_certs_dir = ${join(caDir, 'new')}`,
      `serial = ${join(caDir, 'serial')}`,
      'default_md = sha256',
      'default_days = 2',
      'policy = any',
      'unique_subject = no',
      'email_in_dn = no',
      '[ any ]',
      'commonName = supplied',
      'organizationName = optional',
      '[ ext ]',
      ext,
      '',
    ].join('\n'),
  );
  await openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', subject);
  const when = dates ? ['-startdate', dates.start, '-enddate', dates.end] : [];
  await openssl(dir, 'ca', '-batch', '-notext', '-config', cnf, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert, '-extensions', 'ext', ...when);
  return { cert, key };
}

export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const ca = await newCa(dir, 'ca');
  const serverExt = 'subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth';
  const server = await issue(dir, ca, 'server', '/CN=localhost', serverExt);
  let other: Pair | undefined;
  return {
    dir,
    ca,
    server,
    async client(name, subject, opts = {}) {
      const san = opts.dns?.length ? `subjectAltName = ${opts.dns.map((d) => `DNS:${d}`).join(', ')}\n` : '';
      const ext = `${san}extendedKeyUsage = clientAuth`;
      return issue(dir, ca, name, subject, ext, opts.expired ? { start: '20200101000000Z', end: '20200102000000Z' } : undefined);
    },
    async foreignClient(name, subject) {
      other ??= await newCa(dir, 'other-ca');
      return issue(dir, other, name, subject, 'extendedKeyUsage = clientAuth');
    },
    async renewServer(name) {
      return issue(dir, ca, name, '/CN=localhost', serverExt);
    },
  };
}
