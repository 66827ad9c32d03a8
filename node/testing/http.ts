/** Small HTTP/1.1 and HTTP/2 clients for tests and benches (node:http / node:http2, no mocks). */
import http from 'node:http';
import http2 from 'node:http2';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

function answer(status: number, headers: http.IncomingHttpHeaders, body: string): HttpAnswer {
  return { status, headers, body, json: <T>() => JSON.parse(body) as T };
}

/** One HTTP/1.1 request. `agent` controls connection reuse (a fresh agent = a new connection). */
export function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false, timeout: opts.timeoutMs ?? 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(answer(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export const postJson = (url: string, body: unknown, agent?: http.Agent): Promise<HttpAnswer> =>
  request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(agent ? { agent } : {}) });

export const getJson = async <T>(url: string, agent?: http.Agent): Promise<T> => {
  const a = await request(url, agent ? { agent } : {});
  if (a.status !== 200) throw new Error(`GET ${url} → ${a.status}: ${a.body.slice(0, 500)}`);
  return a.json<T>();
};

/** An HTTP/2 (h2c prior knowledge, or TLS) session with a request helper. */
export function h2Session(origin: string, opts: http2.SecureClientSessionOptions = {}): { request: (path: string, o?: { method?: string; headers?: Record<string, string>; body?: string | Buffer }) => Promise<HttpAnswer>; close: () => void } {
  const session = http2.connect(origin, opts);
  session.on('error', () => {});
  return {
    request: (path, o = {}) =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':method': o.method ?? 'GET', ':path': path, ...(o.headers ?? {}) });
        let status = 0;
        let headers: http.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => {
          status = Number(h[':status']);
          headers = h as http.IncomingHttpHeaders;
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve(answer(status, headers, Buffer.concat(chunks).toString('utf8'))));
        stream.on('error', reject);
        stream.setTimeout(15_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
        if (o.body !== undefined) stream.end(o.body);
        else stream.end();
      }),
    close: () => session.close(),
  };
}
