/**
 * StreamLease against a store whose writes the test completes by hand, on a fake clock: which
 * holds wait for the store and which do not, and that a release always lands above the lease.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LEASE_MARGIN_MS, LEASE_RENEW_EVERY_MS, leaseKey, StreamLease } from './stream-lease.js';

const APPLY_TIMEOUT_MS = 5000;

/** Never-lowering numbers like the real stores; each write waits until the test lets it land. */
class ManualStore {
  readonly values = new Map<string, number>();
  readonly queued: Array<{ key: string; value: number; land: () => void }> = [];

  streamSeq(key: string): Promise<number> {
    return Promise.resolve(this.values.get(key) ?? 0);
  }

  setStreamSeq(key: string, value: number): Promise<void> {
    return new Promise((resolve) => {
      this.queued.push({
        key,
        value,
        land: () => {
          if (value > (this.values.get(key) ?? 0)) this.values.set(key, value);
          resolve();
        },
      });
    });
  }

  /** Land every queued write, including those queued while landing (serialized writes). */
  async landAll(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setImmediate(r));
      const w = this.queued.shift();
      if (w === undefined) return;
      w.land();
    }
  }
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
};

function lease(store: ManualStore, clock: { t: number }): StreamLease {
  return new StreamLease(store, 's1', { applyTimeoutMs: APPLY_TIMEOUT_MS, now: () => clock.t, onRecordError: () => {}, onExpired: () => {} });
}

/** A lease that resumed and holds the stream (its first lease write landed), at clock `t`. */
async function holding(t: number): Promise<{ store: ManualStore; clock: { t: number }; l: StreamLease }> {
  const store = new ManualStore();
  const clock = { t };
  const l = lease(store, clock);
  await l.resume(() => false);
  const first = l.hold();
  await store.landAll();
  await first;
  return { store, clock, l };
}

test('the first hold waits for the lease write; later holds do not, and renew it in the background before it runs short', async () => {
  const store = new ManualStore();
  const clock = { t: 1_000_000 };
  const l = lease(store, clock);
  assert.equal(await l.resume(() => false), 0);

  const first = l.hold();
  assert.equal(await settled(first), false, 'nothing held yet: the apply must wait');
  await store.landAll();
  await first;
  const full = APPLY_TIMEOUT_MS + LEASE_MARGIN_MS + LEASE_RENEW_EVERY_MS;
  assert.equal(store.values.get(leaseKey('s1')), 2 * (clock.t + full));

  // Plenty left: no write at all.
  clock.t += LEASE_RENEW_EVERY_MS / 4;
  assert.equal(await settled(l.hold()), true);
  assert.equal(store.queued.length, 0);

  // Into the second half of the spare time: returns at once, a renewal goes out meanwhile.
  clock.t += LEASE_RENEW_EVERY_MS / 2;
  assert.equal(await settled(l.hold()), true, 'the current lease still covers an apply');
  assert.equal(store.queued.length, 1);
  assert.equal(store.queued[0]!.value, 2 * (clock.t + full));
  // A second hold while that renewal is in flight starts no other.
  assert.equal(await settled(l.hold()), true);
  assert.equal(store.queued.length, 1);
  await store.landAll();

  // The renewed lease covers the next 3 s of applies without a write.
  clock.t += LEASE_RENEW_EVERY_MS / 4;
  assert.equal(await settled(l.hold()), true);
  assert.equal(store.queued.length, 0);
});

test('a lease too short to cover an apply blocks until it is renewed (also after a lost background renewal)', async () => {
  const { store, clock, l } = await holding(5_000_000);
  clock.t += LEASE_RENEW_EVERY_MS * 0.75;
  await l.hold(); // starts a background renewal that never lands
  assert.equal(store.queued.length, 1);
  clock.t += LEASE_RENEW_EVERY_MS; // now less than applyTimeout + margin is left
  const blocked = l.hold();
  assert.equal(await settled(blocked), false, 'must not apply on a lease that may expire mid-apply');
  await store.landAll();
  await blocked;
  assert.ok(store.values.get(leaseKey('s1'))! / 2 - clock.t >= APPLY_TIMEOUT_MS + LEASE_MARGIN_MS);
});

test('a release waits for a renewal in flight, then records the seq and marks the lease released above it', async () => {
  const { store, clock, l } = await holding(9_000_000);
  l.applied(7);
  clock.t += LEASE_RENEW_EVERY_MS * 0.75;
  await l.hold(); // background renewal queued
  const renewed = store.queued[0]!.value;
  const released = l.release(true);
  await store.landAll();
  await released;
  assert.equal(store.values.get('s1'), 7, 'the applied seq was recorded');
  const marker = store.values.get(leaseKey('s1'))!;
  assert.equal(marker % 2, 1, 'released');
  assert.equal(marker, renewed + 1, 'the release marker is the renewed lease + 1, not a lower one the store would ignore');
});
