/**
 * The primary's IPC switchboard. Workers cannot reach each other directly under node:cluster, so
 * every RPC goes worker → primary → worker. Point-to-point calls are relayed; `all` calls are
 * fanned out and gathered here with a timeout (a silent worker is reported as missing, never
 * allowed to hang the caller). When a worker dies, every call waiting on it fails at once.
 * The primary itself can call workers too (from = PRIMARY).
 */
import type { Worker } from 'node:cluster';
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { Socket } from 'node:net';
import { stopReading } from '../worker/connection-handoff.js';
import { IPC_SOURCE, type AdoptConnection, type RpcGathered, type RpcOp, type RpcReply, type RpcRequest } from '../protocol/ipc.js';

export const PRIMARY = -1;

interface Gather {
  from: number;
  id: number;
  waiting: Set<number>;
  results: RpcGathered['results'];
  timer: NodeJS.Timeout;
  /** For calls the primary made itself. */
  local?: (g: RpcGathered) => void;
}

export class RpcRouter {
  readonly #workers = new Map<number, Worker>();
  /** Point-to-point calls in flight: `${from}:${id}` → target slot. */
  readonly #relayed = new Map<string, number>();
  readonly #gathers = new Map<string, Gather>();
  readonly #gatherTimeoutMs: number;
  #nextLocalId = 1;
  /** Point-to-point calls the primary made itself, by id. */
  readonly #localCalls = new Map<number, { resolve: (v: unknown) => void; reject: (e: FleetPulseError) => void; timer: NodeJS.Timeout }>();
  /** Set while an exclusive step runs (scale-down handoff); gathers started meanwhile wait for it. */
  #exclusive: Promise<void> | undefined;
  #deferred: Array<() => void> = [];

  constructor(gatherTimeoutMs: number) {
    this.#gatherTimeoutMs = gatherTimeoutMs;
  }

  /** Live (registered) slots. */
  get slots(): number[] {
    return [...this.#workers.keys()].sort((a, b) => a - b);
  }

  add(slot: number, w: Worker): void {
    this.#workers.set(slot, w);
  }

  /** A worker left: fail everything that waits on it. */
  remove(slot: number): void {
    this.#workers.delete(slot);
    for (const [key, target] of this.#relayed) {
      if (target !== slot) continue;
      this.#relayed.delete(key);
      const [from, id] = key.split(':').map(Number) as [number, number];
      this.#deliver(from, { src: IPC_SOURCE, t: 'rpc:res', id, to: from, slot, ok: false, error: { code: ErrorCode.STATE_UNAVAILABLE, message: `worker ${slot} exited` } });
    }
    for (const g of this.#gathers.values()) {
      if (g.waiting.delete(slot)) this.#maybeFinish(g);
    }
  }

  broadcast(msg: object): void {
    for (const w of this.#workers.values()) if (w.isConnected()) w.send(msg);
  }

  /**
   * Pass a connection a worker handed over (worker/connection-handoff.ts) to worker `msg.to`. The
   * primary's copy of the socket is destroyed once sent (or at once when `to` is gone: the client
   * reconnects) — that also tells the sending worker's server the connection is no longer open.
   */
  relayConnection(msg: AdoptConnection, socket: Socket): void {
    const w = this.#workers.get(msg.to);
    if (w === undefined || !w.isConnected()) {
      socket.destroy();
      return;
    }
    try {
      stopReading(socket); // the primary's copy must not take the client's first frames
      w.send(msg, socket, { keepOpen: false }, () => socket.destroy());
    } catch {
      socket.destroy();
    }
  }

  handleRequest(req: RpcRequest): void {
    if (req.to === 'all') {
      if (this.#exclusive !== undefined) {
        this.#deferred.push(() => this.handleRequest(req));
        return;
      }
      this.#startGather(req);
      return;
    }
    const target = this.#workers.get(req.to);
    if (target === undefined || !target.isConnected()) {
      this.#deliver(req.from, { src: IPC_SOURCE, t: 'rpc:res', id: req.id, to: req.from, slot: req.to, ok: false, error: { code: ErrorCode.STATE_UNAVAILABLE, message: `worker ${req.to} is not live` } });
      return;
    }
    this.#relayed.set(`${req.from}:${req.id}`, req.to);
    target.send(req);
  }

  handleReply(rep: RpcReply): void {
    const key = `${rep.to}:${rep.id}`;
    const g = this.#gathers.get(key);
    if (g !== undefined) {
      if (!g.waiting.delete(rep.slot)) return;
      const r: RpcGathered['results'][number] = { slot: rep.slot, ok: rep.ok };
      if (rep.result !== undefined) r.result = rep.result;
      if (rep.error !== undefined) r.error = rep.error;
      g.results.push(r);
      this.#maybeFinish(g);
      return;
    }
    if (!this.#relayed.delete(key)) return; // the requester's call already failed or timed out
    this.#deliver(rep.to, rep);
  }

  /** The primary asks every live worker (for /metrics, /admin/cluster). */
  gatherFromPrimary(op: RpcOp, args: unknown, timeoutMs = this.#gatherTimeoutMs): Promise<RpcGathered> {
    return new Promise((resolve) => {
      const start = (): void => {
        if (this.#exclusive !== undefined) this.#deferred.push(start);
        else this.#startGather({ src: IPC_SOURCE, t: 'rpc', id: this.#nextLocalId++, from: PRIMARY, to: 'all', op, args }, resolve, timeoutMs);
      };
      start();
    });
  }

  /** The primary calls one worker; rejects with STATE_UNAVAILABLE on timeout or when it exits. */
  callFromPrimary(slot: number, op: RpcOp, args: unknown, timeoutMs = this.#gatherTimeoutMs): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const w = this.#workers.get(slot);
      if (w === undefined || !w.isConnected()) {
        reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `worker ${slot} is not live`));
        return;
      }
      const id = this.#nextLocalId++;
      const timer = setTimeout(() => {
        this.#localCalls.delete(id);
        this.#relayed.delete(`${PRIMARY}:${id}`);
        reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `no answer from worker ${slot} to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#localCalls.set(id, { resolve, reject, timer });
      this.#relayed.set(`${PRIMARY}:${id}`, slot);
      const req: RpcRequest = { src: IPC_SOURCE, t: 'rpc', id, from: PRIMARY, to: slot, op, args };
      w.send(req);
    });
  }

  /**
   * Run `fn` while no cross-partition gather starts (they wait and start right after). Gathers
   * already sent are unaffected: IPC keeps order per worker, so every partition answers them from
   * its state before `fn`'s messages arrive. Steps run one at a time.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive !== undefined) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((r) => (release = r));
    try {
      return await fn();
    } finally {
      this.#exclusive = undefined;
      release();
      for (const start of this.#deferred.splice(0)) start();
    }
  }

  #startGather(req: RpcRequest, local?: (g: RpcGathered) => void, timeoutMs = this.#gatherTimeoutMs): void {
    const key = `${req.from}:${req.id}`;
    const g: Gather = {
      from: req.from, id: req.id, waiting: new Set(this.#workers.keys()), results: [],
      timer: setTimeout(() => this.#finish(g), timeoutMs),
    };
    if (local !== undefined) g.local = local;
    this.#gathers.set(key, g);
    for (const slot of g.waiting) this.#workers.get(slot)!.send(req);
    this.#maybeFinish(g);
  }

  #maybeFinish(g: Gather): void {
    if (g.waiting.size === 0) this.#finish(g);
  }

  #finish(g: Gather): void {
    const key = `${g.from}:${g.id}`;
    if (!this.#gathers.delete(key)) return;
    clearTimeout(g.timer);
    g.results.sort((a, b) => a.slot - b.slot);
    const msg: RpcGathered = { src: IPC_SOURCE, t: 'rpc:all', id: g.id, results: g.results, missing: [...g.waiting].sort((a, b) => a - b) };
    if (g.local !== undefined) g.local(msg);
    else this.#deliver(g.from, msg);
  }

  #deliver(slot: number, msg: object): void {
    if (slot === PRIMARY) {
      this.#settleLocal(msg as RpcReply);
      return;
    }
    const w = this.#workers.get(slot);
    if (w !== undefined && w.isConnected()) w.send(msg);
  }

  #settleLocal(rep: RpcReply): void {
    const call = this.#localCalls.get(rep.id);
    if (call === undefined) return; // timed out already
    this.#localCalls.delete(rep.id);
    clearTimeout(call.timer);
    if (rep.ok) call.resolve(rep.result);
    else call.reject(FleetPulseError.fromWire(rep.error ?? { code: ErrorCode.INTERNAL, message: 'unknown error' }, { retryable: true }));
  }
}
