/**
 * One root pino logger per process, bound to `{role, workerId}`; modules take `log.child({mod})`.
 * JSON lines on stdout; human-readable (pino-pretty) when stdout is a terminal.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  role: 'primary' | 'worker' | 'agent' | 'bench';
  workerId?: number;
  level: string;
  /** Force JSON even on a terminal (tests, pipes). Defaults to `!process.stdout.isTTY`. */
  json?: boolean;
}

/** `?key=…` (and `&key=…`) in a logged URL: the value is replaced, the rest of the URL kept. */
const URL_KEY = /([?&](?:key|api_key|token)=)[^&#]*/gi;

/**
 * Never log secrets even if a config object, request or headers slip into a log line: the key
 * lists, the headers that carry keys (Authorization, X-API-Key, Cookie), and `?key=` in URLs
 * (the original project's stream clients put their key there). Request logs log no URL today;
 * this is the wall for the day one does.
 */
export const REDACT: pino.redactOptions = {
  paths: [
    'auth.ingestKeys', 'auth.readKeys', 'config.auth.ingestKeys', 'config.auth.readKeys',
    'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie',
    'headers.authorization', 'headers["x-api-key"]', 'headers.cookie',
    'req.url', 'url',
  ],
  censor: (value: unknown, path: string[]): unknown => {
    const last = path[path.length - 1];
    if (last === 'url') return typeof value === 'string' ? value.replace(URL_KEY, '$1[redacted]') : value;
    return '[redacted]';
  },
};

export function createLogger(opts: LoggerOptions): Logger {
  const base: Record<string, unknown> = { role: opts.role, pid: process.pid };
  if (opts.workerId !== undefined) base.workerId = opts.workerId;
  const json = opts.json ?? !process.stdout.isTTY;
  const pinoOpts: pino.LoggerOptions = {
    level: opts.level,
    base,
    redact: REDACT,
    serializers: { err: pino.stdSerializers.err },
  };
  if (json) return pino(pinoOpts, pino.destination({ fd: 1, sync: false }));
  return pino({ ...pinoOpts, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } } });
}
