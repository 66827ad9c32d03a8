/**
 * RedisIndexes' cache of what this worker indexed (source → series → when), against a stub client
 * that records commands: a series is indexed when new and again only after INDEX_REFRESH_MS, the
 * series limit asks Redis only about series the cache does not know, and forget() starts over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaBuilder, type TickDelta } from '../aggregate/delta.js';
import type { AnyRedis } from './redis-client.js';
import { RedisIndexes } from './redis-index.js';
import { INDEX_REFRESH_MS, RedisKeys } from './redis-keys.js';
import { batchOf, DEFAULT_RETENTION, type S } from './store.contract.js';

const T = 1_700_000_040_000;

/** Records each command as [name, key, ...args]; answers as an empty Redis would. */
function stubClient(): { client: AnyRedis; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const rec = (name: string, answer: (...args: unknown[]) => unknown) => (...args: unknown[]): Promise<unknown> => {
    calls.push([name, ...args]);
    return Promise.resolve(answer(...args));
  };
  const client = {
    zadd: rec('zadd', () => 1),
    zcount: rec('zcount', () => 0),
    zmscore: rec('zmscore', (_key, ...members) => members.map(() => null)),
    zremrangebyscore: rec('zremrangebyscore', () => 0),
    fpMeta: rec('fpMeta', () => 1),
  };
  return { client: client as unknown as AnyRedis, calls };
}

function delta(samples: readonly S[]): TickDelta {
  const b = new DeltaBuilder(DEFAULT_RETENTION);
  b.add(batchOf(samples), T);
  return b.take();
}

const tick = delta([
  { source: 'a', metric: 'cpu', value: 1, ts: T },
  { source: 'a', metric: 'cpu', value: 1, ts: T, tags: { core: '0' } },
  { source: 'b', metric: 'cpu', value: 1, ts: T },
]);
const members = ['a\u0000cpu\u0000', 'a\u0000cpu\u0000core=0', 'b\u0000cpu\u0000'];

test('index entries: written for new series, then only after INDEX_REFRESH_MS; admit asks only about unknown series', async () => {
  const { client, calls } = stubClient();
  const ix = new RedisIndexes(new RedisKeys('p:'), { maxSeries: 1000, coarseSpanMs: DEFAULT_RETENTION.coarseSpanMs });
  const zadds = (): unknown[][] => calls.filter((c) => c[0] === 'zadd' && c[1] === 'p:series');
  const zmscores = (): unknown[][] => calls.filter((c) => c[0] === 'zmscore');

  assert.equal(await ix.admit(client, [], tick, [], T), false);
  assert.deepEqual(zmscores().map((c) => c.slice(2)), [members]);
  await ix.write(client, tick, T);
  assert.deepEqual(zadds().map((c) => c.slice(3).filter((_, i) => i % 2 === 1)), [members]);
  assert.equal(ix.knownSeries, 3);

  // Known now: no lookups, no index writes until the refresh is due.
  calls.length = 0;
  assert.equal(await ix.admit(client, [], tick, [], T + 1), false);
  await ix.write(client, tick, T + INDEX_REFRESH_MS - 1);
  assert.deepEqual([zmscores(), zadds()], [[], []]);
  // A new series of a known source is looked up and indexed alone.
  const more = delta([{ source: 'a', metric: 'mem', value: 1, ts: T }, { source: 'a', metric: 'cpu', value: 2, ts: T }]);
  assert.equal(await ix.admit(client, [], more, [], T + 2), false);
  await ix.write(client, more, T + 2);
  assert.deepEqual(zmscores().map((c) => c.slice(2)), [['a\u0000mem\u0000']]);
  assert.deepEqual(zadds().map((c) => c.slice(3)), [[T + 2, 'a\u0000mem\u0000']]);
  assert.equal(ix.knownSeries, 4);

  calls.length = 0;
  await ix.write(client, tick, T + INDEX_REFRESH_MS);
  assert.deepEqual(zadds().map((c) => c.slice(3).filter((_, i) => i % 2 === 1)), [members]);
  assert.equal(ix.knownSeries, 4);

  ix.forget();
  assert.equal(ix.knownSeries, 0);
  calls.length = 0;
  await ix.admit(client, [], tick, [], T + INDEX_REFRESH_MS + 1);
  assert.deepEqual(zmscores().map((c) => c.slice(2)), [members]);
});
