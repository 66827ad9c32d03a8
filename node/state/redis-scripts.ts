/**
 * The Lua scripts of the Redis state store (kept beside redis.ts; see redis-keys.ts for the key
 * layout). Every script touches keys of ONE hash slot only — a source's keys share the
 * `{s:<source>}` hash tag — so each call is atomic and valid on Redis Cluster.
 *
 * A source has two hashes: its info hash (lastSeen `ls`, interval `iv`, last series id `n`, and
 * per series `<metric>NUL<tags>` → its id) and its data hash:
 *   `H`          heads of every series of the source, HS = 55 bytes per id (slot id-1):
 *                <ddBI4ddddH fine head, coarse head, flags (1 exists, 2 counter), and the coarse
 *                head bucket itself (count sum min max last off) — the one bucket every write of
 *                the minute touches, so it lives here rather than in its chunk
 *   `<id>F<c>`   CH × <Hd     fine chunk: tag (0 empty, 1..65534 one sample at offset tag-1,
 *                             65535 MULTI), last
 *   `<id>X<c>`   CH × <I4dddH fine overflow: count, sum, min, max, offset of last (MULTI slots)
 *   `<id>C<c>`   CH × <I4ddddH coarse chunk: count (0 empty), sum, min, max, last, offset of last;
 *                             every coarse bucket but the head one (moved here when the head advances)
 * Chunk c holds buckets [c·CH, c·CH+CH-1]. The same compact layout as the memory rings (rings.ts):
 * 10 B per fine bucket, 38 B per coarse bucket, overflow only for fine buckets with > 1 sample.
 * Why this shape (measured, see bench/state): Redis' cost is per command and per hash field
 * touched, so a tick costs per source one HMGET and one HSET on each of its two hashes, and per
 * series in the common case (≤ 1 sample/s, no late samples) just its fine chunk — 80 bytes in and
 * out — plus its 55-byte slot of `H`.
 *
 * Ring semantics equal the memory rings: a ring holds buckets (head − N, head]; a write older than
 * that is dropped; advancing the head hides what falls out (and deletes chunks that are wholly out).
 */

/** Shared helpers, prepended to the scripts. */
const PRELUDE = `
local floor = math.floor
local spack, sunpack = struct.pack, struct.unpack
local MULTI = 65535
local FS, XS, CS = 10, 30, 38
local function setslot(s, i, size, v)
  return string.sub(s, 1, i * size) .. v .. string.sub(s, (i + 1) * size + 1)
end
-- Commands with many arguments in slices: Lua's unpack() is limited to a few thousand values.
local function hcall(cmd, key, args)
  local n = #args
  local i = 1
  while i <= n do
    local j = math.min(n, i + 999)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end
local function hmget(key, fields)
  if #fields <= 1000 then return redis.call('HMGET', key, unpack(fields)) end
  local out = {}
  local i = 1
  while i <= #fields do
    local j = math.min(#fields, i + 999)
    local part = redis.call('HMGET', key, unpack(fields, i, j))
    for x = 1, #part do out[#out + 1] = part[x] end
    i = j + 1
  end
  return out
end
-- Chunk c of the ring at bucket b, and b's slot in it.
local function locate(b, CH)
  local c = floor(b / CH)
  return c, b - c * CH
end
`;

/**
 * fp_write — merge one tick's bucket deltas of one or more sources.
 * ARGV[1..9]: fineStep fineN coarseStep coarseN CH coarseSpanMs slackMs ttlMs minIntervalMs
 * ARGV[10..12]: an empty fine, fine-overflow and coarse chunk (zero bytes; Lua's string.rep is slow)
 * ARGV[13]: number of sources; then one blob per source (redis-codec.ts encodeSource):
 *   <H nTimes, d × nTimes receive times, H nSeries, then per series: <H len + field (metric NUL
 *   tags), <B counter, <I4 nFine, <I4 nCoarse, then per delta (fine, then coarse, each ascending)
 *   kind 1: <ddH b last off (one sample) | kind 2: <dI4ddddH b count sum min max last off.
 * KEYS: per source its info hash and its data hash.
 * Returns one binary string: per series <BdI4ddddH flags(1 = new series) fineHead count sum min
 * max last off — the fine head bucket after the write (what the live broadcaster shows).
 *
 * Hot path: no closures or tables per delta, chunk names built once per call, and per source one
 * HMGET + one HSET on each of its two hashes.
 */
export const WRITE_LUA = PRELUDE + `
local fineStep, fineN = tonumber(ARGV[1]), tonumber(ARGV[2])
local coarseStep, coarseN = tonumber(ARGV[3]), tonumber(ARGV[4])
local CH = tonumber(ARGV[5])
local ttl = tonumber(ARGV[8])
local minInterval = tonumber(ARGV[9])
local ZF, ZX, ZC = ARGV[10], ARGV[11], ARGV[12]
local nsrc = tonumber(ARGV[13])
local k, a = 1, 14
local out = {}

-- Chunk suffixes, once per chunk index per call: [1] fine, [2] fine overflow, [3] coarse.
local names = {}
local function chunk(c)
  local n = names[c]
  if n == nil then
    local s = tostring(c)
    n = { 'F' .. s, 'X' .. s, 'C' .. s }
    names[c] = n
  end
  return n
end

-- Deltas into a flat array, 7 numbers each: b count sum min max last off.
local function readDeltas(blob, p, n, into, j)
  for _ = 1, n do
    local kind = string.byte(blob, p)
    if kind == 1 then
      local b, v, off
      b, v, off, p = sunpack('<ddH', blob, p + 1)
      into[j + 1], into[j + 2], into[j + 3], into[j + 4], into[j + 5], into[j + 6], into[j + 7] = b, 1, v, v, v, v, off
    else
      local b, c, s, mn, mx, l, off
      b, c, s, mn, mx, l, off, p = sunpack('<dI4ddddH', blob, p + 1)
      into[j + 1], into[j + 2], into[j + 3], into[j + 4], into[j + 5], into[j + 6], into[j + 7] = b, c, s, mn, mx, l, off
    end
    j = j + 7
  end
  return p, j
end

-- Chunks alive under head h that are wholly out of the ring under head b (b > h).
local function dropDead(id, h, b, N, which, cache, dirty, dels)
  for c = floor((h - N + 1) / CH), math.min(floor(h / CH), floor((b - N - CH + 1) / CH)) do
    local n = chunk(c)
    for _, w in ipairs(which) do
      local f = id .. n[w]
      dels[#dels + 1] = f
      cache[f] = false
      dirty[f] = nil
    end
  end
end
local FINE_PARTS, COARSE_PARTS = { 1, 2 }, { 3 }
local HS = 55

-- A write to bucket b of a ring whose head is h (nil: empty) and that holds N buckets:
-- is b kept, and the head after it (advancing drops the chunks that fall wholly out).
local function advance(id, h, b, N, which, cache, dirty, dels)
  if h == nil then return true, b end
  if b > h then
    dropDead(id, h, b, N, which, cache, dirty, dels)
    return true, b
  end
  return b > h - N, h
end

-- The fine bucket in slot s of chunk F as fp_write reports it (<BdI4ddddH); its overflow chunk X
-- is read from field xf of the data hash when needed and not loaded (nil; false = absent).
local function headRecord(flags, b, F, X, data, xf, s)
  local cnt, sum, mn, mx, lst, off = 0, 0, 0, 0, 0, 0
  if F then
    local tag, lastv = sunpack('<Hd', F, s * FS + 1)
    if tag == MULTI then
      if X == nil then X = redis.call('HGET', data, xf) end
      if X then
        cnt, sum, mn, mx, off = sunpack('<I4dddH', X, s * XS + 1)
        lst = lastv
      end
    elseif tag ~= 0 then
      cnt, sum, mn, mx, lst, off = 1, lastv, lastv, lastv, lastv, tag - 1
    end
  end
  return spack('<BdI4ddddH', flags, b, cnt, sum, mn, mx, lst, off)
end

-- Per source, reused: series ids, delta ranges, and the flat delta arrays.
local sids, fd, cd, fr, cr, counters = {}, {}, {}, {}, {}, {}

for _ = 1, nsrc do
  local info, data = KEYS[k], KEYS[k + 1]
  k = k + 2
  local blob = ARGV[a]
  a = a + 1
  local ntimes = sunpack('<H', blob, 1)
  local tp = 3
  local nser = sunpack('<H', blob, tp + 8 * ntimes)
  local p = tp + 8 * ntimes + 2
  -- Series fields, and where each one's deltas start.
  local fields, starts = {}, {}
  for i = 1, nser do
    local len = sunpack('<H', blob, p)
    fields[i] = string.sub(blob, p + 2, p + 1 + len)
    p = p + 2 + len
    starts[i] = p
    local nf, nc = sunpack('<I4I4', blob, p + 1)
    p = p + 9
    for _ = 1, nf + nc do
      if string.byte(blob, p) == 1 then p = p + 19 else p = p + 47 end
    end
  end

  -- Info: liveness, next id, and the ids of this tick's series.
  local q = { 'ls', 'iv', 'n' }
  for i = 1, nser do q[3 + i] = fields[i] end
  local cur = hmget(info, q)
  local ls, iv, nextId = tonumber(cur[1]), tonumber(cur[2]) or 0, tonumber(cur[3]) or 0
  local fresh = ls == nil
  local oldLs = ls or 0
  -- Replay the receive times like the memory store's touchSource().
  for x = 0, ntimes - 1 do
    local r = sunpack('<d', blob, tp + 8 * x)
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
  local infoSet = { 'ls', string.format('%.17g', ls), 'iv', string.format('%.17g', iv) }
  for i = 1, nser do
    local id = cur[3 + i]
    if not id then
      nextId = nextId + 1
      id = tostring(nextId)
      infoSet[#infoSet + 1] = fields[i]
      infoSet[#infoSet + 1] = id
    end
    sids[i] = id
  end
  if nextId ~= (tonumber(cur[3]) or 0) then infoSet[#infoSet + 1] = 'n'; infoSet[#infoSet + 1] = tostring(nextId) end

  -- Parse every series' deltas; one HMGET for the heads and the fine chunks they touch.
  local want = { 'H' }
  local fj, cj = 0, 0
  for i = 1, nser do
    local id = sids[i]
    local s = starts[i]
    local nf, nc = sunpack('<I4I4', blob, s + 1)
    counters[i] = string.byte(blob, s)
    local f0, c0 = fj, cj
    local dp
    dp, fj = readDeltas(blob, s + 9, nf, fd, fj)
    dp, cj = readDeltas(blob, dp, nc, cd, cj)
    fr[i], cr[i] = f0, c0
    local last = nil
    for j = f0 + 1, fj, 7 do
      local c = floor(fd[j] / CH)
      if c ~= last then
        want[#want + 1] = id .. chunk(c)[1]
        last = c
      end
    end
  end
  fr[nser + 1], cr[nser + 1] = fj, cj
  local vals = hmget(data, want)
  local cache = {}
  for i = 2, #want do cache[want[i]] = vals[i] end
  local H = vals[1] or ''
  local heads = {}
  local dirty, dels = {}, {}
  local late = {}
  -- A chunk field, from this call's cache or read now (nil → false when absent).
  local function load(f)
    local v = cache[f]
    if v == nil then v = redis.call('HGET', data, f); cache[f] = v end
    return v
  end

  for i = 1, nser do
    local id = sids[i]
    local slot = (tonumber(id) - 1) * HS
    local fh, ch, flags, cc, cs, cmn, cmx, cl, co
    if #H >= slot + HS then fh, ch, flags, cc, cs, cmn, cmx, cl, co = sunpack('<ddBI4ddddH', H, slot + 1) end
    local isNew = flags == nil or flags % 2 == 0
    if isNew then fh, ch = nil, nil end

    -- Fine ring.
    for j = fr[i] + 1, fr[i + 1], 7 do
      local b = fd[j]
      local keep
      keep, fh = advance(id, fh, b, fineN, FINE_PARTS, cache, dirty, dels)
      if keep then
        local c, s = locate(b, CH)
        local n = chunk(c)
        local fn, xn = id .. n[1], id .. n[2]
        local F = cache[fn] or ZF
        local tag, lastv = sunpack('<Hd', F, s * FS + 1)
        local cnt, sum, mn, mx, lst, off = fd[j + 1], fd[j + 2], fd[j + 3], fd[j + 4], fd[j + 5], fd[j + 6]
        if tag == 0 and cnt == 1 then
          F = setslot(F, s, FS, spack('<Hd', off + 1, lst))
        else
          -- Overflow chunks are read only when a slot needs one (rare at ≤ 1 sample/s).
          local X = load(xn) or ZX
          if tag == 0 then
            X = setslot(X, s, XS, spack('<I4dddH', cnt, sum, mn, mx, off))
          elseif tag ~= MULTI then
            local prevOff = tag - 1
            if lastv < mn then mn = lastv end
            if lastv > mx then mx = lastv end
            if off < prevOff then lst = lastv; off = prevOff end
            X = setslot(X, s, XS, spack('<I4dddH', cnt + 1, sum + lastv, mn, mx, off))
          else
            local xc, xs, xmn, xmx, xo = sunpack('<I4dddH', X, s * XS + 1)
            if mn < xmn then xmn = mn end
            if mx > xmx then xmx = mx end
            if off >= xo then xo = off else lst = lastv end
            X = setslot(X, s, XS, spack('<I4dddH', xc + cnt, xs + sum, xmn, xmx, xo))
          end
          F = setslot(F, s, FS, spack('<Hd', MULTI, lst))
          cache[xn] = X; dirty[xn] = true
        end
        cache[fn] = F; dirty[fn] = true
      end
    end

    -- Coarse ring: the head bucket is in H; older buckets in chunks.
    for j = cr[i] + 1, cr[i + 1], 7 do
      local b = cd[j]
      local dc, ds, dmn, dmx, dl, doff = cd[j + 1], cd[j + 2], cd[j + 3], cd[j + 4], cd[j + 5], cd[j + 6]
      if ch == nil or b > ch then
        if ch ~= nil then
          -- The head moves on: its bucket goes into its chunk (its slot there is empty).
          local c, s = locate(ch, CH)
          local cn = id .. chunk(c)[3]
          cache[cn] = setslot(load(cn) or ZC, s, CS, spack('<I4ddddH', cc, cs, cmn, cmx, cl, co)); dirty[cn] = true
          dropDead(id, ch, b, coarseN, COARSE_PARTS, cache, dirty, dels)
        end
        ch, cc, cs, cmn, cmx, cl, co = b, dc, ds, dmn, dmx, dl, doff
      elseif b == ch then
        cc, cs = cc + dc, cs + ds
        if dmn < cmn then cmn = dmn end
        if dmx > cmx then cmx = dmx end
        if doff >= co then cl, co = dl, doff end
      elseif b > ch - coarseN then
        -- A late sample for an older coarse bucket.
        local c, s = locate(b, CH)
        local cn = id .. chunk(c)[3]
        local C = load(cn) or ZC
        local oc, os, omn, omx, ol, oo = sunpack('<I4ddddH', C, s * CS + 1)
        if oc == 0 then
          C = setslot(C, s, CS, spack('<I4ddddH', dc, ds, dmn, dmx, dl, doff))
        else
          if dmn < omn then omn = dmn end
          if dmx > omx then omx = dmx end
          if doff >= oo then ol, oo = dl, doff end
          C = setslot(C, s, CS, spack('<I4ddddH', oc + dc, os + ds, omn, omx, ol, oo))
        end
        cache[cn] = C; dirty[cn] = true
      end
    end
    heads[tonumber(id)] = spack('<ddBI4ddddH', fh, ch, 1 + 2 * counters[i], cc, cs, cmn, cmx, cl, co)

    -- The fine head bucket as it is now; its chunk is loaded unless only older buckets changed.
    local hc, hs = locate(fh, CH)
    local hn = chunk(hc)
    local F = cache[id .. hn[1]]
    local flags = isNew and 1 or 0
    if F == nil then
      out[#out + 1] = ''
      late[#late + 1] = { #out, flags, fh, id .. hn[1], id .. hn[2], hs }
    else
      out[#out + 1] = headRecord(flags, fh, F, cache[id .. hn[2]], data, id .. hn[2], hs)
    end
  end

  -- H with this tick's slots replaced (ids are dense: a new id is at most one past the end).
  local parts, n = {}, math.floor(#H / HS)
  for id in pairs(heads) do if id > n then n = id end end
  for id = 1, n do
    parts[id] = heads[id] or (id * HS <= #H and string.sub(H, (id - 1) * HS + 1, id * HS)) or string.rep('\0', HS)
  end
  dirty['H'] = true
  cache['H'] = table.concat(parts)

  if #dels > 0 then hcall('HDEL', data, dels) end
  local dataSet = {}
  for n in pairs(dirty) do dataSet[#dataSet + 1] = n; dataSet[#dataSet + 1] = cache[n] end
  hcall('HSET', data, dataSet)
  hcall('HSET', info, infoSet)
  -- Head buckets whose chunk the tick did not touch (late samples only): read them now.
  for _, l in ipairs(late) do
    local r = redis.call('HMGET', data, l[4], l[5])
    out[l[1]] = headRecord(l[2], l[3], r[1], r[2], data, l[5], l[6])
  end
  -- Both hashes live until the coarse retention (plus slack) after the source's last write;
  -- refreshing the TTL once a minute is enough (the slack covers it).
  if fresh or floor(ls / 60000) ~= floor(oldLs / 60000) then
    redis.call('PEXPIRE', info, ttl)
    redis.call('PEXPIRE', data, ttl)
  end
end
return table.concat(out)
`;

/**
 * fp_read — the buckets of one source's series of one metric in a bucket range of one ring.
 * KEYS: the source's info hash and data hash. ARGV: metric exact(0|1) tags ring(f|c) b0 b1 N CH.
 * Returns { field, blob, … } with blob = <B counter, then per non-empty bucket in ascending order
 * <dI4ddddH b count sum min max last off.
 */
export const READ_LUA = PRELUDE + `
local metric, exact, tags, ring = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local b0, b1, N, CH = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local series = {}
local prefix = metric .. '\\0'
if exact == '1' then
  local id = redis.call('HGET', KEYS[1], prefix .. tags)
  if id then series[1] = { prefix .. tags, id } end
else
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #prefix) == prefix then series[#series + 1] = { all[i], all[i + 1] } end
  end
end
local out = {}
local H = nil
if #series > 0 then H = redis.call('HGET', KEYS[2], 'H') or '' end
for _, sr in ipairs(series) do
  local id = sr[2]
  local slot = (tonumber(id) - 1) * 55
  if #H >= slot + 55 then
    local fh, ch, flags, hc, hsum, hmn, hmx, hl, ho = sunpack('<ddBI4ddddH', H, slot + 1)
    local head = fh
    if ring == 'c' then head = ch end
    local lo, hi = math.max(b0, head - N + 1), math.min(b1, head)
    local parts = { spack('<B', floor(flags / 2) % 2) }
    if lo <= hi then
      local fields = {}
      for c = floor(lo / CH), floor(hi / CH) do
        if ring == 'f' then fields[#fields + 1] = id .. 'F' .. c; fields[#fields + 1] = id .. 'X' .. c
        else fields[#fields + 1] = id .. 'C' .. c end
      end
      local vals = hmget(KEYS[2], fields)
      local got = {}
      for i = 1, #fields do got[fields[i]] = vals[i] end
      for b = lo, hi do
        local c, s = locate(b, CH)
        if ring == 'f' then
          local F = got[id .. 'F' .. c]
          if F then
            local tag, last = sunpack('<Hd', F, s * FS + 1)
            if tag == MULTI then
              local xc, xs, xmn, xmx, xo = sunpack('<I4dddH', got[id .. 'X' .. c], s * XS + 1)
              parts[#parts + 1] = spack('<dI4ddddH', b, xc, xs, xmn, xmx, last, xo)
            elseif tag ~= 0 then
              parts[#parts + 1] = spack('<dI4ddddH', b, 1, last, last, last, last, tag - 1)
            end
          end
        elseif b == ch then
          if hc > 0 then parts[#parts + 1] = spack('<dI4ddddH', b, hc, hsum, hmn, hmx, hl, ho) end
        else
          local C = got[id .. 'C' .. c]
          if C then
            local cc, cs, cmn, cmx, cl, co = sunpack('<I4ddddH', C, s * CS + 1)
            if cc > 0 then parts[#parts + 1] = spack('<dI4ddddH', b, cc, cs, cmn, cmx, cl, co) end
          end
        end
      end
    end
    out[#out + 1] = sr[1]
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
