/**
 * Peer links between two real PeerLinks in this process, over Unix sockets in a private
 * directory: forwarded parts and stream seq ops round-trip, seq ops submitted in one turn travel
 * as one frame, a failing owner answers each op with its error, an owner that applies
 * asynchronously answers frames out of order, and a link whose peer went away fails its requests
 * with STATE_UNAVAILABLE (PeerUnreachableError only when nothing reached the peer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import { emptyBatch, pushSample, SampleKind } from '../protocol/samples.js';
import { Forwarder, type ApplyArgs } from './forwarder.js';
import { PeerLinks, PeerUnreachableError, type PeerLinkHandlers, type SeqOp } from './peer-link.js';
import { until } from '../testing/until.js';
import { SlotBatcher } from './slot-batcher.js';

const log = createLogger({ role: 'worker', level: 'silent', json: true });

/** Slot 1 serves `handlers`; slot 0 only calls. */
async function pair(handlers: PeerLinkHandlers): Promise<{ client: PeerLinks; owner: PeerLinks; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-links-'));
  const idle: PeerLinkHandlers = { apply: () => [], seqOps: () => [] };
  const client = new PeerLinks(0, dir, idle, log);
  const owner = new PeerLinks(1, dir, handlers, log);
  await owner.listen();
  await client.listen();
  return {
    client,
    owner,
    close: () => {
      client.close();
      owner.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An owner keeping seq records like a partition does: reads, and raises that never lower. */
function seqOwner(frames: SeqOp[][]): PeerLinkHandlers {
  const seqs = new Map<string, number>();
  return {
    apply: (args: ApplyArgs) => args.parts.map(() => null),
    seqOps: (ops) => {
      frames.push(ops);
      return ops.map((op) => {
        if (op.seq !== undefined && op.seq > (seqs.get(op.id) ?? 0)) seqs.set(op.id, op.seq);
        return seqs.get(op.id) ?? 0;
      });
    },
  };
}

test('seq ops submitted in one turn travel as one frame and each gets its own answer', async (t) => {
  const frames: SeqOp[][] = [];
  const p = await pair(seqOwner(frames));
  t.after(() => p.close());
  const seqOps = new SlotBatcher<SeqOp, number>((to, ops) => p.client.seqOps(to, ops, 5000));
  const answers = await Promise.all([
    seqOps.submit(1, { id: 'a', seq: 5 }),
    seqOps.submit(1, { id: 'b', seq: 9 }),
    seqOps.submit(1, { id: 'a', seq: 3 }), // records never lower
    seqOps.submit(1, { id: 'a' }),
    seqOps.submit(1, { id: 'never-set' }),
  ]);
  assert.deepEqual(answers, [5, 9, 5, 5, 0]);
  assert.equal(frames.length, 1, 'one frame for the whole turn');
  assert.equal(await seqOps.submit(1, { id: 'b' }), 9);
  assert.equal(frames.length, 2, 'a later turn sends a new frame');
});

test('an owner that fails answers every op of the frame with its error, and the link stays usable', async (t) => {
  let fail = true;
  const p = await pair({
    apply: () => [],
    seqOps: (ops) => {
      if (fail) throw new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'owner partition is sealed');
      return ops.map(() => 7);
    },
  });
  t.after(() => p.close());
  const seqOps = new SlotBatcher<SeqOp, number>((to, ops) => p.client.seqOps(to, ops, 5000));
  const settled = await Promise.allSettled([seqOps.submit(1, { id: 'x', seq: 1 }), seqOps.submit(1, { id: 'y' })]);
  for (const s of settled) {
    assert.equal(s.status, 'rejected');
    assert.ok(s.reason instanceof FleetPulseError);
    assert.equal(s.reason.code, ErrorCode.STATE_UNAVAILABLE);
  }
  fail = false;
  assert.equal(await seqOps.submit(1, { id: 'x' }), 7);
});

test('forwarded parts reach the owner intact and are answered per part', async (t) => {
  const got: string[] = [];
  const p = await pair({
    apply: (args) => args.parts.map((part) => {
      got.push(`${part.batch.source[0]}:${part.batch.value[0]}@${part.receivedAt}`);
      return part.batch.value[0]! < 0 ? new FleetPulseError(ErrorCode.SERIES_LIMIT, 'full').toJSON() : null;
    }),
    seqOps: () => [],
  });
  t.after(() => p.close());
  let sentBatches = 0;
  const fwd = new Forwarder(p.client, 5000, () => sentBatches++);
  const batch = (source: string, value: number): ReturnType<typeof emptyBatch> => {
    const b = emptyBatch();
    pushSample(b, 'cpu', source, value, 1_000, '%', SampleKind.Gauge, '');
    return b;
  };
  const settled = await Promise.allSettled([fwd.send(1, batch('h1', 1.5), 10), fwd.send(1, batch('h2', -1), 11)]);
  assert.equal(settled[0]!.status, 'fulfilled');
  assert.equal(settled[1]!.status, 'rejected');
  assert.equal((settled[1] as PromiseRejectedResult).reason.code, ErrorCode.SERIES_LIMIT);
  assert.deepEqual(got, ['h1:1.5@10', 'h2:-1@11']);
  assert.equal(sentBatches, 1, 'both parts in one forwarded batch');
});

test('a peer that went away fails pending and later requests with STATE_UNAVAILABLE', async (t) => {
  const frames: SeqOp[][] = [];
  const p = await pair(seqOwner(frames));
  t.after(() => p.close());
  assert.equal((await p.client.seqOps(1, [{ id: 's', seq: 2 }], 5000))[0], 2);
  p.owner.close();
  await assert.rejects(p.client.seqOps(1, [{ id: 's' }], 5000), (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.STATE_UNAVAILABLE);
});

test('an owner that applies asynchronously (Redis mode) answers each frame when its parts are written, in any order', async (t) => {
  const held: Array<() => void> = [];
  let calls = 0;
  const p = await pair({
    apply: (args) => {
      calls++;
      // The first frame is written only after the second was answered.
      if (calls === 1) return new Promise((resolve) => held.push(() => resolve(args.parts.map(() => null))));
      if (args.parts[0]!.batch.value[0]! < 0) return Promise.reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'redis is down'));
      return Promise.resolve(args.parts.map(() => null));
    },
    seqOps: () => [],
  });
  t.after(() => p.close());
  const part = (value: number): ApplyArgs => {
    const b = emptyBatch();
    pushSample(b, 'cpu', 'h', value, 1_000, '', SampleKind.Gauge, '');
    return { parts: [{ batch: b, receivedAt: 1 }, { batch: b, receivedAt: 2 }] };
  };
  const first = p.client.apply(1, part(1), 5000);
  assert.deepEqual(await p.client.apply(1, part(2), 5000), [null, null], 'the second frame is answered while the first is still being written');
  held[0]!();
  assert.deepEqual(await first, [null, null]);
  const failed = await p.client.apply(1, part(-1), 5000);
  assert.equal(failed.length, 2, 'a failed asynchronous apply fails each of its parts');
  for (const r of failed) assert.equal(r?.code, ErrorCode.STATE_UNAVAILABLE);
});

test('only a link that never connected fails with PeerUnreachableError (nothing was delivered)', async (t) => {
  let received = 0;
  // An owner that takes frames and never answers (its write hangs).
  const p = await pair({ apply: () => (received++, new Promise(() => {})), seqOps: () => [] });
  t.after(() => p.close());
  const b = emptyBatch();
  pushSample(b, 'cpu', 'h', 1, 1_000, '', SampleKind.Gauge, '');
  // Slot 7 has no socket: the link never connects.
  await assert.rejects(p.client.apply(7, { parts: [{ batch: b, receivedAt: 1 }] }, 5000), (e: unknown) => e instanceof PeerUnreachableError && e.code === ErrorCode.STATE_UNAVAILABLE);
  // Delivered, then the owner went away before answering: the outcome is unknown, not "unreachable".
  const pending = p.client.apply(1, { parts: [{ batch: b, receivedAt: 1 }] }, 5000);
  await until('the owner got the frame', 5000, () => received === 1);
  p.owner.close();
  await assert.rejects(pending, (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.STATE_UNAVAILABLE && !(e instanceof PeerUnreachableError));
});
