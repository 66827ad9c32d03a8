/**
 * The Caddy balancer as the primary sees it (PrimaryOptions.prepareConfig / startBalancer):
 * concrete ports first, then Caddy as a supervised child once the workers listen.
 */
import type { ResolvedConfig } from '../node/config/schema.js';
import type { Logger } from '../node/observability/logger.js';
import type { BalancerHandle } from '../node/primary/primary.js';
import { CaddyProcess } from './caddy.js';

export { resolveCaddyPorts } from './ports.js';
export { renderCaddyfile } from './caddyfile.js';
export { CaddyProcess, rootCertPath } from './caddy.js';

export async function startCaddyBalancer(cfg: ResolvedConfig, log: Logger): Promise<BalancerHandle> {
  const caddy = new CaddyProcess(cfg, log);
  await caddy.start();
  return {
    urls: caddy.urls,
    // One failed probe marks a slot down (2.6.2 has no health_fails); two intervals leave margin.
    drainMs: 2 * cfg.caddy.healthIntervalMs + 250,
    stop: () => caddy.stop(),
    kill: () => caddy.kill(),
  };
}
