import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BEAT_TTL_MS, LEAD_AFTER_MS, LiveMembership } from './membership.js';
import type { NodeBeat } from '../protocol/events.js';

const beat = (node: string, slot: number, rooms: string[]): NodeBeat => ({
  node, slot, rooms, b2b: [], s2s: [], b2bSum: 0, s2sSum: 0, redis: 'n/a',
  worker: { id: slot, pid: 1, host: 'h', address: '', uptimeS: 0, samplesPerSec: 0, connections: 0, forwardedShare: 0, series: 0, liveClients: 0, updatesPerSec: 0 },
});

test('membership: remote rooms follow beats and expire with their worker', () => {
  const m = new LiveMembership({ node: 'h/1', slot: 1 }, 0);
  assert.equal(m.remoteRoomCount, 0);
  m.onBeat(beat('h/2', 2, ['m|cpu', 's|cpu|a']), 100);
  assert.equal(m.remoteHas('s|cpu|a'), true);
  assert.equal(m.remoteRoomCount, 2);
  m.onBeat(beat('h/2', 2, ['m|cpu']), 1100);
  assert.equal(m.remoteHas('s|cpu|a'), false);
  assert.equal(m.remoteHas('m|cpu'), true);
  m.onBeat(beat('h/1', 1, ['x']), 1100); // our own beat echoed: ignored
  assert.equal(m.remoteHas('x'), false);
  assert.equal(m.expire(1100 + BEAT_TTL_MS + 1), true);
  assert.equal(m.remoteHas('m|cpu'), false);
  assert.equal(m.remoteRoomCount, 0);
  assert.deepEqual(m.peers(1100 + BEAT_TTL_MS + 1), []);
});

test('membership: the lowest live slot leads, only after it heard a round of beats', () => {
  const a = new LiveMembership({ node: 'h/1', slot: 1 }, 0);
  assert.equal(a.isLeader(10), false, 'too early');
  assert.equal(a.isLeader(LEAD_AFTER_MS), true, 'alone');
  a.onBeat(beat('h/0', 0, []), LEAD_AFTER_MS);
  assert.equal(a.isLeader(LEAD_AFTER_MS + 1), false, 'slot 0 is alive');
  assert.equal(a.isLeader(LEAD_AFTER_MS + BEAT_TTL_MS + 1), true, 'slot 0 stopped beating');
  a.onBeat(beat('g/9', 1, []), 5000); // same slot on another host: node id breaks the tie
  assert.equal(a.isLeader(5001), false);
});
