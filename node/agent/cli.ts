/**
 * `fleetpulse agent …`: run the simulated fleet against a FleetPulse instance. A live progress
 * line goes to stderr (rate, acked, errors, reconnects); the final summary is one JSON line on
 * stdout, for scripts and bench/. Exit codes: 0 ok, 1 a fatal server answer (bad key, frame too
 * big) or nothing acknowledged, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { Agent, AgentTransport, type AgentOptions, type AgentProgress } from './agent.js';

export const AGENT_HELP = `fleetpulse agent — a simulated fleet of servers (demo data and load generator)

Usage:
  fleetpulse agent [--sources N] [--metrics M] [--rate R] [--transport push|stream]
                   [--url U] [--batch B] [--duration S] [options]

  --sources N       simulated hosts (default 100)
  --metrics M       metrics per host, 1..100 (default 10: cpu, mem.used_pct, disk.used_pct,
                    net.rx_bytes, net.tx_bytes, http.latency_ms, http.requests, load1, conns,
                    http.errors; more are per-core cpu.coreN)
  --rate R          samples per second per metric of each host, i.e. ticks/s (default 1);
                    0 = closed loop, as fast as acknowledgements come back
  --transport T     stream (WebSocket, exactly-once resume; default) or push (HTTP POST)
  --url U           FleetPulse base URL (default http://127.0.0.1:8080; FLEETPULSE_URL)
  --batch B         samples per message/request, whole ticks (default: one tick = M)
  --duration S      stop after S seconds (default: run until Ctrl-C)
  --window W        unacknowledged samples per host (default max(1000, 4 x batch))
  --key K           ingest key, sent as Authorization: Bearer (FLEETPULSE_AGENT_KEY)
  --prefix P        host names P0001… (default role names: web-0001, api-0002, db-0003, …)
  --day-seconds D   length of the simulated day of the diurnal wave (default 86400)
  --warmup S        leave the first S seconds out of the summary's rates and latencies;
                    SIGUSR2 ends the warm-up at once (a bench opens its window when ready)
  --quiet           no progress line

Shapes: diurnal CPU with bursts, memory that creeps and drops on GC/restart, disks that fill
slowly, network/request counters (kind counter), log-normal latency with spikes.
Progress (stderr): acked samples/s, sent and acked totals, ack latency, open connections,
errors, reconnects, dropped. Summary (stdout): one JSON object.
`;

function usage(message: string): never {
  process.stderr.write(`fleetpulse agent: ${message}\nRun \`fleetpulse agent --help\` for usage.\n`);
  process.exit(2);
}

function intFlag(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) usage(`--${name} must be a number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return n;
}

/** Parse argv (after `agent`), run, print the summary; resolves with the exit code. */
export async function runAgentCli(argv: string[], env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        sources: { type: 'string' }, metrics: { type: 'string' }, rate: { type: 'string' }, transport: { type: 'string' }, url: { type: 'string' },
        batch: { type: 'string' }, duration: { type: 'string' }, window: { type: 'string' }, key: { type: 'string' }, prefix: { type: 'string' },
        'day-seconds': { type: 'string' }, warmup: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(AGENT_HELP);
    return 0;
  }
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const transport = str('transport') ?? 'stream';
  if (transport !== AgentTransport.Push && transport !== AgentTransport.Stream) usage('--transport must be push or stream');
  const metrics = intFlag(str('metrics'), 'metrics', 10, 1, 100);
  const url = str('url') ?? env.FLEETPULSE_URL ?? 'http://127.0.0.1:8080';
  try {
    new URL(url);
  } catch {
    usage(`--url ${JSON.stringify(url)} is not a URL`);
  }
  const opts: AgentOptions = {
    url,
    transport,
    sources: Math.round(intFlag(str('sources'), 'sources', 100, 1, 1_000_000)),
    metrics: Math.round(metrics),
    rate: intFlag(str('rate'), 'rate', 1, 0, 100_000),
    batch: Math.round(intFlag(str('batch'), 'batch', metrics, 1, 1_000_000)),
    key: str('key') ?? env.FLEETPULSE_AGENT_KEY,
    prefix: str('prefix'),
    dayMs: intFlag(str('day-seconds'), 'day-seconds', 86_400, 1, 1e9) * 1000,
    warmupS: intFlag(str('warmup'), 'warmup', 0, 0, 86_400),
  };
  if (str('window') !== undefined) opts.windowSamples = Math.round(intFlag(str('window'), 'window', 0, 1, 1e9));
  const durationS = str('duration') === undefined ? undefined : intFlag(str('duration'), 'duration', 0, 0.1, 1e7);
  const quiet = values.quiet === true;
  const tty = process.stderr.isTTY === true;
  let lines = 0;
  if (!quiet) {
    opts.onProgress = (p) => {
      // On a terminal one line rewritten in place; in a log, a line every 5 s.
      if (tty) process.stderr.write(`\r\x1b[K${progressLine(transport, opts, p)}`);
      else if (lines++ % 5 === 0) process.stderr.write(`${progressLine(transport, opts, p)}\n`);
    };
  }

  const agent = new Agent(opts);
  agent.start();
  if (!quiet) process.stderr.write(`fleetpulse agent: ${opts.sources} hosts x ${opts.metrics} metrics at ${opts.rate === 0 ? 'max rate' : `${opts.rate}/s`} over ${transport} to ${url}\n`);
  // Run until --duration, a signal, or a fatal answer (retrying a bad key cannot help).
  await new Promise<void>((resolve) => {
    const finish = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      clearInterval(fatalPoll);
      process.removeListener('SIGINT', finish);
      process.removeListener('SIGTERM', finish);
      resolve();
    };
    const timer = durationS === undefined ? undefined : setTimeout(finish, durationS * 1000);
    const fatalPoll = setInterval(() => {
      if (agent.stats.fatal !== undefined) finish();
    }, 200);
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    process.on('SIGUSR2', () => agent.endWarmup());
  });
  if (!quiet && tty) process.stderr.write('\n');
  const summary = await agent.stop();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.fatal !== null) {
    process.stderr.write(`fleetpulse agent: ${summary.fatal}\n`);
    return 1;
  }
  return summary.ackedSamples > 0 ? 0 : 1;
}

function progressLine(transport: string, o: AgentOptions, p: AgentProgress): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const ms = (x: number): string => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(1) : Math.round(x)}ms` : '–');
  const conns = transport === 'stream' ? `conns ${n(p.open)}/${n(o.sources)}` : `in flight ${n(p.open)}`;
  return `[agent ${p.elapsedS}s] ${n(p.ackedPerSec)} samples/s | sent ${n(p.sentSamples)} acked ${n(p.ackedSamples)} | ack p50 ${ms(p.latency.p50)} p99 ${ms(p.latency.p99)} | ${conns} | errors ${n(p.errors)} reconnects ${n(p.reconnects)} dropped ${n(p.dropped)}`;
}
