import { MemoryStateStore } from './memory.js';
import { storeContract } from './store.contract.js';

storeContract('memory', async (o) => new MemoryStateStore(o.retention, { maxSeries: o.maxSeries, streamSeqTtlMs: o.streamSeqTtlMs }, o.now));
