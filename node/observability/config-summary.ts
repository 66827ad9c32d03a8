/**
 * The configuration as logged at startup: everything an operator needs to know what is running,
 * nothing secret. Redaction is by shape, not by a list of today's fields, so a secret added to the
 * config later stays out of the logs too:
 * - a field named like a secret (`…key`, `…keys`, `…secret`, `…password`, `…token`) is replaced:
 *   a list by how many entries it has (`"2 redacted"`), a string by `"[redacted]"`;
 * - credentials inside any URL (`redis://user:pass@host`) are masked.
 */

const SECRET_NAME = /(key|keys|secret|secrets|password|passwords|token|tokens)$/i;
const URL_CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i;

export const REDACTED = '[redacted]';

function redactValue(name: string, v: unknown): unknown {
  if (SECRET_NAME.test(name)) {
    if (Array.isArray(v)) return v.length === 0 ? [] : `${v.length} redacted`;
    if (typeof v === 'string') return v === '' ? '' : REDACTED;
    if (v !== null && typeof v === 'object') return REDACTED;
  }
  if (typeof v === 'string') return v.replace(URL_CREDENTIALS, (_m, scheme: string) => `${scheme}${REDACTED}@`);
  if (Array.isArray(v)) return v.map((x, i) => redactValue(String(i), x));
  if (v !== null && typeof v === 'object') return redactObject(v as Record<string, unknown>);
  return v;
}

function redactObject(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = redactValue(k, v);
  return out;
}

/** A deep, secret-free copy of `cfg` for the startup log line. */
export function configSummary(cfg: object): Record<string, unknown> {
  return redactObject(cfg as Record<string, unknown>);
}
