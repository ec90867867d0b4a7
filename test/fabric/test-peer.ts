/**
 * A Fabric Gateway protocol test peer: one channel, one peer that is also
 * its orderer, and the real Cairn chaincode, so that the unmodified
 * `@hyperledger/fabric-gateway` client can submit, evaluate and listen over
 * TLS on loopback without a Fabric network.
 *
 * What is real: the gateway protocol (gateway/gateway.proto messages from
 * @hyperledger/fabric-protos, status codes and error details as the Fabric
 * gateway sends them), the chaincode (run by fabric-shim over the chaincode
 * shim protocol, see ./chaincode-process.ts), signatures (creator,
 * endorsement; X.509 identities issued by per-organisation MSP CAs), MVCC
 * validation at commit (./world-state.ts), block numbers, tx validation
 * codes and chaincode events (./ledger.ts), and TLS.
 * What is not: consensus, gossip, discovery, endorsement policies beyond
 * "one endorsement by this peer", private data, persistence (state lives in
 * memory for the life of the process, across {@link TestPeer.stop} and
 * {@link TestPeer.start}).
 */
import * as grpc from '@grpc/grpc-js';
import { gateway, msp, peer } from '@hyperledger/fabric-protos';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ChaincodeProcess } from './chaincode-process.js';
import { FaultInjector } from './faults.js';
import { createGatewayService, serializeIdentity } from './gateway-service.js';
import { ChannelLedger, type TxValidationCode } from './ledger.js';
import { createCertificateAuthority, MSP_IDENTITY_EXTENSIONS, TLS_SERVER_EXTENSIONS, type CertificateAuthority } from './pki.js';
import { WorldState } from './world-state.js';

export interface TestPeerOptions {
  /** `host:port` to listen on; port 0 picks one (kept across stop/start). Default `127.0.0.1:0`. */
  listen?: string;
  /** Channel name. Default `mychannel` (as in fabric-samples' test network). */
  channel?: string;
  /** Chaincode name on the channel. Default `cairn-anchor`. */
  chaincode?: string;
  /** The peer's organisation. Default `Org1MSP`. */
  mspId?: string;
  /** Further organisations whose members may transact (their CAs are created here). */
  otherMspIds?: readonly string[];
  /** Orderer batch timeout: transactions submitted this close together share a block. Default 20 ms. */
  batchTimeoutMs?: number;
  /** Folder of the chaincode package (with package.json). Default: the compiled dist/src/chaincode. */
  chaincodeModulePath?: string;
  /** fabric-shim log level in the chaincode process. Default `CRITICAL`. */
  chaincodeLogLevel?: string;
}

/** An MSP identity: what a client signs with. */
export interface Identity {
  mspId: string;
  certPem: string;
  keyPem: string;
}

/** Everything a fabric-gateway client needs to reach the peer. */
export interface ConnectionSettings extends Identity {
  /** `host:port` of the gateway. */
  endpoint: string;
  /** PEM of the CA that signed the peer's TLS certificate. */
  tlsCaPem: string;
  /**
   * Host name the peer's TLS certificate is valid for, when the endpoint's
   * host differs (grpc-js `grpc.ssl_target_name_override`; fabric-samples
   * calls it the peer host alias).
   */
  tlsServerName: string;
  channel: string;
  chaincode: string;
  /** Contract name within the chaincode. */
  contract: string;
}

interface Organization {
  mspId: string;
  ca: CertificateAuthority;
}

/** The name in the peer's TLS certificate (its SAN also holds 127.0.0.1 and ::1). */
const TLS_SERVER_NAME = 'localhost';

/** Contract name of the Cairn anchor chaincode. */
export const CONTRACT_NAME = 'CairnAnchor';

function resolver(orgs: ReadonlyMap<string, Organization>, nodeOu: 'client' | 'peer' | 'any'): (bytes: Uint8Array) => X509Certificate | undefined {
  const cache = new Map<string, X509Certificate | undefined>();
  return (bytes) => {
    const cacheKey = Buffer.from(bytes).toString('base64');
    if (cache.has(cacheKey)) return cache.get(cacheKey);
    let result: X509Certificate | undefined;
    try {
      const id = msp.SerializedIdentity.deserializeBinary(bytes);
      const org = orgs.get(id.getMspid());
      const cert = new X509Certificate(Buffer.from(id.getIdBytes_asU8()));
      const now = Date.now();
      const valid = org !== undefined
        && cert.checkIssued(org.ca.cert)
        && cert.verify(org.ca.cert.publicKey)
        && Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo)
        && (nodeOu === 'any' || cert.subject.split('\n').includes(`OU=${nodeOu}`));
      result = valid ? cert : undefined;
    } catch {
      result = undefined;
    }
    cache.set(cacheKey, result);
    return result;
  };
}

export class TestPeer {
  readonly channel: string;
  readonly chaincode: string;
  readonly mspId: string;
  readonly faults = new FaultInjector();
  readonly state = new WorldState();
  readonly ledger: ChannelLedger;
  /** PEM of the TLS CA clients must trust. */
  readonly tlsCaPem: string;
  /** The identity issued for clients at start (Org `mspId`, NodeOU client). */
  readonly clientIdentity: Identity;
  readonly #orgs: Map<string, Organization>;
  readonly #tls: { keyPem: string; certPem: string };
  readonly #chaincodeProcess: ChaincodeProcess;
  readonly #service: grpc.UntypedServiceImplementation;
  #host: string;
  #port: number;
  #server: grpc.Server | undefined;

  private constructor(init: {
    options: Required<Pick<TestPeerOptions, 'channel' | 'chaincode' | 'mspId' | 'batchTimeoutMs'>>;
    host: string;
    port: number;
    orgs: Map<string, Organization>;
    tlsCaPem: string;
    tls: { keyPem: string; certPem: string };
    peerIdentity: Identity;
    clientIdentity: Identity;
    chaincodeProcess: ChaincodeProcess;
  }) {
    this.channel = init.options.channel;
    this.chaincode = init.options.chaincode;
    this.mspId = init.options.mspId;
    this.#host = init.host;
    this.#port = init.port;
    this.#orgs = init.orgs;
    this.tlsCaPem = init.tlsCaPem;
    this.#tls = init.tls;
    this.clientIdentity = init.clientIdentity;
    this.#chaincodeProcess = init.chaincodeProcess;
    const resolveIdentity = resolver(this.#orgs, 'any');
    this.ledger = new ChannelLedger({
      channelId: this.channel,
      state: this.state,
      resolveIdentity,
      resolveEndorser: resolver(this.#orgs, 'peer'),
      batchTimeoutMs: init.options.batchTimeoutMs,
    });
    this.ledger.validationHook = (tx, height) => {
      const forced = this.faults.takeCommitCode();
      if (forced !== undefined) return forced as TxValidationCode;
      if (this.faults.takeMvccConflict()) {
        // A concurrent writer got there first: bump the version of what the
        // transaction read, and let the real MVCC check find it. Keys read as
        // absent cannot be bumped without inventing a value; when only those
        // were read, the outcome is declared instead.
        let touched = false;
        for (const { namespace, key } of WorldState.readKeys(tx.rwset)) touched = this.state.touch(namespace, key, height) || touched;
        if (!touched) return peer.TxValidationCode.MVCC_READ_CONFLICT;
      }
      return undefined;
    };
    this.#service = createGatewayService({
      channelId: this.channel,
      chaincodes: new Map([[this.chaincode, this.#chaincodeProcess]]),
      state: this.state,
      ledger: this.ledger,
      faults: this.faults,
      resolveIdentity,
      peer: {
        mspId: this.mspId,
        serialized: serializeIdentity(this.mspId, init.peerIdentity.certPem),
        key: createPrivateKey(init.peerIdentity.keyPem),
      },
      address: () => this.endpoint,
    });
  }

  /** `host:port` the gateway listens on. */
  get endpoint(): string {
    return `${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Connection settings for the default client identity (or `identity`). */
  settings(identity: Identity = this.clientIdentity): ConnectionSettings {
    return {
      endpoint: this.endpoint,
      tlsCaPem: this.tlsCaPem,
      tlsServerName: TLS_SERVER_NAME,
      ...identity,
      channel: this.channel,
      chaincode: this.chaincode,
      contract: CONTRACT_NAME,
    };
  }

  /** Issues a new client identity from the CA of `mspId` (one of the peer's organisations). */
  async newIdentity(mspId: string = this.mspId, commonName = `user-${Date.now()}`): Promise<Identity> {
    const org = this.#orgs.get(mspId);
    if (org === undefined) throw new Error(`the test peer knows no MSP ${mspId}`);
    const { keyPem, certPem } = await org.ca.issue(`/C=US/O=${mspId}/OU=client/CN=${commonName}`, MSP_IDENTITY_EXTENSIONS);
    return { mspId, certPem, keyPem };
  }

  /** Starts serving (again) on the same endpoint, reconnecting to the chaincode. */
  async start(): Promise<void> {
    if (this.#server !== undefined) return;
    await this.#chaincodeProcess.connect();
    const server = new grpc.Server();
    server.addService(gateway.GatewayService, this.#service);
    const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(this.#tls.keyPem), cert_chain: Buffer.from(this.#tls.certPem) }], false);
    this.#port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.endpoint, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.#server = server;
  }

  /**
   * The peer goes away: the gateway stops listening, open calls and event
   * streams end with UNAVAILABLE or CANCELLED, the chaincode connection
   * closes. Ledger and world state stay for {@link start}.
   */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.forceShutdown();
    this.#chaincodeProcess.disconnect();
  }

  /** Stops everything and ends the chaincode process. */
  async close(): Promise<void> {
    await this.stop();
    this.ledger.close();
    await this.#chaincodeProcess.close();
  }

  /** Starts a test peer: generates its PKI, starts the chaincode, listens. */
  static async start(options: TestPeerOptions = {}): Promise<TestPeer> {
    const resolved = {
      channel: options.channel ?? 'mychannel',
      chaincode: options.chaincode ?? 'cairn-anchor',
      mspId: options.mspId ?? 'Org1MSP',
      batchTimeoutMs: options.batchTimeoutMs ?? 20,
    };
    const listen = options.listen ?? '127.0.0.1:0';
    const m = /^(.*):(\d+)$/.exec(listen);
    if (m === null) throw new Error(`listen must be host:port, got ${listen}`);
    const host = m[1]!.replace(/^\[(.*)\]$/, '$1');

    const orgNames = [resolved.mspId, ...(options.otherMspIds ?? [])];
    const [tlsCa, chaincodeProcess, ...cas] = await Promise.all([
      createCertificateAuthority('/C=US/O=Cairn test peer/CN=tlsca.cairn-test-peer'),
      ChaincodeProcess.start({
        name: resolved.chaincode,
        packageId: `${resolved.chaincode}_1.0:${'0'.repeat(64)}`,
        localMspId: resolved.mspId,
        ...(options.chaincodeModulePath === undefined ? {} : { modulePath: options.chaincodeModulePath }),
        ...(options.chaincodeLogLevel === undefined ? {} : { logLevel: options.chaincodeLogLevel }),
      }),
      ...orgNames.map((name) => createCertificateAuthority(`/C=US/O=${name}/CN=ca.${name.toLowerCase()}`)),
    ]);
    try {
      const orgs = new Map<string, Organization>(orgNames.map((mspId, i) => [mspId, { mspId, ca: cas[i]! }]));
      const ownCa = cas[0]!;
      const [tls, peerId, clientId] = await Promise.all([
        tlsCa.issue(`/C=US/O=Cairn test peer/CN=${TLS_SERVER_NAME}`, TLS_SERVER_EXTENSIONS),
        ownCa.issue(`/C=US/O=${resolved.mspId}/OU=peer/CN=peer0`, MSP_IDENTITY_EXTENSIONS),
        ownCa.issue(`/C=US/O=${resolved.mspId}/OU=client/CN=cairn-node`, MSP_IDENTITY_EXTENSIONS),
      ]);
      const testPeer = new TestPeer({
        options: resolved,
        host,
        port: Number(m[2]),
        orgs,
        tlsCaPem: tlsCa.certPem,
        tls,
        peerIdentity: { mspId: resolved.mspId, ...peerId },
        clientIdentity: { mspId: resolved.mspId, ...clientId },
        chaincodeProcess,
      });
      await testPeer.start();
      return testPeer;
    } catch (e) {
      await chaincodeProcess.close();
      throw e;
    }
  }
}
