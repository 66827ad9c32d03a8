/**
 * The tick writes' own Redis connection, against a real redis-server: transactions apply wholly
 * or not at all, refused commands reject with Redis' words, a hung Redis times out without
 * losing the reply order, a restarted one is reconnected, AUTH and SELECT are sent first; and the
 * reply scanner on partial input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { skipUnless } from '../testing/binaries.js';
import { freezeProcess } from '../testing/process.js';
import { startRedis, type RunningRedis } from '../testing/redis.js';
import { bulk, commandHead, replyEnd, RespPipe, RespWriter } from './resp-pipe.js';

const skip = skipUnless('redis-server');

function tx(build: (w: RespWriter) => void): { commands: Buffer; count: number } {
  const w = new RespWriter(16);
  build(w);
  return { commands: w.done(), count: w.count };
}

async function setup(t: { after(fn: () => unknown): void }, args: string[] = []): Promise<{ redis: RunningRedis; admin: Redis }> {
  const redis = await startRedis(args);
  const admin = new Redis(redis.port, '127.0.0.1', args.includes('--requirepass') ? { password: args[args.indexOf('--requirepass') + 1]! } : {});
  admin.on('error', () => {});
  t.after(async () => {
    admin.disconnect();
    await redis.stop();
  });
  return { redis, admin };
}

const isUnavailable = (e: unknown): boolean => e instanceof FleetPulseError && e.code === ErrorCode.STATE_UNAVAILABLE;

test('replyEnd: whole replies only, nested arrays, bulk strings and nulls', () => {
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  assert.equal(replyEnd(b('+OK\r\n'), 0), 5);
  assert.equal(replyEnd(b('+QUEU'), 0), -1);
  assert.equal(replyEnd(b(':12\r\n:3'), 0), 5);
  assert.equal(replyEnd(b('-ERR wrong\r\n'), 0), 12);
  assert.equal(replyEnd(b('$3\r\nabc\r\n'), 0), 9);
  assert.equal(replyEnd(b('$3\r\nab'), 0), -1);
  assert.equal(replyEnd(b('$-1\r\n'), 0), 5);
  assert.equal(replyEnd(b('*-1\r\n'), 0), 5);
  assert.equal(replyEnd(b('*2\r\n:1\r\n*1\r\n$1\r\nx\r\n'), 0), 19);
  assert.equal(replyEnd(b('*2\r\n:1\r\n*1\r\n$1\r\nx'), 0), -1);
  assert.throws(() => replyEnd(b('?\r\n'), 0), /not a RESP reply/);
});

test('a transaction runs all its commands, in order with the transactions before it', { skip }, async (t) => {
  const { redis, admin } = await setup(t);
  const pipe = new RespPipe({ host: '127.0.0.1', port: redis.port, timeoutMs: 5000 });
  t.after(() => pipe.close());
  const big = Buffer.alloc(1 << 20, 7); // more than one socket read of replies and requests
  const writes = Array.from({ length: 20 }, (_, i) => {
    const { commands, count } = tx((w) => {
      w.command(4).str('HSET').str('h').str(`f${i}`).bytes(i === 3 ? big : Buffer.from([i]));
      w.command(3, commandHead(3, 'RPUSH')).str('order').raw(bulk(String(i)));
    });
    return pipe.exec(commands, count);
  });
  await Promise.all(writes);
  assert.equal(pipe.inFlight, 0);
  assert.deepEqual(await admin.lrange('order', 0, -1), Array.from({ length: 20 }, (_, i) => String(i)));
  assert.equal((await admin.hgetBuffer('h', 'f3'))!.length, big.length);
  assert.deepEqual(await admin.hgetBuffer('h', 'f7'), Buffer.from([7]));
});

test('refused commands reject the transaction with Redis\' words; nothing of it is applied; the pipe stays usable', { skip }, async (t) => {
  const { redis, admin } = await setup(t);
  const pipe = new RespPipe({ host: '127.0.0.1', port: redis.port, timeoutMs: 5000 });
  t.after(() => pipe.close());
  // Refused when queued (wrong number of arguments): EXECABORT, the whole transaction discarded.
  const queued = tx((w) => {
    w.command(3).str('SET').str('a').str('1');
    w.command(2).str('HSET').str('h');
  });
  await assert.rejects(pipe.exec(queued.commands, queued.count), (e: unknown) => isUnavailable(e) && /wrong number of arguments/.test((e as Error).message));
  assert.equal(await admin.exists('a'), 0, 'nothing of a refused transaction is applied');
  // Failing when run (WRONGTYPE): reported although Redis ran the others.
  await admin.set('s', 'x');
  const run = tx((w) => w.command(4).str('HSET').str('s').str('f').str('v'));
  await assert.rejects(pipe.exec(run.commands, run.count), (e: unknown) => isUnavailable(e) && /WRONGTYPE/.test((e as Error).message));
  const ok = tx((w) => w.command(3).str('SET').str('b').str('2'));
  await pipe.exec(ok.commands, ok.count);
  assert.equal(await admin.get('b'), '2');
});

test('a hung Redis: the write times out, later writes fail at once, and its reply is still taken in order when Redis wakes', { skip, timeout: 30_000 }, async (t) => {
  const { redis, admin } = await setup(t);
  const pipe = new RespPipe({ host: '127.0.0.1', port: redis.port, timeoutMs: 300 });
  t.after(() => pipe.close());
  const warm = tx((w) => w.command(3).str('SET').str('k').str('0'));
  await pipe.exec(warm.commands, warm.count); // connected
  const resume = freezeProcess(redis.proc.child.pid!);
  t.after(resume);
  const one = tx((w) => w.command(3).str('SET').str('k').str('1'));
  await assert.rejects(pipe.exec(one.commands, one.count), (e: unknown) => isUnavailable(e) && /did not answer a write within 300 ms/.test((e as Error).message));
  await assert.rejects(pipe.exec(one.commands, one.count), (e: unknown) => isUnavailable(e) && /has not answered a write/.test((e as Error).message), 'fails at once while a reply is overdue');
  assert.equal(pipe.inFlight, 1, 'the timed-out write keeps its place (its reply will come)');
  await assert.rejects(pipe.drain(), isUnavailable, 'a reader cannot wait forever');
  const drained = pipe.drain();
  resume();
  await drained;
  assert.equal(pipe.inFlight, 0);
  assert.equal(await admin.get('k'), '1', 'the timed-out write landed (its outcome was unknown, not failed)');
  const two = tx((w) => w.command(3).str('SET').str('k').str('2'));
  await pipe.exec(two.commands, two.count);
  assert.equal(await admin.get('k'), '2');
});

test('a restarted Redis: pending writes fail, the next write connects again', { skip, timeout: 30_000 }, async (t) => {
  let { redis } = await setup(t);
  const pipe = new RespPipe({ host: '127.0.0.1', port: redis.port, timeoutMs: 2000 });
  t.after(() => pipe.close());
  const w1 = tx((w) => w.command(3).str('SET').str('k').str('1'));
  await pipe.exec(w1.commands, w1.count);
  const port = redis.port;
  await redis.stop();
  await assert.rejects(pipe.exec(w1.commands, w1.count), isUnavailable, 'Redis is down');
  redis = await startRedis([], { port });
  t.after(() => redis.stop());
  await pipe.exec(w1.commands, w1.count);
  const admin = new Redis(port, '127.0.0.1');
  t.after(() => admin.disconnect());
  assert.equal(await admin.get('k'), '1');
});

test('AUTH and SELECT go first; a wrong password fails the write with Redis\' answer', { skip }, async (t) => {
  const { redis, admin } = await setup(t, ['--requirepass', 's3cret']);
  const pipe = new RespPipe({ host: '127.0.0.1', port: redis.port, password: 's3cret', db: 3, timeoutMs: 5000 });
  t.after(() => pipe.close());
  const w = tx((x) => x.command(3).str('SET').str('in-db-3').str('yes'));
  await pipe.exec(w.commands, w.count);
  await admin.select(3);
  assert.equal(await admin.get('in-db-3'), 'yes');
  const wrong = new RespPipe({ host: '127.0.0.1', port: redis.port, password: 'nope', timeoutMs: 5000 });
  t.after(() => wrong.close());
  await assert.rejects(wrong.exec(w.commands, w.count), (e: unknown) => isUnavailable(e) && /WRONGPASS|invalid password/i.test((e as Error).message));
});
