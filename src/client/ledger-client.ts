/**
 * A typed client for cairn.ledger.v1.Ledger. Converts wire shapes into the
 * core's types; verifies nothing itself (see verify-log.ts and the core's
 * pure verifiers, which never trust what this returns).
 */
import * as grpc from '@grpc/grpc-js';
import { fromWireKeyLink, ledgerClientConstructor, u64, wireKeyLink, type WireCheckpoint, type WireConsistencyProof, type WireEntry, type WireInclusionProof, type WirePublicKey, type WireReceipt } from '../api/proto.js';
import type { SignedEntry } from '../core/entry.js';
import { MAX_KEY_LINKS, type KeyLink } from '../core/key-chain.js';
import { VerificationError } from '../core/errors.js';
import type { AppendInput } from '../core/append-request.js';
import { MAX_COSIGNATURES } from '../core/cosignature.js';
import type { AnchorProof, AnchorReceipt, AnchorWindow, WindowCheckpoint } from '../core/anchor.js';
import type { Equivocation, EquivocationKind, FederationStatus, PeerStatus } from '../core/federation.js';

export interface ClientCheckpoint {
  log: string;
  size: number;
  rootHash: Uint8Array;
  note: string;
  /** Witness cosignature lines on `note` (unverified: core/cosignature.ts verifyWitnessQuorum). */
  cosignatures: string[];
}

/** What a witness last cosigned for one origin (ListWitnessed). Unverified. */
export interface ClientWitnessed {
  origin: string;
  checkpoint: string;
  cosignature: string;
  keyChain: KeyLink[];
}

export interface ClientReceipt {
  entry: SignedEntry;
  checkpoint: ClientCheckpoint;
  inclusionProof: Uint8Array[];
  replayed: boolean;
}

export interface ClientProof {
  log: string;
  hashes: Uint8Array[];
  checkpoint: ClientCheckpoint;
}

const bytes = (b: Uint8Array | undefined): Uint8Array => (b ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(0));

export function fromWireEntry(w: WireEntry): SignedEntry {
  return { log: w.log, seq: u64('seq', w.seq), body: bytes(w.body), signature: bytes(w.signature), hash: bytes(w.hash) };
}

export function fromWireCheckpoint(w: WireCheckpoint): ClientCheckpoint {
  return { log: w.log, size: u64('size', w.size), rootHash: bytes(w.rootHash), note: w.note, cosignatures: boundedLines(w.cosignatures) };
}

/** At most MAX_COSIGNATURES strings: a server cannot make a verifier look at more. */
function boundedLines(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  if (v.length > MAX_COSIGNATURES) throw new VerificationError('COSIGNATURE_INVALID', `more than ${MAX_COSIGNATURES} cosignatures on one checkpoint`);
  return v.filter((x): x is string => typeof x === 'string');
}

export function fromWireReceipt(w: WireReceipt): ClientReceipt {
  return { entry: fromWireEntry(w.entry), checkpoint: fromWireCheckpoint(w.checkpoint), inclusionProof: w.inclusionProof.map(bytes), replayed: w.replayed };
}

interface WireAppendResult {
  index: string;
  receipt?: WireReceipt | null;
  error?: { code: number; message: string; field: string; retryAfterMs: string } | null;
}

interface WireAnchorCheckpoint {
  log: string;
  size: string;
  rootHash: string;
  note: string;
}
interface WireAnchor {
  window: string;
  root: string;
  node: string;
  checkpoints: WireAnchorCheckpoint[];
  state: string;
  txId: string;
  block: string;
  backend: string;
}
interface WireAnchorProof {
  window: string;
  root: string;
  index: number;
  count: number;
  path: string[];
  checkpoint: WireAnchorCheckpoint;
  txId: string;
  block: string;
  backend: string;
  state: string;
}

export interface ClientAnchor extends AnchorWindow {
  state: string;
  receipt: AnchorReceipt;
}

export interface ClientAnchorProof extends AnchorProof {
  checkpoint: WindowCheckpoint;
  receipt: AnchorReceipt;
  state: string;
}

function fromWireAnchorCheckpoint(c: WireAnchorCheckpoint): WindowCheckpoint {
  return { log: c.log, size: u64('size', c.size), rootHash: c.rootHash, note: c.note };
}

function fromWireAnchor(w: WireAnchor): ClientAnchor {
  return {
    window: u64('window', w.window),
    root: w.root,
    node: w.node,
    checkpoints: w.checkpoints.map(fromWireAnchorCheckpoint),
    state: w.state,
    receipt: { txId: w.txId, block: u64('block', w.block), backend: w.backend },
  };
}

export interface AppendStreamHandle {
  append(input: AppendInput): Promise<ClientReceipt>;
  end(): Promise<void>;
}

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type UnaryFn = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => grpc.ClientUnaryCall;

export interface ClientOptions {
  /** Per-call deadline for unary calls. */
  timeoutMs?: number;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Bearer token (`<name>.<secret>`), sent as `authorization: Bearer ...` on every call. */
  token?: string;
  /** Sent with every read (and append): another origin reads the node's mirror of that origin's log. */
  origin?: string;
  /** Share this channel (withOrigin): closing the new client leaves it open. */
  channel?: grpc.Client & Record<string, unknown>;
}

/** Where a client's TLS and token come from (CLI flags or their environment variables). */
export interface ClientAuth {
  /** PEM of the CA that issued the node's certificate; TLS is on when set. */
  caPem?: Buffer;
  /** Client certificate and key (PEM) for mutual TLS. */
  certPem?: Buffer;
  keyPem?: Buffer;
  /** Host name the node's certificate names, when it differs from the address. */
  serverName?: string;
  token?: string;
}

/** Channel options and credentials for {@link ClientAuth}. */
export function clientOptions(auth: ClientAuth): ClientOptions {
  const opts: ClientOptions = {};
  if (auth.caPem) {
    opts.credentials = grpc.credentials.createSsl(auth.caPem, auth.keyPem ?? null, auth.certPem ?? null);
    if (auth.serverName) opts.channelOptions = { 'grpc.ssl_target_name_override': auth.serverName, 'grpc.default_authority': auth.serverName };
  }
  if (auth.token) opts.token = auth.token;
  return opts;
}

export class LedgerClient {
  readonly #client: grpc.Client & Record<string, unknown>;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #shared: boolean;
  /** The origin every read names ('' : the node's own logs). */
  readonly origin: string;

  constructor(address: string, opts: ClientOptions = {}) {
    this.#token = opts.token;
    this.origin = opts.origin ?? '';
    this.#shared = opts.channel !== undefined;
    const Ctor = ledgerClientConstructor();
    this.#client = opts.channel ?? (new Ctor(address, opts.credentials ?? grpc.credentials.createInsecure(), opts.channelOptions ?? {}) as grpc.Client & Record<string, unknown>);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /**
   * The same connection, reading the node's mirror of `origin`'s logs
   * (docs/federation.md): a verifier given it checks what it reads with
   * `origin`'s pinned key, exactly as at the origin.
   */
  withOrigin(origin: string): LedgerClient {
    return new LedgerClient('', { timeoutMs: this.#timeoutMs, ...(this.#token ? { token: this.#token } : {}), origin, channel: this.#client });
  }

  close(): void {
    if (!this.#shared) this.#client.close();
  }

  #metadata(): grpc.Metadata {
    const m = new grpc.Metadata();
    if (this.#token) m.set('authorization', `Bearer ${this.#token}`);
    return m;
  }

  #unary<T>(method: string, req: unknown): Promise<T> {
    const fn = this.#client[method] as UnaryFn;
    return new Promise<T>((resolve, reject) => {
      fn.call(this.#client, req, this.#metadata(), { deadline: Date.now() + this.#timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  #stream(method: string, req: unknown, signal?: AbortSignal): AsyncGenerator<SignedEntry> {
    return this.#streamOf(method, req, fromWireEntry, signal);
  }

  async *#streamOf<T>(method: string, req: unknown, convert: (w: WireEntry) => T, signal?: AbortSignal): AsyncGenerator<T> {
    const fn = this.#client[method] as (req: unknown, m: grpc.Metadata) => grpc.ClientReadableStream<WireEntry>;
    const call = fn.call(this.#client, req, this.#metadata());
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const w of call as AsyncIterable<WireEntry>) yield convert(w);
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.CANCELLED && signal?.aborted) return;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  async append(input: AppendInput): Promise<ClientReceipt> {
    return fromWireReceipt(await this.#unary<WireReceipt>('Append', { ...input, origin: this.origin }));
  }

  /**
   * Opens an AppendStream: `append` resolves with each durable receipt (or
   * rejects with the request's own error) in request order; `end` closes the
   * stream once every result has arrived.
   */
  appendStream(): AppendStreamHandle {
    const fn = this.#client.AppendStream as (m: grpc.Metadata) => grpc.ClientDuplexStream<AppendInput, WireAppendResult>;
    const call = fn.call(this.#client, this.#metadata());
    const waiting: { resolve(r: ClientReceipt): void; reject(e: unknown): void }[] = [];
    let failed: unknown;
    call.on('data', (res: WireAppendResult) => {
      const w = waiting.shift();
      if (!w) return;
      if (res.receipt) w.resolve(fromWireReceipt(res.receipt));
      else {
        const e = res.error ?? { code: grpc.status.INTERNAL, message: 'empty result', field: '', retryAfterMs: '0' };
        w.reject(Object.assign(new Error(e.message), { code: e.code, details: e.message, field: e.field, retryAfterMs: Number(e.retryAfterMs) }));
      }
    });
    const ended = new Promise<void>((resolve) => {
      const fail = (err: unknown): void => {
        failed = err;
        for (const w of waiting.splice(0)) w.reject(err);
        resolve();
      };
      call.on('error', fail);
      call.on('end', () => fail(Object.assign(new Error('stream ended'), { code: grpc.status.UNAVAILABLE })));
    });
    return {
      append: (input) => {
        if (failed) return Promise.reject(failed);
        return new Promise<ClientReceipt>((resolve, reject) => {
          waiting.push({ resolve, reject });
          call.write(input);
        });
      },
      end: async () => {
        call.end();
        await ended;
      },
    };
  }

  async getEntry(log: string, seq: number): Promise<SignedEntry> {
    return fromWireEntry(await this.#unary<WireEntry>('GetEntry', { log, seq: String(seq), origin: this.origin }));
  }

  listEntries(log: string, start = 0, end = 0, signal?: AbortSignal): AsyncGenerator<SignedEntry> {
    return this.#stream('ListEntries', { log, start: String(start), end: String(end), origin: this.origin }, signal);
  }

  watch(log: string, start = 0, signal?: AbortSignal): AsyncGenerator<SignedEntry> {
    return this.#stream('Watch', { log, start: String(start), origin: this.origin }, signal);
  }

  /**
   * Like `watch`, with the signed note the server attaches to the last entry
   * of each group it sends (the log's latest checkpoint, ledger.proto
   * Entry.checkpoint); unverified here: the caller opens it with its keys.
   */
  watchWithCheckpoints(log: string, start = 0, signal?: AbortSignal): AsyncGenerator<{ entry: SignedEntry; checkpointNote?: string }> {
    const convert = (w: WireEntry): { entry: SignedEntry; checkpointNote?: string } => (w.checkpoint?.note ? { entry: fromWireEntry(w), checkpointNote: w.checkpoint.note } : { entry: fromWireEntry(w) });
    return this.#streamOf('Watch', { log, start: String(start), origin: this.origin }, convert, signal);
  }

  async getCheckpoint(log: string, size = 0): Promise<ClientCheckpoint> {
    return fromWireCheckpoint(await this.#unary<WireCheckpoint>('GetCheckpoint', { log, size: String(size), origin: this.origin }));
  }

  async inclusionProof(log: string, seq: number, size = 0): Promise<ClientProof & { seq: number; size: number }> {
    const w = await this.#unary<WireInclusionProof>('GetInclusionProof', { log, seq: String(seq), size: String(size), origin: this.origin });
    return { log: w.log, seq: u64('seq', w.seq), size: u64('size', w.size), hashes: w.hashes.map(bytes), checkpoint: fromWireCheckpoint(w.checkpoint) };
  }

  async consistencyProof(log: string, fromSize: number, toSize = 0): Promise<ClientProof & { from: number; to: number }> {
    const w = await this.#unary<WireConsistencyProof>('GetConsistencyProof', { log, fromSize: String(fromSize), toSize: String(toSize), origin: this.origin });
    return { log: w.log, from: u64('from_size', w.fromSize), to: u64('to_size', w.toSize), hashes: w.hashes.map(bytes), checkpoint: fromWireCheckpoint(w.checkpoint) };
  }

  async listLogs(): Promise<ClientCheckpoint[]> {
    const w = await this.#unary<{ logs: WireCheckpoint[] }>('ListLogs', { origin: this.origin });
    return w.logs.map(fromWireCheckpoint);
  }

  /** Every anchor window covering `log` from `fromWindow` on, fetched page by page (the server caps a page at 1,000). */
  async listAnchors(log: string, fromWindow = 0): Promise<ClientAnchor[]> {
    const out: ClientAnchor[] = [];
    for (let from = fromWindow; ; ) {
      const w = await this.#unary<{ anchors: WireAnchor[] }>('ListAnchors', { log, fromWindow: String(from), limit: 1000 });
      const page = w.anchors.map(fromWireAnchor);
      out.push(...page);
      if (page.length < 1000) return out;
      from = page[page.length - 1]!.window + 1;
    }
  }

  async getAnchor(window: number): Promise<ClientAnchor> {
    return fromWireAnchor(await this.#unary<WireAnchor>('GetAnchor', { window: String(window) }));
  }

  async anchorProof(log: string, size = 0): Promise<ClientAnchorProof> {
    const w = await this.#unary<WireAnchorProof>('GetAnchorProof', { log, size: String(size) });
    return {
      window: u64('window', w.window),
      root: w.root,
      index: w.index,
      count: w.count,
      path: w.path,
      checkpoint: fromWireAnchorCheckpoint(w.checkpoint),
      receipt: { txId: w.txId, block: u64('block', w.block), backend: w.backend },
      state: w.state,
    };
  }

  /**
   * The node's key and its key chain (parsed strictly, NOT verified: follow it
   * from a pinned key with followKeyChain).
   * @throws VerificationError KEY_LINK_MALFORMED for a link that does not parse
   */
  async publicKey(): Promise<{ pem: string; spki: Uint8Array; keyId: string; nodeName: string; algorithm: string; keyChain: KeyLink[]; witnessSpki: Uint8Array }> {
    const w = await this.#unary<WirePublicKey>('GetPublicKey', { origin: this.origin });
    if ((w.keyChain ?? []).length > MAX_KEY_LINKS) throw new VerificationError('KEY_LINK_MALFORMED', `the node's key chain has more than ${MAX_KEY_LINKS} links`);
    return { pem: w.pem, spki: bytes(w.spkiDer), keyId: w.keyId, nodeName: w.nodeName, algorithm: w.algorithm, keyChain: (w.keyChain ?? []).map(fromWireKeyLink), witnessSpki: bytes(w.witnessSpki) };
  }

  /**
   * The latest checkpoint of `log` that carries at least `min` cosignatures
   * (unverified). NOT_FOUND while there is none.
   */
  async getCosignedCheckpoint(log: string, min: number): Promise<ClientCheckpoint> {
    return fromWireCheckpoint(await this.#unary<WireCheckpoint>('GetCheckpoint', { log, size: '0', minCosignatures: min, origin: this.origin }));
  }

  /**
   * Submits a checkpoint to this node as a witness (C2SP tlog-witness
   * add-checkpoint). Refusals reject with the gRPC error; a size conflict
   * carries the witness's size in trailer `cairn-witness-size`.
   */
  async addCheckpoint(req: { oldSize: number; proof: readonly Uint8Array[]; checkpoint: string; keyChain: readonly KeyLink[] }): Promise<string[]> {
    const w = await this.#unary<{ cosignatures: string[] }>('AddCheckpoint', { oldSize: String(req.oldSize), consistencyProof: req.proof, checkpoint: req.checkpoint, keyChain: req.keyChain.map(wireKeyLink) });
    return boundedLines(w.cosignatures);
  }

  /** What this node, as a witness, last cosigned per origin (unverified). */
  async listWitnessed(): Promise<{ witnessName: string; checkpoints: ClientWitnessed[]; equivocations: string[] }> {
    const w = await this.#unary<{ witnessName: string; checkpoints: Array<{ origin: string; checkpoint: string; cosignature: string; keyChain?: WirePublicKey['keyChain'] }>; equivocations?: string[] }>('ListWitnessed', {});
    return {
      witnessName: w.witnessName,
      equivocations: (w.equivocations ?? []).slice(0, 10_000),
      checkpoints: (w.checkpoints ?? []).slice(0, 100_000).map((c) => ({ origin: c.origin, checkpoint: c.checkpoint, cosignature: c.cosignature, keyChain: (c.keyChain ?? []).slice(0, MAX_KEY_LINKS).map(fromWireKeyLink) })),
    };
  }

  /** The node's version vector, peers and caught split views (GetFederationStatus). */
  async federationStatus(): Promise<FederationStatus> {
    const w = await this.#unary<WireFederationStatus>('GetFederationStatus', {});
    return {
      nodeName: w.nodeName,
      vector: (w.vector ?? []).map((v) => ({ origin: v.origin, log: v.log, size: u64('size', v.size), rootHash: bytes(v.rootHash), note: v.note, acceptedAtMs: u64('accepted_at_ms', v.acceptedAtMs) })),
      peers: (w.peers ?? []).map((p): PeerStatus => ({
        name: p.name,
        endpoint: p.endpoint,
        follow: p.follow,
        witness: p.witness,
        reachable: p.reachable,
        lastError: p.lastError,
        lastContactMs: u64('last_contact_ms', p.lastContactMs),
        logs: (p.logs ?? []).map((l) => ({ origin: l.origin, log: l.log, peerSize: u64('peer_size', l.peerSize), localSize: u64('local_size', l.localSize), lagEntries: u64('lag_entries', l.lagEntries), lagSeconds: Number(l.lagSeconds) })),
        cosignaturesGiven: u64('cosignatures_given', p.cosignaturesGiven),
        cosignaturesReceived: u64('cosignatures_received', p.cosignaturesReceived),
      })),
      equivocations: (w.equivocations ?? []).map((e): Equivocation => ({ origin: e.origin, log: e.log, kind: e.kind as EquivocationKind, reason: e.reason, acceptedNote: e.acceptedNote, conflictingNote: e.conflictingNote, peer: e.peer, atMs: u64('at_ms', e.atMs) })),
    };
  }
}

interface WireFederationStatus {
  nodeName: string;
  vector: { origin: string; log: string; size: string; rootHash: Uint8Array; note: string; acceptedAtMs: string }[];
  peers: {
    name: string;
    endpoint: string;
    follow: boolean;
    witness: boolean;
    reachable: boolean;
    lastError: string;
    lastContactMs: string;
    logs: { origin: string; log: string; peerSize: string; localSize: string; lagEntries: string; lagSeconds: number }[];
    cosignaturesGiven: string;
    cosignaturesReceived: string;
  }[];
  equivocations: { origin: string; log: string; kind: string; reason: string; acceptedNote: string; conflictingNote: string; peer: string; atMs: string }[];
}
