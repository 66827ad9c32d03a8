/**
 * HTTP/1.1 load with autocannon (NOTES.md §7): keep-alive or a new connection per request,
 * bodies rotated from a pool so requests spread over many sources.
 */
import autocannon from 'autocannon';

export interface HttpLoadOptions {
  url: string;
  connections: number;
  durationS: number;
  bodies: readonly string[];
  headers?: Record<string, string>;
  /** Extra headers per body (same index as `bodies`), e.g. each body's `X-Source`. */
  bodyHeaders?: readonly Record<string, string>[];
  /** Close the connection after each request (the original project's assumption). */
  newConnectionPerRequest?: boolean;
  signal?: AbortSignal;
}

export interface HttpLoadResult {
  requests: number;
  reqPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  non2xx: number;
  durationS: number;
}

export async function httpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  let i = 0;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...o.headers };
  if (o.newConnectionPerRequest === true) headers.connection = 'close';
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    pipelining: 1,
    method: 'POST',
    headers,
    requests: [{
      setupRequest: (req) => {
        const k = i++ % o.bodies.length;
        const extra = o.bodyHeaders?.[k];
        return { ...req, body: o.bodies[k]!, ...(extra === undefined ? {} : { headers: { ...req.headers, ...extra } }) };
      },
    }],
    }, (err, result) => (err ? reject(err) : resolve(result)));
  });
  const onAbort = (): void => instance.stop();
  o.signal?.addEventListener('abort', onAbort);
  const r = await done;
  o.signal?.removeEventListener('abort', onAbort);
  const durationS = r.duration;
  return {
    requests: r.requests.total,
    reqPerSec: r.requests.total / durationS,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    durationS,
  };
}
