/**
 * Print the Caddyfile of the default topology (cluster.config.ts with `balancer: caddy`):
 * `node dist/balancer/print-caddyfile.js > Caddyfile` regenerates the top-level file.
 */
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../node/config/load.js';
import { renderCaddyfile } from './caddyfile.js';

/** The default topology as the top-level Caddyfile describes it (no env, no flags). */
export function defaultCaddyfile(): string {
  return renderCaddyfile(loadConfig({ env: {}, flags: { balancer: 'caddy' }, caddyAvailable: true }));
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) process.stdout.write(defaultCaddyfile());
