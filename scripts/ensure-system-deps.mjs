#!/usr/bin/env node
// Installs the system packages the tests need (Debian): caddy, redis-server, chromium,
// nghttp2-client (h2load), prometheus (promtool), victoria-metrics (the peer of bench/peer).
// Runs apt-get only when something is missing
// and we are root; otherwise says exactly what to run. Exit 0 when everything is present.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const needed = [
  { bin: 'caddy', pkg: 'caddy' },
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'chromium', pkg: 'chromium' },
  { bin: 'h2load', pkg: 'nghttp2-client' },
  { bin: 'promtool', pkg: 'prometheus' },
  { bin: 'victoria-metrics', pkg: 'victoria-metrics' },
];

const onPath = (name) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

const missing = needed.filter((n) => !onPath(n.bin));
if (missing.length === 0) process.exit(0);
const pkgs = missing.map((m) => m.pkg);
if (process.getuid?.() !== 0) {
  console.error(`FleetPulse tests need: ${pkgs.join(' ')}. Install them with:\n  sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}`);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}
console.error(`Installing ${pkgs.join(' ')} with apt-get …`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env });
// The Debian packages start system services we do not use; our tests run their own instances.
for (const svc of ['caddy', 'prometheus', 'victoria-metrics']) {
  try {
    execFileSync('systemctl', ['stop', svc], { stdio: 'ignore' });
  } catch {
    // no systemd here (containers): nothing was started
  }
}
