/**
 * Fault injection for the Gateway test peer. Each fault acts where a real
 * network would make it visible to the fabric-gateway client:
 *
 * - {@link FaultInjector.setLatency}: every call of the chosen methods waits
 *   first (the client's deadline turns it into DEADLINE_EXCEEDED);
 * - {@link FaultInjector.failNext}: the next calls fail with a gRPC status
 *   (UNAVAILABLE by default: a peer or orderer that cannot be reached);
 * - {@link FaultInjector.failEndorsement}: the endorsing peer refuses the
 *   proposal (ABORTED with an ErrorDetail, as the gateway reports it);
 * - {@link FaultInjector.mvccConflict}: just before the next transaction is
 *   validated, a concurrent write bumps the version of a key it read, so the
 *   real MVCC check marks it MVCC_READ_CONFLICT;
 * - {@link FaultInjector.failCommit}: the next transactions get a given
 *   validation code (e.g. ENDORSEMENT_POLICY_FAILURE);
 * - {@link FaultInjector.setFailureRate} and the `rate` of
 *   {@link FaultInjector.setLatency}: a share of calls, drawn at random, for
 *   chaos scenarios that run for a while rather than count calls
 *   (test/chaos/); {@link FaultInjector.injected} counts what was injected.
 *
 * A peer going away and coming back is `TestPeer.stop()` / `TestPeer.start()`.
 */
import * as grpc from '@grpc/grpc-js';

export type GatewayMethod = 'Evaluate' | 'Endorse' | 'Submit' | 'CommitStatus' | 'ChaincodeEvents';

export const GATEWAY_METHODS: readonly GatewayMethod[] = ['Evaluate', 'Endorse', 'Submit', 'CommitStatus', 'ChaincodeEvents'];

export interface InjectedStatus {
  code: grpc.status;
  message: string;
}

export class FaultInjector {
  readonly #latency = new Map<GatewayMethod, { ms: number; rate: number }>();
  readonly #failures = new Map<GatewayMethod, InjectedStatus[]>();
  readonly #failureRates = new Map<GatewayMethod, { rate: number; status: InjectedStatus }>();
  /** Latencies and failures injected so far. */
  injected = 0;
  readonly #endorsementFailures: string[] = [];
  #mvccConflicts = 0;
  readonly #commitCodes: number[] = [];

  /** Delays every call (or a `rate` share of calls) of `methods` (all by default) by `ms` before it is handled; 0 removes it. */
  setLatency(ms: number, methods: readonly GatewayMethod[] = GATEWAY_METHODS, rate = 1): void {
    for (const m of methods) {
      if (ms > 0) this.#latency.set(m, { ms, rate });
      else this.#latency.delete(m);
    }
  }

  /** The next `count` calls of `method` fail with `code` (UNAVAILABLE by default). */
  failNext(method: GatewayMethod, code: grpc.status = grpc.status.UNAVAILABLE, count = 1, message = `injected fault: ${grpc.status[code]}`): void {
    const list = this.#failures.get(method) ?? [];
    for (let i = 0; i < count; i++) list.push({ code, message });
    this.#failures.set(method, list);
  }

  /** A `rate` share of the calls of `method` fail with `code` (UNAVAILABLE by default), until set to 0. */
  setFailureRate(method: GatewayMethod, rate: number, code: grpc.status = grpc.status.UNAVAILABLE): void {
    if (rate > 0) this.#failureRates.set(method, { rate, status: { code, message: `injected fault: ${grpc.status[code]}` } });
    else this.#failureRates.delete(method);
  }

  /** The next `count` endorsements are refused by the peer with `message`. */
  failEndorsement(count = 1, message = 'injected fault: endorsement failure'): void {
    for (let i = 0; i < count; i++) this.#endorsementFailures.push(message);
  }

  /** The next `count` transactions that read state meet a concurrent write to a key they read. */
  mvccConflict(count = 1): void {
    this.#mvccConflicts += count;
  }

  /** The next transactions committed get these validation codes (peer.TxValidationCode), one each. */
  failCommit(...codes: number[]): void {
    this.#commitCodes.push(...codes);
  }

  /** Removes every fault. */
  clear(): void {
    this.#latency.clear();
    this.#failures.clear();
    this.#failureRates.clear();
    this.#endorsementFailures.length = 0;
    this.#mvccConflicts = 0;
    this.#commitCodes.length = 0;
  }

  // ---------------------------------------------------------------- used by the peer

  latencyFor(method: GatewayMethod): number {
    const l = this.#latency.get(method);
    if (l === undefined || (l.rate < 1 && Math.random() >= l.rate)) return 0;
    this.injected++;
    return l.ms;
  }

  takeFailure(method: GatewayMethod): InjectedStatus | undefined {
    const queued = this.#failures.get(method)?.shift();
    const byRate = this.#failureRates.get(method);
    const f = queued ?? (byRate && Math.random() < byRate.rate ? byRate.status : undefined);
    if (f) this.injected++;
    return f;
  }

  takeEndorsementFailure(): string | undefined {
    return this.#endorsementFailures.shift();
  }

  takeMvccConflict(): boolean {
    if (this.#mvccConflicts === 0) return false;
    this.#mvccConflicts--;
    return true;
  }

  takeCommitCode(): number | undefined {
    return this.#commitCodes.shift();
  }
}
