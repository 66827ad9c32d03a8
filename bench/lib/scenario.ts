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
  /** Hard limit for the whole scenario at the given settings, seconds. */
  timeLimitS(ctx: Pick<BenchContext, 'quick' | 'durationS' | 'repeat'>): number;
  /** How the scenario runs when it does not repeat each variant --repeat times (reports say this instead). */
  runsNote?(ctx: Pick<BenchContext, 'quick' | 'durationS' | 'repeat'>): string;
  run(ctx: BenchContext): Promise<Omit<ScenarioReport, 'schemaVersion' | 'scenario' | 'machine' | 'durationS'>>;
}
