/**
 * External binaries tests need (redis-server, caddy, chromium, …). Locally a missing one skips
 * with a clear message; in CI (CI=true) it is a failure, since .ci/run installs them.
 */
import { commandOnPath } from '../config/load.js';

export function hasBinary(name: string): boolean {
  return commandOnPath(name);
}

/** The binary's name if present; throws with an install hint otherwise. */
export function requireBinary(name: string): string {
  if (!commandOnPath(name)) throw new Error(`${name} is not installed: run \`node scripts/ensure-system-deps.mjs\` (apt-get, as root)`);
  return name;
}

/** For `test(name, { skip: skipUnless('caddy') }, …)`: skip locally, never in CI. */
export function skipUnless(name: string): string | false {
  if (commandOnPath(name)) return false;
  if (process.env.CI === 'true') throw new Error(`${name} is required in CI but not installed`);
  return `${name} not installed (node scripts/ensure-system-deps.mjs installs it)`;
}
