/** The shape of a bench scenario and what the runner gives it. */
import type { ScenarioReport } from './report.js';

export interface BenchContext {
  /** Short runs for smoke checks (`--quick`). */
  quick: boolean;
  /** Measured seconds per run. */
  durationS: number;
  /** Repeats per variant (median reported). */
  repeat: number;
  /** Where JSON/MD/SVG go. */
  outDir: string;
  /** Live progress line (stderr). */
  progress(message: string): void;
  /** Aborted when the scenario's hard time limit passes. */
  signal: AbortSignal;
}

export interface Scenario {
  name: string;
  description: string;
  /** Measured seconds per run when --duration is not given (default 10): soak's measure is its length. */
  defaultDurationS?: number;
  /** Hard limit for the whole scenario at the given settings, seconds. */
  timeLimitS(ctx: Pick<BenchContext, 'quick' | 'durationS' | 'repeat'>): number;
  /** How the scenario runs when it does not repeat each variant --repeat times (reports say this instead). */
  runsNote?(ctx: Pick<BenchContext, 'quick' | 'durationS' | 'repeat'>): string;
  run(ctx: BenchContext): Promise<Omit<ScenarioReport, 'schemaVersion' | 'scenario' | 'machine' | 'durationS'>>;
}

/** Measured seconds per run of `sc`: --duration when given, else 1 with --quick, else the scenario's default (10). */
export function durationFor(sc: Pick<Scenario, 'defaultDurationS'>, opts: { quick: boolean; durationS: number | undefined }): number {
  return opts.durationS ?? (opts.quick ? 1 : (sc.defaultDurationS ?? 10));
}
