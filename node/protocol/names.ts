/**
 * What a valid name is (DESIGN.md §3): sources, metrics, tag keys and values, units. One place for
 * ingest (parse.ts and its fast path), queries and handoffs, so they cannot drift apart.
 */

export const SOURCE_RE = /^[A-Za-z0-9._:-]{1,128}$/;
export const METRIC_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
export const TAG_KEY_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;
export const MAX_UNIT = 16;
export const MAX_TAG_VALUE = 64;

/** Keys that could reach an object's prototype if copied; rejected as names anywhere. */
export const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A valid metric name (the pattern, and not a prototype key). */
export const isMetricName = (s: string): boolean => METRIC_RE.test(s) && !FORBIDDEN_NAMES.has(s);
