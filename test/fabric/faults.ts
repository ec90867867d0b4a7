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
 *   validation code (e.g. ENDORSEMENT_POLICY_FAILURE).
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
  readonly #latency = new Map<GatewayMethod, number>();
  readonly #failures = new Map<GatewayMethod, InjectedStatus[]>();
  readonly #endorsementFailures: string[] = [];
  #mvccConflicts = 0;
  readonly #commitCodes: number[] = [];

  /** Delays every call of `methods` (all by default) by `ms` before it is handled; 0 removes it. */
  setLatency(ms: number, methods: readonly GatewayMethod[] = GATEWAY_METHODS): void {
    for (const m of methods) {
      if (ms > 0) this.#latency.set(m, ms);
      else this.#latency.delete(m);
    }
  }

  /** The next `count` calls of `method` fail with `code` (UNAVAILABLE by default). */
  failNext(method: GatewayMethod, code: grpc.status = grpc.status.UNAVAILABLE, count = 1, message = `injected fault: ${grpc.status[code]}`): void {
    const list = this.#failures.get(method) ?? [];
    for (let i = 0; i < count; i++) list.push({ code, message });
    this.#failures.set(method, list);
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
    this.#endorsementFailures.length = 0;
    this.#mvccConflicts = 0;
    this.#commitCodes.length = 0;
  }

  // ---------------------------------------------------------------- used by the peer

  latencyFor(method: GatewayMethod): number {
    return this.#latency.get(method) ?? 0;
  }

  takeFailure(method: GatewayMethod): InjectedStatus | undefined {
    return this.#failures.get(method)?.shift();
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
