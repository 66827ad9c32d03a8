/**
 * Optional parts the primary starts: the Caddy balancer (caddy mode) and the demo fleet.
 * Kept apart so `runPrimary` stays independent of balancer/ and agent/.
 */
import type { ResolvedConfig } from '../config/schema.js';
import type { PrimaryOptions } from './primary.js';

export async function primaryPlugins(_cfg: ResolvedConfig): Promise<PrimaryOptions> {
  return {};
}
