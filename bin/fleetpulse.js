#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (npm start and npm test build it first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/node/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('fleetpulse is not built yet: run `npm run build` (or `npm start`, which builds first).\n');
  process.exit(2);
}
await import(cli);
