/**
 * The auditor's view of a node's anchors: read from the Fabric channel with
 * the auditor's own identity (`cairn verify --anchors --fabric-config FILE`),
 * never through the node. It answers a window's root and every window that
 * anchored a log, so a node can neither alter an anchored root nor hide a
 * window from `verify` (see AnchorRootReader in core/anchor.ts).
 *
 * Reads are `evaluateTransaction` calls of the CairnAnchor chaincode under
 * the node's name: GetAnchor, GetLogHead and ListAnchors. A node name is
 * bound on the channel to the Fabric identity that first anchored it, so
 * only that identity's windows are ever read back.
 */
import { CairnError } from '../core/errors.js';
import type { AnchorRootReader, WindowCheckpoint } from '../core/anchor.js';
import { FabricConnection, type ChannelLogAnchor, type FabricConnectOptions, type FabricSettings } from './fabric-connection.js';

function unreachable(what: string, describe: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const detail = (err as { details?: { message: string }[] }).details?.map((d) => d.message).join('; ') || (err as Error).message;
  return new CairnError('UNAVAILABLE', `cannot read ${what} from ${describe}: ${detail}`, { cause: err });
}

export class FabricAnchorReader implements AnchorRootReader {
  readonly #conn: FabricConnection;
  readonly #node: string;
  readonly #logs = new Map<string, Promise<ChannelLogAnchor[]>>();

  private constructor(conn: FabricConnection, node: string) {
    this.#conn = conn;
    this.#node = node;
  }

  /**
   * Connects with the auditor's identity to read the anchors of `node`.
   * @throws CairnError INVALID_ARGUMENT naming the Fabric setting at fault
   */
  static async open(settings: Readonly<FabricSettings>, node: string, options: FabricConnectOptions = {}): Promise<FabricAnchorReader> {
    return new FabricAnchorReader(await FabricConnection.open(settings, options), node);
  }

  get describe(): string {
    return `${this.#conn.describe}, node ${this.#node}`;
  }

  /**
   * The root recorded for the node's `window`, or undefined when there is none.
   * @throws CairnError UNAVAILABLE when the channel cannot be read
   */
  async root(window: number): Promise<string | undefined> {
    try {
      return (await this.#conn.getAnchor(this.#node, window))?.root;
    } catch (err) {
      throw unreachable(`anchor window ${window}`, this.describe, err);
    }
  }

  /** Every window that anchored `log`, in order. */
  async windowsFor(log: string): Promise<number[]> {
    return (await this.#list(log)).map((a) => a.window);
  }

  /** Every checkpoint of `log` anchored on the channel, with its window and root, in window order. */
  async checkpointsFor(log: string): Promise<{ window: number; root: string; checkpoint: WindowCheckpoint }[]> {
    return (await this.#list(log)).map((a) => ({ window: a.window, root: a.root, checkpoint: a.checkpoint }));
  }

  #list(log: string): Promise<ChannelLogAnchor[]> {
    let p = this.#logs.get(log);
    if (p === undefined) {
      p = this.#conn.listLogAnchors(this.#node, log).catch((err: unknown) => {
        this.#logs.delete(log);
        throw unreachable(`the anchors of log ${log}`, this.describe, err);
      });
      this.#logs.set(log, p);
    }
    return p;
  }

  close(): void {
    this.#conn.close();
  }
}
