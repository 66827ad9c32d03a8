/** Every bench scenario, by name (`npm run bench -- <name…|all>`). Add new ones here. */
import type { Scenario } from '../lib/scenario.js';
import { dashboardScenario } from './dashboard.js';
import { liveAdaptersScenario } from './live-adapters.js';
import { pushScenario } from './push.js';
import { balancerScenario } from './balancer.js';
import { memoryScenario } from './memory.js';
import { streamScenario } from './stream.js';
import { http2Scenario } from './http2.js';
import { scalingScenario } from './scaling.js';
import { viewersScenario } from './viewers.js';
import { targetScenario } from './target.js';
import { peerScenario } from './peer.js';
import { stateScenario } from './state.js';
import { fuzzScenario } from './fuzz.js';
import { soakScenario } from './soak.js';

export const scenarios: Scenario[] = [pushScenario, balancerScenario, http2Scenario, memoryScenario, streamScenario, scalingScenario, viewersScenario, targetScenario, dashboardScenario, liveAdaptersScenario, peerScenario, stateScenario, fuzzScenario, soakScenario];
