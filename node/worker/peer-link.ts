/**
 * Direct worker-to-worker links for the data plane (memory mode forwarding). Each worker listens
 * on a Unix socket named after its slot, in a directory only the primary's user can enter (the
 * primary creates it with mode 0700 and removes it at exit), so peers find each other without
 * the primary and no other local user can inject samples, and forwarded samples skip the primary hop (which would deserialize and
 * re-serialize every batch on one process). Control traffic (queries, membership) stays on IPC.
 *
 * Frame: u32 LE length of the rest, u8 type, u32 LE request id, payload: the parts in the binary
 * batch codec (protocol/batch-codec.ts) for Apply, v8 serialization for the small ApplyResult.
 * A link that fails or closes fails its pending requests with STATE_UNAVAILABLE, so the caller
 * re-routes after the next membership change.
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { serialize, deserialize } from 'node:v8';
import { ErrorCode, FleetPulseError, toFleetPulseError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { decodeParts, encodeParts } from '../protocol/batch-codec.js';
import type { ApplyArgs, ApplyResult } from './forwarder.js';

const FrameType = { Apply: 1, ApplyResult: 2 } as const;
const HEADER = 9;

/** The socket path of worker `slot` in the instance's private link directory. */
export function linkPath(dir: string, slot: number): string {
  return join(dir, `worker-${slot}.sock`);
}

/** Write one frame; header and payload go out in one writev, without copying the payload. */
function writeFrame(socket: net.Socket, type: number, id: number, payload: Buffer): void {
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32LE(payload.length + 5, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(id, 5);
  socket.cork();
  socket.write(head);
  socket.write(payload);
  socket.uncork();
}

/** Splits a byte stream into frames; calls `onFrame` for each. */
function reader(onFrame: (type: number, id: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32LE(0);
      if (buf.length < 4 + len) break;
      onFrame(buf.readUInt8(4), buf.readUInt32LE(5), buf.subarray(HEADER, 4 + len));
      buf = buf.subarray(4 + len);
    }
  };
}

interface Pending {
  resolve: (r: ApplyResult) => void;
  reject: (e: FleetPulseError) => void;
  timer: NodeJS.Timeout;
}

export class PeerLinks {
  readonly #slot: number;
  readonly #dir: string;
  readonly #onApply: (args: ApplyArgs) => ApplyResult;
  readonly #log: Logger;
  readonly #server: net.Server;
  readonly #out = new Map<number, { socket: net.Socket; pending: Map<number, Pending> }>();
  readonly #inbound = new Set<net.Socket>();
  #nextId = 1;

  constructor(slot: number, dir: string, onApply: (args: ApplyArgs) => ApplyResult, log: Logger) {
    this.#slot = slot;
    this.#dir = dir;
    this.#onApply = onApply;
    this.#log = log;
    this.#server = net.createServer((socket) => this.#serve(socket));
  }

  /** Listen on this worker's socket (replacing a stale one left by a crashed predecessor). */
  async listen(): Promise<void> {
    const path = linkPath(this.#dir, this.#slot);
    rmSync(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(path, () => resolve());
    });
  }

  #serve(socket: net.Socket): void {
    this.#inbound.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.#inbound.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', reader((type, id, payload) => {
      if (type !== FrameType.Apply) return;
      let result: ApplyResult;
      try {
        result = this.#onApply({ parts: decodeParts(payload) });
      } catch (err) {
        // Whole-message failure (e.g. a corrupt frame): every part fails with the same error.
        const e = toFleetPulseError(err).toJSON();
        const n = payload.length >= 8 ? payload.readUInt32LE(4) : 1;
        result = Array.from({ length: Math.min(Math.max(n, 1), 1_000_000) }, () => e);
      }
      if (!socket.destroyed) writeFrame(socket, FrameType.ApplyResult, id, serialize(result));
    }));
  }

  /** Send parts to the owner `slot`; resolves with one result per part. */
  apply(slot: number, args: ApplyArgs, timeoutMs: number): Promise<ApplyResult> {
    const link = this.#connect(slot);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(id);
        reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `worker ${slot} did not apply forwarded samples within ${timeoutMs} ms`));
      }, timeoutMs);
      link.pending.set(id, { resolve, reject, timer });
      writeFrame(link.socket, FrameType.Apply, id, encodeParts(args.parts));
    });
  }

  #connect(slot: number): { socket: net.Socket; pending: Map<number, Pending> } {
    const existing = this.#out.get(slot);
    if (existing !== undefined && !existing.socket.destroyed) return existing;
    const socket = net.connect(linkPath(this.#dir, slot));
    socket.setNoDelay(true);
    const link = { socket, pending: new Map<number, Pending>() };
    this.#out.set(slot, link);
    socket.on('data', reader((type, id, payload) => {
      if (type !== FrameType.ApplyResult) return;
      const p = link.pending.get(id);
      if (p === undefined) return;
      link.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(deserialize(payload) as ApplyResult);
    }));
    const fail = (why: string): void => {
      if (this.#out.get(slot) === link) this.#out.delete(slot);
      for (const p of link.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `link to worker ${slot} ${why}`));
      }
      link.pending.clear();
    };
    socket.on('error', (err) => {
      this.#log.debug({ err, slot }, 'peer link error');
      fail(`failed: ${err.message}`);
    });
    socket.on('close', () => fail('closed'));
    return link;
  }

  close(): void {
    this.#server.close();
    for (const s of this.#inbound) s.destroy();
    for (const l of this.#out.values()) l.socket.destroy();
    rmSync(linkPath(this.#dir, this.#slot), { force: true });
  }
}
