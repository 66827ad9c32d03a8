/**
 * The dashboard's static files (built by Vite into dist/web), served by every worker through the
 * router's `staticFiles` hook. Everything is read and gzipped once at start (a few hundred KB),
 * so serving is a map lookup.
 *
 * Caching: files under /assets/ carry a content hash in their name and are `immutable` for a
 * year; index.html (and the view paths that return it, so deep links work) is `no-cache`, so a
 * new build is picked up at once and revalidated cheaply by ETag.
 *
 * A strict Content-Security-Policy: scripts, styles and connections only from this origin, no
 * inline script or style, Trusted Types enforced for DOM sinks (Lit's own `lit-html` policy is the
 * only one allowed). The dashboard renders every name as text (never unsafeHTML), so a source
 * named `<img src=x onerror=alert(1)>` shows literally, and the CSP is the second wall.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { AnyRequest, AnyResponse } from './server.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  // 'self' covers ws:/wss: of the same host in CSP Level 3 (the Socket.IO websocket).
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types lit-html',
].join('; ');

/**
 * On every HTML (and other static) response, the 503 "not built" page included: no sniffing, no
 * framing (clickjacking), no referrer leaking a `?key=` URL, a browsing context of our own.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Paths the dashboard routes itself (deep links); each returns index.html. */
const VIEW_PATH_RE = /^\/(?:fleet|explore|source(?:\/[^/]*)?|cluster)\/?$/;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

interface StaticFile {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  cacheControl: string;
}

export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** Load the built dashboard; a missing build serves a short hint at `/` instead of failing the worker. */
export function createStaticFiles(root: string = DEFAULT_WEB_ROOT): (req: AnyRequest, res: AnyResponse, path: string) => boolean {
  const files = new Map<string, StaticFile>();
  if (fs.existsSync(path.join(root, 'index.html'))) {
    for (const rel of walk(root)) {
      const body = fs.readFileSync(path.join(root, rel));
      const urlPath = '/' + rel.split(path.sep).join('/');
      const ext = path.extname(rel);
      const type = TYPES[ext] ?? 'application/octet-stream';
      const compressible = /text|javascript|json|svg/.test(type) && body.length > 1024;
      files.set(urlPath, {
        body,
        gzip: compressible ? zlib.gzipSync(body, { level: 9 }) : undefined,
        type,
        etag: `"${crypto.createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`,
        cacheControl: urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
  }
  const index = files.get('/index.html');

  return (req, res, urlPath) => {
    let f = files.get(urlPath);
    if (f === undefined && (urlPath === '/' || VIEW_PATH_RE.test(urlPath))) f = index;
    if (f === undefined) {
      if (urlPath !== '/' || index !== undefined) return false;
      res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('The dashboard is not built: run `npm run build` (tsc + vite build into dist/web).\n');
      return true;
    }
    const headers: Record<string, string> = {
      'content-type': f.type,
      'cache-control': f.cacheControl,
      etag: f.etag,
      vary: 'accept-encoding',
      ...SECURITY_HEADERS,
    };
    if (req.headers['if-none-match'] === f.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const accept = req.headers['accept-encoding'];
    const gz = f.gzip !== undefined && typeof accept === 'string' && /\bgzip\b/.test(accept);
    const body = gz ? f.gzip! : f.body;
    if (gz) headers['content-encoding'] = 'gzip';
    headers['content-length'] = String(body.length);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else res.end(body);
    return true;
  };
}

function* walk(root: string, dir = ''): Generator<string> {
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(root, rel);
    else if (e.isFile() && !e.name.endsWith('.map')) yield rel;
  }
}
