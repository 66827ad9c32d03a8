/**
 * Optional parts the primary starts: the Caddy balancer (caddy mode) and the demo fleet.
 * Kept apart so `runPrimary` stays independent of balancer/ and agent/.
 */
import type { ResolvedConfig } from '../config/schema.js';
import type { PrimaryOptions } from './primary.js';

export async function primaryPlugins(cfg: ResolvedConfig): Promise<PrimaryOptions> {
  const opts: PrimaryOptions = {};
  if (cfg.balancer === 'caddy') {
    // Loaded only in caddy mode: cluster mode never touches balancer/.
    const caddy = await import('../../balancer/index.js');
    opts.prepareConfig = caddy.resolveCaddyPorts;
    opts.startBalancer = caddy.startCaddyBalancer;
  }
  if (cfg.demo.sources > 0) {
    // The demo fleet runs inside the primary (no child process to orphan if the primary dies):
    // cfg.demo.sources hosts x cfg.demo.metrics at 1 Hz over the exactly-once stream transport.
    opts.startDemo = async (ingestUrl) => {
      const { Agent } = await import('../agent/agent.js');
      const agent = new Agent({
        url: new URL(ingestUrl).origin, transport: 'stream', sources: cfg.demo.sources, metrics: cfg.demo.metrics, rate: 1,
        key: cfg.auth.ingestKeys[0], prefix: undefined,
        // A 20-minute "day", so the diurnal wave is visible within one dashboard session.
        dayMs: 20 * 60_000,
      });
      agent.start();
      return { stop: async () => void (await agent.stop(500)) };
    };
  }
  return opts;
}
