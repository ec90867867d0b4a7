/**
 * Live state in a directory of YAML files: the embedded default target, and
 * the one a node can run with nothing else installed.
 *
 * - `list` reads every `*.yaml`, `*.yml` and `*.json` file below the
 *   directory (hidden files and directories skipped) with the same YAML 1.1
 *   reading as Git manifests. A file that does not parse, or a key defined
 *   twice, fails the listing (UNAVAILABLE): live state that cannot be read is
 *   not guessed at.
 * - `watch` follows `fs.watch` (recursive) with a short debounce, plus a
 *   periodic rescan because file-system events can be lost or coalesced.
 *   Rescans are cheap: a file is re-read only when its (inode, size, mtime)
 *   changed or an event named it. While a file is broken mid-edit its last
 *   good objects stand and `onError` is told; nothing is deleted on a parse
 *   error.
 * - `apply` writes one file per object, atomically (temporary file, fsync,
 *   rename, fsync of the directory): an object that was alone in its file is
 *   rewritten in place, others go to `<namespace|_cluster>/<Kind>/<name>.yaml`
 *   and are taken out of the file that held them (that file is re-serialized,
 *   losing its comments).
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { stringify } from 'yaml';
import { CairnError } from '../core/errors.js';
import { addParsed, formatManifestError, MANIFEST_FILE_RE, normalizeObject, parseManifestFile, type ManifestError, type ManifestSet, type ParsedObject } from './manifests.js';
import type { KubeObject, LiveEvent, LiveSnapshot, LiveSource, ObjectKey } from './live-source.js';

export interface DirSourceOptions {
  dir: string;
  /** Namespace of a namespaced object that names none. Default `default`. */
  defaultNamespace?: string;
  clusterScopedKinds?: Iterable<string>;
  /** Quiet time after a file-system event before rescanning. Default 10 ms. */
  debounceMs?: number;
  /** Full rescan period, the fallback for lost events. Default 5 s. */
  rescanMs?: number;
  maxFileBytes?: number;
  /** Told about unreadable files met while watching (their last good objects stand). */
  onError?: (message: string) => void;
}

interface FileState {
  /** `ino:size:mtimeNs` when read. */
  stamp: string;
  parsed: { objects: ParsedObject[]; errors: ManifestError[] };
  /** The last parse without errors, kept while the file is broken. */
  good: { objects: ParsedObject[]; errors: ManifestError[] } | undefined;
}

interface Scan {
  objects: Map<ObjectKey, ParsedObject>;
  version: string;
  errors: ManifestError[];
}

const DEFAULT_MAX_FILE = 4 * 1024 * 1024;

export class DirSource implements LiveSource {
  readonly kind = 'dir' as const;
  readonly describe: string;
  readonly dir: string;
  readonly #opts: DirSourceOptions & { defaultNamespace: string; debounceMs: number; rescanMs: number; maxFileBytes: number };
  readonly #clusterScoped: ReadonlySet<string> | undefined;
  #files = new Map<string, FileState>();
  #current: Scan | undefined;
  #closed = false;
  /** Serializes scans with applies, so a scan never reads a half-applied pair of files. */
  #lock: Promise<unknown> = Promise.resolve();

  constructor(opts: DirSourceOptions) {
    this.dir = resolve(opts.dir);
    this.describe = `dir:${this.dir}`;
    this.#opts = { debounceMs: 10, rescanMs: 5000, maxFileBytes: DEFAULT_MAX_FILE, defaultNamespace: 'default', ...opts };
    this.#clusterScoped = opts.clusterScopedKinds ? new Set(opts.clusterScopedKinds) : undefined;
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#lock.then(fn, fn);
    this.#lock = p.catch(() => undefined);
    return p;
  }

  async #walk(): Promise<string[]> {
    const out: string[] = [];
    const visit = async (d: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && d !== this.dir) return;
        throw new CairnError('UNAVAILABLE', `${this.describe}: cannot read ${d}: ${(e as Error).message}`, { cause: e });
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const p = join(d, e.name);
        if (e.isDirectory()) await visit(p);
        else if (e.isFile() && MANIFEST_FILE_RE.test(e.name)) out.push(relative(this.dir, p).split(sep).join('/'));
      }
    };
    await visit(this.dir);
    return out.sort();
  }

  /** Reads what changed since the last scan; `force` names files to re-read whatever their stamp. */
  async #scan(force: ReadonlySet<string> = new Set()): Promise<Scan> {
    const files = await this.#walk();
    const next = new Map<string, FileState>();
    for (const f of files) {
      const s = await this.#read(f, force.has(f));
      if (s) next.set(f, s);
    }
    this.#files = next;
    return this.#assemble();
  }

  /**
   * The fast path for events that name their files: only those are stat'ed
   * and re-read. Returns undefined when a full scan is needed (a directory
   * appeared or vanished).
   */
  async #scanNamed(names: ReadonlySet<string>): Promise<Scan | undefined> {
    for (const f of names) {
      if (f.split('/').some((seg) => seg.startsWith('.') || seg === '')) continue;
      let st;
      try {
        st = await stat(join(this.dir, f));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
        if (this.#files.delete(f)) continue;
        if ([...this.#files.keys()].some((k) => k.startsWith(f + '/'))) return undefined;
        continue;
      }
      if (st.isDirectory()) return undefined;
      if (!st.isFile() || !MANIFEST_FILE_RE.test(f)) continue;
      const s = await this.#read(f, true);
      if (s) this.#files.set(f, s);
      else this.#files.delete(f);
    }
    return this.#assemble();
  }

  /** The state of one file: the previous one while its stamp holds (unless forced), else read and parsed. */
  async #read(f: string, force: boolean): Promise<FileState | undefined> {
    const abs = join(this.dir, f);
    let st;
    try {
      st = await stat(abs, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // deleted since the walk
      throw new CairnError('UNAVAILABLE', `${this.describe}: cannot stat ${f}: ${(e as Error).message}`, { cause: e });
    }
    const stamp = `${st.ino}:${st.size}:${st.mtimeNs}`;
    const prev = this.#files.get(f);
    if (prev && prev.stamp === stamp && !force) return prev;
    let parsed: FileState['parsed'];
    if (st.size > BigInt(this.#opts.maxFileBytes)) {
      parsed = { objects: [], errors: [{ code: 'FILE_TOO_LARGE', file: f, document: 0, message: `is ${st.size} bytes, over the limit of ${this.#opts.maxFileBytes}` }] };
    } else {
      let text: string;
      try {
        text = await readFile(abs, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new CairnError('UNAVAILABLE', `${this.describe}: cannot read ${f}: ${(e as Error).message}`, { cause: e });
      }
      parsed = parseManifestFile(f, text, { defaultNamespace: this.#opts.defaultNamespace, clusterScopedKinds: this.#clusterScoped });
    }
    // Unchanged text parses to the same objects: keep the old ones, so their identity says "unchanged".
    if (prev && prev.parsed.errors.length === 0 && parsed.errors.length === 0 && JSON.stringify(prev.parsed.objects) === JSON.stringify(parsed.objects)) return { ...prev, stamp };
    return { stamp, parsed, good: parsed.errors.length === 0 ? parsed : prev?.good };
  }

  /** The objects of every file now known, in path order; a broken file keeps its last good objects (its error is reported). */
  #assemble(): Scan {
    const files = [...this.#files.keys()].sort();
    const versionHash = createHash('sha256');
    const set: ManifestSet = { objects: new Map(), errors: [] };
    for (const f of files) {
      const s = this.#files.get(f)!;
      versionHash.update(`${f}\0${s.stamp}\0`);
      if (s.parsed.errors.length > 0) {
        set.errors.push(...s.parsed.errors);
        if (s.good) addParsed(set, s.good);
      } else addParsed(set, s.parsed);
    }
    const scan = { objects: set.objects, version: versionHash.digest('hex').slice(0, 32), errors: set.errors };
    this.#current = scan;
    return scan;
  }

  /** @throws CairnError UNAVAILABLE when a file cannot be read or parsed, or a key is defined twice */
  async list(signal?: AbortSignal): Promise<LiveSnapshot> {
    signal?.throwIfAborted();
    // A listing starts from nothing: no stale objects stand in for broken files.
    const scan = await this.#locked(() => {
      this.#files = new Map();
      return this.#scan();
    });
    if (scan.errors.length > 0) {
      const first = scan.errors.slice(0, 3).map(formatManifestError).join('; ');
      throw new CairnError('UNAVAILABLE', `${this.describe}: ${scan.errors.length} unreadable manifest(s): ${first}`);
    }
    return { objects: objectsOf(scan), version: scan.version };
  }

  async watch(from: string, onEvent: (e: LiveEvent) => void, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    let known = this.#current && this.#current.version === from ? new Map(this.#current.objects) : undefined;
    const pending = new Set<string>();
    /** An event without a file name, or the periodic rescan: walk everything. */
    let full = false;
    let firstEventAt: bigint | undefined;
    let timer: NodeJS.Timeout | undefined;
    let scanning: Promise<void> | undefined;
    let again = false;
    let reportedErrors = '';

    const rescan = async (): Promise<void> => {
      const receivedAt = firstEventAt ?? process.hrtime.bigint();
      firstEventAt = undefined;
      const named = new Set(pending);
      const all = full;
      pending.clear();
      full = false;
      let scan: Scan;
      try {
        scan = await this.#locked(async () => (!all && named.size > 0 && (await this.#scanNamed(named))) || this.#scan(named));
      } catch (e) {
        this.#opts.onError?.((e as Error).message);
        return;
      }
      const errs = scan.errors.map(formatManifestError).join('; ');
      if (errs && errs !== reportedErrors) this.#opts.onError?.(`${this.describe}: ${errs}`);
      reportedErrors = errs;
      if (signal.aborted) return;
      if (!known) {
        known = new Map(scan.objects);
        onEvent({ type: 'resync', objects: objectsOf(scan), receivedAt });
        return;
      }
      for (const [k, o] of scan.objects) {
        const before = known.get(k);
        if (before === o) continue; // from a file that was not re-read
        if (!before || JSON.stringify(before.object) !== JSON.stringify(o.object)) onEvent({ type: 'upsert', key: k, object: o.object, receivedAt });
      }
      for (const k of known.keys()) if (!scan.objects.has(k)) onEvent({ type: 'delete', key: k, receivedAt });
      known = new Map(scan.objects);
    };
    const run = (): void => {
      timer = undefined;
      if (scanning) {
        again = true;
        return;
      }
      scanning = rescan().finally(() => {
        scanning = undefined;
        if (again && !signal.aborted) {
          again = false;
          run();
        }
      });
    };
    const poke = (file?: string): void => {
      if (signal.aborted) return;
      firstEventAt ??= process.hrtime.bigint();
      if (file) pending.add(file.split(sep).join('/'));
      else full = true;
      if (!timer) timer = setTimeout(run, this.#opts.debounceMs);
    };

    let watcher: FSWatcher | undefined;
    try {
      watcher = fsWatch(this.dir, { recursive: true, signal }, (_type, name) => poke(typeof name === 'string' ? name : undefined));
      watcher.on('error', () => poke());
    } catch {
      // No recursive watch on this platform or file system: the periodic rescan still follows changes.
      watcher = undefined;
    }
    const interval = setInterval(() => poke(), this.#opts.rescanMs);
    if (!known) poke();
    try {
      await new Promise<void>((resolveWait) => signal.addEventListener('abort', () => resolveWait(), { once: true }));
    } finally {
      clearInterval(interval);
      if (timer) clearTimeout(timer);
      watcher?.close();
      await scanning;
    }
  }

  /** Makes the live object equal `object` (null deletes it). */
  async apply(key: ObjectKey, object: KubeObject | null): Promise<void> {
    if (this.#closed) throw new CairnError('UNAVAILABLE', `${this.describe} is closed`);
    await this.#locked(async () => {
      if (object) {
        const r = normalizeObject(object, { defaultNamespace: this.#opts.defaultNamespace, clusterScoped: this.#clusterScoped });
        if ('problem' in r) throw new CairnError('INVALID_ARGUMENT', `object ${key}: ${r.problem}`);
        if (r.key !== key) throw new CairnError('INVALID_ARGUMENT', `object is ${r.key}, not ${key}`);
      }
      // Where the key lives now (from a fresh scan, so concurrent edits are seen).
      const scan = await this.#scan();
      const here = scan.objects.get(key);
      const sole = here && this.#files.get(here.file)?.parsed.objects.length === 1 && this.#files.get(here.file)?.parsed.errors.length === 0;
      const target = here && sole ? here.file : canonicalPath(key);
      if (here && !sole) {
        // Take the key out of its shared file: rewrite that file with the others.
        const rest = this.#files.get(here.file)!.parsed.objects.filter((o) => o.key !== key).map((o) => o.object);
        await writeAtomic(join(this.dir, here.file), rest.map((o) => stringify(o, { version: '1.1' })).join('---\n'));
      }
      if (object) await writeAtomic(join(this.dir, target), stringify(object, { version: '1.1' }));
      else if (here && sole) await unlink(join(this.dir, here.file)).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#lock;
  }
}

function objectsOf(scan: Scan): Map<ObjectKey, KubeObject> {
  const m = new Map<ObjectKey, KubeObject>();
  for (const [k, o] of scan.objects) m.set(k, o.object);
  return m;
}

/** `<namespace or _cluster>/<Kind>/<name>.yaml`; key parts are checked by normalizeObject (no `/`, no `..`). */
export function canonicalPath(key: ObjectKey): string {
  const [ns, kind, name] = key.split('/') as [string, string, string];
  return `${ns || '_cluster'}/${kind}/${name}.yaml`;
}

/** Temporary file in the same directory, fsync, rename over, fsync the directory. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export async function dirExists(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}
