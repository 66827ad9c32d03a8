/**
 * Direct worker-to-worker links for the data plane: forwarded samples (memory mode: to the
 * source's partition; Redis mode: to the source's writer, state/write-affinity.ts), and the
 * stream seq/lease records of named streams (memory mode, kept by the owner of `stream:ID`). Each worker
 * listens on a Unix socket named after its slot, in a directory only the primary's user can enter
 * (the primary creates it with mode 0700 and removes it at exit), so peers find each other
 * without the primary and no other local user can inject samples. Both skip the primary hop, which
 * would deserialize and re-serialize every message on one process: at 10,000 streams the seq
 * records alone were thousands of relayed calls per second. Control traffic (queries, membership)
 * stays on IPC.
 *
 * Frame: u32 LE length of the rest, u8 type, u32 LE request id, payload: the parts in the binary
 * batch codec (protocol/batch-codec.ts) for Apply; v8 serialization for the small ApplyResult,
 * SeqOps and SeqResults. Apply frames share a string dictionary per connection (each outgoing link
 * has its encoder, each inbound socket its decoder): a frame the owner cannot read fails its parts
 * and ends that connection, since later frames would be read against a dictionary out of step.
 * A link that fails or closes fails its pending requests with STATE_UNAVAILABLE, so the caller
 * re-routes after the next membership change; a link that never connected fails them with
 * PeerUnreachableError, which also says that nothing reached the peer.
 * Answers may come in any order (a Redis-mode owner answers once its write is confirmed).
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { serialize, deserialize } from 'node:v8';
import { ErrorCode, FleetPulseError, toFleetPulseError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { BatchDecoder, BatchEncoder, recoverParts, type BatchPart } from '../protocol/batch-codec.js';
import type { ApplyArgs, ApplyResult } from './forwarder.js';
import type { SlotResults } from './slot-batcher.js';
import { IngestStage, ingestStages } from '../observability/stage-clock.js';

/** A request type's answer is type + 1. */
const FrameType = { Apply: 1, ApplyResult: 2, SeqOps: 3, SeqResults: 4 } as const;
const HEADER = 9;

/**
 * A named stream's record on its owner (stream-lease.ts): read it (`seq` absent), or raise it to
 * `seq` (records only grow). Answered with the record's value after the operation.
 */
export interface SeqOp {
  id: string;
  seq?: number;
}

/** What a worker answers for its peers: forwarded parts, and seq ops on its streams. */
export interface PeerLinkHandlers {
  apply(args: ApplyArgs): ApplyResult | Promise<ApplyResult>;
  seqOps(ops: SeqOp[]): SlotResults<number>;
}

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

/** Bytes the frame reader keeps to join frames in (a larger frame gets a buffer of its own). */
const JOIN_KEPT = 4 << 20;
/** Where a joined frame starts in the reader's buffer: its payload (after the HEADER) then starts 8-aligned. */
const JOIN_AT = 7;

/**
 * Splits a byte stream into frames; calls `onFrame` for each, with a payload that starts 8-aligned
 * (the codec reads its columns through typed arrays in place) and that is valid only during the
 * call: every reader of a frame decodes it right away.
 *
 * A frame spread over several reads is joined once, when its last byte arrives (joining at every
 * read copied a frame of k reads k/2 times: forwarded frames hold every part of a loop turn,
 * hundreds of KB under load), and a frame read whole at an unaligned offset is copied once; both
 * into one buffer the reader keeps. Why keep it: Node 20's V8 collects the young generation
 * whenever the ArrayBuffers allocated since the last collection pass 32 MiB, and a new buffer per
 * forwarded frame (the join, then the codec's aligned copy) was a good part of what a forwarded
 * sample allocated (body.ts' BodyPool says more).
 */
export function frameReader(onFrame: (type: number, id: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let scratch = Buffer.allocUnsafeSlow(0);
  /** A buffer of at least n bytes at offset 0 of its own memory: the kept one, grown, or (past JOIN_KEPT) a new one. */
  const room = (n: number): Buffer => {
    if (n <= scratch.length) return scratch;
    if (n > JOIN_KEPT) return Buffer.allocUnsafeSlow(n);
    scratch = Buffer.allocUnsafeSlow(Math.min(JOIN_KEPT, Math.max(n, 2 * scratch.length)));
    return scratch;
  };
  const deliver = (frame: Buffer): void => {
    let payload = frame.subarray(HEADER);
    if (payload.byteOffset % 8 !== 0) {
      const to = room(payload.length);
      payload.copy(to);
      payload = to.subarray(0, payload.length);
    }
    onFrame(frame.readUInt8(4), frame.readUInt32LE(5), payload);
  };
  /** The first reads of a frame that is still incomplete, their bytes in all, and the frame's length. */
  let waiting: Buffer[] = [];
  let have = 0;
  let want = 0;
  /** A read's last 1–3 bytes: the start of a length field. */
  let partial: Buffer | undefined;
  return (chunk) => {
    let buf = chunk;
    if (partial !== undefined) {
      buf = Buffer.concat([partial, chunk]);
      partial = undefined;
    } else if (waiting.length > 0) {
      if (have + chunk.length < want) {
        waiting.push(chunk);
        have += chunk.length;
        return;
      }
      // Complete: join its bytes (the rest of this read belongs to the frames after it).
      const take = want - have;
      const into = room(JOIN_AT + want);
      let at = JOIN_AT;
      for (const w of waiting) at += w.copy(into, at);
      chunk.copy(into, at, 0, take);
      waiting = [];
      deliver(into.subarray(JOIN_AT, JOIN_AT + want));
      buf = chunk.subarray(take);
    }
    while (buf.length >= 4) {
      const total = need(buf);
      if (buf.length < total) break;
      deliver(buf.subarray(0, total));
      buf = buf.subarray(total);
    }
    if (buf.length >= 4) {
      waiting = [buf];
      have = buf.length;
      want = need(buf);
    } else if (buf.length > 0) partial = Buffer.from(buf);
  };
}

/** Bytes of the frame that starts `b` (b holds at least its length field). */
const need = (b: Buffer): number => 4 + b.readUInt32LE(0);

/**
 * The link to a peer never connected (its socket is gone: the worker stopped or is not up yet), so
 * no byte of the request reached it — unlike a link that broke after connecting, where the peer
 * may have applied what it got. Only this failure lets a caller apply the samples elsewhere.
 */
export class PeerUnreachableError extends FleetPulseError {
  constructor(slot: number, why: string) {
    super(ErrorCode.STATE_UNAVAILABLE, `worker ${slot} is unreachable: ${why}`);
  }
}

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (e: FleetPulseError) => void;
  timer: NodeJS.Timeout;
}

/** A connection to a peer: its requests waiting for answers, and its half of the Apply dictionary. */
interface OutLink {
  socket: net.Socket;
  pending: Map<number, Pending>;
  encoder: BatchEncoder;
}

export class PeerLinks {
  readonly #slot: number;
  readonly #dir: string;
  readonly #handlers: PeerLinkHandlers;
  readonly #log: Logger;
  readonly #server: net.Server;
  readonly #out = new Map<number, OutLink>();
  readonly #inbound = new Set<net.Socket>();
  #nextId = 1;

  constructor(slot: number, dir: string, handlers: PeerLinkHandlers, log: Logger) {
    this.#slot = slot;
    this.#dir = dir;
    this.#handlers = handlers;
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
    const answer = (type: number, id: number, result: unknown): void => {
      if (!socket.destroyed && !socket.writableEnded) writeFrame(socket, type + 1, id, serialize(result));
    };
    const decoder = new BatchDecoder();
    socket.on('data', frameReader((type, id, payload) => {
      if (type === FrameType.Apply) {
        const result = this.#serveApply(decoder, payload, () => socket.end());
        if (result instanceof Promise) void result.then((r) => answer(type, id, r));
        else answer(type, id, result);
      } else if (type === FrameType.SeqOps) answer(type, id, this.#serveSeqOps(payload));
    }));
  }

  /**
   * The parts are decoded at once (the frame's bytes are not kept); applying them may finish later.
   * An unreadable frame fails every part and calls `drop` (the link's dictionary is out of step).
   */
  #serveApply(decoder: BatchDecoder, payload: Buffer, drop: () => void): ApplyResult | Promise<ApplyResult> {
    // Whole-message failure (e.g. a corrupt frame): every part fails with the same error.
    const failAll = (err: unknown, n: number): ApplyResult => {
      const e = toFleetPulseError(err).toJSON();
      return Array.from({ length: Math.min(Math.max(n, 1), 1_000_000) }, () => e);
    };
    let args: ApplyArgs;
    const decodeStarted = performance.now();
    try {
      args = { parts: decoder.decode(payload) };
      ingestStages.add(IngestStage.ForwardDecode, decodeStarted);
    } catch (err) {
      this.#log.warn({ err }, 'unreadable forwarded batch frame: closing the peer link');
      // After the answer below is written (end() sends what is queued, then closes).
      queueMicrotask(drop);
      return failAll(err, payload.length >= 8 ? payload.readUInt32LE(4) : 1);
    }
    try {
      const result = this.#handlers.apply(args);
      return result instanceof Promise ? result.catch((err: unknown) => failAll(err, args.parts.length)) : result;
    } catch (err) {
      return failAll(err, args.parts.length);
    }
  }

  #serveSeqOps(payload: Buffer): SlotResults<number> {
    let ops: SeqOp[];
    try {
      ops = deserialize(payload) as SeqOp[];
    } catch (err) {
      return [toFleetPulseError(err).toJSON()];
    }
    try {
      return this.#handlers.seqOps(ops);
    } catch (err) {
      const e = toFleetPulseError(err).toJSON();
      return ops.map(() => e);
    }
  }

  /** Send parts to the owner `slot`; resolves with one result per part. */
  apply(slot: number, args: ApplyArgs, timeoutMs: number, onSent?: (readBack: () => BatchPart[]) => void): Promise<ApplyResult> {
    const link = this.#connect(slot);
    const encodeStarted = performance.now();
    const frame = link.encoder.encode(args.parts);
    ingestStages.add(IngestStage.ForwardEncode, encodeStarted);
    const dictionary = link.encoder.dictionary;
    onSent?.(() => recoverParts(frame, dictionary));
    return this.#request(link, slot, FrameType.Apply, frame, timeoutMs, 'apply forwarded samples', (b) => deserialize(b) as ApplyResult);
  }

  /** Run seq ops on the owner `slot`; resolves with one answer per op. */
  seqOps(slot: number, ops: SeqOp[], timeoutMs: number): Promise<SlotResults<number>> {
    return this.#request(this.#connect(slot), slot, FrameType.SeqOps, serialize(ops), timeoutMs, 'answer stream seq operations', (b) => deserialize(b) as SlotResults<number>);
  }

  /** One request frame; the answer is decoded as it is read (its bytes are not kept past that). */
  #request<T>(link: OutLink, slot: number, type: number, payload: Buffer, timeoutMs: number, what: string, decode: (answer: Buffer) => T): Promise<T> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(id);
        reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `worker ${slot} did not ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const answered = (answer: Buffer): void => {
        try {
          resolve(decode(answer));
        } catch (err) {
          reject(new FleetPulseError(ErrorCode.INTERNAL, `unreadable answer from worker ${slot}`, { cause: err }));
        }
      };
      link.pending.set(id, { resolve: answered, reject, timer });
      writeFrame(link.socket, type, id, payload);
    });
  }

  #connect(slot: number): OutLink {
    const existing = this.#out.get(slot);
    if (existing !== undefined && !existing.socket.destroyed) return existing;
    const socket = net.connect(linkPath(this.#dir, slot));
    socket.setNoDelay(true);
    const link: OutLink = { socket, pending: new Map<number, Pending>(), encoder: new BatchEncoder() };
    this.#out.set(slot, link);
    let connected = false;
    socket.once('connect', () => {
      connected = true;
    });
    socket.on('data', frameReader((type, id, payload) => {
      if (type !== FrameType.ApplyResult && type !== FrameType.SeqResults) return;
      const p = link.pending.get(id);
      if (p === undefined) return;
      link.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(payload);
    }));
    const fail = (why: string): void => {
      if (this.#out.get(slot) === link) this.#out.delete(slot);
      for (const p of link.pending.values()) {
        clearTimeout(p.timer);
        p.reject(connected ? new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `link to worker ${slot} ${why}`) : new PeerUnreachableError(slot, why));
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
