/** Entry point of a forked worker process: config comes from the primary via env. */
import { loadWorkerConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { runWorker } from './worker.js';

const { cfg, slot, linkDir } = loadWorkerConfig(process.env);
const log = createLogger({ role: 'worker', workerId: slot, level: cfg.logLevel });
process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
// A bug (BUG: assert) crashes the worker and the primary restarts it; say why in the JSON log first.
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception: worker exits');
  log.flush?.();
  setTimeout(() => process.exit(1), 50);
});
runWorker(cfg, slot, log, { linkDir }).catch((err: unknown) => {
  log.fatal({ err }, 'worker failed to start');
  log.flush?.();
  setTimeout(() => process.exit(1), 50);
});
