/**
 * Pure shaping of drained bucket updates into one compact message per room (DESIGN.md §5):
 * `m|metric` rooms get the fleet form (source, last, bucket starts as runs), `s|metric|source` rooms the full
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

/** One fleet message being built: its entries grouped by bucket start. */
interface FleetBuild {
  update: FleetUpdate;
  runs: Map<number, { source: string[]; last: number[] }>;
}

export function encodeUpdates(updates: readonly BucketUpdate[], watched: (room: string) => boolean, stepMs: number, at: number): EncodedFlush {
  const fleetByMetric = new Map<string, FleetBuild>();
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
        f = { update: { k: 'fleet', room: roomOf(u.metric), metric: u.metric, stepMs, source: [], last: [], starts: [], recv: [u.receivedAt, u.receivedAt], at }, runs: new Map() };
        fleetByMetric.set(u.metric, f);
      }
      let run = f.runs.get(u.start);
      if (run === undefined) {
        run = { source: [], last: [] };
        f.runs.set(u.start, run);
      }
      run.source.push(u.source);
      run.last.push(u.last);
      widen(f.update.recv, u.receivedAt);
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
  return { fleet: [...fleetByMetric.values()].map(flattenRuns), series: [...seriesByRoom.values()], emittedReceivedAt };
}

/** The runs in start order, their entries concatenated. */
function flattenRuns(f: FleetBuild): FleetUpdate {
  const u = f.update;
  if (f.runs.size === 1) {
    // The common flush: every entry in one bucket. Its columns are the update's, uncopied.
    for (const [start, run] of f.runs) {
      u.source = run.source;
      u.last = run.last;
      u.starts.push(start, run.source.length);
    }
    return u;
  }
  for (const start of [...f.runs.keys()].sort((a, b) => a - b)) {
    const run = f.runs.get(start)!;
    for (let i = 0; i < run.source.length; i++) {
      u.source.push(run.source[i]!);
      u.last.push(run.last[i]!);
    }
    u.starts.push(start, run.source.length);
  }
  return u;
}

function widen(range: [number, number], t: number): void {
  if (t < range[0]) range[0] = t;
  if (t > range[1]) range[1] = t;
}
