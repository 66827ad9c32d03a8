/**
 * Who may do what: the one access check of push ingest, the stream, the query API and Socket.IO
 * /live (SECURITY.md). Two key lists (auth.ingestKeys, auth.readKeys) and an Origin policy.
 *
 * - A key arrives as `Authorization: Bearer <key>`, `X-API-Key: <key>` or `?key=<key>` (the
 *   original project's stream clients; Socket.IO also takes `auth: {key}`), in that order.
 * - Keys are compared in constant time: the presented key and every configured key are reduced
 *   to SHA-256 digests (fixed length, so timingSafeEqual never sees different lengths and the
 *   key's length does not leak), and every configured digest is compared, no early exit.
 * - Ingest keys cannot read and read keys cannot ingest: a valid key of the other kind is 403
 *   `forbidden`, a missing or unknown key 401 `unauthorized`. A role without keys needs none.
 * - Browsers: a request with an `Origin` header must come from the server's own origin (Origin's
 *   host equals the Host the request was sent to) or one listed in auth.allowedOrigins, else 403.
 *   This stops another site's page from writing into a loopback instance with no keys, or from
 *   opening the dashboard's Socket.IO with a user's ambient access (cross-site WebSocket
 *   hijacking). Requests without Origin (agents, curl, Prometheus) are not browsers' and pass.
 *
 * Nothing here logs; errors never carry the key. A principal's `id` is a digest prefix, safe as a
 * map key for per-key state (rate limits) and never the key itself.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, FleetPulseError } from '../errors.js';

export const Role = { Ingest: 'ingest', Read: 'read' } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Why an access check failed: the `reason` label of fleetpulse_auth_failures_total (a fixed set). */
export const AuthFailure = { Missing: 'missing', Unknown: 'unknown', WrongRole: 'wrong_role', Origin: 'origin' } as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

export interface Principal {
  role: Role;
  /** Stable id of the key (16 hex of its SHA-256), or `anonymous` when the role needs no key. */
  id: string;
}

export const ANONYMOUS = 'anonymous';

/** What an access check reads from a request: its headers and its URL (path and query). */
export interface AccessRequest {
  headers: IncomingHttpHeaders;
  url?: string | undefined;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** The key a request carries: Bearer token, X-API-Key, or `?key=` (first found). */
export function keyOf(req: AccessRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^bearer\s+(\S+)\s*$/i.exec(auth);
    if (m !== null) return m[1];
  }
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x !== '') return x.trim();
  const url = req.url;
  if (url !== undefined) {
    const q = url.indexOf('?');
    if (q !== -1 && url.includes('key=', q)) {
      const k = new URLSearchParams(url.slice(q + 1)).get('key');
      if (k !== null && k !== '') return k;
    }
  }
  return undefined;
}

export interface AccessControlOptions {
  ingestKeys: readonly string[];
  readKeys: readonly string[];
  /** Extra browser origins allowed besides same-origin (auth.allowedOrigins). */
  allowedOrigins: readonly string[];
  /** Called on every refused check (fleetpulse_auth_failures_total). */
  onFailure?: (role: Role, reason: AuthFailure) => void;
}

export class AccessControl {
  readonly #ingest: Buffer[];
  readonly #read: Buffer[];
  readonly #origins: Set<string>;
  readonly #onFailure: (role: Role, reason: AuthFailure) => void;

  constructor(o: AccessControlOptions) {
    this.#ingest = o.ingestKeys.map(digest);
    this.#read = o.readKeys.map(digest);
    this.#origins = new Set(o.allowedOrigins.map((s) => s.toLowerCase().replace(/\/+$/, '')));
    this.#onFailure = o.onFailure ?? (() => {});
  }

  /** Whether `role` needs a key at all. */
  requiresKey(role: Role): boolean {
    return (role === Role.Ingest ? this.#ingest : this.#read).length > 0;
  }

  /**
   * Check a request for `role`: Origin first, then the key (`explicitKey` wins over the request's
   * own, for Socket.IO's `auth: {key}`). Returns the principal or throws FORBIDDEN/UNAUTHORIZED.
   */
  check(role: Role, req: AccessRequest, explicitKey?: string): Principal {
    if (!this.admitsOrigin(role, req.headers)) {
      throw new FleetPulseError(ErrorCode.FORBIDDEN, 'cross-origin request refused: the Origin is neither this server nor listed in auth.allowedOrigins');
    }
    return this.authorize(role, explicitKey !== undefined && explicitKey !== '' ? explicitKey : keyOf(req));
  }

  /** {@link originAllowed}, counting a refusal (for checks that answer on their own, like engine.io's allowRequest). */
  admitsOrigin(role: Role, headers: IncomingHttpHeaders): boolean {
    if (this.originAllowed(headers)) return true;
    this.#onFailure(role, AuthFailure.Origin);
    return false;
  }

  /** The key part of {@link check}. */
  authorize(role: Role, key: string | undefined): Principal {
    const wanted = role === Role.Ingest ? this.#ingest : this.#read;
    if (wanted.length === 0) return { role, id: ANONYMOUS };
    if (key === undefined || key === '') {
      this.#onFailure(role, AuthFailure.Missing);
      throw new FleetPulseError(ErrorCode.UNAUTHORIZED, `missing ${role} key: send Authorization: Bearer <key>, X-API-Key: <key>, or ?key=<key>`);
    }
    const d = digest(key);
    if (matchesAny(wanted, d)) return { role, id: d.toString('hex', 0, 8) };
    const other = role === Role.Ingest ? this.#read : this.#ingest;
    if (matchesAny(other, d)) {
      this.#onFailure(role, AuthFailure.WrongRole);
      throw new FleetPulseError(ErrorCode.FORBIDDEN, role === Role.Ingest ? 'this is a read key: ingest needs an ingest key' : 'this is an ingest key: reading needs a read key');
    }
    this.#onFailure(role, AuthFailure.Unknown);
    throw new FleetPulseError(ErrorCode.UNAUTHORIZED, `unknown ${role} key`);
  }

  /**
   * A browser request's Origin is acceptable: absent (not a browser, or a same-origin GET, which
   * browsers send without Origin), the server's own (Origin host = Host header), or listed.
   */
  originAllowed(headers: IncomingHttpHeaders): boolean {
    const origin = headers.origin;
    if (origin === undefined || origin === '') return true;
    const o = origin.toLowerCase();
    if (this.#origins.has(o)) return true;
    const host = headers.host ?? (headers[':authority'] as string | undefined);
    if (host === undefined || host === '') return false;
    try {
      const u = new URL(o);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
      // Normalise the Host header the way URL normalises the origin (default port dropped).
      return u.host === new URL(`${u.protocol}//${host.toLowerCase()}`).host;
    } catch {
      return false; // `null` (sandboxed frames, file://) or garbage
    }
  }
}

/** Constant time in the number of keys: every digest is compared, whatever matched. */
function matchesAny(list: readonly Buffer[], d: Buffer): boolean {
  let hit = 0;
  for (const k of list) hit |= timingSafeEqual(k, d) ? 1 : 0;
  return hit === 1;
}
