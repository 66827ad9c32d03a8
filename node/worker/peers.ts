/**
 * A worker's side of the IPC RPC: calls to one peer slot or to every live worker (gathered by the
 * primary), handlers for the ops peers call on us, and the membership feed. Every call has a
 * timeout and settles exactly once; errors arrive as {code, message} and become FleetPulseErrors.
 */
import { ErrorCode, FleetPulseError, toFleetPulseError, type WireError } from '../errors.js';
import { IPC_SOURCE, isIpc, type Members, type PrimaryToWorker, type RpcGathered, type RpcOp, type RpcReply, type RpcRequest } from '../protocol/ipc.js';
import type { Logger } from '../observability/logger.js';

export interface GatherResult {
  results: Array<{ slot: number; ok: boolean; result?: unknown; error?: WireError }>;
  missing: number[];
}

type OpHandler = (args: unknown, from: number) => unknown;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: FleetPulseError) => void;
  timer: NodeJS.Timeout;
}

export class Peers {
  readonly slot: number;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers = new Map<RpcOp, OpHandler>();
  readonly #memberListeners: Array<(slots: number[]) => void> = [];
  #shutdownListener: (() => void) | undefined;
  #nextId = 1;
  #members: number[] | undefined;
  readonly #onMessage = (m: unknown): void => this.#dispatch(m);

  constructor(slot: number, log: Logger) {
    this.slot = slot;
    this.#log = log;
    process.on('message', this.#onMessage);
  }

  /** The live slots as last announced by the primary (undefined before the first announcement). */
  get members(): readonly number[] | undefined {
    return this.#members;
  }

  onMembers(cb: (slots: number[]) => void): void {
    this.#memberListeners.push(cb);
  }

  onShutdown(cb: () => void): void {
    this.#shutdownListener = cb;
  }

  handle(op: RpcOp, fn: OpHandler): void {
    this.#handlers.set(op, fn);
  }

  /** Call `op` on worker `to`; rejects with STATE_UNAVAILABLE on timeout or if `to` is gone. */
  call(to: number, op: RpcOp, args: unknown, timeoutMs: number): Promise<unknown> {
    return this.#request(to, op, args, timeoutMs) as Promise<unknown>;
  }

  /** Call `op` on every live worker (this one included); the primary gathers the answers. */
  gather(op: RpcOp, args: unknown, timeoutMs: number): Promise<GatherResult> {
    return this.#request('all', op, args, timeoutMs) as Promise<GatherResult>;
  }

  #request(to: number | 'all', op: RpcOp, args: unknown, timeoutMs: number): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `no answer from ${to === 'all' ? 'the cluster' : `worker ${to}`} to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      const msg: RpcRequest = { src: IPC_SOURCE, t: 'rpc', id, from: this.slot, to, op, args };
      try {
        process.send!(msg);
      } catch (err) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'IPC channel to the primary is closed', { cause: err }));
      }
    });
  }

  #dispatch(m: unknown): void {
    if (!isIpc(m)) return;
    const msg = m as PrimaryToWorker;
    switch (msg.t) {
      case 'rpc':
        void this.#serve(msg);
        return;
      case 'rpc:res':
        this.#settle(msg.id, msg.ok ? { ok: true, value: msg.result } : { ok: false, error: msg.error });
        return;
      case 'rpc:all':
        this.#settle(msg.id, { ok: true, value: { results: msg.results, missing: msg.missing } satisfies GatherResult });
        return;
      case 'members':
        this.#setMembers(msg);
        return;
      case 'shutdown':
        this.#shutdownListener?.();
        return;
    }
  }

  #setMembers(msg: Members): void {
    this.#members = msg.slots;
    for (const cb of this.#memberListeners) cb(msg.slots);
  }

  #settle(id: number, r: { ok: true; value: unknown } | { ok: false; error: WireError | undefined }): void {
    const p = this.#pending.get(id);
    if (p === undefined) return; // timed out already
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (r.ok) p.resolve(r.value);
    else p.reject(FleetPulseError.fromWire(r.error ?? { code: ErrorCode.INTERNAL, message: 'unknown error' }, { retryable: true }));
  }

  async #serve(req: RpcRequest): Promise<void> {
    const reply: RpcReply = { src: IPC_SOURCE, t: 'rpc:res', id: req.id, to: req.from, slot: this.slot, ok: true };
    const fn = this.#handlers.get(req.op);
    try {
      if (fn === undefined) throw new FleetPulseError(ErrorCode.INTERNAL, `worker ${this.slot} has no handler for ${req.op}`);
      reply.result = await fn(req.args, req.from);
    } catch (err) {
      const e = toFleetPulseError(err);
      if (e.code === ErrorCode.INTERNAL) this.#log.error({ err, op: req.op }, 'rpc handler failed');
      reply.ok = false;
      reply.error = e.toJSON();
    }
    if (process.connected) process.send!(reply);
  }

  close(): void {
    process.removeListener('message', this.#onMessage);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'worker shutting down'));
    }
    this.#pending.clear();
  }
}
