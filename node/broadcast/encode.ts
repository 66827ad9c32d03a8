/**
 * Pure shaping of drained bucket updates into one compact message per room (DESIGN.md §5):
 * `m|metric` rooms get the fleet form (source, bucket, last), `s|metric|source` rooms the full
 * buckets of that source. Rooms nobody watches anywhere in the cluster are skipped, so an idle
 * dashboard costs nothing on the adapter.
 */
import type { BucketUpdate } from '../state/store.js';
import { roomOf, type FleetUpdate, type SeriesUpdate } from '../protocol/events.js';

export interface EncodedFlush {
  fleet: FleetUpdate[];
  series: SeriesUpdate[];
  /** receivedAt of every update that went to at least one room (for the broadcast latency histogram). */
  emittedReceivedAt: number[];
}

export function encodeUpdates(updates: readonly BucketUpdate[], watched: (room: string) => boolean, stepMs: number, at: number): EncodedFlush {
  const fleetByMetric = new Map<string, FleetUpdate>();
  const seriesByRoom = new Map<string, SeriesUpdate>();
  const fleetWatched = new Map<string, boolean>();
  const emittedReceivedAt: number[] = [];
  for (const u of updates) {
    let emitted = false;
    let fw = fleetWatched.get(u.metric);
    if (fw === undefined) {
      fw = watched(roomOf(u.metric));
      fleetWatched.set(u.metric, fw);
    }
    if (fw) {
      let f = fleetByMetric.get(u.metric);
      if (f === undefined) {
        f = { k: 'fleet', room: roomOf(u.metric), metric: u.metric, stepMs, source: [], start: [], last: [], recv: [u.receivedAt, u.receivedAt], at };
        fleetByMetric.set(u.metric, f);
      }
      f.source.push(u.source);
      f.start.push(u.start);
      f.last.push(u.last);
      widen(f.recv, u.receivedAt);
      emitted = true;
    }
    const room = roomOf(u.metric, u.source);
    let s = seriesByRoom.get(room);
    if (s === undefined && watched(room)) {
      s = {
        k: 'series', room, metric: u.metric, source: u.source, stepMs,
        tags: [], start: [], count: [], sum: [], min: [], max: [], last: [], recv: [u.receivedAt, u.receivedAt], at,
      };
      seriesByRoom.set(room, s);
    }
    if (s !== undefined) {
      s.tags.push(u.tags);
      s.start.push(u.start);
      s.count.push(u.count);
      s.sum.push(u.sum);
      s.min.push(u.min);
      s.max.push(u.max);
      s.last.push(u.last);
      widen(s.recv, u.receivedAt);
      emitted = true;
    }
    if (emitted) emittedReceivedAt.push(u.receivedAt);
  }
  return { fleet: [...fleetByMetric.values()], series: [...seriesByRoom.values()], emittedReceivedAt };
}

function widen(range: [number, number], t: number): void {
  if (t < range[0]) range[0] = t;
  if (t > range[1]) range[1] = t;
}
