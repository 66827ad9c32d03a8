/**
 * Log a state only when it changes (STYLE.md §4/§6: operational errors are counted every time and
 * logged on the transition, never per request or per sample).
 *
 * ```ts
 * const redisState = new StateChangeLogger(log, { what: 'redis', initial: 'up', levels: { down: 'warn' } });
 * client.on('close', () => redisState.set('down', { err: lastError }));   // logs "redis down" once
 * client.on('ready', () => redisState.set('up'));                          // logs "redis up" once
 * ```
 * The line carries `{ state, previous, previousForMs }` plus the given fields; `err` goes under
 * pino's `err` key like every other error.
 */
import type { Logger } from './logger.js';

export type ChangeLevel = 'debug' | 'info' | 'warn' | 'error';

export interface StateChangeOptions<S extends string> {
  /** What changes state, the message prefix: "<what> <state>" (e.g. "redis down"). */
  what: string;
  /** The state assumed before the first set(); reaching it again is not logged. Unset: the first set() logs. */
  initial?: S;
  /** Level per state. @default 'info' */
  levels?: Partial<Record<S, ChangeLevel>>;
  /** Injected clock (ms), for tests. @default Date.now */
  now?: () => number;
}

export class StateChangeLogger<S extends string> {
  readonly #log: Logger;
  readonly #o: StateChangeOptions<S>;
  readonly #now: () => number;
  #state: S | undefined;
  #since: number;
  #changes = 0;

  constructor(log: Logger, o: StateChangeOptions<S>) {
    this.#log = log;
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#state = o.initial;
    this.#since = this.#now();
  }

  /** Record the current state; logs and returns true only when it differs from the last one. */
  set(state: S, fields: Record<string, unknown> = {}): boolean {
    if (state === this.#state) return false;
    const now = this.#now();
    const previous = this.#state;
    const line: Record<string, unknown> = { ...fields, state };
    if (previous !== undefined) {
      line.previous = previous;
      line.previousForMs = now - this.#since;
    }
    this.#state = state;
    this.#since = now;
    this.#changes++;
    const level = this.#o.levels?.[state] ?? 'info';
    this.#log[level](line, `${this.#o.what} ${state}`);
    return true;
  }

  /** The last state set (or the initial one). */
  get state(): S | undefined {
    return this.#state;
  }

  /** Transitions logged so far. */
  get changes(): number {
    return this.#changes;
  }
}
