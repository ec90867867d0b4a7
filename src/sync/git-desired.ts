/**
 * Desired state from Git: the manifests under a path of a repository, at the
 * head of a branch. The commit hash is the clock of the desired state: the
 * same commit always reads the same objects.
 *
 * Runs the git CLI through `spawn` with argument arrays (never a shell):
 * every value that comes from configuration is validated first (branch
 * names by `git check-ref-format` rules, commits as hex, subpaths without
 * `..`), sits after `--` or `--end-of-options`, and pathspecs are literal.
 * A remote (URL) repository is fetched into a bare cache repository with
 * only the branch it needs; the `ext::` transport and prompts are off.
 *
 * Reading is incremental and spawns nothing: one long-lived `git cat-file
 * --batch` (git-objects.ts) reads the commit and only the trees whose ids
 * changed since the last commit read (trees are content-addressed), and only
 * blobs not parsed before (by object id and path) go through the YAML
 * parser, so a one-file commit costs a few pipe round trips and one parse.
 * Spawned: `rev-parse` for the branch head, `fetch` for a remote.
 */
import { spawn } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { CairnError, invalidArgument } from '../core/errors.js';
import { addParsed, MANIFEST_FILE_RE, parseManifestFile, type ManifestError, type ManifestOptions, type ManifestSet, type ParsedObject } from './manifests.js';
import { GitObjectReader, parseTree, type TreeEntry } from './git-objects.js';
import type { KubeObject, ObjectKey } from './live-source.js';

export interface DesiredState {
  /** Hex commit id (40 or 64 digits). */
  commit: string;
  objects: Map<ObjectKey, KubeObject>;
  /** Where each object was defined (repository-relative path, 1-based document). */
  origins: Map<ObjectKey, { file: string; document: number }>;
  /** Unparsable files, invalid documents, duplicate keys: the state is not trustworthy when non-empty. */
  errors: ManifestError[];
}

/** What the engine needs from a desired-state source (Git here; tests may fake it). */
export interface DesiredSource {
  /** For logs and ledger entries, without credentials. */
  readonly describe: string;
  /** The branch head now (fetching first for a remote repository). */
  head(signal?: AbortSignal): Promise<string>;
  read(commit: string, signal?: AbortSignal): Promise<DesiredState>;
  /** Releases what the source holds open (a git process). */
  close?(): void | Promise<void>;
}

export interface GitDesiredOptions extends ManifestOptions {
  /** A local repository path (work tree or bare) or a URL. */
  repo: string;
  branch: string;
  /** Directory inside the repository ("" for the root). */
  path?: string;
  /** Where remote repositories are fetched (default: `<tmpdir>/cairn-git-cache`). */
  cacheDir?: string;
  /** Larger blobs are reported as FILE_TOO_LARGE, not read. Default 4 MiB. */
  maxFileBytes?: number;
  /** All manifests together; past it the commit is one FILE_TOO_LARGE error and nothing is read. Default 256 MiB. */
  maxTotalBytes?: number;
  /** The git executable. */
  git?: string;
}

const COMMIT_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const URL_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;
// scp-like syntax (user@host:path) as git understands it: no slash before the first colon.
const SCP_RE = /^[^/:]+@[^/:]+:/;
const DEFAULT_MAX_FILE = 4 * 1024 * 1024;
const DEFAULT_MAX_TOTAL = 256 * 1024 * 1024;

/**
 * Branch names as `git check-ref-format --branch` accepts them, minus
 * anything that could read as an option or a revision expression.
 * @throws CairnError INVALID_ARGUMENT
 */
export function validateBranch(branch: string, field = 'branch'): string {
  const bad = (why: string): never => {
    throw invalidArgument(field, `"${branch}" is not a valid branch name: ${why}`);
  };
  if (typeof branch !== 'string' || branch === '') bad('empty');
  if (branch.length > 255) bad('longer than 255 characters');
  if (branch.startsWith('-')) bad('starts with "-"');
  if (branch === '@' || branch === 'HEAD') bad('names no branch');
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(branch)) bad('contains a space, control character or one of ~^:?*[\\');
  if (branch.includes('..') || branch.includes('@{') || branch.includes('//')) bad('contains "..", "@{" or "//"');
  if (branch.startsWith('/') || branch.endsWith('/') || branch.endsWith('.') || branch.endsWith('.lock')) bad('starts or ends with "/", ends with "." or ".lock"');
  if (branch.split('/').some((c) => c.startsWith('.'))) bad('has a component starting with "."');
  return branch;
}

/** A repository-relative directory: no `..`, no absolute path; "" is the root. */
export function validateSubpath(path: string, field = 'path'): string {
  if (/[\u0000-\u001f\u007f]/.test(path)) throw invalidArgument(field, 'contains control characters');
  const segs = path.split('/').filter((s) => s !== '' && s !== '.');
  if (path.startsWith('/')) throw invalidArgument(field, 'must be relative to the repository root');
  if (segs.includes('..')) throw invalidArgument(field, 'may not contain ".."');
  return segs.join('/');
}

export function validateCommit(commit: string): string {
  if (!COMMIT_RE.test(commit)) throw invalidArgument('commit', 'must be a full lowercase hex commit id');
  return commit;
}

export function isRemoteRepo(repo: string): boolean {
  return URL_RE.test(repo) || SCP_RE.test(repo);
}

/** A URL without its user:password part, for logs and entries. */
export function redactUrl(repo: string): string {
  return repo.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/@]*@/, '$1***@');
}

interface Blob {
  oid: string;
  file: string;
}

type ParsedFile = { size: number; objects: ParsedObject[]; errors: ManifestError[] };

/** Regular files (not symlinks, not submodules) named like manifests. */
function isManifestBlob(e: TreeEntry): boolean {
  return (e.mode === '100644' || e.mode === '100755') && MANIFEST_FILE_RE.test(e.name);
}

function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh', LC_ALL: 'C' };
  // A caller's repository selection (e.g. from inside a git hook) must not redirect ours.
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_NAMESPACE', 'GIT_CEILING_DIRECTORIES']) delete env[k];
  return env;
}

interface RunResult {
  stdout: Buffer;
  stderr: string;
}

export class GitDesired implements DesiredSource {
  readonly describe: string;
  readonly #opts: Readonly<GitDesiredOptions> & { path: string; maxFileBytes: number; maxTotalBytes: number; git: string };
  readonly #remote: boolean;
  readonly #gitDir: string;
  readonly #ref: string;
  /** Parsed files by `oid path`: kept for the files of the last commit read. */
  #parsed = new Map<string, ParsedFile>();
  /** Manifest blobs below each tree of the last commit read, by `tree-id prefix`. */
  #trees = new Map<string, Blob[]>();
  #reader: GitObjectReader | undefined;
  #last: DesiredState | undefined;
  #cacheReady: Promise<void> | undefined;

  constructor(opts: GitDesiredOptions) {
    const branch = validateBranch(opts.branch);
    const path = validateSubpath(opts.path ?? '');
    if (!opts.repo) throw invalidArgument('repo', 'is required');
    if (opts.repo.startsWith('-')) throw invalidArgument('repo', 'may not start with "-"');
    if (/[\u0000-\u001f\u007f]/.test(opts.repo)) throw invalidArgument('repo', 'contains control characters');
    // `<transport>::<address>` runs a remote helper (ext:: runs any command): never from configuration.
    if (/^[A-Za-z0-9+.-]+::/.test(opts.repo)) throw invalidArgument('repo', 'remote-helper syntax (transport::address) is not allowed');
    this.#remote = isRemoteRepo(opts.repo);
    this.#opts = { ...opts, branch, path, maxFileBytes: opts.maxFileBytes ?? DEFAULT_MAX_FILE, maxTotalBytes: opts.maxTotalBytes ?? DEFAULT_MAX_TOTAL, git: opts.git ?? 'git' };
    const cacheDir = opts.cacheDir ?? join(process.env.TMPDIR || '/tmp', 'cairn-git-cache');
    this.#gitDir = this.#remote ? join(resolve(cacheDir), createHash('sha256').update(opts.repo).digest('hex').slice(0, 24) + '.git') : resolve(opts.repo);
    // Remote branches land in a namespace of their own in the cache.
    this.#ref = this.#remote ? `refs/cairn/${branch}` : `refs/heads/${branch}`;
    this.describe = `git:${this.#remote ? redactUrl(opts.repo) : this.#gitDir}#${branch}${path ? ':' + path : ''}`;
  }

  #run(args: string[], signal?: AbortSignal, input?: string): Promise<RunResult> {
    const env = gitEnv();
    return new Promise((resolvePromise, reject) => {
      const child = spawn(this.#opts.git, ['--literal-pathspecs', '-c', 'protocol.ext.allow=never', ...args], { env, signal, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => {
        if (err.length < 4096) err += d.toString();
      });
      child.stdin.on('error', () => undefined);
      child.once('error', (e) => {
        if (signal?.aborted) reject(signal.reason ?? e);
        else reject(new CairnError('UNAVAILABLE', `git ${args[0] === '-C' ? args[2] : args[0]}: ${(e as Error).message}`, { cause: e }));
      });
      child.once('close', (code) => {
        if (code === 0) resolvePromise({ stdout: Buffer.concat(out), stderr: err });
        else if (signal?.aborted) reject(signal.reason);
        else {
          const what = args[0] === '-C' ? args[2] : args[0];
          const first = redactUrl(err.trim().split('\n').slice(-1)[0] ?? '');
          reject(new CairnError('UNAVAILABLE', `git ${what} failed (exit ${code}): ${first}`, { cause: new Error(redactUrl(err)) }));
        }
      });
      if (input !== undefined) child.stdin.end(input);
      else child.stdin.end();
    });
  }

  async #ensureCache(signal?: AbortSignal): Promise<void> {
    this.#cacheReady ??= (async () => {
      const exists = await stat(join(this.#gitDir, 'HEAD')).then(() => true, () => false);
      if (!exists) {
        await mkdir(this.#gitDir, { recursive: true, mode: 0o700 });
        await this.#run(['init', '--bare', '--quiet', '--', this.#gitDir], signal);
      }
    })();
    try {
      await this.#cacheReady;
    } catch (e) {
      this.#cacheReady = undefined;
      throw e;
    }
  }

  /**
   * The commit at the branch head. A remote repository is fetched first
   * (shallow, that branch only).
   * @throws CairnError UNAVAILABLE when git fails, NOT_FOUND when the branch does not exist
   */
  async head(signal?: AbortSignal): Promise<string> {
    if (this.#remote) {
      await this.#ensureCache(signal);
      await this.#run(['-C', this.#gitDir, 'fetch', '--quiet', '--no-tags', '--depth=1', '--', this.#opts.repo, `+refs/heads/${this.#opts.branch}:${this.#ref}`], signal);
    }
    let r: RunResult;
    try {
      r = await this.#run(['-C', this.#gitDir, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${this.#ref}^{commit}`], signal);
    } catch (e) {
      if (signal?.aborted) throw e;
      // rev-parse --verify --quiet exits 1 with no output for a missing ref, 128 for no repository.
      const missing = e instanceof CairnError && /exit 1\)/.test(e.message);
      throw missing ? new CairnError('NOT_FOUND', `${this.describe}: branch ${this.#opts.branch} not found`, { cause: e }) : e;
    }
    const commit = r.stdout.toString().trim();
    if (!COMMIT_RE.test(commit)) throw new CairnError('UNAVAILABLE', `${this.describe}: git rev-parse printed no commit id`);
    return commit;
  }

  /**
   * The objects at `commit`. Never throws for bad manifests: they are
   * `errors` of the state (also a subpath the commit does not have: an
   * empty state would read as "everything was removed from Git").
   * @throws CairnError UNAVAILABLE when git fails
   */
  async read(commit: string, signal?: AbortSignal): Promise<DesiredState> {
    validateCommit(commit);
    if (this.#last?.commit === commit) return this.#last;
    signal?.throwIfAborted();
    const reader = (this.#reader ??= new GitObjectReader(this.#gitDir, this.#opts.git, gitEnv()));
    const hashBytes = commit.length / 2;
    const c = await reader.read(commit, 1024 * 1024);
    if (!c || c.type !== 'commit' || !c.data) throw new CairnError('UNAVAILABLE', `${this.describe}: commit ${commit} is not in the repository`);
    const rootTree = /^tree ([0-9a-f]+)$/m.exec(c.data.toString('latin1'))?.[1];
    if (!rootTree) throw new CairnError('UNAVAILABLE', `${this.describe}: commit ${commit} names no tree`);

    // Down to the subpath (a directory, or a single file).
    let tree: string | undefined = rootTree;
    let single: TreeEntry | undefined;
    const segs = this.#opts.path ? this.#opts.path.split('/') : [];
    for (let i = 0; i < segs.length && tree; i++) {
      const entries = await this.#tree(reader, tree, hashBytes);
      const e = entries.find((x) => x.name === segs[i]);
      if (e?.mode === '40000') tree = e.oid;
      else {
        if (e && i === segs.length - 1 && isManifestBlob(e)) single = e;
        tree = undefined;
      }
    }
    const blobs: Blob[] = [];
    const nextTrees = new Map<string, Blob[]>();
    if (single) blobs.push({ oid: single.oid, file: this.#opts.path });
    else if (tree) blobs.push(...(await this.#walk(reader, tree, this.#opts.path ? this.#opts.path + '/' : '', hashBytes, nextTrees)));
    else {
      const error: ManifestError = { code: 'PATH_NOT_FOUND', file: this.#opts.path, document: 0, message: `is not a directory or manifest at ${commit}` };
      this.#last = { commit, objects: new Map(), origins: new Map(), errors: [error] };
      return this.#last;
    }
    this.#trees = nextTrees;

    // Parse what was not parsed before (by blob id and path), within the size bounds.
    const parsed = new Map<string, ParsedFile>();
    const errors: ManifestError[] = [];
    let total = 0;
    for (const b of blobs) {
      const key = `${b.oid} ${b.file}`;
      let p = this.#parsed.get(key);
      if (!p) {
        signal?.throwIfAborted();
        const o = await reader.read(b.oid, this.#opts.maxFileBytes);
        if (!o || o.type !== 'blob') throw new CairnError('UNAVAILABLE', `${this.describe}: blob ${b.oid} (${b.file}) is missing`);
        p = o.data
          ? { size: o.size, ...parseManifestFile(b.file, o.data.toString('utf8'), this.#opts) }
          : { size: o.size, objects: [], errors: [{ code: 'FILE_TOO_LARGE', file: b.file, document: 0, message: `is ${o.size} bytes, over the limit of ${this.#opts.maxFileBytes}` }] };
      }
      parsed.set(key, p);
      total += p.size;
      if (total > this.#opts.maxTotalBytes) {
        // Bounded memory whatever is pushed: a commit this large is an error of the desired state, not a reason to read it.
        errors.push({ code: 'FILE_TOO_LARGE', file: this.#opts.path || '.', document: 0, message: `manifests total over ${this.#opts.maxTotalBytes} bytes (${blobs.length} files)` });
        this.#last = { commit, objects: new Map(), origins: new Map(), errors };
        return this.#last;
      }
    }
    this.#parsed = parsed;
    blobs.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const set: ManifestSet = { objects: new Map(), errors };
    for (const b of blobs) addParsed(set, parsed.get(`${b.oid} ${b.file}`)!);
    const objects = new Map<ObjectKey, KubeObject>();
    const origins = new Map<ObjectKey, { file: string; document: number }>();
    for (const [k, o] of set.objects) {
      objects.set(k, o.object);
      origins.set(k, { file: o.file, document: o.document });
    }
    this.#last = { commit, objects, origins, errors: set.errors };
    return this.#last;
  }

  async #tree(reader: GitObjectReader, oid: string, hashBytes: number): Promise<TreeEntry[]> {
    const o = await reader.read(oid, 64 * 1024 * 1024);
    if (!o || o.type !== 'tree' || !o.data) throw new CairnError('UNAVAILABLE', `${this.describe}: tree ${oid} is missing or too large`);
    return parseTree(o.data, hashBytes);
  }

  /**
   * The manifest blobs below a tree. A subtree whose id did not change since
   * the last read is not read again: its blobs are taken from then (trees
   * are content-addressed), so a commit costs the trees on the changed paths.
   */
  async #walk(reader: GitObjectReader, oid: string, prefix: string, hashBytes: number, next: Map<string, Blob[]>): Promise<Blob[]> {
    const cacheKey = `${oid} ${prefix}`;
    const known = this.#trees.get(cacheKey) ?? next.get(cacheKey);
    if (known) {
      next.set(cacheKey, known);
      return known;
    }
    const out: Blob[] = [];
    for (const e of await this.#tree(reader, oid, hashBytes)) {
      if (e.mode === '40000') out.push(...(await this.#walk(reader, e.oid, `${prefix}${e.name}/`, hashBytes, next)));
      else if (isManifestBlob(e)) out.push({ oid: e.oid, file: prefix + e.name });
    }
    next.set(cacheKey, out);
    return out;
  }

  /** Stops the object reader (a later read starts it again). */
  close(): void {
    this.#reader?.close();
    this.#reader = undefined;
  }
}
