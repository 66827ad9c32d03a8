/**
 * Push ingest (DESIGN.md §4): POST /api/v1/ingest (202) and the original project's
 * POST /api/metrics (201). Thin: read → decode → parse (all-or-nothing) → sink → answer.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { drainRejected, sendError, sendJson } from '../http/respond.js';
import type { AnyRequest, AnyResponse } from '../http/server.js';
import type { SampleSink } from '../aggregate/aggregator.js';
import type { IngestConfig } from '../config/schema.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { Principal } from '../http/auth.js';
import type { SampleBatch } from '../protocol/samples.js';
import { BodyPool, decodeBody, readBody } from './body.js';
import { firstSources } from './series-limit-log.js';
import type { TurnBudget } from './turn-budget.js';
import { SampleScanner, type ScannerOptions } from './fast-scan.js';
import { parseJson, parseNdjson, type ParseLimits } from './parse.js';
import type { RateLimiter } from './rate-limit.js';
import { IngestStage, ingestStages } from '../observability/stage-clock.js';

export interface PushDeps {
  cfg: IngestConfig;
  /** Oldest accepted sample age (the coarse retention), ms. */
  maxAgeMs: number;
  sink: SampleSink;
  metrics: WorkerMetrics;
  now: () => number;
  /** Per-key samples/s limit (auth.rateLimit); undefined = unlimited. */
  limiter?: RateLimiter | undefined;
  /** auth.rateLimit, for the 429's message. */
  rateLimit?: number;
  /** A batch was refused for the series limit (which sources: series-limit-log.ts). */
  onSeriesLimit?: ((batch: Pick<SampleBatch, 'length' | 'source'>) => void) | undefined;
  /** The worker's bound on ingest work per event-loop turn: a body is decoded within it. */
  turns?: TurnBudget | undefined;
  /** The current membership, when the store splits batches by owner (fast-scan.ts hints owners under it). */
  owners?: ScannerOptions['owners'];
}

/** The 429 of a key over its rate (Retry-After in whole seconds, at least 1). */
export function rateLimitedError(waitMs: number, limit: number): FleetPulseError {
  return new FleetPulseError(ErrorCode.RATE_LIMITED, `rate limit of ${limit} samples/s for this key exceeded; retry in ${Math.ceil(waitMs)} ms`, { retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) });
}

type BodyKind = 'json' | 'ndjson';

function bodyKind(contentType: string | undefined): BodyKind {
  if (contentType === undefined || contentType === '') return 'json'; // lenient: simple agents omit it
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mime === 'application/json' || mime === 'text/json') return 'json';
  if (mime === 'application/x-ndjson' || mime === 'application/ndjson' || mime === 'application/jsonlines') return 'ndjson';
  throw new FleetPulseError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Content-Type ${JSON.stringify(mime.slice(0, 64))} is not supported: use application/json or application/x-ndjson`);
}

/** `work` within a turn's budget: now, or in a later slice (its result or error, either way). */
function inTurn<T>(turns: TurnBudget, work: () => T, onDeferred: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const now = turns.run(() => {
      try {
        resolve(work());
      } catch (err) {
        reject(err);
      }
    });
    if (!now) onDeferred();
  });
}

/** The push handler: `principal` is who the router's access check let in (node/http/auth.ts). */
export type PushHandler = (req: AnyRequest, res: AnyResponse, legacy: boolean, principal: Principal) => Promise<void>;

export function createPushHandler(deps: PushDeps): PushHandler {
  const limits: ParseLimits = {
    maxSamples: deps.cfg.maxSamplesPerRequest,
    maxTags: deps.cfg.maxTags,
    maxFutureMs: deps.cfg.maxFutureMs,
    maxAgeMs: deps.maxAgeMs,
  };
  const m = deps.metrics;
  const limiter = deps.limiter;
  const scanner = new SampleScanner({ owners: deps.owners });
  const bodies = new BodyPool(deps.cfg.maxBodyBytes);
  return async (req, res, legacy, principal) => {
    const started = performance.now();
    let samples = 0;
    let batch: SampleBatch | undefined;
    let named: Pick<SampleBatch, 'length' | 'source'> | undefined;
    let stage: 'parse' | 'limit' | 'store' = 'parse';
    try {
      // A key still in debt is refused before its body costs a parse (Node discards the body).
      const blocked = limiter?.blockedFor(principal.id) ?? 0;
      if (blocked > 0) {
        stage = 'limit';
        throw rateLimitedError(blocked, deps.rateLimit ?? 0);
      }
      const kind = bodyKind(req.headers['content-type']);
      const raw = await readBody(req, deps.cfg.maxBodyBytes, bodies);
      const now = deps.now();
      try {
        m.ingestBodyBytes.observe({ transport: 'http' }, raw.length);
        const body = await decodeBody(raw, req.headers['content-encoding'] as string | undefined, deps.cfg.maxBodyBytes);
        if (body.length === 0) throw new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'empty body: send a sample, an array of samples, or {"samples":[…]}');
        const parse = (): SampleBatch => {
          const started = performance.now();
          try {
            if (kind === 'ndjson') return parseNdjson(body.toString('utf8'), limits, now);
            // The common shapes straight from the bytes; anything else (and every error) via parse.ts.
            return scanner.scan(body, limits, now)?.batch ?? parseJson(body.toString('utf8'), limits, now);
          } finally {
            ingestStages.add(IngestStage.Decode, started);
          }
        };
        batch = deps.turns === undefined ? parse() : await inTurn(deps.turns, parse, () => m.ingestDeferred.inc({ transport: 'http' }));
      } finally {
        // Parsed or refused, nothing reads the body any more (the batch holds copies of its names): its buffer serves the next request.
        bodies.release(raw);
      }
      samples = batch.length;
      m.ingestRequestSamples.observe({ transport: 'http' }, samples);
      if (limiter !== undefined) {
        stage = 'limit';
        const wait = limiter.take(principal.id, samples);
        if (wait > 0) throw rateLimitedError(wait, deps.rateLimit ?? 0);
      }
      stage = 'store';
      // The batch is the sink's now: holding it while the owners work got it promoted (worker/forwarder.ts).
      // Only the few sources a series-limit refusal would name are kept.
      if (deps.onSeriesLimit !== undefined) named = firstSources(batch);
      const stored = deps.sink.submit(batch, now);
      batch = undefined;
      await stored;
      m.ingestSamples.inc({ transport: 'http', result: 'accepted' }, samples);
      m.ingestRequests.inc({ transport: 'http', code: '2xx' });
      m.ingestDuration.observe({ transport: 'http' }, (performance.now() - started) / 1000);
      sendJson(res, legacy ? 201 : 202, { accepted: samples });
    } catch (err) {
      // A 413 leaves the rest of the body unread; the connection is NOT closed: closing a socket
      // with unread input makes the kernel send RST, which can destroy the 413 before the client
      // reads it. Node discards the rest of the body itself, bounded by the request timeout —
      // unless the client asked to close after this request: then the rest is read first.
      await drainRejected(req, res);
      const status = sendError(res, err);
      m.ingestRequests.inc({ transport: 'http', code: `${Math.floor(status / 100)}xx` });
      if (stage === 'limit') {
        m.rateLimitedSamples.inc({ transport: 'http' }, samples);
        return;
      }
      const code = err instanceof FleetPulseError ? err.code : undefined;
      if (code === ErrorCode.SERIES_LIMIT && (named !== undefined || batch !== undefined)) {
        m.seriesLimitRejections.inc({ transport: 'http' });
        deps.onSeriesLimit?.(named ?? batch!);
      }
      const result = stage === 'parse' ? 'rejected' : status === 503 && code === ErrorCode.OVERLOADED ? 'shed' : 'failed';
      if (samples > 0 || result !== 'rejected') m.ingestSamples.inc({ transport: 'http', result }, Math.max(samples, 0));
    }
  };
}
