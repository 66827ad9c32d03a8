/**
 * One registry of coded errors. The codes are the wire codes of DESIGN.md §4
 * (`{"error":{"code":…}}`); the README's error table is checked against this object by a test.
 */
export const ErrorCode = {
  /** A sample failed validation (field, index say which). HTTP 400. */
  INVALID_SAMPLE: 'invalid_sample',
  /** The body or frame is not valid JSON / NDJSON. HTTP 400. */
  INVALID_JSON: 'invalid_json',
  /** Content-Encoding is not gzip/identity, or the gzip stream is corrupt or truncated. HTTP 400/415. */
  INVALID_ENCODING: 'invalid_encoding',
  /** Body (or inflated body, or frame) over `ingest.maxBodyBytes`. HTTP 413, WS close 1009. */
  BODY_TOO_LARGE: 'body_too_large',
  /** More samples in one request/message than `ingest.maxSamplesPerRequest`. HTTP 413. */
  TOO_MANY_SAMPLES: 'too_many_samples',
  /** Content-Type is not JSON or NDJSON. HTTP 415. */
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  /** A query parameter is missing or malformed. HTTP 400. */
  INVALID_QUERY: 'invalid_query',
  /** Missing or wrong key. HTTP 401, WS close 1008. */
  UNAUTHORIZED: 'unauthorized',
  /** The key is valid but not for this operation (ingest key reading, read key ingesting). HTTP 403. */
  FORBIDDEN: 'forbidden',
  /** Per-key rate limit exceeded. HTTP 429 + Retry-After, WS 1013. */
  RATE_LIMITED: 'rate_limited',
  /** Accepting the request would create more than `limits.maxSeries` live series. HTTP 429. */
  SERIES_LIMIT: 'series_limit',
  /** The worker sheds load (too many unacked samples, connections). HTTP 503 + Retry-After, WS 1013. */
  OVERLOADED: 'overloaded',
  /** The state store (an owner worker, or Redis) cannot take or answer the request now. HTTP 503. */
  STATE_UNAVAILABLE: 'state_unavailable',
  /** No such route. HTTP 404. */
  NOT_FOUND: 'not_found',
  /** Route exists, method does not. HTTP 405. */
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  /** Configuration failed validation; the process exits with code 2. */
  CONFIG_INVALID: 'config_invalid',
  /** A broken invariant; never expected on the wire. HTTP 500, WS 1011. */
  INTERNAL: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FleetPulseErrorOptions {
  /** HTTP status to answer with; defaults from the code (see {@link httpStatusOf}). */
  httpStatus?: number;
  /** True when the same request may succeed later (Redis down, overload). */
  retryable?: boolean;
  /** Index of the offending sample in the request, for INVALID_SAMPLE. */
  index?: number;
  /** Name of the offending field, for INVALID_SAMPLE. */
  field?: string;
  /** Seconds a client should wait before retrying (Retry-After). */
  retryAfterS?: number;
  cause?: unknown;
}

export class FleetPulseError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly index: number | undefined;
  readonly field: string | undefined;
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, opts: FleetPulseErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FleetPulseError';
    this.code = code;
    this.httpStatus = opts.httpStatus ?? defaultHttpStatus[code];
    this.retryable = opts.retryable ?? (code === ErrorCode.STATE_UNAVAILABLE || code === ErrorCode.OVERLOADED || code === ErrorCode.RATE_LIMITED);
    this.index = opts.index;
    this.field = opts.field;
    this.retryAfterS = opts.retryAfterS ?? (this.retryable ? 1 : undefined);
  }

  /** The `{"error":{…}}` body of DESIGN.md §4. */
  toJSON(): WireError {
    const body: WireError = { code: this.code, message: this.message };
    if (this.index !== undefined) body.index = this.index;
    if (this.field !== undefined) body.field = this.field;
    return body;
  }

  /** Rebuild an error that crossed IPC as `{code, message}` (never just a message). */
  static fromWire(e: WireError, opts: FleetPulseErrorOptions = {}): FleetPulseError {
    const code = isErrorCode(e.code) ? e.code : ErrorCode.INTERNAL;
    const o: FleetPulseErrorOptions = { ...opts };
    if (e.index !== undefined) o.index = e.index;
    if (e.field !== undefined) o.field = e.field;
    return new FleetPulseError(code, e.message, o);
  }
}

export interface WireError {
  code: string;
  message: string;
  index?: number;
  field?: string;
}

/** HTTP status each code answers with unless an error says otherwise (documented in the README). */
export const defaultHttpStatus: Readonly<Record<ErrorCode, number>> = {
  invalid_sample: 400,
  invalid_json: 400,
  invalid_encoding: 400,
  body_too_large: 413,
  too_many_samples: 413,
  unsupported_media_type: 415,
  invalid_query: 400,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  series_limit: 429,
  overloaded: 503,
  state_unavailable: 503,
  not_found: 404,
  method_not_allowed: 405,
  config_invalid: 500,
  internal: 500,
};

const codes = new Set<string>(Object.values(ErrorCode));
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && codes.has(s);
}

/** Map any thrown value to a FleetPulseError; unknown errors become INTERNAL (500). */
export function toFleetPulseError(err: unknown): FleetPulseError {
  if (err instanceof FleetPulseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FleetPulseError(ErrorCode.INTERNAL, `internal error: ${message}`, { cause: err });
}

/** The one mapping from error codes to WebSocket close codes (RFC 6455 §7.4.1). */
export function wsCloseCodeOf(err: FleetPulseError): number {
  switch (err.code) {
    case ErrorCode.UNAUTHORIZED:
    case ErrorCode.FORBIDDEN:
    case ErrorCode.INVALID_QUERY: // e.g. a malformed ?stream= id: fix, don't retry
      return 1008;
    case ErrorCode.BODY_TOO_LARGE:
      return 1009;
    case ErrorCode.OVERLOADED:
    case ErrorCode.RATE_LIMITED:
    case ErrorCode.STATE_UNAVAILABLE:
      return 1013;
    default:
      return 1011;
  }
}
