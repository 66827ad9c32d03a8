import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WORKER_INLINED_BYTECODE_SIZE, WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE, WORKER_SEMI_SPACE_MIB, workerExecArgv } from './worker-flags.js';

const SEMI = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;
const INLINE = `--max-inlined-bytecode-size=${WORKER_INLINED_BYTECODE_SIZE}`;
const CUMULATIVE = `--max-inlined-bytecode-size-cumulative=${WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE}`;

test('workers get a larger young generation and inlining budget unless the operator chose them', () => {
  assert.deepEqual(workerExecArgv([], undefined), [SEMI, INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], ''), ['--enable-source-maps', SEMI, INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=8'], undefined), ['--max-semi-space-size=8', INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size', '8'], undefined), ['--max-semi-space-size', '8', INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv([], '--max-old-space-size=4096 --max-semi-space-size=64'), [INLINE, CUMULATIVE], 'NODE_OPTIONS reaches the workers by itself');
  assert.deepEqual(workerExecArgv([], '--max-semi-space-sizes=1'), [SEMI, INLINE, CUMULATIVE], 'another flag is not mistaken for it');
});

test('each inlining budget is its own flag (neither is mistaken for the other), in either spelling', () => {
  assert.deepEqual(workerExecArgv(['--max-inlined-bytecode-size=100'], undefined), [
    '--max-inlined-bytecode-size=100', SEMI, CUMULATIVE,
  ]);
  assert.deepEqual(workerExecArgv([], '--max_inlined_bytecode_size_cumulative=100'), [SEMI, INLINE]);
});

test('the flags are ones this Node accepts', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, [...workerExecArgv([], undefined), '-p', '1 + 1'], { encoding: 'utf8' });
  assert.equal(out.trim(), '2');
});
