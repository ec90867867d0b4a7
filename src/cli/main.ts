/**
 * `cairn`: the node (serve) and its clients. Each command validates its
 * flags, talks to the node at --server ($CAIRN_SERVER, default
 * 127.0.0.1:7700) or works offline, and prints JSON on stdout.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { open, readFile, unlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { LedgerClient } from '../client/ledger-client.js';
import { collectAnchorProofs, cosignedCheckpoint, corruptionFailure, isCorruptionAnswer, openServedCheckpoint, verifyBundleFile, verifyLogOnline, type AnchorRootReader } from '../client/verify-log.js';
import { VerificationError, type Evidence } from '../core/errors.js';
import type { FabricAnchorReader } from '../anchoring/fabric-reader.js';
import { createProgress } from '../client/progress.js';
import { openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { followKeyChain, keyLinkToJson, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { verifyConsistency, verifyInclusion, leafHash } from '../core/merkle.js';
import { verifyReceipt } from '../core/receipt.js';
import { verifyWitnessQuorum, type PinnedWitness } from '../core/cosignature.js';
import { decodeBody, entryHash } from '../core/entry.js';
import { pemToDer } from '../core/ecdsa-der.js';
import { formatBundleEntry, formatBundleHeader, parseBundleHeader, BUNDLE_FORMAT } from '../core/bundle.js';
import { fromBase64, fromHex, fromUtf8, toBase64, toHex, utf8 } from '../core/bytes.js';
import type { FabricSettings } from '../anchoring/fabric-connection.js';
import { createLogger } from '../node/logger.js';
import { SigningKey, writeKeyFiles } from '../keys/signing-key.js';
import { dirname, resolve } from 'node:path';
import { EXIT_OK, UsageError, entryJson, printJson, reportError } from './output.js';
import { receiptJson } from '../core/receipt-json.js';
import { USAGE } from './usage.js';
import { CONNECT_OPTIONS, connect } from './connect.js';
import { WITNESS_FLAGS, readPinnedKey, witnessPolicy } from './witness-flags.js';
import { createToken } from '../auth/tokens.js';
import type { FederationStatus } from '../core/federation.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

const SERVER: Options = { ...CONNECT_OPTIONS };
/** serve's flags for the access and limit settings (the table in config.ts names them). */
const SERVE_ONLY_FLAGS = /^(http-listen|flux-hmac-key-file|tls-|policy-file|tokens-file|auth-reload-ms|rate-limit-|max-streams-per-identity|tenant-|request-timeout-ms|stream-stall-ms|metrics-remote)/;

function parse(args: string[], options: Options, positionals = 0): { values: Values; positionals: string[] } {
  let r;
  try {
    r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals > 0, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (r.positionals.length > positionals) throw new UsageError(`unexpected argument ${r.positionals[positionals]}`);
  return { values: r.values as Values, positionals: r.positionals };
}

function need(v: Values, name: string): string {
  const x = v[name];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} is required`);
  return x;
}

function int(v: Values, name: string, required = true): number | undefined {
  const x = v[name];
  if (x === undefined) {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  if (typeof x !== 'string' || !/^[0-9]{1,16}$/.test(x) || !Number.isSafeInteger(Number(x))) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(x);
}

function client(v: Values): LedgerClient {
  return connect(v);
}

async function pinnedKey(v: Values): Promise<Uint8Array> {
  return readPinnedKey((v.pubkey as string | undefined) || process.env.CAIRN_PUBKEY, 'verification uses a pinned key, never the server\'s word');
}

/**
 * The keys a pinned key leads to through the node's key chain (GetPublicKey),
 * pinned key first. The chain is verified link by link from the pinned key.
 */
async function chainKeys(c: LedgerClient, pinned: Uint8Array): Promise<Uint8Array[]> {
  return followKeyChain(pinned, (await c.publicKey()).keyChain);
}

/**
 * `cairn proof --seq N --min-witnesses K`: waits (at most `waitMs`, polling)
 * until the node serves a checkpoint that covers entry N and carries K
 * valid cosignatures from the pinned witness keys, then proves the entry in
 * it. The result carries the upgraded receipt (`receipt`), which
 * `cairn verify-receipt --witness-key ... --min-witnesses K` checks offline.
 * @throws VerificationError WITNESS_QUORUM when no such checkpoint came in time
 */
async function proveCosigned(c: LedgerClient, log: string, seq: number, pinned: Uint8Array, nodeName: string | undefined, witnesses: { keys: PinnedWitness[]; min: number }, waitMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + waitMs;
  let cp;
  for (;;) {
    try {
      cp = await cosignedCheckpoint(c, log, witnesses.min);
      if (cp.size > seq) break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'WITNESS_QUORUM' || Date.now() >= deadline) throw err;
    }
    if (Date.now() >= deadline) {
      throw new VerificationError('WITNESS_QUORUM', `no checkpoint of log ${log} covering entry ${seq} got ${witnesses.min} cosignature(s) within ${waitMs} ms`, { log, seq, expected: String(witnesses.min) });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const keyChain = (await c.publicKey()).keyChain;
  const opened = openServedCheckpoint(cp.note, log, cp.size, followKeyChain(pinned, keyChain), nodeName, 'the cosigned checkpoint').checkpoint;
  const quorum = verifyWitnessQuorum(cp.note, cp.cosignatures, witnesses.keys, witnesses.min, { now: Math.floor(Date.now() / 1000) });
  const p = await c.inclusionProof(log, seq, opened.size);
  const e = await c.getEntry(log, seq);
  // The leaf is recomputed from the entry's signed bytes, not taken from the server.
  const body = decodeBody(e.body, { log, seq });
  const hash = entryHash(fromHex(body.prevHash), e.body, e.signature);
  verifyInclusion(leafHash(hash), seq, opened.size, p.hashes, opened.rootHash);
  const receipt = receiptJson({ entry: e, checkpoint: { size: opened.size, rootHash: opened.rootHash, note: cp.note, cosignatures: cp.cosignatures }, inclusionProof: p.hashes, replayed: false }, keyChain);
  return { verified: true, log, seq, size: opened.size, leafHash: toHex(leafHash(hash)), rootHash: toHex(opened.rootHash), hashes: p.hashes.map(toHex), checkpoint: cp.note, witnesses: quorum.witnesses, receipt };
}


/*
 * Loaded on use, so that the commands auditors and CI run often (record, get,
 * verify, proof) do not pay for the node, the sync engine or Fabric: importing
 * them cost every command about 0.3 s (the node's config, gRPC reflection and
 * health, metrics, YAML) and 0.25 s more (fabric-gateway), measured.
 */
const serviceConfig = () => import('../node/config.js');
const loadFabricSettings = async (file: string): Promise<FabricSettings> => (await serviceConfig()).loadFabricSettings(file);

async function openFabricReader(settings: FabricSettings, node: string): Promise<FabricAnchorReader> {
  const { FabricAnchorReader } = await import('../anchoring/fabric-reader.js');
  return FabricAnchorReader.open(settings, node);
}

/** The first line of a file (a bundle's header); verifyBundleFile bounds and parses it again. */
async function firstLine(path: string): Promise<string> {
  const input = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) return line;
    return '';
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  } finally {
    rl.close();
    input.destroy();
  }
}

async function withClient<T>(v: Values, fn: (c: LedgerClient) => Promise<T>): Promise<T> {
  const c = client(v);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/**
 * For a verifying command, a DATA_LOSS answer (the node's stored data
 * contradicts itself) is evidence of tampering: exit 1 naming what was
 * asked for, like any failed check, not exit 2 like a connection error.
 */
async function verifying<T>(what: string, evidence: Evidence, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (isCorruptionAnswer(err)) throw corruptionFailure(err, what, evidence);
    throw err;
  }
}

const commands: Record<string, (args: string[]) => Promise<number>> = {
  async serve(args) {
    const { values } = parse(args, {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      listen: { type: 'string' },
      'metrics-listen': { type: 'string' },
      'node-name': { type: 'string' },
      'key-file': { type: 'string' },
      'log-level': { type: 'string' },
      'max-batch': { type: 'string' },
      'max-queue': { type: 'string' },
      'max-logs': { type: 'string' },
      'max-payload-bytes': { type: 'string' },
      signing: { type: 'string' },
      'anchor-backend': { type: 'string' },
      'anchor-interval-ms': { type: 'string' },
      ...Object.fromEntries((await serviceConfig()).SETTINGS.filter((s) => s.flag.startsWith('fabric-') || SERVE_ONLY_FLAGS.test(s.flag)).map((s) => [s.flag, { type: 'string' as const }])),
    });
    const config = await (await serviceConfig()).loadConfig({ flags: values as Record<string, string>, env: process.env });
    const logger = createLogger(config.logLevel);
    const { startNode } = await import('../node/node.js');
    const node = await startNode(config, logger);
    process.stderr.write(`cairn: serving gRPC on ${node.grpcAddress}${node.httpAddress ? `, the HTTP API on ${node.httpAddress}` : ''}${node.metricsAddress ? `, metrics and health on http://${node.metricsAddress}` : ''} (data ${config.dataDir}, key ${node.key.keyIdHex})\n`);
    // On stdout: the one line a person starting a node looks for.
    if (node.consoleUrl) process.stdout.write(`cairn: the auditor's console is at ${node.consoleUrl}\n`);
    const stop = async (signal: string): Promise<void> => {
      logger.info('shutting down', { signal });
      await node.close();
    };
    // SIGHUP: re-read policy, tokens and TLS files now instead of at the next poll.
    const onHup = (): void => void node.reloadAuth();
    process.on('SIGHUP', onHup);
    const stopped = [once(process, 'SIGINT').then(() => stop('SIGINT')), once(process, 'SIGTERM').then(() => stop('SIGTERM'))];
    // Started by a supervisor over an IPC channel (a test harness, a process
    // manager): when the supervisor dies, even by SIGKILL, the channel closes
    // and the node shuts down cleanly instead of living on unowned.
    if (process.send) stopped.push(once(process, 'disconnect').then(() => stop('supervisor gone')));
    await Promise.race(stopped);
    // Storage is closed and every answer sent. Let go of the supervisor's
    // channel, and do not wait on anything a library left open: a stopped
    // node that lingers holds its port and worries its supervisor.
    if (process.connected) process.disconnect();
    setTimeout(() => {
      logger.warn('handles still open 3 s after shutdown; exiting');
      process.exit(EXIT_OK);
    }, 3000).unref();
    return EXIT_OK;
  },

  async keygen(args) {
    const { values } = parse(args, { out: { type: 'string' } });
    const dir = need(values, 'out');
    const key = SigningKey.generate();
    const paths = await writeKeyFiles(dir, key);
    printJson({ privateKey: paths.privatePath, publicKey: paths.publicPath, keyId: key.keyIdHex });
    return EXIT_OK;
  },

  async token(args) {
    const [sub, ...rest] = args;
    if (sub !== 'create') throw new UsageError('usage: cairn token create --name NAME');
    const { values } = parse(rest, { name: { type: 'string' } });
    const name = need(values, 'name');
    let made;
    try {
      made = createToken(name);
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
    printJson({ name, token: made.token, line: made.line });
    return EXIT_OK;
  },

  async pubkey(args) {
    const { values } = parse(args, { ...SERVER, chain: { type: 'boolean' } });
    const k = await withClient(values, (c) => c.publicKey());
    // --chain: the key links, to follow from a pinned first key (unverified here, as served).
    if (values.chain) printJson({ keyId: k.keyId, nodeName: k.nodeName, keyChain: k.keyChain.map(keyLinkToJson) });
    else process.stdout.write(k.pem);
    return EXIT_OK;
  },

  async 'rotate-key'(args) {
    const { values } = parse(args, { config: { type: 'string' }, 'data-dir': { type: 'string' }, 'key-file': { type: 'string' }, 'node-name': { type: 'string' }, 'new-key': { type: 'string' } });
    need(values, 'data-dir');
    const flags: Record<string, string> = {};
    for (const k of ['config', 'data-dir', 'key-file', 'node-name'] as const) if (typeof values[k] === 'string') flags[k] = values[k];
    const config = await (await serviceConfig()).loadConfig({ flags, env: process.env });
    const { rotateKey } = await import('../ledger/key-rotation.js');
    const r = await rotateKey({
      source: { keyFile: config.keyFile, dataDir: config.dataDir, envPem: config.signingKeyPem },
      nodeName: config.nodeName,
      newKeyFile: typeof values['new-key'] === 'string' ? resolve(values['new-key']) : undefined,
    });
    if (r.updateEnvironment) {
      process.stderr.write(`cairn: the key came from CAIRN_SIGNING_KEY_PEM: set it to the contents of ${r.newKeyFile} (key ${r.keyId}), then delete that file; the node refuses to start with the old key\n`);
    }
    printJson({ ...r, publicKey: resolve(dirname(config.keyFile), 'signing-key.pub.pem') });
    return EXIT_OK;
  },

  async record(args) {
    const { values } = parse(args, {
      ...SERVER,
      log: { type: 'string' },
      'config-id': { type: 'string' },
      operator: { type: 'string' },
      action: { type: 'string' },
      commit: { type: 'string' },
      source: { type: 'string' },
      data: { type: 'string' },
      'data-file': { type: 'string' },
      'request-id': { type: 'string' },
    });
    if (values.data !== undefined && values['data-file'] !== undefined) throw new UsageError('give --data or --data-file, not both');
    let payloadJson = (values.data as string | undefined) ?? '';
    if (values['data-file'] !== undefined) payloadJson = await readFile(values['data-file'] as string, 'utf8');
    if (payloadJson !== '') {
      try {
        JSON.parse(payloadJson);
      } catch (e) {
        const flag = values['data-file'] !== undefined ? `--data-file ${values['data-file'] as string}` : '--data';
        throw new UsageError(`${flag} is not valid JSON: ${(e as Error).message}`);
      }
    }
    const r = await withClient(values, async (c) => {
      const receipt = await c.append({
        log: need(values, 'log'),
        configId: need(values, 'config-id'),
        operator: need(values, 'operator'),
        action: need(values, 'action'),
        commit: (values.commit as string) ?? '',
        source: (values.source as string) ?? '',
        payloadJson,
        requestId: (values['request-id'] as string) ?? '',
      });
      return receiptJson(receipt, (await c.publicKey()).keyChain);
    });
    printJson(r);
    return EXIT_OK;
  },

  async 'verify-receipt'(args) {
    const { values, positionals } = parse(args, { ...WITNESS_FLAGS, pubkey: { type: 'string' }, 'node-name': { type: 'string' } }, 1);
    if (!positionals[0]) throw new UsageError('usage: cairn verify-receipt FILE --pubkey FILE [--witness-key FILE ... --min-witnesses K]');
    const key = await pinnedKey(values);
    const witnesses = await witnessPolicy(values);
    const r = JSON.parse(await readFile(positionals[0], 'utf8')) as { log: string; seq: number; entry: { body: string; signature: string; hash: string }; checkpoint: { note: string; cosignatures?: string[] }; inclusionProof: string[]; keyChain?: unknown };
    // The receipt's key chain is verified link by link from the pinned key; absent, only the pinned key counts.
    const keys = followKeyChain(key, r.keyChain === undefined ? [] : parseKeyLinks(r.keyChain));
    const cp = verifyReceipt(
      {
        entry: { log: r.log, seq: r.seq, body: utf8(r.entry.body), signature: fromBase64(r.entry.signature, 'signature'), hash: fromHex(r.entry.hash, 'hash') },
        checkpointNote: r.checkpoint.note,
        inclusionProof: r.inclusionProof.map((h) => fromHex(h, 'inclusionProof')),
      },
      keys,
      values['node-name'] as string | undefined,
    );
    // The checkpoint's own signature is checked above; its cosignatures here, from the pinned witness keys only.
    const cosigned = witnesses && verifyWitnessQuorum(r.checkpoint.note, Array.isArray(r.checkpoint.cosignatures) ? r.checkpoint.cosignatures : [], witnesses.keys, witnesses.min, { now: Math.floor(Date.now() / 1000) });
    printJson({ ok: true, log: r.log, seq: r.seq, checkpointSize: cp.size, rootHash: toHex(cp.rootHash), ...(cosigned ? { witnesses: cosigned.witnesses } : {}) });
    return EXIT_OK;
  },

  async get(args) {
    const { values } = parse(args, { ...SERVER, log: { type: 'string' }, seq: { type: 'string' } });
    const e = await withClient(values, (c) => c.getEntry(need(values, 'log'), int(values, 'seq')!));
    printJson(entryJson(e));
    return EXIT_OK;
  },

  async checkpoint(args) {
    const { values } = parse(args, { ...SERVER, log: { type: 'string' }, size: { type: 'string' }, pubkey: { type: 'string' }, 'node-name': { type: 'string' } });
    const log = need(values, 'log');
    // With --pubkey: verified before printing, under the pinned key or a key its chain leads to.
    const pinned = values.pubkey === undefined ? undefined : await pinnedKey(values);
    const size = int(values, 'size', false) ?? 0;
    const cp = await withClient(values, async (c) => {
      const asked = c.getCheckpoint(log, size);
      const got = await (pinned ? verifying(size === 0 ? `the latest checkpoint of log ${log}` : `the checkpoint of log ${log} at size ${size}`, { log, ...(size === 0 ? {} : { size }) }, asked) : asked);
      if (pinned) {
        const opened = openServedCheckpoint(got.note, log, got.size, await chainKeys(c, pinned), values['node-name'] as string | undefined, 'the checkpoint').checkpoint;
        return { ...got, size: opened.size, rootHash: opened.rootHash, verified: true };
      }
      return got;
    });
    printJson({ log: cp.log, size: cp.size, rootHash: toHex(cp.rootHash), note: cp.note, ...('verified' in cp ? { verified: true } : {}) });
    return EXIT_OK;
  },

  async logs(args) {
    const { values } = parse(args, SERVER);
    const logs = await withClient(values, (c) => c.listLogs());
    printJson(logs.map((l) => ({ log: l.log, size: l.size, rootHash: toHex(l.rootHash) })));
    return EXIT_OK;
  },

  async verify(args) {
    const { values } = parse(args, { ...SERVER, ...WITNESS_FLAGS, log: { type: 'string' }, pubkey: { type: 'string' }, state: { type: 'string' }, 'node-name': { type: 'string' }, threads: { type: 'string' }, anchors: { type: 'boolean' }, 'fabric-config': { type: 'string' } });
    const log = need(values, 'log');
    const witnesses = await witnessPolicy(values);
    const fabricConfig = values['fabric-config'] as string | undefined;
    if (fabricConfig !== undefined && !values.anchors) throw new UsageError('--fabric-config reads anchors: use it with --anchors');
    const key = await pinnedKey(values);
    const fabric = fabricConfig === undefined ? undefined : await loadFabricSettings(fabricConfig);
    let reader: FabricAnchorReader | undefined;
    try {
      const r = await withClient(values, async (c) => {
        let anchors: AnchorRootReader | undefined;
        if (fabric) {
          // The node's name as its pinned key signs it (or --node-name): the channel keys its windows by it.
          const origin = openLogCheckpointWithKeys((await c.getCheckpoint(log)).note, log, await chainKeys(c, key), values['node-name'] as string | undefined).checkpoint.origin;
          anchors = reader = await openFabricReader(fabric, origin.slice(0, origin.length - log.length - 1));
        } else if (values.anchors) {
          // The local backend lives on the node's disk: its roots come from the node itself.
          process.stderr.write('cairn: anchors are read through the node (local backend): this checks consistency with past anchors, not independence from the operator; --fabric-config FILE reads them from the channel\n');
          anchors = { describe: 'the node\'s local anchor store', root: async (w) => (await c.getAnchor(w).catch(() => undefined))?.root };
        }
        return verifyLogOnline(c, log, {
          publicKeySpki: key,
          statePath: values.state as string | undefined,
          nodeName: values['node-name'] as string | undefined,
          signatureThreads: int(values, 'threads', false),
          anchors,
          ...(witnesses ? { witnesses } : {}),
        });
      });
      printJson({ ok: true, ...r });
    } finally {
      reader?.close();
    }
    return EXIT_OK;
  },

  async export(args) {
    const { values } = parse(args, { ...SERVER, log: { type: 'string' }, out: { type: 'string' }, 'min-witnesses': { type: 'string' } });
    const log = need(values, 'log');
    const outPath = need(values, 'out');
    // With --min-witnesses K: up to the latest checkpoint K witnesses cosigned, so `verify-bundle --min-witnesses K` can pass.
    const minWitnesses = int(values, 'min-witnesses', false);
    // Created before anything is fetched ('wx': never overwrite a bundle); an
    // open or write error is an exit-2 error, not an unhandled stream event.
    let fh;
    try {
      fh = await open(outPath, 'wx');
    } catch (e) {
      throw new UsageError(`cannot create --out ${outPath}: ${(e as Error).message}`);
    }
    const out = fh.createWriteStream();
    let failed: Error | undefined;
    out.on('error', (e) => (failed = e));
    let complete = false;
    try {
      await withClient(values, async (c) => {
        // The key first: a rotation between the two reads then shows as a checkpoint the chain does not reach, not a silent gap.
        const key = await c.publicKey();
        const cp = minWitnesses ? await cosignedCheckpoint(c, log, minWitnesses) : await c.getCheckpoint(log);
        const write = async (line: string): Promise<void> => {
          if (failed) throw failed;
          if (!out.write(line + '\n')) await once(out, 'drain');
        };
        const anchors = await collectAnchorProofs(c, log, cp.size);
        await write(
          formatBundleHeader({
            format: BUNDLE_FORMAT,
            log,
            size: cp.size,
            checkpoint: cp.note,
            publicKey: key.pem,
            ...(anchors.length > 0 ? { anchors } : {}),
            ...(key.keyChain.length > 0 ? { keyChain: key.keyChain.map(keyLinkToJson) } : {}),
            ...(cp.cosignatures.length > 0 ? { cosignatures: cp.cosignatures } : {}),
          }),
        );
        const bar = createProgress(`export ${log}`, cp.size);
        let n = 0;
        for await (const e of c.listEntries(log, 0, cp.size)) {
          await write(formatBundleEntry(e));
          if ((++n & 1023) === 0) bar.update(n);
        }
        bar.finish();
        if (failed) throw failed;
        out.end();
        await once(out, 'finish');
        complete = true;
        printJson({ log, size: cp.size, anchors: anchors.length, cosignatures: cp.cosignatures.length, out: outPath });
      });
    } finally {
      if (!complete) {
        // Leave no partial bundle behind.
        out.destroy();
        await unlink(outPath).catch(() => undefined);
      }
    }
    return EXIT_OK;
  },

  async 'verify-bundle'(args) {
    const { values, positionals } = parse(args, { ...WITNESS_FLAGS, pubkey: { type: 'string' }, 'node-name': { type: 'string' }, threads: { type: 'string' }, 'fabric-config': { type: 'string' } }, 1);
    if (!positionals[0]) throw new UsageError('usage: cairn verify-bundle FILE --pubkey FILE [--fabric-config FILE] [--witness-key FILE ... --min-witnesses K]');
    const key = await pinnedKey(values);
    const witnesses = await witnessPolicy(values);
    const nodeName = values['node-name'] as string | undefined;
    const fabricConfig = values['fabric-config'] as string | undefined;
    let reader: FabricAnchorReader | undefined;
    try {
      if (fabricConfig !== undefined) {
        const fabric = await loadFabricSettings(fabricConfig);
        // The node's name as its pinned key signs the bundle's checkpoint (or --node-name).
        const header = parseBundleHeader(await firstLine(positionals[0]));
        const keys = followKeyChain(key, header.keyChain === undefined ? [] : parseKeyLinks(header.keyChain));
        const origin = openLogCheckpointWithKeys(header.checkpoint, header.log, keys, nodeName).checkpoint.origin;
        reader = await openFabricReader(fabric, origin.slice(0, origin.length - header.log.length - 1));
      }
      const r = await verifyBundleFile(positionals[0], { publicKeySpki: key, nodeName, signatureThreads: int(values, 'threads', false), anchors: reader, ...(witnesses ? { witnesses } : {}) });
      printJson({ ok: true, ...r });
    } finally {
      reader?.close();
    }
    return EXIT_OK;
  },

  async proof(args) {
    const { values } = parse(args, {
      ...SERVER,
      log: { type: 'string' },
      seq: { type: 'string' },
      size: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      pubkey: { type: 'string' },
      'node-name': { type: 'string' },
      'wait-ms': { type: 'string' },
      ...WITNESS_FLAGS,
    });
    const log = need(values, 'log');
    const key = await pinnedKey(values);
    const nodeName = values['node-name'] as string | undefined;
    const witnesses = await witnessPolicy(values);
    let keys: Promise<Uint8Array[]> | undefined;
    const signedAt = async (c: LedgerClient, size: number): Promise<{ size: number; rootHash: Uint8Array; note: string }> => {
      const cp = await c.getCheckpoint(log, size);
      if (!cp.note) throw new UsageError(`the node signed no checkpoint at size ${size} (sizes inside a group commit have none); use a size from a receipt or 'cairn checkpoint'`);
      keys ??= chainKeys(c, key);
      const opened = openServedCheckpoint(cp.note, log, size, await keys, nodeName, 'the checkpoint').checkpoint;
      return { size: opened.size, rootHash: opened.rootHash, note: cp.note };
    };
    if (values.seq !== undefined && witnesses) {
      if (values.from !== undefined || values.to !== undefined || values.size !== undefined) throw new UsageError('with --min-witnesses give --seq only: the size is that of the latest checkpoint the witnesses cosigned');
      const seq = int(values, 'seq')!;
      const waitMs = int(values, 'wait-ms', false) ?? 30_000;
      const out = await withClient(values, (c) => verifying(`entry ${seq} of log ${log}`, { log, seq }, proveCosigned(c, log, seq, key, nodeName, witnesses, waitMs)));
      printJson(out);
      return EXIT_OK;
    }
    if (values.seq !== undefined) {
      if (values.from !== undefined || values.to !== undefined) throw new UsageError('give --seq [--size] or --from/--to, not both');
      const seq = int(values, 'seq')!;
      const size = int(values, 'size', false) ?? 0;
      const out = await withClient(values, (c) => verifying(`entry ${seq} of log ${log}`, { log, seq, ...(size === 0 ? {} : { size }) }, (async () => {
        const p = await c.inclusionProof(log, seq, size);
        const cp = await signedAt(c, p.size);
        const e = await c.getEntry(log, seq);
        // The leaf is recomputed from the entry's signed bytes, not taken from the server.
        const body = decodeBody(e.body, { log, seq });
        const hash = entryHash(fromHex(body.prevHash), e.body, e.signature);
        verifyInclusion(leafHash(hash), seq, cp.size, p.hashes, cp.rootHash);
        return { verified: true, log, seq, size: cp.size, leafHash: toHex(leafHash(hash)), rootHash: toHex(cp.rootHash), hashes: p.hashes.map(toHex), checkpoint: cp.note };
      })()));
      printJson(out);
      return EXIT_OK;
    }
    const from = int(values, 'from')!;
    const to = int(values, 'to')!;
    if (from < 1 || from > to) throw new UsageError('--from must be at least 1 and at most --to');
    const out = await withClient(values, (c) => verifying(`sizes ${from} to ${to} of log ${log}`, { log, size1: from, size2: to }, (async () => {
      const [a, b] = await Promise.all([signedAt(c, from), signedAt(c, to)]);
      const p = await c.consistencyProof(log, from, to);
      verifyConsistency(from, to, p.hashes, a.rootHash, b.rootHash);
      return { verified: true, log, from, to, fromRoot: toHex(a.rootHash), toRoot: toHex(b.rootHash), hashes: p.hashes.map(toHex) };
    })()));
    printJson(out);
    return EXIT_OK;
  },

  async federation(args) {
    const [sub, ...rest] = args;
    if (sub !== 'status') throw new UsageError('usage: cairn federation status [--json]');
    const { values } = parse(rest, { ...SERVER, json: { type: 'boolean' } });
    const st = await withClient(values, (c) => c.federationStatus());
    if (values.json) printJson({ ...st, vector: st.vector.map((v) => ({ ...v, rootHash: toHex(v.rootHash) })) });
    else process.stdout.write(federationTable(st));
    return EXIT_OK;
  },

  sync: async (args) => (await import('./sync-commands.js')).sync(args),
  diff: async (args) => (await import('./sync-commands.js')).diff(args),
  report: async (args) => (await import('./report-command.js')).report(args),
  async help() {
    process.stdout.write(USAGE);
    return EXIT_OK;
  },
};

/**
 * `cairn federation status` for people: one row per (peer, origin/log) with
 * the size there and here, the lag, and the cosignature counts; then the
 * caught split views.
 */
export function federationTable(st: FederationStatus): string {
  const rows: string[][] = [['PEER', 'REACHABLE', 'LOG', 'AT PEER', 'HERE', 'LAG', 'LAG S', 'COSIG GIVEN', 'COSIG RECEIVED']];
  for (const p of st.peers) {
    const first = [p.name, p.reachable ? 'yes' : `no${p.lastError ? ` (${p.lastError.slice(0, 60)})` : ''}`];
    if (p.logs.length === 0) rows.push([...first, '-', '-', '-', '-', '-', String(p.cosignaturesGiven), String(p.cosignaturesReceived)]);
    for (const [i, l] of p.logs.entries()) {
      rows.push([...(i === 0 ? first : ['', '']), `${l.origin}/${l.log}`, String(l.peerSize), String(l.localSize), String(l.lagEntries), l.lagSeconds.toFixed(1), i === 0 ? String(p.cosignaturesGiven) : '', i === 0 ? String(p.cosignaturesReceived) : '']);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const out = [`node ${st.nodeName}: ${st.vector.length} logs (${st.vector.filter((v) => v.origin === st.nodeName).length} its own)`];
  for (const r of rows) out.push(r.map((x, c) => x.padEnd(widths[c]!)).join('  ').trimEnd());
  out.push(`equivocations: ${st.equivocations.length}`);
  for (const e of st.equivocations) out.push(`  ${e.origin}/${e.log} ${e.kind} via ${e.peer} at ${new Date(e.atMs).toISOString()}: ${e.reason}`);
  return out.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd ? EXIT_OK : 2;
  }
  const fn = commands[cmd];
  if (!fn) return reportError(new UsageError(`unknown command "${cmd}"`));
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  try {
    return await fn(rest);
  } catch (err) {
    return reportError(err);
  }
}

