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
import { emptyBatch, materialize, pushSample, SampleKind, type BatchView, type SampleBatch } from '../protocol/samples.js';
import { Forwarder, type ApplyArgs } from './forwarder.js';
import { frameReader, linkPath, PeerLinks, PeerUnreachableError, type PeerLinkHandlers, type SeqOp } from './peer-link.js';
import net from 'node:net';
import { deserialize, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BatchEncoder } from '../protocol/batch-codec.js';
import { until } from '../testing/until.js';
import { SlotBatcher } from './slot-batcher.js';

const log = createLogger({ role: 'worker', level: 'silent', json: true });

/** Slot 1 serves `handlers`; slot 0 only calls. */
async function pair(handlers: PeerLinkHandlers): Promise<{ client: PeerLinks; owner: PeerLinks; dir: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-links-'));
  const idle: PeerLinkHandlers = { apply: () => [], seqOps: () => [] };
  const client = new PeerLinks(0, dir, idle, log);
  const owner = new PeerLinks(1, dir, handlers, log);
  await owner.listen();
  await client.listen();
  return {
    client,
    owner,
    dir,
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
  const whole = (b: ReturnType<typeof emptyBatch>): BatchView => ({ batch: b, index: undefined });
  const settled = await Promise.allSettled([fwd.send(1, whole(batch('h1', 1.5)), 10), fwd.send(1, whole(batch('h2', -1)), 11)]);
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

test('forwarded names cross a link once: later frames arrive as the very same strings', async (t) => {
  const seen: string[] = [];
  const p = await pair({ apply: (args) => args.parts.map((part) => (seen.push(part.batch.source[0]!), null)), seqOps: () => [] });
  t.after(() => p.close());
  const part = (source: string): ApplyArgs => {
    const b = emptyBatch();
    pushSample(b, 'cpu', source, 1, 1_000, '', SampleKind.Gauge, '');
    return { parts: [{ batch: b, receivedAt: 1 }] };
  };
  await p.client.apply(1, part('host-' + 'a'.repeat(3)), 5000);
  await p.client.apply(1, part(['host-', 'aaa'].join('')), 5000);
  assert.equal(seen.length, 2);
  assert.equal(seen[0], 'host-aaa');
  assert.ok(Object.is(seen[0], seen[1]), 'the owner got one string object for both frames');
});

test('a frame out of step with its connection\'s dictionary fails its parts and ends that connection only', async (t) => {
  let applied = 0;
  const p = await pair({ apply: (args) => args.parts.map(() => (applied++, null)), seqOps: () => [] });
  t.after(() => p.close());
  const b = emptyBatch();
  pushSample(b, 'cpu', 'h', 1, 1_000, '', SampleKind.Gauge, '');
  const frame = (payload: Buffer, id: number): Buffer => {
    const head = Buffer.alloc(9);
    head.writeUInt32LE(payload.length + 5, 0);
    head.writeUInt8(1, 4); // Apply
    head.writeUInt32LE(id, 5);
    return Buffer.concat([head, payload]);
  };
  // A raw connection whose second frame refers to strings its first never carried.
  const ours = new BatchEncoder();
  const theirs = new BatchEncoder();
  const other = emptyBatch();
  pushSample(other, 'mem', 'h2', 1, 1_000, '', SampleKind.Gauge, '');
  pushSample(other, 'mem', 'h3', 1, 1_000, '', SampleKind.Gauge, '');
  theirs.encode([{ batch: other, receivedAt: 1 }]); // 4 strings where ours has 3
  const raw = net.connect(linkPath(p.dir, 1));
  const answers: Array<Array<{ code: string } | null>> = [];
  let buf = Buffer.alloc(0);
  raw.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
      const len = buf.readUInt32LE(0);
      answers.push(deserialize(buf.subarray(9, 4 + len)) as Array<{ code: string } | null>);
      buf = buf.subarray(4 + len);
    }
  });
  const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
  raw.write(frame(ours.encode([{ batch: b, receivedAt: 1 }]), 1));
  raw.write(frame(theirs.encode([{ batch: b, receivedAt: 2 }]), 2));
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the owner did not end the connection within 5 s')), 5000).unref())]);
  assert.equal(answers.length, 2);
  assert.deepEqual(answers[0], [null]);
  assert.equal(answers[1]!.length, 1);
  assert.equal(answers[1]![0]!.code, ErrorCode.INTERNAL);
  assert.equal(applied, 1, 'the unreadable frame applied nothing');
  // Other connections to the same owner are not affected.
  assert.deepEqual(await p.client.apply(1, { parts: [{ batch: b, receivedAt: 3 }] }, 5000), [null]);
  assert.equal(applied, 2);
});

test('frames arrive whole and in order however the byte stream is cut into reads', () => {
  // Frames as writeFrame lays them out: u32 length of the rest, u8 type, u32 id, payload.
  const frames: Array<{ type: number; id: number; payload: Buffer }> = [];
  for (let id = 0; id < 60; id++) {
    const size = id % 7 === 0 ? 300_000 + id : id % 3 === 0 ? 0 : 1 + ((id * 7919) % 5000);
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31 + id) & 0xff;
    frames.push({ type: 1 + (id % 4), id, payload });
  }
  const wire = Buffer.concat(frames.flatMap((f) => {
    const head = Buffer.alloc(9);
    head.writeUInt32LE(f.payload.length + 5, 0);
    head.writeUInt8(f.type, 4);
    head.writeUInt32LE(f.id, 5);
    return [head, f.payload];
  }));
  // Reads of 1..3 bytes (length fields cut apart), 64 KB as a socket gives them, and random sizes.
  const cuts: Array<(i: number) => number> = [(i) => 1 + (i % 3), () => 65_536, (i) => 1 + ((i * 104_729) % 90_000)];
  for (const cut of cuts) {
    const got: Array<{ type: number; id: number; payload: Buffer }> = [];
    const read = frameReader((type, id, payload) => {
      // The codec reads columns in place through typed arrays: every payload starts 8-aligned.
      assert.equal(payload.byteOffset % 8, 0, `frame ${id}'s payload is 8-aligned`);
      // Valid only during the call (the reader reuses its buffer): keep a copy.
      got.push({ type, id, payload: Buffer.from(payload) });
    });
    for (let o = 0, i = 0; o < wire.length; i++) {
      const n = Math.min(cut(i), wire.length - o);
      read(wire.subarray(o, o + n));
      o += n;
    }
    assert.equal(got.length, frames.length);
    got.forEach((g, k) => {
      assert.equal(g.type, frames[k]!.type);
      assert.equal(g.id, frames[k]!.id);
      assert.ok(g.payload.equals(frames[k]!.payload), `frame ${k} intact`);
    });
  }
});

test('the frame reader joins frames in one buffer it keeps, not a new one per frame', () => {
  const payloads: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  const read = frameReader((_type, _id, payload) => {
    memory.add(payload.buffer);
    payloads.push(Buffer.from(payload));
  });
  for (let id = 0; id < 20; id++) {
    const payload = Buffer.alloc(100_000, id);
    const head = Buffer.alloc(9);
    head.writeUInt32LE(payload.length + 5, 0);
    head.writeUInt8(1, 4);
    head.writeUInt32LE(id, 5);
    const wire = Buffer.concat([head, payload]);
    // Each frame in three reads: joined, never delivered from the read buffers themselves.
    for (const [from, to] of [[0, 30_000], [30_000, 70_000], [70_000, wire.length]] as const) read(Buffer.from(wire.subarray(from, to)));
  }
  assert.equal(payloads.length, 20);
  payloads.forEach((p, id) => assert.ok(p.equals(Buffer.alloc(100_000, id)), `frame ${id} intact`));
  assert.equal(memory.size, 1, 'all twenty frames were joined in the same buffer');
});

test('a forwarded batch much larger than a socket read reaches the owner intact', async (t) => {
  let got: ApplyArgs['parts'] = [];
  const p = await pair({ apply: (args) => ((got = args.parts), args.parts.map(() => null)), seqOps: () => [] });
  t.after(() => p.close());
  const fwd = new Forwarder(p.client, 5000, () => {});
  const b = emptyBatch();
  for (let i = 0; i < 40_000; i++) pushSample(b, 'cpu', `big-${i}`, i / 4, 1_000 + i, '%', i % 2 === 0 ? SampleKind.Gauge : SampleKind.Counter, i % 5 === 0 ? 'dc=x' : '');
  // The whole batch, and a view of every third sample (a split's part), in one frame.
  const index = Int32Array.from({ length: Math.ceil(b.length / 3) }, (_, k) => 3 * k);
  await Promise.all([fwd.send(1, { batch: b, index: undefined }, 7), fwd.send(1, { batch: b, index }, 8)]);
  assert.equal(got.length, 2);
  const cols = (x: SampleBatch): unknown[] => [x.source, x.value, x.ts, x.kind, x.tags, x.metric, x.unit];
  assert.equal(got[0]!.batch.length, b.length);
  assert.deepEqual(cols(got[0]!.batch), cols(b));
  assert.equal(got[1]!.receivedAt, 8);
  assert.deepEqual(cols(got[1]!.batch), cols(materialize({ batch: b, index })));
});

/** `n` samples of sources `${prefix}-i`, a view of every other one (a split's part), and the samples that view holds. */
function oddView(prefix: string, n: number): { view: BatchView; samples: SampleBatch } {
  const b = emptyBatch();
  for (let i = 0; i < n; i++) pushSample(b, 'cpu', `${prefix}-${i}`, i + 0.25, 1_000 + i, '%', SampleKind.Gauge, i % 3 === 0 ? 'dc=x' : '');
  const view = { batch: b, index: Int32Array.from({ length: n >> 1 }, (_, k) => 2 * k + 1) };
  return { view, samples: materialize(view) };
}

const plainCols = (x: SampleBatch): unknown[] => [x.length, x.metric, x.source, [...x.value], [...x.ts], x.unit, [...x.kind], x.tags];

test('a part the owner refuses with state_unavailable comes back with its samples, read back from the frame it was sent in', async (t) => {
  const p = await pair({
    apply: (args) => args.parts.map((_, i) => (i === 1 ? new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'partition handed off').toJSON() : null)),
    seqOps: () => [],
  });
  t.after(() => p.close());
  const fwd = new Forwarder(p.client, 5000, () => {});
  const a = oddView('a', 20);
  const b = oddView('b', 30);
  // Names the link already carried, and new ones, in the same frame.
  await fwd.deliver(1, { batch: a.view.batch, index: undefined }, 5);
  const [ok, refused] = await Promise.all([fwd.deliver(1, a.view, 6), fwd.deliver(1, b.view, 7)]);
  assert.equal(ok, null);
  assert.ok(refused !== null);
  assert.equal(refused.error.code, ErrorCode.STATE_UNAVAILABLE);
  assert.deepEqual(plainCols(refused.samples()), plainCols(b.samples));
  // send(): the same outcome as a rejection.
  const [sentOk, sentRefused] = await Promise.allSettled([fwd.send(1, a.view, 8), fwd.send(1, b.view, 9)]);
  assert.equal(sentOk.status, 'fulfilled');
  assert.equal(sentRefused.status, 'rejected');
  assert.equal((sentRefused as PromiseRejectedResult).reason.code, ErrorCode.STATE_UNAVAILABLE);
});

test('parts in flight on a link that breaks come back with their samples', async (t) => {
  let owner: PeerLinks | undefined;
  const p = await pair({
    // The owner goes away instead of answering.
    apply: () => {
      setImmediate(() => owner!.close());
      return new Promise(() => {});
    },
    seqOps: () => [],
  });
  owner = p.owner;
  t.after(() => p.close());
  const fwd = new Forwarder(p.client, 5000, () => {});
  const a = oddView('x', 40);
  const u = await fwd.deliver(1, a.view, 3);
  assert.ok(u !== null);
  assert.equal(u.error.code, ErrorCode.STATE_UNAVAILABLE);
  assert.deepEqual(plainCols(u.samples()), plainCols(a.samples));
});

test('while the owner works, a delivery holds no reference to the batch it was given', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let answer: (() => void) | undefined;
  const p = await pair({
    apply: (args) => new Promise((resolve) => {
      answer = () => resolve(args.parts.map(() => null));
    }),
    seqOps: () => [],
  });
  t.after(() => p.close());
  const fwd = new Forwarder(p.client, 5000, () => {});
  let ref: WeakRef<SampleBatch> | undefined;
  const delivery = ((): Promise<unknown> => {
    const a = oddView('w', 100);
    ref = new WeakRef(a.view.batch);
    return fwd.deliver(1, a.view, 1);
  })();
  await until('the owner got the frame', 5000, () => answer !== undefined);
  // WeakRefs are cleared only after the job that made them: let a turn pass, then collect.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(ref!.deref(), undefined, 'the batch was collected while its delivery waited for the owner');
  answer!();
  assert.equal(await delivery, null);
});
