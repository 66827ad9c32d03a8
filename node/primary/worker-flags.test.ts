import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SINGLE_THREADED_GC, WORKER_INLINED_BYTECODE_SIZE, WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE, WORKER_SEMI_SPACE_MIB, workerExecArgv, type WorkerPlacement } from './worker-flags.js';

const SEMI = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;
const INLINE = `--max-inlined-bytecode-size=${WORKER_INLINED_BYTECODE_SIZE}`;
const CUMULATIVE = `--max-inlined-bytecode-size-cumulative=${WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE}`;
/** Fewer workers than cores: V8's own GC threading stays. */
const SPARE: WorkerPlacement = { workers: 2, cores: 8 };

test('workers get a larger young generation and inlining budget unless the operator chose them', () => {
  assert.deepEqual(workerExecArgv([], undefined, SPARE), [SEMI, INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], '', SPARE), ['--enable-source-maps', SEMI, INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=8'], undefined, SPARE), ['--max-semi-space-size=8', INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size', '8'], undefined, SPARE), ['--max-semi-space-size', '8', INLINE, CUMULATIVE]);
  assert.deepEqual(workerExecArgv([], '--max-old-space-size=4096 --max-semi-space-size=64', SPARE), [INLINE, CUMULATIVE], 'NODE_OPTIONS reaches the workers by itself');
  assert.deepEqual(workerExecArgv([], '--max-semi-space-sizes=1', SPARE), [SEMI, INLINE, CUMULATIVE], 'another flag is not mistaken for it');
});

test('each inlining budget is its own flag (neither is mistaken for the other), in either spelling', () => {
  assert.deepEqual(workerExecArgv(['--max-inlined-bytecode-size=100'], undefined, SPARE), [
    '--max-inlined-bytecode-size=100', SEMI, CUMULATIVE,
  ]);
  assert.deepEqual(workerExecArgv([], '--max_inlined_bytecode_size_cumulative=100', SPARE), [SEMI, INLINE]);
});

test('workers that fill the cores collect garbage on their own thread, unless the operator chose how V8 threads its GC', () => {
  const full = { workers: 2, cores: 2 };
  assert.deepEqual(workerExecArgv([], undefined, full), [SEMI, INLINE, CUMULATIVE, SINGLE_THREADED_GC]);
  assert.deepEqual(workerExecArgv([], undefined, { workers: 4, cores: 2 }), [SEMI, INLINE, CUMULATIVE, SINGLE_THREADED_GC], 'more workers than cores');
  assert.deepEqual(workerExecArgv([], undefined, { workers: 1, cores: 2 }), [SEMI, INLINE, CUMULATIVE], 'a spare core runs the helpers');
  for (const own of ['--no-single-threaded-gc', '--single_threaded_gc', '--single-threaded', '--no-parallel-scavenge', '--concurrent-marking=false']) {
    assert.deepEqual(workerExecArgv([own], undefined, full), [own, SEMI, INLINE, CUMULATIVE], own);
  }
  assert.deepEqual(workerExecArgv(['--single-threaded-gc-foo'], undefined, full), ['--single-threaded-gc-foo', SEMI, INLINE, CUMULATIVE, SINGLE_THREADED_GC], 'another flag is not mistaken for it');
});

test('the flags are ones this Node accepts', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, [...workerExecArgv([], undefined, { workers: 2, cores: 2 }), '-p', '1 + 1'], { encoding: 'utf8' });
  assert.equal(out.trim(), '2');
});
