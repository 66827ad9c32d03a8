/**
 * Pure window math shared by both state stores and the query layer: durations, bucket
 * alignment, resolution choice, quantiles and counter rates. No clocks: `now` is always passed in.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { RetentionConfig } from '../config/schema.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parse `250ms`, `10s`, `5m`, `6h`, `1d` (or a bare integer of ms) into ms. */
export function parseDurationMs(text: string, field: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new FleetPulseError(ErrorCode.INVALID_QUERY, `${field} must be a duration like 500ms, 10s, 5m, 1h (got ${JSON.stringify(text.slice(0, 40))})`, { field });
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
}

/** Parse an absolute ms timestamp, or a time relative to now (`-5m`, `now`). */
export function parseTimeMs(text: string, field: string, now: number): number {
  const t = text.trim();
  if (t === 'now') return now;
  if (t.startsWith('-')) return now - parseDurationMs(t.slice(1), field);
  if (/^\d{1,16}$/.test(t)) return Number(t);
  throw new FleetPulseError(ErrorCode.INVALID_QUERY, `${field} must be ms since the epoch, "now", or relative like -5m`, { field });
}

export interface Resolution {
  /** Bucket width, ms. */
  stepMs: number;
  /** 'fine' or 'coarse' ring. */
  ring: 'fine' | 'coarse';
}

/** The finest stored resolution whose retention still covers `fromMs`. */
export function resolutionFor(fromMs: number, now: number, r: RetentionConfig): Resolution {
  const fineOldest = (Math.floor(now / r.fineStepMs) - r.fineSpanMs / r.fineStepMs + 1) * r.fineStepMs;
  return fromMs >= fineOldest ? { stepMs: r.fineStepMs, ring: 'fine' } : { stepMs: r.coarseStepMs, ring: 'coarse' };
}

/** Start of the bucket of width `stepMs` holding `ts` (epoch-aligned). */
export function bucketStart(ts: number, stepMs: number): number {
  return Math.floor(ts / stepMs) * stepMs;
}

/**
 * Quantile of an ascending-sorted array by linear interpolation between closest ranks
 * (the "type 7" estimator of R and numpy's default). Empty → NaN.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return sorted[0]!;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo]!;
  return a + (h - lo) * (sorted[hi]! - a);
}

/**
 * Per-second rate of a counter from its (ts, value) observations in time order. Decreases are
 * counter resets (Prometheus semantics: the new value is the increase since the reset).
 * Undefined with fewer than two observations or no elapsed time.
 */
export function counterRate(ts: ArrayLike<number>, values: ArrayLike<number>): number | undefined {
  const n = ts.length;
  if (n < 2) return undefined;
  const elapsedMs = ts[n - 1]! - ts[0]!;
  if (elapsedMs <= 0) return undefined;
  let increase = 0;
  for (let i = 1; i < n; i++) {
    const d = values[i]! - values[i - 1]!;
    increase += d >= 0 ? d : values[i]!;
  }
  return (increase * 1000) / elapsedMs;
}
