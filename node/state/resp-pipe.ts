/**
 * A write-only Redis connection for the tick writes of a standalone Redis: each write is one
 * MULTI … EXEC transaction whose commands the caller encoded straight into bytes (RespWriter), sent
 * with one socket write and settled by EXEC's reply.
 *
 * Why not ioredis: the same writes cost far less this way, in Redis and in the worker. Bytes that
 * enter a Lua script are hashed a byte at a time when Lua interns them as strings (Redis' Lua), once
 * as the script's argument and again when cut out of it, so fp_put spent ~4 µs of redis-server CPU per
 * source of 10 series where plain HSETs of the same bytes cost ~1.3 µs; but through ioredis each
 * plain command cost the worker ~10 µs (a Command object, a promise and a copy of its arguments per
 * command). Measured on this machine (probe with 100 sources × 930 B per write). MULTI/EXEC keeps
 * what the script gave: a write is applied wholly or not at all.
 *
 * Failure semantics match the ioredis client's (fail fast, never replay): a transaction not
 * answered within `timeoutMs` rejects with STATE_UNAVAILABLE, but keeps its place in the reply
 * queue (its outcome is unknown until its reply comes, so the connection stays); while such a
 * reply is overdue new transactions fail at once instead of queueing behind a hung Redis; a lost
 * connection fails everything pending and the next transaction connects again. drain() lets a
 * reader on another connection wait until every transaction sent so far is answered, so it reads
 * what they wrote (Redis orders commands per connection only).
 */
import net from 'node:net';
import tls from 'node:tls';
import { ErrorCode, FleetPulseError } from '../errors.js';

/** Every failure here is Redis being unreachable or refusing: retryable, like redis-client.ts' unavailable(). */
function unavailable(message: string, cause?: unknown): FleetPulseError {
  return new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `state store unavailable: ${message}`, { retryAfterS: 1, ...(cause === undefined ? {} : { cause }) });
}

export interface RespPipeOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: boolean;
  /** Bound on one transaction's reply, and on connecting, ms. */
  timeoutMs: number;
}

/** Encodes commands as RESP arrays of bulk strings into one growing Buffer. */
export class RespWriter {
  #buf: Buffer;
  #o = 0;
  /** Commands written so far. */
  count = 0;

  constructor(size = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(size);
  }

  #room(n: number): void {
    if (this.#o + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#o + n));
    this.#buf.copy(next, 0, 0, this.#o);
    this.#buf = next;
  }

  #head(type: number, n: number): void {
    this.#room(24);
    this.#buf[this.#o++] = type;
    this.#o += this.#buf.write(String(n), this.#o, 'latin1');
    this.#buf[this.#o++] = 13;
    this.#buf[this.#o++] = 10;
  }

  /** Start a command of `argc` arguments (its name included); with `head` (commandHead(argc, name)), its name too. */
  command(argc: number, head?: Buffer): this {
    this.count++;
    if (head !== undefined) return this.raw(head);
    this.#head(42, argc); // '*'
    return this;
  }

  /** A string argument (UTF-8). */
  str(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.#head(36, n); // '$'
    this.#room(n + 2);
    this.#o += this.#buf.write(s, this.#o, 'utf8');
    this.#buf[this.#o++] = 13;
    this.#buf[this.#o++] = 10;
    return this;
  }

  /** Bytes already in RESP (a command's head or an argument from bulk()). */
  raw(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#o);
    this.#o += b.length;
    return this;
  }

  /** A bytes argument. */
  bytes(b: Uint8Array): this {
    this.#head(36, b.length);
    this.#room(b.length + 2);
    this.#buf.set(b, this.#o);
    this.#o += b.length;
    this.#buf[this.#o++] = 13;
    this.#buf[this.#o++] = 10;
    return this;
  }

  /** Two float64 (LE) as one bytes argument, without a Buffer of their own. */
  doubles(a: number, b: number): this {
    this.#head(36, 16);
    this.#room(18);
    this.#o = this.#buf.writeDoubleLE(a, this.#o);
    this.#o = this.#buf.writeDoubleLE(b, this.#o);
    this.#buf[this.#o++] = 13;
    this.#buf[this.#o++] = 10;
    return this;
  }

  /** What was written (a view: the writer must not be reused while it is in use). */
  done(): Buffer {
    return this.#buf.subarray(0, this.#o);
  }
}

/** A string argument's RESP bytes, for arguments encoded once and written many times. */
export function bulk(s: string): Buffer {
  const n = Buffer.byteLength(s, 'utf8');
  return Buffer.from(`$${n}\r\n${s}\r\n`, 'utf8');
}

/** The head of a command of `argc` arguments named `name`, for commands written many times (count it with command(argc, head)). */
export function commandHead(argc: number, name: string): Buffer {
  return Buffer.concat([Buffer.from(`*${argc}\r\n`, 'latin1'), bulk(name)]);
}

const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n', 'latin1');
const EXEC = Buffer.from('*1\r\n$4\r\nEXEC\r\n', 'latin1');

/**
 * End offset of the RESP2 reply starting at o in b, or -1 when b does not hold all of it yet.
 * Our replies are small (+OK, +QUEUED, errors, EXEC's array of integers), so rescanning an
 * incomplete one is cheap.
 */
export function replyEnd(b: Buffer, o: number): number {
  if (o >= b.length) return -1;
  const nl = b.indexOf(10, o);
  if (nl === -1) return -1;
  const type = b[o];
  if (type === 43 || type === 45 || type === 58) return nl + 1; // + - :
  const n = Number(b.toString('latin1', o + 1, nl - 1));
  if (type === 36) return n < 0 ? nl + 1 : nl + 1 + n + 2 <= b.length ? nl + 1 + n + 2 : -1; // $
  if (type === 42) { // *
    let e = nl + 1;
    for (let i = 0; i < n; i++) {
      e = replyEnd(b, e);
      if (e === -1) return -1;
    }
    return e;
  }
  throw new Error(`not a RESP reply: ${JSON.stringify(b.toString('latin1', o, Math.min(b.length, o + 40)))}`);
}

interface Pending {
  /** Replies still to come: MULTI's, one per command, EXEC's. */
  replies: number;
  /** The first error reply among them (a command Redis refused to queue, or EXECABORT). */
  error: string | undefined;
  /** Settled already (timed out): its reply is only consumed. */
  settled: boolean;
  sentAt: number;
  timer: NodeJS.Timeout | undefined;
  resolve: () => void;
  reject: (e: FleetPulseError) => void;
}

export class RespPipe {
  readonly #o: RespPipeOptions;
  #socket: net.Socket | undefined;
  #connecting: Promise<net.Socket> | undefined;
  /** Transactions sent and not yet answered, oldest first (replies come in this order). */
  readonly #pending: Pending[] = [];
  /** Handshake replies (AUTH, SELECT) still to skip on this connection. */
  #handshake = 0;
  #in: Buffer = Buffer.alloc(0);
  #drains: Array<() => void> = [];
  #closed = false;

  constructor(o: RespPipeOptions) {
    this.#o = o;
  }

  /** Transactions sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /** Run `commands` (`count` of them, RESP-encoded) as one MULTI/EXEC transaction. */
  async exec(commands: Buffer, count: number): Promise<void> {
    if (this.#closed) throw unavailable('redis write connection closed');
    // The oldest transaction timed out (replies come in order: it is the first to): Redis hangs.
    const oldest = this.#pending[0];
    if (oldest?.settled === true) throw unavailable(`redis has not answered a write for ${Date.now() - oldest.sentAt} ms`);
    const socket = this.#socket ?? (await this.#connect());
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { replies: count + 2, error: undefined, settled: false, sentAt: Date.now(), timer: undefined, resolve, reject };
      p.timer = setTimeout(() => {
        p.timer = undefined;
        this.#settle(p, unavailable(`redis did not answer a write within ${this.#o.timeoutMs} ms`));
      }, this.#o.timeoutMs);
      this.#pending.push(p);
      socket.cork();
      socket.write(MULTI);
      socket.write(commands);
      socket.write(EXEC);
      socket.uncork();
    });
  }

  /** Resolves once every transaction sent so far is answered; rejects after timeoutMs. */
  drain(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#drains = this.#drains.filter((d) => d !== done);
        reject(unavailable(`redis did not answer earlier writes within ${this.#o.timeoutMs} ms`));
      }, this.#o.timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#drains.push(done);
    });
  }

  close(): void {
    this.#closed = true;
    this.#lost('redis write connection closed');
  }

  #connect(): Promise<net.Socket> {
    this.#connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const o = this.#o;
      const socket = o.tls === true ? tls.connect({ host: o.host, port: o.port, servername: o.host }) : net.connect(o.port, o.host);
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${o.timeoutMs} ms`)), o.timeoutMs);
      const failed = (err: Error): void => {
        clearTimeout(timer);
        this.#connecting = undefined;
        reject(unavailable(`redis write connection: ${err.message}`, err));
      };
      socket.once('error', failed);
      socket.once(o.tls === true ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        this.#connecting = undefined;
        if (this.#closed) {
          socket.destroy();
          reject(unavailable('redis write connection closed'));
          return;
        }
        this.#attach(socket);
        resolve(socket);
      });
    });
    return this.#connecting;
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    this.#in = Buffer.alloc(0);
    this.#handshake = 0;
    const w = new RespWriter(256);
    if (this.#o.password !== undefined) {
      if (this.#o.username !== undefined) w.command(3).str('AUTH').str(this.#o.username).str(this.#o.password);
      else w.command(2).str('AUTH').str(this.#o.password);
    }
    if (this.#o.db !== undefined && this.#o.db !== 0) w.command(2).str('SELECT').str(String(this.#o.db));
    if (w.count > 0) {
      this.#handshake = w.count;
      socket.write(w.done());
    }
    socket.on('data', (chunk: Buffer) => this.#read(socket, chunk));
    socket.on('error', () => {}); // 'close' follows and fails what is pending
    socket.on('close', () => {
      if (this.#socket === socket) this.#lost('redis write connection lost');
    });
  }

  #read(socket: net.Socket, chunk: Buffer): void {
    const b = this.#in.length === 0 ? chunk : Buffer.concat([this.#in, chunk]);
    let o = 0;
    for (;;) {
      const start = o;
      const e = replyEnd(b, start);
      if (e === -1) break;
      o = e;
      const error = b[start] === 45 ? b.toString('utf8', start + 1, e - 2) : undefined; // '-'
      if (this.#handshake > 0) {
        this.#handshake--;
        if (error !== undefined) {
          // Wrong password or database: nothing on this connection can succeed.
          this.#lost(`redis refused the write connection: ${error}`);
          socket.destroy();
          return;
        }
        continue;
      }
      const p = this.#pending[0];
      if (p === undefined) continue; // nobody waits for it (not with a sane server)
      p.error ??= error;
      if (--p.replies > 0) continue;
      // EXEC's reply: an array of its commands' replies (one may be an error), or an error.
      p.error ??= execError(b, start);
      this.#pending.shift();
      this.#settle(p, p.error === undefined ? undefined : unavailable(`redis refused a write: ${p.error}`));
      if (this.#pending.length === 0) for (const d of this.#drains.splice(0)) d();
    }
    // Keep an incomplete reply's bytes (copied: the chunk's memory is not kept alive).
    this.#in = o === b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(o));
  }

  #settle(p: Pending, err: FleetPulseError | undefined): void {
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = undefined;
    if (p.settled) return;
    p.settled = true;
    if (err === undefined) p.resolve();
    else p.reject(err);
  }

  /** The connection is gone: nothing more will be answered on it. */
  #lost(why: string): void {
    const s = this.#socket;
    this.#socket = undefined;
    s?.destroy();
    for (const p of this.#pending.splice(0)) this.#settle(p, unavailable(why));
    for (const d of this.#drains.splice(0)) d();
  }
}

/** The first error among the replies of EXEC's array reply at o, or why the transaction did not run. */
function execError(b: Buffer, o: number): string | undefined {
  if (b[o] !== 42) return undefined; // an error reply was taken as the error already
  const nl = b.indexOf(10, o);
  const n = Number(b.toString('latin1', o + 1, nl - 1));
  if (n < 0) return 'transaction aborted';
  let q = nl + 1;
  for (let i = 0; i < n; i++) {
    const e = replyEnd(b, q);
    if (b[q] === 45) return b.toString('utf8', q + 1, e - 2);
    q = e;
  }
  return undefined;
}
