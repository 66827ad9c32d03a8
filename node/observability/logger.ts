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

export function createLogger(opts: LoggerOptions): Logger {
  const base: Record<string, unknown> = { role: opts.role, pid: process.pid };
  if (opts.workerId !== undefined) base.workerId = opts.workerId;
  const json = opts.json ?? !process.stdout.isTTY;
  const pinoOpts: pino.LoggerOptions = {
    level: opts.level,
    base,
    // Never log secrets even if a config object slips into a log line.
    redact: { paths: ['auth.ingestKeys', 'auth.readKeys', 'config.auth.ingestKeys', 'config.auth.readKeys', 'req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  };
  if (json) return pino(pinoOpts, pino.destination({ fd: 1, sync: false }));
  return pino({ ...pinoOpts, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } } });
}
