import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import { encodeUpdates } from '../../node/broadcast/encode.js';
import type { BucketUpdate } from '../../node/state/store.js';
import { lightParser, readUpdate } from './light-decoder.js';

const wire = (p: Packet): string => {
  const [text] = new Encoder().encode(p) as unknown[];
  assert.equal(typeof text, 'string');
  return text as string;
};
const event = (data: unknown[]): Packet => ({ type: PacketType.EVENT, nsp: '/live', data });

const up = (source: string, start: number, last: number, receivedAt: number): BucketUpdate =>
  ({ metric: 'cpu', source, tags: '', start, count: 1, sum: last, min: last, max: last, last, lastTs: start, receivedAt });

test('readUpdate reads kind, recv and at of the updates the broadcaster really encodes', () => {
  const enc = encodeUpdates([up('a"b,c', 1000, 1.5, 5000), up('d', 2000, -2e-7, 5100)], (r) => r === 'm|cpu' || r === 's|cpu|d', 1000, 6000);
  const fleet = enc.fleet[0]!;
  const series = enc.series[0]!;
  assert.deepEqual(readUpdate(wire(event(['update', fleet]))), { k: 'fleet', recv: fleet.recv, at: fleet.at });
  assert.deepEqual(readUpdate(wire(event(['update', series]))), { k: 'series', recv: series.recv, at: series.at });
});

test('readUpdate leaves everything else to the real decoder', () => {
  assert.equal(readUpdate(wire(event(['summary', { room: 'm|cpu', at: 1 }]))), undefined);
  assert.equal(readUpdate(wire({ type: PacketType.ACK, nsp: '/live', id: 3, data: [{ ok: true }] })), undefined);
  assert.equal(readUpdate('2/live,["update",{"k":"fleet","recv":[1,2],"at":3,"extra":1}]'), undefined, 'another key order');
  assert.equal(readUpdate('2/live,["update",{"k":"fleet","recv":[1,2,3],"at":3}]'), undefined);
  assert.equal(readUpdate('2/live,["update",{"k":"other","recv":[1,2],"at":3}]'), undefined);
  assert.equal(readUpdate('2/live,["update",{"k":"fleet","recv":[1,x],"at":3}]'), undefined);
});

test('the light decoder hands updates over light and every other packet as socket.io-parser decodes it', () => {
  const got: Packet[] = [];
  const d = new lightParser.Decoder();
  d.on('decoded', (p: Packet) => got.push(p));
  const summary = event(['summary', { room: 'm|cpu', sources: [1, 2] }]);
  const ack: Packet = { type: PacketType.ACK, nsp: '/live', id: 7, data: [{ ok: true, room: 'm|cpu' }] };
  d.add(wire(event(['update', { k: 'fleet', room: 'm|cpu', metric: 'cpu', stepMs: 1000, source: ['a'], last: [1], starts: [1000, 1], recv: [10, 20], at: 30 }])));
  d.add(wire(summary));
  d.add(wire(ack));
  const real: Packet[] = [];
  const r = new Decoder();
  r.on('decoded', (p: Packet) => real.push(p));
  r.add(wire(summary));
  r.add(wire(ack));
  assert.deepEqual(got[0], event(['update', { k: 'fleet', recv: [10, 20], at: 30 }]));
  assert.deepEqual(got.slice(1), real);
});
