/**
 * In-memory world state with Fabric's versioning and MVCC rules, for the
 * Gateway test peer.
 *
 * - Every key carries the version `(blockNum, txNum)` of the transaction
 *   that last wrote it (fabric `core/ledger/internal/version.Height`).
 * - A {@link TxSimulator} runs one proposal: reads see committed state only
 *   (Fabric has no read-your-writes in simulation), and it records the read
 *   set (key and version read, or absence), the range queries with the keys
 *   they returned, and the write set. The result is a `TxReadWriteSet`
 *   (ledger/rwset/rwset.proto) exactly as a peer puts it into the endorsed
 *   `ChaincodeAction.results`.
 * - {@link WorldState.validateAndCommit} is the committer's check
 *   (fabric `validation/statebasedval`): a read whose version differs from the
 *   committed one is `MVCC_READ_CONFLICT`; a range whose keys or versions
 *   changed is `PHANTOM_READ_CONFLICT`; only a valid transaction's writes are
 *   applied, in block order, so later transactions of the same block see them.
 *
 * Keys are ordered by their UTF-8 bytes, as LevelDB orders them (JavaScript
 * string order differs above U+FFFF, and composite-key range ends use U+10FFFF).
 */
import { ledger, peer } from '@hyperledger/fabric-protos';

export interface Version {
  blockNum: number;
  txNum: number;
}

interface Entry {
  value: Buffer;
  version: Version;
}

type TxValidationCode = peer.TxValidationCodeMap[keyof peer.TxValidationCodeMap];

/** Results a range query iterator hands the chaincode per QueryResponse (fabric `TotalQueryLimit` batches). */
export const QUERY_BATCH = 100;

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sameVersion(a: Version | undefined, b: Version | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.blockNum === b.blockNum && a.txNum === b.txNum;
}

function toVersionProto(v: Version): ledger.rwset.kvrwset.Version {
  const out = new ledger.rwset.kvrwset.Version();
  out.setBlockNum(v.blockNum);
  out.setTxNum(v.txNum);
  return out;
}

function fromVersionProto(read: ledger.rwset.kvrwset.KVRead): Version | undefined {
  const v = read.getVersion();
  return v === undefined ? undefined : { blockNum: v.getBlockNum(), txNum: v.getTxNum() };
}

function kvRead(key: string, version: Version | undefined): ledger.rwset.kvrwset.KVRead {
  const r = new ledger.rwset.kvrwset.KVRead();
  r.setKey(key);
  if (version !== undefined) r.setVersion(toVersionProto(version));
  return r;
}

export class WorldState {
  readonly #namespaces = new Map<string, Map<string, Entry>>();

  #ns(namespace: string): Map<string, Entry> {
    let ns = this.#namespaces.get(namespace);
    if (ns === undefined) {
      ns = new Map();
      this.#namespaces.set(namespace, ns);
    }
    return ns;
  }

  get(namespace: string, key: string): Entry | undefined {
    return this.#namespaces.get(namespace)?.get(key);
  }

  /** Keys in `[start, end)` in byte order; an empty `end` is unbounded. */
  range(namespace: string, start: string, end: string): [string, Entry][] {
    const ns = this.#namespaces.get(namespace);
    if (ns === undefined) return [];
    return [...ns.entries()]
      .filter(([k]) => compareKeys(k, start) >= 0 && (end === '' || compareKeys(k, end) < 0))
      .sort(([a], [b]) => compareKeys(a, b));
  }

  /** Number of keys in a namespace (for tests and diagnostics). */
  size(namespace: string): number {
    return this.#namespaces.get(namespace)?.size ?? 0;
  }

  newSimulator(): TxSimulator {
    return new TxSimulator(this);
  }

  /**
   * Validates a transaction's read-write set against the committed state
   * and, if valid, applies its writes at `version`.
   */
  validateAndCommit(rwsetBytes: Uint8Array, version: Version): TxValidationCode {
    let txRwset: ledger.rwset.TxReadWriteSet;
    const parsed: { namespace: string; kv: ledger.rwset.kvrwset.KVRWSet }[] = [];
    try {
      txRwset = ledger.rwset.TxReadWriteSet.deserializeBinary(rwsetBytes);
      for (const ns of txRwset.getNsRwsetList()) {
        parsed.push({ namespace: ns.getNamespace(), kv: ledger.rwset.kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8()) });
      }
    } catch {
      return peer.TxValidationCode.BAD_RWSET;
    }
    for (const { namespace, kv } of parsed) {
      for (const read of kv.getReadsList()) {
        if (!sameVersion(this.get(namespace, read.getKey())?.version, fromVersionProto(read))) {
          return peer.TxValidationCode.MVCC_READ_CONFLICT;
        }
      }
      for (const rq of kv.getRangeQueriesInfoList()) {
        const recorded = rq.getRawReads()?.getKvReadsList() ?? [];
        let current = this.range(namespace, rq.getStartKey(), rq.getEndKey());
        // An iterator closed early only saw up to its last key (statebasedval rangeQueryResultsValidator).
        if (!rq.getItrExhausted()) {
          const last = recorded.at(-1)?.getKey();
          current = last === undefined ? [] : current.filter(([k]) => compareKeys(k, last) <= 0);
        }
        if (current.length !== recorded.length) return peer.TxValidationCode.PHANTOM_READ_CONFLICT;
        for (const [i, [key, entry]] of current.entries()) {
          const r = recorded[i];
          if (r === undefined || r.getKey() !== key || !sameVersion(entry.version, fromVersionProto(r))) {
            return peer.TxValidationCode.PHANTOM_READ_CONFLICT;
          }
        }
      }
    }
    for (const { namespace, kv } of parsed) {
      const ns = this.#ns(namespace);
      for (const w of kv.getWritesList()) {
        if (w.getIsDelete()) ns.delete(w.getKey());
        else ns.set(w.getKey(), { value: Buffer.from(w.getValue_asU8()), version: { ...version } });
      }
    }
    return peer.TxValidationCode.VALID;
  }

  /** The keys a serialized `TxReadWriteSet` read (point reads only). */
  static readKeys(rwsetBytes: Uint8Array): { namespace: string; key: string }[] {
    const txRwset = ledger.rwset.TxReadWriteSet.deserializeBinary(rwsetBytes);
    return txRwset.getNsRwsetList().flatMap((ns) =>
      ledger.rwset.kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8()).getReadsList().map((r) => ({ namespace: ns.getNamespace(), key: r.getKey() })));
  }

  /**
   * Rewrites an existing `key` with its current value at a new version: what
   * a concurrent transaction touching the key looks like to a validator.
   * Fault injection uses it to provoke a genuine MVCC conflict. Returns false
   * (and changes nothing) when the key does not exist.
   */
  touch(namespace: string, key: string, version: Version): boolean {
    const entry = this.get(namespace, key);
    if (entry === undefined) return false;
    this.#ns(namespace).set(key, { value: entry.value, version: { ...version } });
    return true;
  }
}

interface RangeQuery {
  startKey: string;
  endKey: string;
  reads: ledger.rwset.kvrwset.KVRead[];
  exhausted: boolean;
}

interface OpenIterator {
  namespace: string;
  results: [string, Entry][];
  position: number;
  query: RangeQuery;
}

/** A batch of range query results for a QueryResponse. */
export interface QueryBatch {
  results: { key: string; value: Buffer }[];
  hasMore: boolean;
  id: string;
}

/**
 * Simulates one transaction proposal against a {@link WorldState} and
 * records its read-write set.
 */
export class TxSimulator {
  readonly #state: WorldState;
  readonly #reads = new Map<string, Map<string, Version | undefined>>();
  readonly #writes = new Map<string, Map<string, Buffer | null>>();
  readonly #ranges = new Map<string, RangeQuery[]>();
  readonly #iterators = new Map<string, OpenIterator>();
  #nextIterator = 0;

  constructor(state: WorldState) {
    this.#state = state;
  }

  #perNs<T>(map: Map<string, T>, namespace: string, init: () => T): T {
    let v = map.get(namespace);
    if (v === undefined) {
      v = init();
      map.set(namespace, v);
    }
    return v;
  }

  /** The committed value (empty when absent); records the version read. */
  getState(namespace: string, key: string): Buffer {
    const entry = this.#state.get(namespace, key);
    const reads = this.#perNs(this.#reads, namespace, () => new Map<string, Version | undefined>());
    if (!reads.has(key)) reads.set(key, entry?.version);
    return entry?.value ?? Buffer.alloc(0);
  }

  putState(namespace: string, key: string, value: Buffer): void {
    this.#perNs(this.#writes, namespace, () => new Map<string, Buffer | null>()).set(key, value);
  }

  deleteState(namespace: string, key: string): void {
    this.#perNs(this.#writes, namespace, () => new Map<string, Buffer | null>()).set(key, null);
  }

  /** Opens a range iterator over committed state and returns its first batch. */
  startRange(namespace: string, startKey: string, endKey: string): QueryBatch {
    const query: RangeQuery = { startKey, endKey, reads: [], exhausted: false };
    this.#perNs(this.#ranges, namespace, () => []).push(query);
    const id = `range-${this.#nextIterator++}`;
    this.#iterators.set(id, { namespace, results: this.#state.range(namespace, startKey, endKey), position: 0, query });
    return this.nextBatch(id);
  }

  /** The next batch of an open iterator. */
  nextBatch(id: string): QueryBatch {
    const it = this.#iterators.get(id);
    if (it === undefined) throw new Error(`no open query iterator ${id}`);
    const batch = it.results.slice(it.position, it.position + QUERY_BATCH);
    it.position += batch.length;
    for (const [key, entry] of batch) it.query.reads.push(kvRead(key, entry.version));
    const hasMore = it.position < it.results.length;
    if (!hasMore) it.query.exhausted = true;
    return { results: batch.map(([key, entry]) => ({ key, value: entry.value })), hasMore, id };
  }

  closeIterator(id: string): void {
    this.#iterators.delete(id);
  }

  /** The simulation's `TxReadWriteSet` (data model KV), namespaces and keys sorted as Fabric sorts them. */
  readWriteSet(): Uint8Array {
    const namespaces = new Set([...this.#reads.keys(), ...this.#writes.keys(), ...this.#ranges.keys()]);
    const txRwset = new ledger.rwset.TxReadWriteSet();
    txRwset.setDataModel(ledger.rwset.TxReadWriteSet.DataModel.KV);
    for (const namespace of [...namespaces].sort(compareKeys)) {
      const kv = new ledger.rwset.kvrwset.KVRWSet();
      const reads = this.#reads.get(namespace) ?? new Map<string, Version | undefined>();
      kv.setReadsList([...reads.keys()].sort(compareKeys).map((k) => kvRead(k, reads.get(k))));
      kv.setRangeQueriesInfoList((this.#ranges.get(namespace) ?? []).map((q) => {
        const info = new ledger.rwset.kvrwset.RangeQueryInfo();
        info.setStartKey(q.startKey);
        info.setEndKey(q.endKey);
        info.setItrExhausted(q.exhausted);
        const raw = new ledger.rwset.kvrwset.QueryReads();
        raw.setKvReadsList(q.reads);
        info.setRawReads(raw);
        return info;
      }));
      const writes = this.#writes.get(namespace) ?? new Map<string, Buffer | null>();
      kv.setWritesList([...writes.keys()].sort(compareKeys).map((k) => {
        const w = new ledger.rwset.kvrwset.KVWrite();
        const value = writes.get(k) ?? null;
        w.setKey(k);
        w.setIsDelete(value === null);
        if (value !== null) w.setValue(value);
        return w;
      }));
      const ns = new ledger.rwset.NsReadWriteSet();
      ns.setNamespace(namespace);
      ns.setRwset(kv.serializeBinary());
      txRwset.addNsRwset(ns);
    }
    return txRwset.serializeBinary();
  }

}
