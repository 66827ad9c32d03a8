import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnBudget } from './turn-budget.js';

/** A clock the work advances: each unit of work "costs" `ms`. */
function clock(): { now: () => number; spend: (ms: number) => void } {
  let t = 0;
  return { now: () => t, spend: (ms) => void (t += ms) };
}

const checkPhase = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('TurnBudget: work runs at once within a turn\'s budget; past it, it waits for the check phase, in order', async () => {
  const c = clock();
  const turns = new TurnBudget({ budgetMs: 10, now: c.now });
  const ran: number[] = [];
  const work = (i: number) => (): void => {
    ran.push(i);
    c.spend(4);
  };
  assert.equal(turns.run(work(1)), true);
  assert.equal(turns.run(work(2)), true);
  assert.equal(turns.run(work(3)), true, '8 ms spent: still within 10');
  assert.equal(turns.run(work(4)), false, '12 ms spent: past the budget');
  assert.equal(turns.run(work(5)), false);
  assert.deepEqual(ran, [1, 2, 3]);
  assert.equal(turns.queued, 2);
  await checkPhase();
  assert.deepEqual(ran, [1, 2, 3, 4, 5], 'the check phase runs what waited, first come first');
  assert.equal(turns.queued, 0);
  // A new turn: at once again.
  assert.equal(turns.run(work(6)), true);
  assert.deepEqual(ran, [1, 2, 3, 4, 5, 6]);
});

test('TurnBudget: the check phase runs one budget\'s worth per turn; new work queues behind what waits even in a fresh turn', async () => {
  const c = clock();
  const turns = new TurnBudget({ budgetMs: 10, now: c.now });
  const ran: string[] = [];
  const work = (id: string) => (): void => {
    ran.push(id);
    c.spend(6);
  };
  turns.run(work('a')); // opens the turn, 6 ms
  turns.run(work('b')); // 12 ms
  for (const id of ['c', 'd', 'e', 'f']) assert.equal(turns.run(work(id)), false);
  await checkPhase();
  assert.deepEqual(ran, ['a', 'b', 'c', 'd'], 'one slice: c (6 ms), d (12 ms), then the budget is spent');
  assert.equal(turns.queued, 2);
  // Meanwhile (the next poll phase) more work arrives: it must not overtake e and f.
  assert.equal(turns.run(work('g')), false);
  await checkPhase();
  assert.deepEqual(ran, ['a', 'b', 'c', 'd', 'e', 'f']);
  await checkPhase();
  assert.deepEqual(ran, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  assert.equal(turns.queued, 0);
});
