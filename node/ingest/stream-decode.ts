/**
 * Decode one WebSocket stream message (DESIGN.md §4 Stream; hot path, pure). A message is a
 * sample, an array of samples, `{"seq":n,"samples":[…]}`, or the wide form, optionally with
 * `seq`; or the original project's `{seq, server_name, cpu_usage, memory_usage, sent_at}`.
 *
 * Never throws: a bad message becomes `{error}` with whatever `seq` could be read, so the
 * connection can answer `{"error":{…},"seq":n}` and stay open.
 */
import { ErrorCode, FleetPulseError, toFleetPulseError } from '../errors.js';
import { emptyBatch, type SampleBatch } from '../protocol/samples.js';
import type { SampleScanner } from './fast-scan.js';
import { addPayload, type ParseLimits } from './parse.js';

export interface DecodedMessage {
  /** The message's own `seq`, undefined when it carries none (or an invalid one). */
  seq: number | undefined;
  /** Validated samples; undefined when the message was rejected (see `error`). */
  batch: SampleBatch | undefined;
  error: FleetPulseError | undefined;
  /** Set for the original project's message shape: its ack also echoes `sent_at`. */
  legacy: { sentAt: unknown } | undefined;
}

/** Fields of the original project's message that are not metrics. */
const LEGACY_RESERVED = new Set(['seq', 'sent_at', 'ts', 'server_id', 'server_name', 'host', 'source', 'tags', 'unit']);

/**
 * Decode a frame: its common shapes straight from the bytes (fast-scan.ts), anything else — and
 * every error — from its text.
 */
export function decodeStreamFrame(buf: Buffer, scanner: SampleScanner, limits: ParseLimits, now: number): DecodedMessage {
  const fast = scanner.scan(buf, limits, now);
  if (fast !== undefined) return { seq: fast.seq, batch: fast.batch, error: undefined, legacy: undefined };
  return decodeStreamMessage(buf.toString('utf8'), limits, now);
}

/** Decode a frame's text. `now` is server time (ms) for defaults and range checks. */
export function decodeStreamMessage(text: string, limits: ParseLimits, now: number): DecodedMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return rejected(undefined, new FleetPulseError(ErrorCode.INVALID_JSON, `message is not valid JSON: ${(err as Error).message}`));
  }
  let seq: number | undefined;
  if (isObject(doc) && doc.seq !== undefined) {
    const s = doc.seq;
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 1) {
      return rejected(undefined, new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'seq must be a positive integer', { field: 'seq' }));
    }
    seq = s;
  }
  try {
    const batch = emptyBatch();
    if (isLegacy(doc)) {
      addPayload(batch, legacyToWide(doc, now), limits, now);
      return { seq, batch, error: undefined, legacy: { sentAt: doc.sent_at } };
    }
    addPayload(batch, doc, limits, now);
    return { seq, batch, error: undefined, legacy: undefined };
  } catch (err) {
    return rejected(seq, toFleetPulseError(err));
  }
}

function rejected(seq: number | undefined, error: FleetPulseError): DecodedMessage {
  return { seq, batch: undefined, error, legacy: undefined };
}

/**
 * The original project's stream message: flat numeric fields next to `server_name` and
 * `sent_at`, no `metric`/`metrics`/`samples`/`value`. Recognised by `cpu_usage`/`memory_usage`.
 */
function isLegacy(doc: unknown): doc is Record<string, unknown> {
  return (
    isObject(doc) &&
    doc.metrics === undefined && doc.samples === undefined && doc.metric === undefined && doc.metric_type === undefined && doc.value === undefined &&
    (doc.cpu_usage !== undefined || doc.memory_usage !== undefined)
  );
}

/**
 * Legacy message → wide form: every field that is not reserved is a metric (percentages, so the
 * unit is `%`); a non-number among them is rejected by the wide-form validation with its name.
 */
function legacyToWide(doc: Record<string, unknown>, now: number): Record<string, unknown> {
  const metrics: Record<string, unknown> = {};
  for (const k of Object.keys(doc)) if (!LEGACY_RESERVED.has(k)) metrics[k] = doc[k];
  const wide: Record<string, unknown> = { unit: '%', metrics };
  for (const k of ['source', 'server_name', 'server_id', 'host', 'tags'] as const) if (doc[k] !== undefined) wide[k] = doc[k];
  const ts = doc.ts !== undefined ? doc.ts : legacyTs(doc.sent_at, now);
  if (ts !== undefined) wide.ts = ts;
  return wide;
}

/**
 * The original clients' `sent_at` was not always epoch milliseconds: seconds (with a fraction)
 * and ISO strings are accepted too, and anything unreadable falls back to server time. The ack
 * echoes the value exactly as it came, so clients can still measure their round trip.
 */
export function legacyTs(sentAt: unknown, now: number): number | undefined {
  let ms: number;
  if (typeof sentAt === 'number' && Number.isFinite(sentAt)) ms = sentAt < 1e11 ? sentAt * 1000 : sentAt;
  else if (typeof sentAt === 'string') ms = Date.parse(sentAt);
  else return undefined;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  void now;
  return Math.round(ms);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
