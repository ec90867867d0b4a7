/**
 * Witnessing over gRPC: AddCheckpoint (C2SP tlog-witness add-checkpoint) and
 * ListWitnessed (what this node last cosigned, for the exchange between
 * witnesses). The work is done by a {@link WitnessService} the node passes in
 * (src/federation/witness.ts); this file only reads the request defensively.
 * A node started without one answers FAILED_PRECONDITION.
 */
import { fromWireKeyLink, u64, wireKeyLink, type WireKeyLink } from '../api/proto.js';
import { CairnError, invalidArgument } from '../core/errors.js';
import { MAX_KEY_LINKS, type KeyLink } from '../core/key-chain.js';
import { MAX_PROOF_LENGTH } from '../core/merkle.js';
import { MAX_NOTE_BYTES } from '../core/note.js';
import type { Caller } from './access.js';
import type { Req } from './wire.js';

export interface AddCheckpointInput {
  oldSize: number;
  proof: Uint8Array[];
  note: string;
  keyChain: KeyLink[];
}

export interface WitnessedOut {
  origin: string;
  checkpoint: string;
  cosignature: string;
  keyChain: readonly KeyLink[];
}

/** The witness side of a node. */
export interface WitnessService {
  /** @returns the cosignature lines; @throws CairnError with the refusal (see the proto) */
  addCheckpoint(input: AddCheckpointInput, caller: Caller): Promise<string[]>;
  witnessed(): Promise<{ witnessName: string; checkpoints: WitnessedOut[]; equivocations: string[] }>;
}

/** The origin side: the cosignatures its witnesses returned, for GetCheckpoint and the proofs. */
export interface CosignatureSource {
  cosignatures(log: string, size: number): Promise<string[]>;
  /** The largest size of `log` with at least `min` cosignatures. */
  latestCosigned(log: string, min: number): Promise<number | undefined>;
  /** Another origin's (mirrored) log: its latest checkpoint with at least `min` cosignatures this node gathered. */
  foreignCosigned?(origin: string, log: string, min: number): Promise<{ size: number; note: string; lines: string[] } | undefined>;
}

function notWitness(): CairnError {
  return new CairnError('FAILED_PRECONDITION', 'this node does not witness: it was started without a witness key and peers');
}

export class WitnessHandlers {
  readonly #svc: WitnessService | undefined;

  constructor(svc: WitnessService | undefined) {
    this.#svc = svc;
  }

  async addCheckpoint(req: Req, caller: Caller): Promise<{ cosignatures: string[] }> {
    const oldSize = u64('old_size', req.oldSize);
    const proofIn = Array.isArray(req.consistencyProof) ? (req.consistencyProof as unknown[]) : [];
    // tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
    if (proofIn.length > MAX_PROOF_LENGTH - 1) throw invalidArgument('consistency_proof', `has more than ${MAX_PROOF_LENGTH - 1} hashes`);
    const proof = proofIn.map((h, i) => {
      if (!(h instanceof Uint8Array) || h.length !== 32) throw invalidArgument('consistency_proof', `hash ${i} is not 32 bytes`);
      return new Uint8Array(h);
    });
    const note = typeof req.checkpoint === 'string' ? req.checkpoint : '';
    if (note === '') throw invalidArgument('checkpoint', 'is required');
    if (note.length > MAX_NOTE_BYTES) throw invalidArgument('checkpoint', `is longer than ${MAX_NOTE_BYTES} characters`);
    const linksIn = Array.isArray(req.keyChain) ? (req.keyChain as WireKeyLink[]) : [];
    if (linksIn.length > MAX_KEY_LINKS) throw invalidArgument('key_chain', `has more than ${MAX_KEY_LINKS} links`);
    let keyChain: KeyLink[];
    try {
      keyChain = linksIn.map(fromWireKeyLink);
    } catch (err) {
      throw invalidArgument('key_chain', (err as Error).message);
    }
    if (!this.#svc) throw notWitness();
    return { cosignatures: await this.#svc.addCheckpoint({ oldSize, proof, note, keyChain }, caller) };
  }

  async listWitnessed(): Promise<Record<string, unknown>> {
    if (!this.#svc) throw notWitness();
    const w = await this.#svc.witnessed();
    return { witnessName: w.witnessName, checkpoints: w.checkpoints.map((c) => ({ origin: c.origin, checkpoint: c.checkpoint, cosignature: c.cosignature, keyChain: c.keyChain.map(wireKeyLink) })), equivocations: w.equivocations };
  }
}
