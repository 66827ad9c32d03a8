/**
 * Push ingest (DESIGN.md §4): POST /api/v1/ingest (202) and the original project's
 * POST /api/metrics (201). Thin: read → decode → parse (all-or-nothing) → sink → answer.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { sendError, sendJson } from '../http/respond.js';
import type { AnyRequest, AnyResponse } from '../http/server.js';
import type { SampleSink } from '../aggregate/aggregator.js';
import type { IngestConfig } from '../config/schema.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { decodeBody, readBody } from './body.js';
import { parseJson, parseNdjson, type ParseLimits } from './parse.js';

export interface PushDeps {
  cfg: IngestConfig;
  /** Oldest accepted sample age (the coarse retention), ms. */
  maxAgeMs: number;
  sink: SampleSink;
  metrics: WorkerMetrics;
  now: () => number;
}

type BodyKind = 'json' | 'ndjson';

function bodyKind(contentType: string | undefined): BodyKind {
  if (contentType === undefined || contentType === '') return 'json'; // lenient: simple agents omit it
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mime === 'application/json' || mime === 'text/json') return 'json';
  if (mime === 'application/x-ndjson' || mime === 'application/ndjson' || mime === 'application/jsonlines') return 'ndjson';
  throw new FleetPulseError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Content-Type ${JSON.stringify(mime.slice(0, 64))} is not supported: use application/json or application/x-ndjson`);
}

export function createPushHandler(deps: PushDeps): (req: AnyRequest, res: AnyResponse, legacy: boolean) => Promise<void> {
  const limits: ParseLimits = {
    maxSamples: deps.cfg.maxSamplesPerRequest,
    maxTags: deps.cfg.maxTags,
    maxFutureMs: deps.cfg.maxFutureMs,
    maxAgeMs: deps.maxAgeMs,
  };
  const m = deps.metrics;
  return async (req, res, legacy) => {
    const started = performance.now();
    let samples = 0;
    let stage: 'parse' | 'store' = 'parse';
    try {
      const kind = bodyKind(req.headers['content-type']);
      const raw = await readBody(req, deps.cfg.maxBodyBytes);
      m.ingestBodyBytes.observe({ transport: 'http' }, raw.length);
      const body = await decodeBody(raw, req.headers['content-encoding'] as string | undefined, deps.cfg.maxBodyBytes);
      if (body.length === 0) throw new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'empty body: send a sample, an array of samples, or {"samples":[…]}');
      const now = deps.now();
      const text = body.toString('utf8');
      const batch = kind === 'json' ? parseJson(text, limits, now) : parseNdjson(text, limits, now);
      samples = batch.length;
      m.ingestRequestSamples.observe({ transport: 'http' }, samples);
      stage = 'store';
      await deps.sink.submit(batch, now);
      m.ingestSamples.inc({ transport: 'http', result: 'accepted' }, samples);
      m.ingestRequests.inc({ transport: 'http', code: '2xx' });
      m.ingestDuration.observe({ transport: 'http' }, (performance.now() - started) / 1000);
      sendJson(res, legacy ? 201 : 202, { accepted: samples });
    } catch (err) {
      const status = sendError(res, err, closeAfter(err, req));
      const result = stage === 'parse' ? 'rejected' : status === 503 && err instanceof FleetPulseError && err.code === ErrorCode.OVERLOADED ? 'shed' : 'failed';
      if (samples > 0 || result !== 'rejected') m.ingestSamples.inc({ transport: 'http', result }, Math.max(samples, 0));
      m.ingestRequests.inc({ transport: 'http', code: `${Math.floor(status / 100)}xx` });
    }
  };
}

/** After a body-too-large answer the rest of the body is unread: close the connection. */
function closeAfter(err: unknown, req: AnyRequest): Record<string, string> {
  // HTTP/2 has no Connection header (setting one throws); its streams are reset instead.
  if (req.httpVersionMajor === 2) return {};
  return err instanceof FleetPulseError && err.code === ErrorCode.BODY_TOO_LARGE ? { connection: 'close' } : {};
}
