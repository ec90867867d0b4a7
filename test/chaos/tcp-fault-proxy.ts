/**
 * A TCP proxy on loopback between a client and one upstream (etcd's client
 * port) that injects, while armed: latency on every chunk in both
 * directions (order kept), and connection resets (TCP RST), both of new
 * connections as they arrive and, once a second, of open ones. gRPC keeps
 * one long-lived HTTP/2 connection per endpoint, so resetting open
 * connections is what reaches it: every stream on it (the watch, a range
 * read in flight) fails at once.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { faultActive, type FaultKind, type FaultSpec } from './scenario.js';

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class TcpFaultProxy {
  readonly injected = new Map<FaultKind, number>();
  readonly #upstreamPort: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  readonly #random: () => number;
  #faults: readonly FaultSpec[] = [];
  #armedAt = 0;
  #ticker: NodeJS.Timeout | undefined;

  private constructor(upstreamPort: number, random: () => number) {
    this.#upstreamPort = upstreamPort;
    this.#random = random;
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(upstreamPort: number, random: () => number = Math.random): Promise<TcpFaultProxy> {
    const p = new TcpFaultProxy(upstreamPort, random);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    return p;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get total(): number {
    let n = 0;
    for (const v of this.injected.values()) n += v;
    return n;
  }

  arm(faults: readonly FaultSpec[]): void {
    this.#faults = faults;
    this.#armedAt = Date.now();
    clearInterval(this.#ticker);
    this.#ticker = setInterval(() => {
      const reset = this.#active('reset');
      if (!reset) return;
      for (const pair of [...this.#pairs]) if (this.#random() < reset.rate) this.#reset(pair);
    }, 1000);
  }

  disarm(): void {
    this.#faults = [];
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }

  async close(): Promise<void> {
    this.disarm();
    for (const p of this.#pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #active(kind: FaultKind): FaultSpec | undefined {
    const elapsed = Date.now() - this.#armedAt;
    return this.#faults.find((f) => f.fault === kind && faultActive(f, elapsed));
  }

  #count(kind: FaultKind): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  #reset(pair: Pair): void {
    this.#count('reset');
    this.#pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.upstream.destroy();
  }

  #accept(client: Socket): void {
    const upstream = createConnection({ host: '127.0.0.1', port: this.#upstreamPort });
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const drop = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    const reset = this.#active('reset');
    if (reset && this.#random() < reset.rate) {
      this.#reset(pair);
      return;
    }
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
  }

  /** Copies `from` to `to`, each chunk after the latency in force when it arrived (a chain, so order holds). */
  #pipe(from: Socket, to: Socket): void {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const latency = this.#active('latency');
      let delay = 0;
      if (latency && this.#random() < latency.rate) {
        this.#count('latency');
        delay = latency.minMs! + this.#random() * (latency.maxMs! - latency.minMs!);
      }
      if (delay === 0) {
        chain = chain.then(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      from.pause();
      chain = chain
        .then(() => new Promise<void>((r) => setTimeout(r, delay)))
        .then(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        });
    });
    from.on('end', () => void chain.then(() => to.end()));
  }
}
