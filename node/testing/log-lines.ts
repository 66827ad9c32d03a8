/**
 * The pino lines a spawned FleetPulse process printed, parsed, for tests that assert on what was
 * logged (other output, e.g. npm's, is skipped).
 */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

export function logLines(output: string): LogLine[] {
  return output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

/** The primary's `worker stopped` lines as [slot, exit code, signal], sorted by slot. */
export function workerExits(output: string): Array<[number, number | null, string | null]> {
  return logLines(output)
    .filter((l) => l.role === 'primary' && l.msg === 'worker stopped')
    .map((l): [number, number | null, string | null] => [l.slot as number, l.code as number | null, l.signal as string | null])
    .sort((a, b) => a[0] - b[0]);
}
