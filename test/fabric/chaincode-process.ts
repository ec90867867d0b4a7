/**
 * The real chaincode, run the way a Fabric peer runs "chaincode as a
 * service": a child process started with fabric-shim's own CLI
 * (`fabric-chaincode-node server --chaincode-address --chaincode-id
 * --module-path`), which serves `protos.Chaincode/Connect`; the peer dials it
 * and speaks the chaincode shim protocol (peer/chaincode_shim.proto) over
 * that bidirectional stream.
 *
 * Why a child process: fabric-shim 2.5 brings its own
 * @hyperledger/fabric-protos 0.2, the gateway client 0.3. Both generate
 * google-protobuf classes into one global namespace, so two copies in one
 * process overwrite each other's message classes. A process boundary keeps
 * each copy whole and is what a peer does anyway.
 *
 * Protocol (fabric `core/chaincode/handler.go`, fabric-shim `lib/handler.js`):
 * the chaincode sends REGISTER; the peer answers REGISTERED then READY. Per
 * transaction the peer sends TRANSACTION (ChaincodeInput, SignedProposal);
 * the chaincode asks GET_STATE, PUT_STATE, DEL_STATE, GET_STATE_BY_RANGE,
 * QUERY_STATE_NEXT, QUERY_STATE_CLOSE (each answered by RESPONSE or ERROR
 * with the same channel and txid) and ends with COMPLETED carrying a
 * `Response` and the chaincode event, if any.
 */
import * as grpc from '@grpc/grpc-js';
import { ledger, peer } from '@hyperledger/fabric-protos';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TxSimulator } from './world-state.js';

const Type = peer.ChaincodeMessage.Type;
type MessageType = peer.ChaincodeMessage.TypeMap[keyof peer.ChaincodeMessage.TypeMap];

/** Repository root (this file runs from dist/test/fabric/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the root `tsc` puts the compiled chaincode. */
export const DEFAULT_CHAINCODE_DIR = join(REPO_ROOT, 'dist/src/chaincode');

/**
 * Makes the compiled chaincode folder loadable by fabric-shim's bootstrap,
 * which reads `package.json` (its `main`) from the module path: copies the
 * chaincode's own package.json next to the compiled `.cjs` files. The folder
 * stays inside the repository so `require('fabric-contract-api')` finds the
 * root node_modules, the same copy fabric-shim loads.
 */
export async function prepareChaincodeModule(dir = DEFAULT_CHAINCODE_DIR): Promise<string> {
  const source = join(REPO_ROOT, 'src/chaincode/package.json');
  const target = join(dir, 'package.json');
  const want = await readFile(source, 'utf8');
  const have = await readFile(target, 'utf8').catch(() => '');
  if (have !== want) {
    const tmp = `${target}.${process.pid}.tmp`;
    await copyFile(source, tmp);
    await rename(tmp, target);
  }
  const main = (JSON.parse(want) as { main: string }).main;
  await stat(join(dir, main)).catch((e: unknown) => {
    throw new Error(`chaincode not built: ${join(dir, main)} is missing (run tsc)`, { cause: e });
  });
  return dir;
}

/** What a transaction's execution returned. */
export interface ExecutionResult {
  response: peer.Response;
  /** The event the chaincode set (chaincode ID and tx ID are filled in by the peer). */
  event: peer.ChaincodeEvent | undefined;
}

interface RunningTx {
  simulator: TxSimulator;
  namespace: string;
  resolve: (r: ExecutionResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ChaincodeProcessOptions {
  /** Chaincode name on the channel; also the world-state namespace. */
  name: string;
  /** Package ID, `<label>:<hash>` as `peer lifecycle` prints it. */
  packageId: string;
  /** MSP ID of the peer (fabric-shim `getMspID()` reads `CORE_PEER_LOCALMSPID`). */
  localMspId: string;
  /** Folder with the chaincode's package.json. Default: the compiled dist/src/chaincode. */
  modulePath?: string;
  /** fabric-shim log level (`CORE_CHAINCODE_LOGGING_LEVEL`). Default `CRITICAL`. */
  logLevel?: string;
  /** Per-transaction execution timeout (fabric `chaincode.executetimeout`). Default 10 s. */
  executeTimeoutMs?: number;
}

const require = createRequire(import.meta.url);

/** Preload that ends the chaincode process with its parent (compiled from ./exit-with-parent.cts). */
const EXIT_WITH_PARENT = fileURLToPath(new URL('./exit-with-parent.cjs', import.meta.url));

/**
 * A chaincode server child process and the peer's connection to it.
 * `connect()` and `disconnect()` may repeat (a peer going away and coming
 * back); `close()` ends the process.
 */
export class ChaincodeProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #address: string;
  readonly #timeoutMs: number;
  readonly #output: string[] = [];
  #client: grpc.Client | undefined;
  #stream: grpc.ClientDuplexStream<peer.ChaincodeMessage, peer.ChaincodeMessage> | undefined;
  #ready: Promise<void> | undefined;
  readonly #running = new Map<string, RunningTx>();
  #exited = false;

  private constructor(name: string, child: ChildProcess, dir: string, address: string, timeoutMs: number) {
    this.name = name;
    this.#child = child;
    this.#dir = dir;
    this.#address = address;
    this.#timeoutMs = timeoutMs;
    const keep = (chunk: Buffer): void => {
      this.#output.push(chunk.toString('utf8'));
      if (this.#output.length > 50) this.#output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', (code, signal) => {
      this.#exited = true;
      this.#failAll(new Error(`chaincode process exited (${signal ?? code}): ${this.recentOutput()}`));
    });
  }

  /** Starts the chaincode server and waits until its socket accepts connections. */
  static async start(options: ChaincodeProcessOptions): Promise<ChaincodeProcess> {
    const modulePath = await prepareChaincodeModule(options.modulePath);
    // A Unix socket: no port to pick or race for, and it dies with the folder.
    const dir = await mkdtemp(join(tmpdir(), 'cairn-cc-'));
    const address = `unix:${join(dir, 'chaincode.sock')}`;
    const cli = require.resolve('fabric-shim/cli.js');
    const child = spawn(process.execPath, [
      '--require', EXIT_WITH_PARENT,
      cli, 'server',
      '--chaincode-address', address,
      '--chaincode-id', options.packageId,
      '--module-path', modulePath,
    ], {
      cwd: modulePath,
      env: {
        ...process.env,
        CORE_PEER_LOCALMSPID: options.localMspId,
        CORE_CHAINCODE_LOGGING_LEVEL: options.logLevel ?? 'CRITICAL',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const cc = new ChaincodeProcess(options.name, child, dir, address, options.executeTimeoutMs ?? 10_000);
    try {
      await cc.#waitForSocket(join(dir, 'chaincode.sock'), 20_000);
      await cc.connect();
    } catch (e) {
      await cc.close();
      throw e;
    }
    return cc;
  }

  async #waitForSocket(path: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#exited) throw new Error(`chaincode process exited during start: ${this.recentOutput()}`);
      if (await stat(path).then(() => true, () => false)) return;
      if (Date.now() > deadline) throw new Error(`chaincode server did not listen within ${timeoutMs} ms: ${this.recentOutput()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The child's last output lines, for error messages. */
  recentOutput(): string {
    return this.#output.join('').trim().split('\n').slice(-10).join('\n');
  }

  get connected(): boolean {
    return this.#stream !== undefined;
  }

  /** Dials the chaincode server and completes the REGISTER / REGISTERED / READY handshake. */
  connect(): Promise<void> {
    if (this.#ready !== undefined) return this.#ready;
    const client = new peer.ChaincodeClient(this.#address, grpc.credentials.createInsecure());
    const stream = client.connect();
    this.#client = client;
    this.#stream = stream;
    this.#ready = new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(() => rejectReady(new Error(`chaincode did not register within 20 s: ${this.recentOutput()}`)), 20_000);
      let registered = false;
      stream.on('data', (msg: peer.ChaincodeMessage) => {
        if (!registered) {
          if (msg.getType() !== Type.REGISTER) {
            rejectReady(new Error(`chaincode spoke before registering (message type ${msg.getType()})`));
            return;
          }
          registered = true;
          clearTimeout(timer);
          stream.write(this.#message(Type.REGISTERED, '', ''));
          stream.write(this.#message(Type.READY, '', ''));
          resolveReady();
          return;
        }
        this.#onMessage(msg);
      });
      stream.on('error', (e: Error) => {
        clearTimeout(timer);
        rejectReady(e);
        this.#dropStream(stream, e);
      });
      stream.on('end', () => this.#dropStream(stream, new Error('chaincode stream terminated')));
    });
    // Avoid an unhandled rejection when nobody awaits a failed handshake.
    this.#ready.catch(() => undefined);
    return this.#ready;
  }

  #dropStream(stream: grpc.ClientDuplexStream<peer.ChaincodeMessage, peer.ChaincodeMessage>, e: Error): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    this.#ready = undefined;
    this.#client?.close();
    this.#client = undefined;
    this.#failAll(e);
  }

  /** Closes the peer's side of the connection; the chaincode process keeps running. */
  disconnect(): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    this.#dropStream(stream, new Error('chaincode stream terminated: peer disconnected'));
    stream.cancel();
  }

  async close(): Promise<void> {
    this.disconnect();
    if (!this.#exited) {
      const exited = new Promise<void>((r) => this.#child.once('exit', () => r()));
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.#dir, { recursive: true, force: true });
  }

  #failAll(e: Error): void {
    for (const [id, tx] of this.#running) {
      clearTimeout(tx.timer);
      this.#running.delete(id);
      tx.reject(e);
    }
  }

  #message(type: MessageType, channelId: string, txId: string, payload?: Uint8Array): peer.ChaincodeMessage {
    const msg = new peer.ChaincodeMessage();
    msg.setType(type);
    msg.setChannelId(channelId);
    msg.setTxid(txId);
    if (payload !== undefined) msg.setPayload(payload);
    return msg;
  }

  /**
   * Runs one transaction: sends TRANSACTION and serves the chaincode's state
   * requests from `simulator` until it sends COMPLETED.
   */
  async execute(channelId: string, txId: string, signedProposal: peer.SignedProposal, input: peer.ChaincodeInput, simulator: TxSimulator): Promise<ExecutionResult> {
    await this.connect();
    const stream = this.#stream;
    if (stream === undefined) throw new Error('chaincode stream terminated');
    const key = channelId + txId;
    if (this.#running.has(key)) throw new Error(`transaction ${txId} is already executing`);
    return new Promise<ExecutionResult>((resolveTx, rejectTx) => {
      const timer = setTimeout(() => {
        this.#running.delete(key);
        rejectTx(new Error(`timeout expired while executing transaction ${txId}`));
      }, this.#timeoutMs);
      this.#running.set(key, { simulator, namespace: this.name, resolve: resolveTx, reject: rejectTx, timer });
      const msg = this.#message(Type.TRANSACTION, channelId, txId, input.serializeBinary());
      msg.setProposal(signedProposal);
      stream.write(msg);
    });
  }

  #onMessage(msg: peer.ChaincodeMessage): void {
    const key = msg.getChannelId() + msg.getTxid();
    const tx = this.#running.get(key);
    const reply = (type: MessageType, payload: Uint8Array): void => {
      this.#stream?.write(this.#message(type, msg.getChannelId(), msg.getTxid(), payload));
    };
    if (tx === undefined) {
      if (msg.getType() !== Type.KEEPALIVE) reply(Type.ERROR, Buffer.from(`no transaction ${msg.getTxid()} is executing`));
      return;
    }
    const payload = msg.getPayload_asU8();
    try {
      switch (msg.getType()) {
        case Type.COMPLETED: {
          this.#finish(key, tx);
          const event = msg.getChaincodeEvent();
          if (event !== undefined) {
            event.setChaincodeId(this.name);
            event.setTxId(msg.getTxid());
          }
          tx.resolve({ response: peer.Response.deserializeBinary(payload), event });
          return;
        }
        case Type.ERROR: {
          this.#finish(key, tx);
          tx.reject(new Error(`chaincode error: ${Buffer.from(payload).toString('utf8')}`));
          return;
        }
        case Type.GET_STATE: {
          const req = peer.GetState.deserializeBinary(payload);
          this.#publicOnly(req.getCollection());
          reply(Type.RESPONSE, tx.simulator.getState(tx.namespace, req.getKey()));
          return;
        }
        case Type.PUT_STATE: {
          const req = peer.PutState.deserializeBinary(payload);
          this.#publicOnly(req.getCollection());
          tx.simulator.putState(tx.namespace, req.getKey(), Buffer.from(req.getValue_asU8()));
          reply(Type.RESPONSE, new Uint8Array());
          return;
        }
        case Type.DEL_STATE: {
          const req = peer.DelState.deserializeBinary(payload);
          this.#publicOnly(req.getCollection());
          tx.simulator.deleteState(tx.namespace, req.getKey());
          reply(Type.RESPONSE, new Uint8Array());
          return;
        }
        case Type.GET_STATE_BY_RANGE: {
          const req = peer.GetStateByRange.deserializeBinary(payload);
          this.#publicOnly(req.getCollection());
          if (req.getMetadata_asU8().length > 0) throw new Error('paginated range queries are not supported by the test peer');
          reply(Type.RESPONSE, this.#queryResponse(tx, tx.simulator.startRange(tx.namespace, req.getStartkey(), req.getEndkey())));
          return;
        }
        case Type.QUERY_STATE_NEXT: {
          const req = peer.QueryStateNext.deserializeBinary(payload);
          reply(Type.RESPONSE, this.#queryResponse(tx, tx.simulator.nextBatch(req.getId())));
          return;
        }
        case Type.QUERY_STATE_CLOSE: {
          const req = peer.QueryStateClose.deserializeBinary(payload);
          tx.simulator.closeIterator(req.getId());
          const res = new peer.QueryResponse();
          res.setId(req.getId());
          reply(Type.RESPONSE, res.serializeBinary());
          return;
        }
        default:
          throw new Error(`chaincode message type ${msg.getType()} is not supported by the test peer`);
      }
    } catch (e) {
      reply(Type.ERROR, Buffer.from((e as Error).message));
    }
  }

  #publicOnly(collection: string): void {
    if (collection !== '') throw new Error('private data collections are not supported by the test peer');
  }

  #queryResponse(tx: RunningTx, batch: ReturnType<TxSimulator['nextBatch']>): Uint8Array {
    const res = new peer.QueryResponse();
    res.setId(batch.id);
    res.setHasMore(batch.hasMore);
    res.setResultsList(batch.results.map(({ key, value }) => {
      const kv = new ledger.queryresult.KV();
      kv.setNamespace(tx.namespace);
      kv.setKey(key);
      kv.setValue(value);
      const bytes = new peer.QueryResultBytes();
      bytes.setResultbytes(kv.serializeBinary());
      return bytes;
    }));
    return res.serializeBinary();
  }

  #finish(key: string, tx: RunningTx): void {
    clearTimeout(tx.timer);
    this.#running.delete(key);
  }
}
