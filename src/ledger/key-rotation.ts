/**
 * Signing-key rotation (`cairn rotate-key`), run while the node is stopped.
 *
 * Steps, each durable before the next, so that running the command again
 * after a crash at any point finishes the job and rotates no log twice:
 *   1. stage the next key as `signing-key.next.pem` (0600, atomic);
 *   2. record the link old -> next (signed by the old key) in the node's key
 *      chain in LevelDB; from here the node refuses to start until step 4;
 *   3. for every stored log whose head checkpoint is still signed by the old
 *      key, append a rotation entry through the log's sequencer: the entry
 *      signed by the old key, the checkpoint covering it by the next key, in
 *      one synced group, so "head signed by the next key" is exactly
 *      "rotated" and a re-run skips it;
 *   4. install: keep the old public key as
 *      `signing-key.<old key ID>.retired.pub.pem`, replace the key file with
 *      the next key (atomic rename: the old private key is gone), write the
 *      new public key, remove the staged file. With the key in
 *      $CAIRN_SIGNING_KEY_PEM nothing can be replaced: the staged file stays
 *      for the operator to move into the environment.
 */
import { rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { bytesEqual } from '../core/bytes.js';
import { createKeyLink, followKeyChain, keyLinkToJson, KEY_ROTATION_ACTION, type KeyLink } from '../core/key-chain.js';
import { ecdsaKeyId } from '../core/note.js';
import { LedgerStore } from '../storage/ledger-store.js';
import { InlineChainSigner, type EntryFields } from './chain-signer.js';
import { LogSequencer } from './sequencer.js';
import { loadKeyFile, loadNodeKey, NEXT_KEY_FILE, PUBLIC_KEY_FILE, retiredPublicKeyFile, SigningKey, writeFileAtomic, writePrivateKeyAtomic, type NodeKeySource } from '../keys/signing-key.js';

/** configId of rotation and key-history entries. */
export const KEY_ROTATION_CONFIG_ID = 'cairn/signing-key';

/** The fields of a rotation entry (one link) or of a new log's key-history entry (every link). */
export function rotationEntryFields(links: readonly KeyLink[], nodeName: string): EntryFields {
  return {
    configId: KEY_ROTATION_CONFIG_ID,
    operator: nodeName,
    // Written by the node itself, like its sync entries.
    identity: `node:${nodeName}`,
    action: KEY_ROTATION_ACTION,
    source: '',
    commit: '',
    payload: { links: links.map(keyLinkToJson) },
    requestId: '',
  };
}

export function keyIdHex(spki: Uint8Array): string {
  return ecdsaKeyId(spki).toString(16).padStart(8, '0');
}

/** The default node name: from the node's FIRST key, so that it survives rotations (origins stay the same). */
export function defaultNodeName(firstKeySpki: Uint8Array): string {
  return `cairn-${keyIdHex(firstKeySpki)}`;
}

/**
 * Checks the stored chain against the key the node loaded.
 * @returns the node's first key (the one verifiers pin)
 * @throws CairnError CORRUPTION for a chain that does not verify; FAILED_PRECONDITION when the key is not its last key
 */
export function checkNodeKeyChain(chain: readonly KeyLink[], key: SigningKey): Uint8Array {
  if (chain.length === 0) return key.publicKeySpki;
  const first = chain[0]!.statement.prev;
  let keys: Uint8Array[];
  try {
    keys = followKeyChain(first, chain);
  } catch (cause) {
    throw new CairnError('CORRUPTION', 'the stored signing-key chain does not verify', { cause });
  }
  if (!bytesEqual(keys[keys.length - 1]!, key.publicKeySpki)) {
    const last = keyIdHex(keys[keys.length - 1]!);
    if (bytesEqual(chain[chain.length - 1]!.statement.prev, key.publicKeySpki)) {
      throw new CairnError('FAILED_PRECONDITION', `cairn rotate-key was interrupted (the key chain already hands over from ${key.keyIdHex} to ${last}): run it again to finish, then start the node`);
    }
    throw new CairnError('FAILED_PRECONDITION', `the signing key ${key.keyIdHex} is not the node's current key ${last} (the last of its key chain): use that key`);
  }
  return first;
}

export interface RotateKeyOptions {
  source: NodeKeySource;
  /** The configured node name; empty: the default ({@link defaultNodeName}). */
  nodeName: string;
  /** A PKCS#8 PEM file (0600) with the next key; generated when absent. */
  newKeyFile?: string | undefined;
  now?: () => Date;
  /** Called after each log is rotated and durable (tests stop here to simulate a crash). */
  afterLog?: (log: string) => Promise<void> | void;
}

export interface RotateKeyResult {
  previousKeyId: string;
  keyId: string;
  /** Logs that got a rotation entry in this run. */
  rotated: string[];
  /** Logs rotated by an earlier, interrupted run. */
  alreadyRotated: string[];
  /** Logs whose head is signed by neither key or whose storage is damaged: not rotated (cairn verify them). */
  damaged: string[];
  /** Where the new private key is: the key file, or (key from the environment) the staged file to move into it. */
  newKeyFile: string;
  retiredPublicKey: string;
  /** True when the key came from $CAIRN_SIGNING_KEY_PEM: the operator must put the new key there. */
  updateEnvironment: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Rotates the node's signing key (see the module comment).
 * @throws CairnError FAILED_PRECONDITION when the node is running (database locked) or an
 *   interrupted rotation staged a different key; as loadNodeKey for the keys
 */
export async function rotateKey(opts: RotateKeyOptions): Promise<RotateKeyResult> {
  const { key: current, source } = await loadNodeKey(opts.source, false);
  const keyDir = dirname(opts.source.keyFile);
  const stagedPath = join(keyDir, NEXT_KEY_FILE);
  let store: LedgerStore;
  try {
    store = await LedgerStore.open(join(opts.source.dataDir, 'ledger'));
  } catch (cause) {
    if (cause instanceof CairnError && /locked/.test(cause.message)) {
      throw new CairnError('FAILED_PRECONDITION', `the node is running (its database ${join(opts.source.dataDir, 'ledger')} is locked): stop it, then run cairn rotate-key`, { cause });
    }
    throw cause;
  }
  try {
    const chain = await store.getKeyChain();
    const staged = (await exists(stagedPath)) ? await loadKeyFile(stagedPath) : undefined;
    const wanted = opts.newKeyFile === undefined ? undefined : await loadKeyFile(opts.newKeyFile);
    if (staged && wanted && !bytesEqual(staged.publicKeySpki, wanted.publicKeySpki)) {
      throw new CairnError('FAILED_PRECONDITION', `an interrupted rotation staged key ${staged.keyIdHex} in ${stagedPath}, not --new-key's ${wanted.keyIdHex}: run without --new-key to finish it`);
    }
    let first: Uint8Array;
    let link: KeyLink;
    let next: SigningKey;
    let chainLast: Uint8Array;
    try {
      first = chain[0]?.statement.prev ?? current.publicKeySpki;
      chainLast = followKeyChain(first, chain).at(-1)!;
    } catch (cause) {
      throw new CairnError('CORRUPTION', 'the stored signing-key chain does not verify', { cause });
    }
    const nodeName = opts.nodeName || defaultNodeName(first);
    if (bytesEqual(chainLast, current.publicKeySpki)) {
      if (staged && bytesEqual(staged.publicKeySpki, current.publicKeySpki)) {
        // Crashed after installing the key, before removing the staged copy: only that is left.
        await rm(stagedPath, { force: true });
        return { previousKeyId: keyIdHex(chain.at(-1)?.statement.prev ?? current.publicKeySpki), keyId: current.keyIdHex, rotated: [], alreadyRotated: await store.listLogs(), damaged: [], newKeyFile: opts.source.keyFile, retiredPublicKey: '', updateEnvironment: false };
      }
      next = staged ?? wanted ?? SigningKey.generate();
      if (bytesEqual(next.publicKeySpki, current.publicKeySpki)) throw new CairnError('INVALID_ARGUMENT', `--new-key: ${next.keyIdHex} is the current key`, { field: 'new-key' });
      if (chain.some((l) => bytesEqual(l.statement.prev, next.publicKeySpki))) throw new CairnError('INVALID_ARGUMENT', `--new-key: ${next.keyIdHex} is a retired key`, { field: 'new-key' });
      if (!staged) await writePrivateKeyAtomic(stagedPath, next);
      link = createKeyLink({ prev: current.publicKeySpki, next: next.publicKeySpki, node: nodeName, time: (opts.now?.() ?? new Date()).toISOString() }, (m) => current.sign(m));
      await store.putKeyChain([...chain, link]);
    } else if (chain.length > 0 && bytesEqual(chain.at(-1)!.statement.prev, current.publicKeySpki)) {
      // Interrupted after step 2: finish with the recorded link and the staged key.
      link = chain.at(-1)!;
      if (!staged || !bytesEqual(staged.publicKeySpki, link.statement.next)) {
        throw new CairnError('FAILED_PRECONDITION', `the key chain hands over to ${keyIdHex(link.statement.next)} but ${stagedPath} does not hold that key: restore it to finish the rotation`);
      }
      next = staged;
    } else {
      throw new CairnError('FAILED_PRECONDITION', `the signing key ${current.keyIdHex} is not the node's current key ${keyIdHex(chainLast)}: use that key`);
    }

    const rotated: string[] = [];
    const alreadyRotated: string[] = [];
    const damaged: string[] = [];
    const signer = new InlineChainSigner(current);
    for (const log of await store.listLogs()) {
      // The normal write path: a group commit, chained and integrated; entries signed by the
      // old key (the signer), the checkpoint by the next key (the note signer).
      const seq = await LogSequencer.open(log, store, signer, next.noteSigner(nodeName), { maxBatch: 1, maxQueue: 1, origin: `${nodeName}/${log}`, headKeys: [current.publicKeySpki, next.publicKeySpki] });
      try {
        if (seq.headKey === undefined) damaged.push(log);
        else if (bytesEqual(seq.headKey, next.publicKeySpki)) alreadyRotated.push(log);
        else {
          await seq.append({ log, ...rotationEntryFields([link], nodeName) });
          rotated.push(log);
        }
      } finally {
        await seq.close();
      }
      await opts.afterLog?.(log);
    }

    const retiredPublicKey = join(keyDir, retiredPublicKeyFile(current.keyIdHex));
    await writeFileAtomic(retiredPublicKey, current.publicKeyPem, 0o644);
    let newKeyFile = stagedPath;
    if (source === 'file') {
      // The rename replaces the old private key: from here only the new key exists.
      await writePrivateKeyAtomic(opts.source.keyFile, next);
      await writeFileAtomic(join(keyDir, PUBLIC_KEY_FILE), next.publicKeyPem, 0o644);
      await rm(stagedPath, { force: true });
      newKeyFile = opts.source.keyFile;
    } else {
      await writeFileAtomic(join(keyDir, PUBLIC_KEY_FILE), next.publicKeyPem, 0o644);
    }
    return { previousKeyId: current.keyIdHex, keyId: next.keyIdHex, rotated, alreadyRotated, damaged, newKeyFile, retiredPublicKey, updateEnvironment: source === 'env' };
  } finally {
    await store.close();
  }
}
