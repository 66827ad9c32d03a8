/**
 * Stream connections go to the worker that stores their source (memory mode). node:cluster hands
 * each new connection to whichever worker is next, so with N workers a host's stream lands on its
 * source's owner only 1/N of the time, and every other message is forwarded: a second decode, a
 * peer-link round trip before the ack, and the owner's event loop in the ack path (the ack tail
 * measured in bench/stream came from exactly those). A stream lives for hours; moving it once, at
 * the upgrade, to the owner named by its `X-Source` header costs two IPC hops and nothing after.
 *
 * The upgrade request has been read and parsed here already, so it is rebuilt from its raw
 * headers and travels with the socket's handle (worker → primary → owner); the owner puts the
 * bytes back in front of the socket and serves it as a fresh connection (DualServer.adopt). No
 * reply has been written yet, so the client only sees its 101 come from the owner. A connection
 * is handed over at most once (an adopted one is served where it lands, even if membership changed
 * meanwhile); without a valid `X-Source`, or before membership is known, it stays here and its
 * samples are forwarded as before. Caddy's `header X-Source` policy already picks the owner.
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { IPC_SOURCE, isIpc, type AdoptConnection } from '../protocol/ipc.js';
import { SOURCE_RE } from '../protocol/names.js';
import type { Logger } from '../observability/logger.js';

export type HandoffOutcome = 'sent' | 'failed';

/** The request line and headers exactly as received (from rawHeaders), then what followed them. */
export function rebuildRequest(req: Pick<IncomingMessage, 'method' | 'url' | 'httpVersion' | 'rawHeaders'>, head: Buffer): Buffer {
  let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const h = req.rawHeaders;
  for (let i = 0; i + 1 < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
  text += '\r\n';
  // Node decodes header bytes as latin1; encoding back the same way restores them byte for byte.
  const bytes = Buffer.from(text, 'latin1');
  return head.length === 0 ? bytes : Buffer.concat([bytes, head]);
}

/**
 * Stop reading a socket in this process before its handle is sent on. Node keeps a sent handle
 * open — and, unless told otherwise, reading, into a discarded callback — until the receiver
 * acknowledges it; the client's first frames can arrive meanwhile (it has its 101 as soon as the
 * owner answers), and bytes read here would be lost to the owner. Measured: without this, the
 * agent's kill-and-resume test lost an acked message about once in 15 runs (a later message's
 * cumulative ack covered the swallowed one). `_handle` is Node's internal stream handle; there is
 * no public way to stop a net.Socket's reads (pause() only stops delivering them).
 */
export function stopReading(socket: net.Socket): void {
  (socket as unknown as { _handle?: { readStop?: () => number } | null })._handle?.readStop?.();
}

/**
 * Let a socket leave this process without its server waiting for it. Node keeps track of a socket
 * it sends for the server in `socket.server` (the http.Server here: DualServer's net.Server only
 * accepts), so that this server's close() first asks the receiving process whether its copy is
 * closed. It asks under the server's listening key, and an http.Server that never listened has
 * none: the primary never answers, close() never calls back, and every worker that had handed a
 * stream over hung in shutdown (Socket.IO's close waits for the http server) until the primary
 * killed it at its budget. The socket is the owner's from now on; nothing here needs the link.
 */
function detachFromServer(socket: net.Socket): void {
  (socket as unknown as { server: unknown }).server = null;
}

export interface ConnectionHandoffDeps {
  slot: number;
  /** The public server: serves adopted connections, and tells which ones were adopted. */
  server: { adopt(socket: net.Socket, bytes: Buffer): void; isAdopted(socket: object): boolean };
  /** Slot that stores `source` now; undefined while membership is unknown. */
  ownerOf(source: string): number | undefined;
  onHandoff(outcome: HandoffOutcome): void;
  log: Logger;
}

export class ConnectionHandoff {
  readonly #d: ConnectionHandoffDeps;
  readonly #onMessage = (m: unknown, handle: unknown): void => this.#receive(m, handle);

  constructor(deps: ConnectionHandoffDeps) {
    this.#d = deps;
    process.on('message', this.#onMessage);
  }

  /**
   * Hand an upgrade whose `X-Source` another worker owns to that worker. True when the socket is
   * no longer this worker's (handed over, or closed because the handover failed).
   */
  offer(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const source = req.headers['x-source'];
    if (typeof source !== 'string' || !SOURCE_RE.test(source)) return false;
    if (!(socket instanceof net.Socket) || this.#d.server.isAdopted(socket) || !process.connected) return false;
    const owner = this.#d.ownerOf(source);
    if (owner === undefined || owner < 0 || owner === this.#d.slot) return false;
    const msg: AdoptConnection = { src: IPC_SOURCE, t: 'adopt', from: this.#d.slot, to: owner, bytes: rebuildRequest(req, head) };
    try {
      stopReading(socket);
      detachFromServer(socket);
      // keepOpen false: the handle leaves this process with the message.
      process.send!(msg, socket, { keepOpen: false }, (err) => this.#sent(socket, err));
    } catch (err) {
      this.#sent(socket, err as Error);
    }
    return true;
  }

  #sent(socket: net.Socket, err: Error | null): void {
    if (err) this.#d.log.debug({ err }, 'stream handoff failed; closing the connection (the client reconnects)');
    this.#d.onHandoff(err ? 'failed' : 'sent');
    // Sent: the JS socket has no handle left, destroy() only settles its bookkeeping ('close').
    // Failed: the client sees the connection drop before any answer and reconnects.
    socket.destroy();
  }

  #receive(m: unknown, handle: unknown): void {
    if (!isIpc(m) || m.t !== 'adopt') return;
    if (!(handle instanceof net.Socket)) return;
    const { bytes } = m as AdoptConnection;
    this.#d.server.adopt(handle, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  close(): void {
    process.removeListener('message', this.#onMessage);
  }
}
