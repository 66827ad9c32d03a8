import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WORKER_SEMI_SPACE_MIB, workerExecArgv } from './worker-flags.js';

test('workers get a larger young generation unless the operator chose one', () => {
  assert.deepEqual(workerExecArgv([], undefined), [`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], ''), ['--enable-source-maps', `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`]);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=8'], undefined), ['--max-semi-space-size=8']);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size', '8'], undefined), ['--max-semi-space-size', '8']);
  assert.deepEqual(workerExecArgv([], '--max-old-space-size=4096 --max-semi-space-size=64'), [], 'NODE_OPTIONS reaches the workers by itself');
  assert.deepEqual(workerExecArgv([], '--max-semi-space-sizes=1'), [`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`], 'another flag is not mistaken for it');
});
