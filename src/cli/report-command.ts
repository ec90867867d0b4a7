/**
 * `cairn report`: an audit report of a log over a period, as one
 * self-contained HTML file (src/report/). The log is verified exactly as
 * `cairn verify` (or `cairn verify-bundle`, offline) verifies it, by the same
 * verifier, and the report is built from what that verifier read: the
 * entries it checked and the checkpoint it checked them against, never a
 * second fetch. A failed verification still writes the report, which then
 * says so first, and exits 1 like `verify`.
 *
 * Reproducible: nothing of the moment goes in (no generation time unless
 * --generated-at is given, no server address, no file path), so reports of
 * the same log, key and period are byte-identical.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CONNECT_OPTIONS, connect } from './connect.js';
import { EXIT_OK, EXIT_VERIFY_FAILED, UsageError, printJson } from './output.js';
import { verifyBundleFile, verifyLogOnline, type AnchorRootReader, type VerifyObserver, type VerifyResult } from '../client/verify-log.js';
import { readLines } from '../client/line-reader.js';
import type { LedgerClient } from '../client/ledger-client.js';
import type { FabricAnchorReader } from '../anchoring/fabric-reader.js';
import { ecdsaKeyId } from '../core/note.js';
import { followKeyChain, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { MAX_BUNDLE_LINE, parseBundleHeader, type BundleHeader } from '../core/bundle.js';
import { isCairnError, isVerificationError, VerificationError } from '../core/errors.js';
import { toHex } from '../core/bytes.js';
import { parsePeriod, parseTime, isoTime, type Period } from '../report/period.js';
import { ReportSummarizer } from '../report/summarize.js';
import { renderReportChunks } from '../report/render-report.js';
import { WITNESS_FLAGS, readPinnedKey, witnessPolicy, type WitnessPolicy } from './witness-flags.js';
import type { ReportAnchors, ReportAnchorWindow, ReportCheckpoint, ReportData, ReportKey, ReportVerification, ReportWitness } from '../report/report-data.js';

type Values = Record<string, string | boolean | undefined>;

const OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  ...CONNECT_OPTIONS,
  log: { type: 'string' },
  bundle: { type: 'string' },
  pubkey: { type: 'string' },
  'node-name': { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  out: { type: 'string' },
  'max-rows': { type: 'string' },
  threads: { type: 'string' },
  'fabric-config': { type: 'string' },
  'generated-at': { type: 'string' },
  ...WITNESS_FLAGS,
};

function parse(args: string[]): Values {
  try {
    return parseArgs({ args, options: { ...OPTIONS, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true }).values as Values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function str(v: Values, name: string): string | undefined {
  const x = v[name];
  if (x === undefined) return undefined;
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} needs a value`);
  return x;
}

function count(v: Values, name: string, min: number): number | undefined {
  const x = str(v, name);
  if (x === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(x) || Number(x) < min) throw new UsageError(`--${name} must be an integer of at least ${min}`);
  return Number(x);
}

/** A CairnError naming a field (`from: ...`) as the flag it came from (`--from: ...`). */
function asFlagError(err: unknown): never {
  if (isCairnError(err) && err.code === 'INVALID_ARGUMENT') throw new UsageError(`--${err.message}`);
  throw err;
}

function period(v: Values): Period {
  try {
    return parsePeriod(str(v, 'from'), str(v, 'to'));
  } catch (err) {
    asFlagError(err);
  }
}

function generatedAt(v: Values): string | undefined {
  const x = str(v, 'generated-at');
  if (x === undefined) return undefined;
  if (x === 'now') return isoTime(Date.now());
  try {
    return isoTime(parseTime(x, 'generated-at'));
  } catch (err) {
    asFlagError(err);
  }
}

async function pinned(v: Values): Promise<Uint8Array> {
  return readPinnedKey(str(v, 'pubkey') ?? process.env.CAIRN_PUBKEY, 'a report states what verified against a pinned key, never the server\'s word');
}

const keyIdHex = (spki: Uint8Array): string => ecdsaKeyId(spki).toString(16).padStart(8, '0');
const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The pinned key, and the keys the chain leads to when it verifies (the verifier fails the report when it does not). */
function reportKey(spki: Uint8Array, chain: readonly KeyLink[]): ReportKey {
  let keys: Uint8Array[] = [spki];
  try {
    keys = followKeyChain(spki, chain);
  } catch {
    // Reported by the verifier, which follows the same chain.
  }
  return { fingerprint: sha256Hex(spki), keyId: keyIdHex(spki), rotatedTo: keys.slice(1).map((k) => ({ fingerprint: sha256Hex(k), keyId: keyIdHex(k) })) };
}

function failure(err: VerificationError): ReportVerification {
  const evidence: Record<string, string | number> = {};
  for (const [k, x] of Object.entries(err.evidence)) if (typeof x === 'string' || typeof x === 'number') evidence[k] = x;
  return { ok: false, code: err.code, message: err.message, ...(typeof err.evidence.seq === 'number' ? { seq: err.evidence.seq } : {}), evidence };
}

/** What the verifier read, gathered as it reads. */
interface Gathered {
  readonly summarizer: ReportSummarizer;
  readonly observer: VerifyObserver;
  /** The checkpoint the entries were checked against, once opened. */
  checkpoint(): ReportCheckpoint | undefined;
  /** Takes the verifier's result once it passed. */
  verified(r: VerifyResult): void;
  /** The pinned witnesses whose cosignatures verified (with --witness-key), or undefined. */
  witnesses(): ReportWitness[] | undefined;
}

function gather(p: Period, maxRows: number | undefined): Gathered {
  const summarizer = new ReportSummarizer({ period: p, ...(maxRows !== undefined ? { maxRows } : {}) });
  let checkpoint: ReportCheckpoint | undefined;
  let witnesses: ReportWitness[] | undefined;
  return {
    summarizer,
    observer: {
      entry: (body) => summarizer.add(body),
      checkpoint: (note, cp) => {
        checkpoint = { origin: cp.origin, size: cp.size, rootHash: toHex(cp.rootHash), note };
      },
    },
    checkpoint: () => checkpoint,
    verified: (r) => {
      witnesses = r.witnesses?.map((w) => ({ name: w.name, keyId: w.keyId, verified: true }));
    },
    witnesses: () => witnesses,
  };
}

function withWitnesses(w: WitnessPolicy | undefined): { witnesses?: WitnessPolicy } {
  return w ? { witnesses: w } : {};
}

function witnessesOf(g: Gathered): { witnesses?: ReportWitness[] } {
  const w = g.witnesses();
  return w ? { witnesses: w } : {};
}

/** Runs a verification; a VerificationError becomes the report's failure, anything else (a connection) is not a report. */
async function verified(gathered: Gathered, run: () => Promise<VerifyResult>): Promise<ReportVerification> {
  try {
    const r = await run();
    gathered.verified(r);
    return { ok: true, entriesVerified: r.entriesVerified };
  } catch (err) {
    if (isVerificationError(err)) return failure(err);
    throw err;
  }
}

async function openFabric(v: Values, origin: () => Promise<string>, log: string): Promise<FabricAnchorReader | undefined> {
  const path = str(v, 'fabric-config');
  if (path === undefined) return undefined;
  const { loadFabricSettings } = await import('../node/config.js');
  const settings = await loadFabricSettings(path);
  const o = await origin();
  const { FabricAnchorReader } = await import('../anchoring/fabric-reader.js');
  return FabricAnchorReader.open(settings, o.slice(0, o.length - log.length - 1));
}

async function fromNode(v: Values, log: string, key: Uint8Array, gathered: Gathered, witnesses: WitnessPolicy | undefined): Promise<Omit<ReportData, 'summary' | 'generatedAt' | 'generator'>> {
  const nodeName = str(v, 'node-name');
  const c: LedgerClient = connect(v);
  let reader: FabricAnchorReader | undefined;
  try {
    const { keyChain } = await c.publicKey();
    // Listed before verifying: every window listed here is among those the verifier checks.
    let listed: Awaited<ReturnType<LedgerClient['listAnchors']>> | undefined;
    try {
      listed = await c.listAnchors(log);
    } catch (err) {
      // Anchoring off on the node (anchor_backend = off).
      if ((err as { code?: unknown }).code !== grpc.status.FAILED_PRECONDITION) throw err;
    }
    let anchors: AnchorRootReader | undefined;
    let readFrom = '';
    if (listed) {
      reader = await openFabric(v, async () => openLogCheckpointWithKeys((await c.getCheckpoint(log)).note, log, followKeyChain(key, keyChain), nodeName).checkpoint.origin, log);
      if (reader) {
        anchors = reader;
        readFrom = reader.describe;
      } else {
        anchors = { describe: 'the node\'s local anchor store', root: async (w) => (await c.getAnchor(w).catch(() => undefined))?.root };
        readFrom = 'the node itself (its anchor store: consistency with past anchors, not independence from the operator; --fabric-config reads a Fabric channel)';
      }
    }
    const verification = await verified(gathered, () =>
      verifyLogOnline(c, log, { publicKeySpki: key, keyChain, nodeName, signatureThreads: count(v, 'threads', 0), anchors, observer: gathered.observer, ...withWitnesses(witnesses) }),
    );
    const size = gathered.checkpoint()?.size ?? 0;
    const windows: ReportAnchorWindow[] = [];
    for (const a of listed ?? []) {
      const cp = a.checkpoints.find((x) => x.log === log);
      if (a.state !== 'committed' || !cp || cp.size > size) continue;
      windows.push({ window: a.window, size: cp.size, root: a.root, backend: a.receipt.backend, txId: a.receipt.txId, block: a.receipt.block });
    }
    const anchorsData: ReportAnchors = listed ? { status: 'checked', readFrom, windows } : { status: 'off', readFrom: '', windows: [] };
    return { log, source: { kind: 'node' }, verification, key: reportKey(key, keyChain), ...(gathered.checkpoint() ? { checkpoint: gathered.checkpoint()! } : {}), anchors: anchorsData, ...witnessesOf(gathered) };
  } finally {
    reader?.close();
    c.close();
  }
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  } catch (e) {
    throw new UsageError(`cannot read --bundle ${path}: ${(e as Error).message}`);
  }
  return h.digest('hex');
}

async function bundleHeader(path: string): Promise<BundleHeader | undefined> {
  const lines = readLines(path, MAX_BUNDLE_LINE, () => new Error('header too long'));
  try {
    const first = await lines.next();
    return first.done ? undefined : parseBundleHeader(first.value);
  } catch {
    return undefined; // the verifier reads it again and reports what is wrong with it
  } finally {
    await lines.return(undefined);
  }
}

async function fromBundle(v: Values, path: string, key: Uint8Array, gathered: Gathered, witnesses: WitnessPolicy | undefined): Promise<Omit<ReportData, 'summary' | 'generatedAt' | 'generator'>> {
  const nodeName = str(v, 'node-name');
  const sha256 = await fileSha256(path);
  const header = await bundleHeader(path);
  let chain: KeyLink[] = [];
  try {
    chain = header?.keyChain === undefined ? [] : parseKeyLinks(header.keyChain);
  } catch {
    // The verifier reports a malformed chain.
  }
  const log = header?.log ?? '(unreadable bundle)';
  let reader: FabricAnchorReader | undefined;
  try {
    if (header) reader = await openFabric(v, async () => openLogCheckpointWithKeys(header.checkpoint, header.log, followKeyChain(key, chain), nodeName).checkpoint.origin, header.log);
    const verification = await verified(gathered, () => verifyBundleFile(path, { publicKeySpki: key, nodeName, signatureThreads: count(v, 'threads', 0), anchors: reader, observer: gathered.observer, ...withWitnesses(witnesses) }));
    const windows: ReportAnchorWindow[] = [];
    if (verification.ok && header) {
      const keys = followKeyChain(key, chain);
      for (const a of header.anchors ?? []) {
        const size = openLogCheckpointWithKeys(a.checkpoint, header.log, keys, nodeName).checkpoint.size;
        windows.push({ window: a.window, size, root: a.root, backend: a.backend, txId: a.txId, block: a.block });
      }
    }
    return {
      log,
      source: { kind: 'bundle', sha256 },
      verification,
      key: reportKey(key, chain),
      ...(gathered.checkpoint() ? { checkpoint: gathered.checkpoint()! } : {}),
      anchors: { status: 'checked', readFrom: reader ? `the bundle's anchor proofs, roots compared with ${reader.describe}` : 'the bundle\'s anchor proofs (with --fabric-config, also compared with the channel)', windows },
      ...witnessesOf(gathered),
    };
  } finally {
    reader?.close();
  }
}

async function version(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? `cairn ${pkg.version}` : 'cairn';
  } catch {
    return 'cairn';
  }
}

/** Writes the report beside its final name, then renames: a reader never sees half a report. */
async function writeReport(out: string, data: ReportData): Promise<{ bytes: number; sha256: string }> {
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  let fh;
  try {
    fh = await open(tmp, 'w');
  } catch (e) {
    throw new UsageError(`cannot create --out ${out}: ${(e as Error).message}`);
  }
  const h = createHash('sha256');
  let bytes = 0;
  try {
    let pending: string[] = [];
    let size = 0;
    const flush = async (): Promise<void> => {
      const buf = Buffer.from(pending.join(''), 'utf8');
      pending = [];
      size = 0;
      h.update(buf);
      bytes += buf.length;
      await fh.write(buf);
    };
    for (const chunk of renderReportChunks(data)) {
      pending.push(chunk);
      size += chunk.length;
      if (size >= 1 << 20) await flush();
    }
    await flush();
    await fh.close();
    await rename(tmp, out);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return { bytes, sha256: h.digest('hex') };
}

export async function report(args: string[]): Promise<number> {
  const v = parse(args);
  const log = str(v, 'log');
  const bundle = str(v, 'bundle');
  if ((log === undefined) === (bundle === undefined)) throw new UsageError('give --log NAME (from the node) or --bundle FILE (offline), one of them');
  const out = str(v, 'out');
  if (out === undefined) throw new UsageError('--out FILE.html is required');
  const p = period(v);
  const maxRows = count(v, 'max-rows', 1);
  count(v, 'threads', 0);
  const at = generatedAt(v);
  const key = await pinned(v);
  const witnesses = await witnessPolicy(v);
  const gathered = gather(p, maxRows);
  const facts = bundle !== undefined ? await fromBundle(v, bundle, key, gathered, witnesses) : await fromNode(v, log!, key, gathered, witnesses);
  const summary = gathered.summarizer.finish();
  const data: ReportData = { ...facts, ...(facts.verification.ok ? { summary } : {}), ...(at !== undefined ? { generatedAt: at } : {}), generator: await version() };
  const written = await writeReport(out, data);
  const ok = data.verification.ok;
  printJson({
    ok,
    log: data.log,
    out,
    bytes: written.bytes,
    sha256: written.sha256,
    ...(ok ? { entriesVerified: summary.logEntries, inPeriod: summary.inPeriod, driftEpisodes: summary.drift.episodes.length } : {}),
  });
  if (!data.verification.ok) {
    const f = data.verification;
    process.stderr.write(`cairn: VERIFICATION FAILED [${f.code}] ${f.message}\n  the report says so first: ${out}\n`);
    return EXIT_VERIFY_FAILED;
  }
  return EXIT_OK;
}
