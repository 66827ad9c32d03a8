/**
 * The Lua scripts of the Redis state store (kept beside redis.ts; see redis-keys.ts for the key
 * layout). Every script touches keys of ONE hash slot only — a source's keys share the
 * `{s:<source>}` hash tag — so each call is atomic and valid on Redis Cluster.
 *
 * Binary layouts (little-endian, Lua `struct`; the JS side is redis-codec.ts):
 *   series hash field `m`       <ddB     fine head bucket, coarse head bucket, counter flag
 *   field `F<c>` fine chunk     CH × <Hd  tag (0 empty, 1..65534 one sample at offset tag-1, 65535 MULTI), last
 *   field `X<c>` fine overflow  CH × <I4dddH  count, sum, min, max, offset of last (MULTI slots only)
 *   field `C<c>` coarse chunk   CH × <I4ddddH count (0 empty), sum, min, max, last, offset of last
 * Chunk c holds buckets [c·CH, c·CH+CH-1]; the same compact layout as the memory rings (rings.ts):
 * 10 B per fine bucket, 38 B per coarse bucket, overflow only for fine buckets with > 1 sample.
 *
 * Ring semantics equal the memory rings: a ring holds buckets (head − N, head]; a write older than
 * that is dropped; advancing the head hides what falls out (and deletes chunks that are wholly out).
 */

/** Shared helpers, prepended to the scripts that need them. */
const PRELUDE = `
local floor = math.floor
local spack, sunpack = struct.pack, struct.unpack
local MULTI = 65535
local FS, XS, CS = 10, 30, 38
local function setslot(s, i, size, v)
  return string.sub(s, 1, i * size) .. v .. string.sub(s, (i + 1) * size + 1)
end
-- HSET/HDEL in slices: Lua's unpack() is limited to a few thousand values.
local function hcall(cmd, key, args)
  local n = #args
  local i = 1
  while i <= n do
    local j = math.min(n, i + 999)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end
`;

/**
 * fp_write — merge one tick's bucket deltas of one or more sources.
 * ARGV[1..9]: fineStep fineN coarseStep coarseN CH coarseSpanMs slackMs infoTtlMs minIntervalMs
 * ARGV[10]: number of sources; then per source: nSeries, receivedAts (<d × k), and per series:
 *   field (metric NUL tags), delta blob: <BI4I4 counter nFine nCoarse, then per delta
 *   kind 1: <ddH b last off (one sample) | kind 2: <dI4ddddH b count sum min max last off.
 * KEYS: per source its info hash, then its series hashes (same order as the ARGV series).
 * Returns one binary string: per series <BdI4ddddH flags(1 = new series) fineHead count sum min
 * max last off — the fine head bucket after the write (what the live broadcaster shows).
 */
export const WRITE_LUA = PRELUDE + `
local fineStep, fineN = tonumber(ARGV[1]), tonumber(ARGV[2])
local coarseStep, coarseN = tonumber(ARGV[3]), tonumber(ARGV[4])
local CH = tonumber(ARGV[5])
local coarseSpan, slack, infoTtl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local minInterval = tonumber(ARGV[9])
local nsrc = tonumber(ARGV[10])
local k, a = 1, 11
local out = {}

local function readDeltas(blob, p, n)
  local list = {}
  for i = 1, n do
    local kind
    kind, p = sunpack('<B', blob, p)
    if kind == 1 then
      local b, v, off
      b, v, off, p = sunpack('<ddH', blob, p)
      list[i] = { b, 1, v, v, v, v, off }
    else
      local b, c, s, mn, mx, l, off
      b, c, s, mn, mx, l, off, p = sunpack('<dI4ddddH', blob, p)
      list[i] = { b, c, s, mn, mx, l, off }
    end
  end
  return list, p
end

local function writeSeries(key, blob)
  local counter, nf, nc, p = sunpack('<BI4I4', blob)
  local fd, cd
  fd, p = readDeltas(blob, p, nf)
  cd, p = readDeltas(blob, p, nc)
  -- One HMGET for the meta field and every chunk the deltas touch.
  local names, seen = { 'm' }, { m = true }
  local function want(n) if not seen[n] then seen[n] = true; names[#names + 1] = n end end
  for i = 1, nf do local c = floor(fd[i][1] / CH); want('F' .. c); want('X' .. c) end
  for i = 1, nc do want('C' .. floor(cd[i][1] / CH)) end
  local vals = redis.call('HMGET', key, unpack(names))
  local cache = {}
  for i = 1, #names do cache[names[i]] = vals[i] end
  local fh, ch
  local isNew = not cache['m']
  if not isNew then fh, ch = sunpack('<dd', cache['m']) end
  local dirty, dels = {}, {}
  local function drop(n) dels[#dels + 1] = n; cache[n] = false; dirty[n] = nil end
  -- A write to bucket b of a ring with head "head" and N buckets: is b kept, and the new head.
  -- Advancing drops the chunks alive under the old head that are wholly out of the new ring.
  local function advance(head, b, N, p1, p2)
    if head == nil then return true, b end
    if b > head then
      for c = floor((head - N + 1) / CH), math.min(floor(head / CH), floor((b - N - CH + 1) / CH)) do
        drop(p1 .. c)
        if p2 then drop(p2 .. c) end
      end
      return true, b
    end
    return b > head - N, head
  end

  -- Fine ring.
  for i = 1, nf do
    local d = fd[i]
    local b = d[1]
    local keep
    keep, fh = advance(fh, b, fineN, 'F', 'X')
    if keep then
      local c = floor(b / CH)
      local s = b - c * CH
      local fn, xn = 'F' .. c, 'X' .. c
      local F = cache[fn] or string.rep('\\0', CH * FS)
      local tag, lastv = sunpack('<Hd', F, s * FS + 1)
      local cnt, sum, mn, mx, last, off = d[2], d[3], d[4], d[5], d[6], d[7]
      if tag == 0 and cnt == 1 then
        F = setslot(F, s, FS, spack('<Hd', off + 1, last))
      else
        local X = cache[xn] or string.rep('\\0', CH * XS)
        if tag == 0 then
          X = setslot(X, s, XS, spack('<I4dddH', cnt, sum, mn, mx, off))
        elseif tag ~= MULTI then
          local prevOff = tag - 1
          if lastv < mn then mn = lastv end
          if lastv > mx then mx = lastv end
          if off < prevOff then last = lastv; off = prevOff end
          X = setslot(X, s, XS, spack('<I4dddH', cnt + 1, sum + lastv, mn, mx, off))
        else
          local xc, xs, xmn, xmx, xo = sunpack('<I4dddH', X, s * XS + 1)
          if mn < xmn then xmn = mn end
          if mx > xmx then xmx = mx end
          if off >= xo then xo = off else last = lastv end
          X = setslot(X, s, XS, spack('<I4dddH', xc + cnt, xs + sum, xmn, xmx, xo))
        end
        F = setslot(F, s, FS, spack('<Hd', MULTI, last))
        cache[xn] = X; dirty[xn] = true
      end
      cache[fn] = F; dirty[fn] = true
    end
  end

  -- Coarse ring.
  local oldCh = ch
  for i = 1, nc do
    local d = cd[i]
    local b = d[1]
    local keep
    keep, ch = advance(ch, b, coarseN, 'C')
    if keep then
      local c = floor(b / CH)
      local s = b - c * CH
      local cn = 'C' .. c
      local C = cache[cn] or string.rep('\\0', CH * CS)
      local cc, cs, cmn, cmx, cl, co = sunpack('<I4ddddH', C, s * CS + 1)
      if cc == 0 then
        C = setslot(C, s, CS, spack('<I4ddddH', d[2], d[3], d[4], d[5], d[6], d[7]))
      else
        if d[4] < cmn then cmn = d[4] end
        if d[5] > cmx then cmx = d[5] end
        if d[7] >= co then cl = d[6]; co = d[7] end
        C = setslot(C, s, CS, spack('<I4ddddH', cc + d[2], cs + d[3], cmn, cmx, cl, co))
      end
      cache[cn] = C; dirty[cn] = true
    end
  end

  if #dels > 0 then hcall('HDEL', key, dels) end
  local args = { 'm', spack('<ddB', fh, ch, counter) }
  for n in pairs(dirty) do args[#args + 1] = n; args[#args + 1] = cache[n] end
  hcall('HSET', key, args)
  -- The key lives as long as its newest coarse bucket is within the coarse retention.
  if isNew or ch ~= oldCh then redis.call('PEXPIREAT', key, (ch + 1) * coarseStep + coarseSpan + slack) end

  -- Report the fine head bucket as it is now.
  local hc = floor(fh / CH)
  local hs = fh - hc * CH
  local F, X = cache['F' .. hc], cache['X' .. hc]
  if F == nil then
    local r = redis.call('HMGET', key, 'F' .. hc, 'X' .. hc)
    F, X = r[1], r[2]
  end
  local flags = 0
  if isNew then flags = 1 end
  local cnt, sum, mn, mx, last, off = 0, 0, 0, 0, 0, 0
  if F then
    local tag, lastv = sunpack('<Hd', F, hs * FS + 1)
    if tag == MULTI and X then
      cnt, sum, mn, mx, off = sunpack('<I4dddH', X, hs * XS + 1)
      last = lastv
    elseif tag ~= 0 and tag ~= MULTI then
      cnt, sum, mn, mx, last, off = 1, lastv, lastv, lastv, lastv, tag - 1
    end
  end
  out[#out + 1] = spack('<BdI4ddddH', flags, fh, cnt, sum, mn, mx, last, off)
end

for _ = 1, nsrc do
  local info = KEYS[k]
  k = k + 1
  local nser = tonumber(ARGV[a])
  local rblob = ARGV[a + 1]
  a = a + 2
  -- Source liveness: replay the receive times like the memory store's touchSource().
  local cur = redis.call('HMGET', info, 'ls', 'iv')
  local ls, iv = tonumber(cur[1]), tonumber(cur[2]) or 0
  for p = 1, #rblob, 8 do
    local r = sunpack('<d', rblob, p)
    if ls == nil then
      ls = r; iv = 0
    else
      local gap = r - ls
      if gap >= minInterval then
        if iv == 0 then iv = gap else iv = 0.8 * iv + 0.2 * gap end
      end
      if r > ls then ls = r end
    end
  end
  local fields = { 'ls', string.format('%.17g', ls), 'iv', string.format('%.17g', iv) }
  for _ = 1, nser do
    fields[#fields + 1] = ARGV[a]
    fields[#fields + 1] = '1'
    writeSeries(KEYS[k], ARGV[a + 1])
    k = k + 1
    a = a + 2
  end
  hcall('HSET', info, fields)
  redis.call('PEXPIRE', info, infoTtl)
end
return table.concat(out)
`;

/**
 * fp_read — the buckets of one source's series of one metric in a bucket range of one ring.
 * KEYS[1]: the source's info hash. ARGV: seriesKeyBase metric exact(0|1) tags ring(f|c) b0 b1 N CH.
 * Series keys are seriesKeyBase .. field: they carry the same hash tag as KEYS[1], so they are in
 * its slot. Returns { field, blob, … } with blob = <B counter, then per non-empty bucket in
 * ascending order <dI4ddddH b count sum min max last off.
 */
export const READ_LUA = PRELUDE + `
local base, metric, exact, tags, ring = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local b0, b1, N, CH = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local fields = {}
local prefix = metric .. '\\0'
if exact == '1' then
  fields[1] = prefix .. tags
else
  local all = redis.call('HKEYS', KEYS[1])
  for i = 1, #all do
    if string.sub(all[i], 1, #prefix) == prefix then fields[#fields + 1] = all[i] end
  end
end
local out = {}
for _, f in ipairs(fields) do
  local key = base .. f
  local m = redis.call('HGET', key, 'm')
  if m then
    local fh, ch, counter = sunpack('<ddB', m)
    local head = fh
    if ring == 'c' then head = ch end
    local lo, hi = math.max(b0, head - N + 1), math.min(b1, head)
    local parts = { spack('<B', counter) }
    if lo <= hi then
      local names = {}
      for c = floor(lo / CH), floor(hi / CH) do
        if ring == 'f' then names[#names + 1] = 'F' .. c; names[#names + 1] = 'X' .. c
        else names[#names + 1] = 'C' .. c end
      end
      local vals = redis.call('HMGET', key, unpack(names))
      local chunk = {}
      for i = 1, #names do chunk[names[i]] = vals[i] end
      for b = lo, hi do
        local c = floor(b / CH)
        local s = b - c * CH
        if ring == 'f' then
          local F = chunk['F' .. c]
          if F then
            local tag, last = sunpack('<Hd', F, s * FS + 1)
            if tag == MULTI then
              local X = chunk['X' .. c]
              local xc, xs, xmn, xmx, xo = sunpack('<I4dddH', X, s * XS + 1)
              parts[#parts + 1] = spack('<dI4ddddH', b, xc, xs, xmn, xmx, last, xo)
            elseif tag ~= 0 then
              parts[#parts + 1] = spack('<dI4ddddH', b, 1, last, last, last, last, tag - 1)
            end
          end
        else
          local C = chunk['C' .. c]
          if C then
            local cc, cs, cmn, cmx, cl, co = sunpack('<I4ddddH', C, s * CS + 1)
            if cc > 0 then parts[#parts + 1] = spack('<dI4ddddH', b, cc, cs, cmn, cmx, cl, co) end
          end
        end
      end
    end
    out[#out + 1] = f
    out[#out + 1] = table.concat(parts)
  end
end
return out
`;

/**
 * fp_meta — replay unit/kind changes of metrics into the metrics hash (KEYS[1]) with the memory
 * store's rule: a sample changes the entry when it has a non-empty unit that differs, or another
 * kind; the change time is its receive time. Field value: <Bd kind updatedAt, then the unit.
 * ARGV: per metric: name, n, then n × (unit, kind, at).
 */
export const META_LUA = `
local spack, sunpack = struct.pack, struct.unpack
local i = 1
while i <= #ARGV do
  local m, n = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local cur = redis.call('HGET', KEYS[1], m)
  local unit, kind, at
  if cur then
    kind, at = sunpack('<Bd', cur)
    unit = string.sub(cur, 10)
  end
  local changed = false
  for _ = 1, n do
    local u, kd, t = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    i = i + 3
    if kind == nil then
      unit, kind, at = u, kd, t
      changed = true
    elseif (u ~= '' and u ~= unit) or kd ~= kind then
      if u ~= '' then unit = u end
      kind, at = kd, t
      changed = true
    end
  end
  if changed then redis.call('HSET', KEYS[1], m, spack('<Bd', kind, at) .. unit) end
end
return 1
`;

/** fp_seq — raise a stream's applied seq (never lower it) and refresh its TTL. ARGV: seq ttlMs. */
export const SEQ_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur == nil or tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`;
