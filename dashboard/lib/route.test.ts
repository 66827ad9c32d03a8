import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRoute, parseRoute, rangeMs } from './route.js';

test('routes round-trip through the URL', () => {
  const cases = ['/fleet?metric=cpu', '/explore?metric=mem.used&sources=web-01,db:2&range=1h', '/source/web-01?range=15m', '/cluster', '/source/a.b_c'];
  for (const c of cases) {
    const [p, s = ''] = c.split('?');
    assert.equal(formatRoute(parseRoute(p!, s)), c);
  }
});

test('malformed routes fall back instead of failing', () => {
  assert.deepEqual(parseRoute('/', ''), { view: 'fleet', sources: [], range: '5m' });
  assert.deepEqual(parseRoute('/nope', '?range=2d&metric=bad%20name'), { view: 'fleet', sources: [], range: '5m' });
  const r = parseRoute('/source/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', '');
  assert.equal(r.view, 'source');
  assert.equal(r.source, '<img src=x onerror=alert(1)>', 'kept as typed, so the view can say it does not exist (as text)');
  assert.equal(formatRoute(r), '/source/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E');
  assert.equal(parseRoute('/source/%E0%A4%A', '').source, undefined);
  assert.deepEqual(parseRoute('/explore', '?sources=a,a,<b>,c').sources, ['a', 'c']);
  assert.equal(rangeMs('6h'), 6 * 3_600_000);
  assert.equal(rangeMs('1m'), 60_000);
});
