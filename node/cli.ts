/**
 * `fleetpulse` command line: start | scale | agent | --help (DESIGN.md §8).
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid configuration.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { loadConfig, type StartFlags } from './config/load.js';
import { FleetPulseError, ErrorCode } from './errors.js';
import { createLogger } from './observability/logger.js';
import { runPrimary } from './primary/primary.js';

export const HELP = `fleetpulse — self-hosted, real-time fleet metrics

Usage:
  fleetpulse start [options]     start the primary, its workers (and Caddy when used)
  fleetpulse scale N [--admin-port P]
                                 change the number of workers of a running instance
  fleetpulse agent [--sources N] [--metrics M] [--rate R] [--transport push|stream]
                 [--url U] [--batch B] [--duration S]
                                 run a simulated fleet against an instance (fleetpulse agent --help)
  fleetpulse --help              this text

start options (each has an env twin; flags win over env, env over cluster.config.ts):
  --host H             public bind host                     FLEETPULSE_HOST        (127.0.0.1)
  --port P             public port, HTTP/1.1 + h2c          FLEETPULSE_PORT        (8080; 0 = any free port)
  --tls-port P         TLS port, h1 + h2 (caddy only)       FLEETPULSE_TLS_PORT    (8443)
  --admin-port P       loopback admin port                  FLEETPULSE_ADMIN_PORT  (9464)
  --workers N          worker processes                     FLEETPULSE_WORKERS     (one per CPU core)
  --balancer B         caddy | cluster                      FLEETPULSE_BALANCER    (caddy if on PATH)
  --state S            memory | redis                       FLEETPULSE_STATE       (memory)
  --redis URL          Redis URL for --state redis          FLEETPULSE_REDIS_URL   (redis://127.0.0.1:6379)
  --demo [SOURCES]     run a simulated fleet (default 1000 sources x 10 metrics at 1 Hz)
  --log-level L        fatal|error|warn|info|debug|trace    FLEETPULSE_LOG_LEVEL   (info)
Security (env only; see SECURITY.md): FLEETPULSE_INGEST_KEYS, FLEETPULSE_READ_KEYS
  (comma-separated), or FLEETPULSE_KEY_FILE (lines \`ingest <key>\` / \`read <key>\`, mode 600);
  a non-loopback --host needs both kinds. FLEETPULSE_RATE_LIMIT (samples/s per ingest key),
  FLEETPULSE_ALLOWED_ORIGINS (browser origins besides the server's own). Any field of cluster.config.ts can also be
  overridden with a JSON object in FLEETPULSE_CONFIG, e.g. FLEETPULSE_CONFIG='{"live":{"flushMs":100}}'.

The instance is ready when GET /readyz on the public port answers 200; it prints the dashboard,
ingest and admin URLs. SIGTERM/SIGINT drain in-flight requests and stop everything.
`;

function usageError(message: string): never {
  process.stderr.write(`fleetpulse: ${message}\nRun \`fleetpulse --help\` for usage.\n`);
  process.exit(2);
}

/** `--demo` takes an optional count: normalise it to `--demo=N` for parseArgs. */
function normaliseDemo(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--demo') {
      const next = args[i + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        out.push(`--demo=${next}`);
        i++;
      } else out.push('--demo=1000');
    } else out.push(a);
  }
  return out;
}

async function start(argv: string[]): Promise<void> {
  let flags: StartFlags;
  try {
    const { values } = parseArgs({
      args: normaliseDemo(argv),
      options: {
        host: { type: 'string' }, workers: { type: 'string' }, port: { type: 'string' }, 'tls-port': { type: 'string' },
        'admin-port': { type: 'string' }, balancer: { type: 'string' }, state: { type: 'string' }, redis: { type: 'string' },
        demo: { type: 'string' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help === true) {
      process.stdout.write(HELP);
      return;
    }
    const { help: _help, ...rest } = values;
    flags = rest as StartFlags;
  } catch (err) {
    usageError((err as Error).message);
  }
  let cfg;
  try {
    cfg = loadConfig({ env: process.env, flags });
  } catch (err) {
    if (err instanceof FleetPulseError && err.code === ErrorCode.CONFIG_INVALID) {
      process.stderr.write(`fleetpulse: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ role: 'primary', level: cfg.logLevel });
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  // Say why in the JSON log before dying; workers notice the lost IPC channel and stop.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception: primary exits');
    log.flush?.();
    setTimeout(() => process.exit(1), 50);
  });
  const plugins = await import('./primary/plugins.js');
  await runPrimary(cfg, log, await plugins.primaryPlugins(cfg));
}

async function scale(argv: string[]): Promise<void> {
  let values: { 'admin-port'?: string | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { 'admin-port': { type: 'string' } }, allowPositionals: true, strict: true }));
  } catch (err) {
    usageError((err as Error).message);
  }
  const n = Number(positionals[0]);
  if (positionals.length !== 1 || !Number.isInteger(n) || n < 1) usageError('scale takes one positive integer: fleetpulse scale N');
  const port = values['admin-port'] ?? process.env.FLEETPULSE_ADMIN_PORT ?? '9464';
  let res: Response;
  try {
    res = await fetch(`http://127.0.0.1:${port}/admin/scale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workers: n }) });
  } catch (err) {
    process.stderr.write(`fleetpulse: no FleetPulse admin server on 127.0.0.1:${port} (${(err as Error).message}). Is it running? Use --admin-port.\n`);
    process.exit(1);
  }
  const text = await res.text();
  if (!res.ok) {
    process.stderr.write(`fleetpulse: scale failed (${res.status}): ${text}\n`);
    process.exit(1);
  }
  process.stdout.write(`${text}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'start':
      return start(rest);
    case 'scale':
      return scale(rest);
    case 'agent': {
      const { runAgentCli } = await import('./agent/cli.js');
      process.exitCode = await runAgentCli(rest);
      return;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP);
      return;
    default:
      usageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

if (cluster.isPrimary) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`fleetpulse: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
