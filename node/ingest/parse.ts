/**
 * Decode and validate ingest payloads (hot path, pure). All-or-nothing: the first invalid sample
 * throws INVALID_SAMPLE with its index and field, and nothing of the request is returned.
 *
 * Accepted shapes (DESIGN.md §3–4): one sample, an array of samples, `{"samples":[…]}`, the wide
 * form `{"source","ts","metrics":{…}}` (also inside arrays), NDJSON (one of those per line), and
 * the original project's aliases (server_id/server_name/host, metric_type, sent_at).
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { emptyBatch, pushSample, SampleKind, TAG_SEPARATOR, type SampleBatch } from '../protocol/samples.js';
import { FORBIDDEN_NAMES, isMetricName, MAX_TAG_VALUE, MAX_UNIT, SOURCE_RE, TAG_KEY_RE } from '../protocol/names.js';

export interface ParseLimits {
  /** Most samples per request/message. */
  maxSamples: number;
  /** Most tags per sample. */
  maxTags: number;
  /** Largest accepted `ts - now`, ms. */
  maxFutureMs: number;
  /** Oldest accepted `now - ts`, ms (the retention). */
  maxAgeMs: number;
}

/** Parse a JSON text (body or WebSocket frame) into a validated batch. */
export function parseJson(text: string, limits: ParseLimits, now: number): SampleBatch {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new FleetPulseError(ErrorCode.INVALID_JSON, `body is not valid JSON: ${(err as Error).message}`);
  }
  const batch = emptyBatch();
  addPayload(batch, doc, limits, now);
  return batch;
}

/** Parse NDJSON: each non-blank line is a sample (or wide form). Index in errors = line's sample index. */
export function parseNdjson(text: string, limits: ParseLimits, now: number): SampleBatch {
  const batch = emptyBatch();
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end).trim();
    if (raw !== '') {
      let doc: unknown;
      try {
        doc = JSON.parse(raw);
      } catch (err) {
        throw new FleetPulseError(ErrorCode.INVALID_JSON, `line ${line + 1} is not valid JSON: ${(err as Error).message}`, { index: line });
      }
      if (!isObject(doc)) throw invalid(line, '', 'each NDJSON line must be a JSON object');
      addOne(batch, doc, line, limits, now);
    }
    line++;
    start = end + 1;
  }
  if (batch.length === 0) throw new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'no samples in body');
  return batch;
}

/** Validate an already-parsed payload (one of the accepted shapes) into `batch`. */
export function addPayload(batch: SampleBatch, doc: unknown, limits: ParseLimits, now: number): void {
  let items: readonly unknown[];
  if (Array.isArray(doc)) items = doc;
  else if (isObject(doc) && Array.isArray(doc.samples)) items = doc.samples as unknown[];
  else if (isObject(doc)) items = [doc];
  else throw new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'body must be a sample object, an array of samples, or {"samples":[…]}');
  if (items.length === 0) throw new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'no samples in body');
  if (items.length > limits.maxSamples) throw tooMany(items.length, limits);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (!isObject(item)) throw invalid(i, '', 'sample must be a JSON object');
    addOne(batch, item, i, limits, now);
  }
}

function addOne(batch: SampleBatch, s: Record<string, unknown>, index: number, limits: ParseLimits, now: number): void {
  const source = readSource(s, index);
  const ts = readTs(s, index, limits, now);
  const tags = readTags(s.tags, index, limits.maxTags);
  if (s.metrics !== undefined) {
    // Wide form: one source, several metrics.
    const metrics = s.metrics;
    if (!isObject(metrics)) throw invalid(index, 'metrics', 'must be an object of metric name → number');
    const unit = readUnit(s, index);
    const kind = readKind(s, index);
    let n = 0;
    for (const name in metrics) {
      if (!Object.hasOwn(metrics, name)) continue;
      if (!isMetricName(name)) throw invalid(index, `metrics.${name.slice(0, 40)}`, 'metric name must be 1-128 chars of [A-Za-z0-9_.:-], starting with a letter or _');
      const v = metrics[name];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(index, `metrics.${name}`, 'value must be a finite number');
      pushSample(batch, name, source, v, ts, unit, kind, tags);
      n++;
    }
    if (n === 0) throw invalid(index, 'metrics', 'must hold at least one metric');
  } else {
    const metric = s.metric ?? s.metric_type;
    if (typeof metric !== 'string' || !isMetricName(metric)) {
      throw invalid(index, 'metric', 'metric must be 1-128 chars of [A-Za-z0-9_.:-], starting with a letter or _');
    }
    const v = s.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(index, 'value', 'value must be a finite number (not a string, NaN or Infinity)');
    pushSample(batch, metric, source, v, ts, readUnit(s, index), readKind(s, index), tags);
  }
  if (batch.length > limits.maxSamples) throw tooMany(batch.length, limits);
}

function readSource(s: Record<string, unknown>, index: number): string {
  let src = s.source ?? s.server_name ?? s.host;
  if (src === undefined && s.server_id !== undefined) {
    const id = s.server_id;
    // The original project numbered its servers: a numeric server_id becomes its decimal string.
    src = typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? String(id) : id;
  }
  if (typeof src !== 'string' || !SOURCE_RE.test(src)) {
    throw invalid(index, 'source', 'source must be 1-128 chars of [A-Za-z0-9._:-] (or server_id/server_name/host)');
  }
  return src;
}

function readTs(s: Record<string, unknown>, index: number, limits: ParseLimits, now: number): number {
  const field = s.ts !== undefined ? 'ts' : 'sent_at';
  const ts = s.ts ?? s.sent_at;
  if (ts === undefined || ts === null) return now;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) throw invalid(index, field, `${field} must be an integer number of ms since the epoch`);
  if (ts > now + limits.maxFutureMs) throw invalid(index, field, `${field} is more than ${limits.maxFutureMs / 1000}s in the future`);
  if (ts < now - limits.maxAgeMs) throw invalid(index, field, `${field} is older than the retention (${limits.maxAgeMs / 1000}s)`);
  return ts;
}

function readUnit(s: Record<string, unknown>, index: number): string {
  const u = s.unit;
  if (u === undefined || u === null) return '';
  if (typeof u !== 'string' || u.length > MAX_UNIT) throw invalid(index, 'unit', `unit must be a string of at most ${MAX_UNIT} chars`);
  return u;
}

function readKind(s: Record<string, unknown>, index: number): SampleKind {
  const k = s.kind;
  if (k === undefined || k === null || k === 'gauge') return SampleKind.Gauge;
  if (k === 'counter') return SampleKind.Counter;
  throw invalid(index, 'kind', 'kind must be "gauge" or "counter"');
}

/** Canonical tags (`k=v` sorted by key, joined by TAG_SEPARATOR) of a sample's `tags`; throws INVALID_SAMPLE. */
export function readTags(t: unknown, index: number, maxTags: number): string {
  if (t === undefined || t === null) return '';
  if (!isObject(t)) throw invalid(index, 'tags', 'tags must be an object of string → string');
  const keys = Object.keys(t);
  if (keys.length === 0) return '';
  if (keys.length > maxTags) throw invalid(index, 'tags', `at most ${maxTags} tags per sample (got ${keys.length})`);
  keys.sort();
  let out = '';
  for (const k of keys) {
    if (!TAG_KEY_RE.test(k) || FORBIDDEN_NAMES.has(k)) throw invalid(index, `tags.${k.slice(0, 64)}`, 'tag key must be 1-64 chars of [A-Za-z0-9_.:-], starting with a letter or _');
    const v = t[k];
    if (typeof v !== 'string' || v.length > MAX_TAG_VALUE || v.includes(TAG_SEPARATOR)) {
      throw invalid(index, `tags.${k}`, `tag value must be a string of at most ${MAX_TAG_VALUE} chars`);
    }
    out = out === '' ? `${k}=${v}` : `${out}${TAG_SEPARATOR}${k}=${v}`;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(index: number, field: string, message: string): FleetPulseError {
  return new FleetPulseError(ErrorCode.INVALID_SAMPLE, message, field === '' ? { index } : { index, field });
}

function tooMany(n: number, limits: ParseLimits): FleetPulseError {
  return new FleetPulseError(ErrorCode.TOO_MANY_SAMPLES, `more than ${limits.maxSamples} samples in one request (${n}+)`);
}
