/**
 * MetricsStreamController: a component's handle on the live connection (STYLE.md §9). It takes the
 * page's connection when the host connects and lets go when it disconnects, leaving every room
 * the host joined; it re-renders the host when the connection state, a summary or the cluster
 * status changes. Components render what it holds and never touch the socket.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { LiveCluster, LiveSummary, LiveUpdate, SubscribeRequest } from '../../node/protocol/events.js';
import { acquireConnection, ConnectionState, releaseConnection, type LiveConnection } from './live-connection.js';

export interface StreamOptions {
  /** Re-render on `summary` events (Fleet). */
  summaries?: boolean;
  /** Re-render on `cluster` events (Cluster, Fleet tiles). */
  cluster?: boolean;
  /** Called when the connection drops (once per outage): note what the views had. */
  onDisconnect?: () => void;
  /** Called after a reconnect, once rooms are joined again: refill over REST. */
  onResync?: () => void;
}

export class MetricsStreamController implements ReactiveController {
  readonly #host: ReactiveControllerHost;
  readonly #opts: StreamOptions;
  #conn: LiveConnection | undefined;
  #leaves = new Set<() => void>();
  readonly #onChange = (): void => this.#host.requestUpdate();
  #wasLive = false;
  readonly #onState = (): void => {
    const live = this.state === ConnectionState.Live;
    if (this.#wasLive && !live) this.#opts.onDisconnect?.();
    this.#wasLive = live;
    this.#host.requestUpdate();
  };
  readonly #onResync = (): void => this.#opts.onResync?.();

  constructor(host: ReactiveControllerHost, opts: StreamOptions = {}) {
    this.#host = host;
    this.#opts = opts;
    host.addController(this);
  }

  hostConnected(): void {
    this.#conn = acquireConnection();
    this.#wasLive = this.#conn.state === ConnectionState.Live;
    this.#conn.addEventListener('state', this.#onState);
    this.#conn.addEventListener('resync', this.#onResync);
    if (this.#opts.summaries === true) this.#conn.addEventListener('summary', this.#onChange);
    if (this.#opts.cluster === true) this.#conn.addEventListener('cluster', this.#onChange);
  }

  hostDisconnected(): void {
    for (const leave of this.#leaves) leave();
    this.#leaves.clear();
    const c = this.#conn;
    if (c === undefined) return;
    c.removeEventListener('state', this.#onState);
    c.removeEventListener('resync', this.#onResync);
    c.removeEventListener('summary', this.#onChange);
    c.removeEventListener('cluster', this.#onChange);
    this.#conn = undefined;
    releaseConnection();
  }

  get connection(): LiveConnection | undefined {
    return this.#conn;
  }

  get state(): ConnectionState {
    return this.#conn?.state ?? ConnectionState.Connecting;
  }

  summary(metric: string): LiveSummary | undefined {
    return this.#conn?.lastSummary.get(metric);
  }

  get cluster(): LiveCluster | undefined {
    return this.#conn?.lastCluster;
  }

  /** Join a room for as long as the host is connected (or until the returned function is called). */
  async subscribe(req: SubscribeRequest, listener: (u: LiveUpdate) => void): Promise<() => void> {
    const conn = this.#conn;
    if (conn === undefined) return () => {};
    const leave = await conn.subscribe(req, listener);
    const wrapped = (): void => {
      this.#leaves.delete(wrapped);
      leave();
    };
    this.#leaves.add(wrapped);
    return wrapped;
  }
}
