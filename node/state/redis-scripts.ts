/**
 * The Lua scripts of the Redis state store (kept beside redis.ts; key layout in redis-keys.ts).
 * Writes need no script: each writer owns its partial of a source and writes it with HSET
 * (redis-partial.ts). The scripts read — every partial of a source in one call — and keep the few
 * shared read-modify-write values (metric unit/kind, stream seqs) atomic. A read script touches
 * only keys of one source, which share the hash tag `{s:<source>}`: one slot, valid on Cluster.
 *
 * A source has a writer set `P{s:<source>}:w`, and per writer w an info hash `…:i:<w>` (last
 * series id `n`, and per series `<metric>NUL<tags>` → its id) and a data hash `…:d:<w>` (`L`:
 * <dd lastSeen ms and smoothed interval ms — one field, written every tick — and):
 *   `HB`         per series (slot id-1, 93 bytes): <ddB fine head, coarse head, flags (1 exists,
 *                2 counter), then the coarse head bucket and the fine head bucket, each <I4ddddH
 *                count sum min max last off — what nearly every write touches lives in this one
 *                field, so a tick writes one field per source (and a chunk when a head moves on).
 *                Writers before `HB` kept `H` (with the head fine chunk) and `HX`: readers ignore
 *                those, so every instance sharing a Redis must run the same version.
 *   `<id>F<c>`   CH × <Hd     fine chunk: tag (0 empty, 1..65534 one sample at offset tag-1, 65535
 *                             MULTI), last; every fine bucket but the head one (moved here when the
 *                             head advances); then, when any slot is MULTI, the chunk's overflow:
 *                CH × <I4dddH count, sum, min, max, offset of last (of the MULTI slots)
 *   `<id>C<c>`   CH × <I4ddddH coarse chunk: count (0 empty), sum, min, max, last, offset of last;
 *                             every coarse bucket but the head one (moved here when the head advances)
 * Chunk c holds buckets [c·CH, c·CH+CH-1]. The same compact layout as the memory rings (rings.ts):
 * 10 B per fine bucket, 38 B per coarse bucket, overflow only for fine buckets with > 1 sample.
 * Ring semantics equal the memory rings per partial: a ring holds buckets (head − N, head].
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
 * fp_put — a part of a tick (whole requests' sources, redis-writer.ts putGroups) of this writer's
 * partials, written blindly (no reads): one call instead of a MULTI of many commands halves the
 * client's cost of a tick (measured), and is atomic.
 * KEYS: per source its data hash (`P{s:<source>}:d:<w>`); the writer set and info hash are
 * derived from it — the same hash tag, so the same slot on a Cluster. One key per source rather
 * than three: the keys were a third of the call's bytes and of the client's cost of encoding it.
 * ARGV[1]: writer id, ARGV[2]: TTL ms, ARGV[3]: one blob (redis-writer.ts encodePut) with per
 * source: <B refresh, then three lists — info field/values, data field/values, data fields to
 * delete — each <I4 count and count × (<I4 length, bytes). refresh: join the writer set and push
 * the three TTLs out. (One blob rather than thousands of arguments: ioredis spreads arguments into
 * function calls, and a big tick overflowed.) Lists are cut with struct's `c0` (one unpack per
 * list, no string.sub per item) and the usual data list — `HB` and `L` — without a table: Redis
 * spent ~1.2 µs less per source (5.7 → 4.5 µs, 100 sources of 10 series per call; measured).
 */
export const PUT_LUA = `
local sunpack = struct.unpack
local blob = ARGV[3]
local p = 1
-- Unpack formats of n items: 'I4c0' is a length, then that many bytes as a string.
local formats = {}
local function format(n)
  local f = formats[n]
  if f == nil then
    f = '<' .. string.rep('I4c0', n)
    formats[n] = f
  end
  return f
end
-- n items at p, p moved past them; at most 1000 per unpack (a C function's results must fit Lua's stack).
local function items(n)
  local out = { sunpack(format(math.min(n, 1000)), blob, p) }
  local m = #out - 1
  p = out[m + 1]
  out[m + 1] = nil
  while m < n do
    local k = math.min(n - m, 1000)
    local part = { sunpack(format(k), blob, p) }
    p = part[k + 1]
    for i = 1, k do out[m + i] = part[i] end
    m = m + k
  end
  return out
end
-- A list at p: its items (nil when empty), p moved past it.
local function list()
  local n
  n, p = sunpack('<I4', blob, p)
  if n == 0 then return nil end
  return items(n)
end
local function call(cmd, key, args)
  local i = 1
  while i <= #args do
    local j = math.min(#args, i + 999)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end
local w, ttl = ARGV[1], ARGV[2]
local tail = #w + 2
for k = 1, #KEYS do
  local data = KEYS[k]
  local refresh = string.byte(blob, p)
  p = p + 1
  local info = list()
  local base
  if info ~= nil or refresh == 1 then base = string.sub(data, 1, #data - tail) end
  if info ~= nil then call('HSET', base .. 'i:' .. w, info) end
  local n
  n, p = sunpack('<I4', blob, p)
  if n == 4 then
    -- The usual tick of a source: HB and L only, without a table.
    local f1, v1, f2, v2
    f1, v1, f2, v2, p = sunpack('<I4c0I4c0I4c0I4c0', blob, p)
    redis.call('HSET', data, f1, v1, f2, v2)
  else
    call('HSET', data, items(n))
  end
  local dels = list()
  if dels ~= nil then call('HDEL', data, dels) end
  if refresh == 1 then
    redis.call('SADD', base .. 'w', w)
    redis.call('PEXPIRE', base .. 'w', ttl)
    redis.call('PEXPIRE', base .. 'i:' .. w, ttl)
    redis.call('PEXPIRE', data, ttl)
  end
end
return 1
`;

/**
 * fp_read — the buckets of one source's series of one metric in a bucket range of one ring, from
 * every writer's partial. KEYS[1]: the writer set. ARGV: keyBase (`P{s:<source>}:`) metric
 * exact(0|1) tags ring(f|c) b0 b1 N CH. Partial keys are keyBase .. 'i:' / 'd:' .. writer: the
 * same hash tag as KEYS[1], so the same slot. Returns { writer, field, blob, … } with blob =
 * <B counter, then per non-empty bucket in ascending order <dI4ddddH b count sum min max last off.
 */
export const READ_LUA = PRELUDE + `
local base, metric, exact, tags, ring = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local b0, b1, N, CH = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local prefix = metric .. '\\0'
local HS = 93
local writers = redis.call('SMEMBERS', KEYS[1])
table.sort(writers)
local out = {}
-- One partial (writer w): its series of the metric, and their buckets in the range.
local function readPartial(w)
  local info, data = base .. 'i:' .. w, base .. 'd:' .. w
  local series = {}
  if exact == '1' then
    local id = redis.call('HGET', info, prefix .. tags)
    if id then series[1] = { prefix .. tags, id } end
  else
    local all = redis.call('HGETALL', info)
    for i = 1, #all, 2 do
      if string.sub(all[i], 1, #prefix) == prefix then series[#series + 1] = { all[i], all[i + 1] } end
    end
  end
  if #series == 0 then return end
  local H = redis.call('HGET', data, 'HB') or ''
  for _, sr in ipairs(series) do
    local id = sr[2]
    local slot = (tonumber(id) - 1) * HS
    local fh, ch, flags = 0, 0, 0
    local head
    if #H >= slot + HS then
      fh, ch, flags = sunpack('<ddB', H, slot + 1)
      if ring == 'f' then head = slot + 56 else head = slot + 18 end
    end
    if flags % 2 == 1 then
    local hb = fh
    if ring == 'c' then hb = ch end
    local lo, hi = math.max(b0, hb - N + 1), math.min(b1, hb)
    local parts = { spack('<B', floor(flags / 2) % 2) }
    if lo <= hi then
      local fields = {}
      for c = floor(lo / CH), floor(math.min(hi, hb - 1) / CH) do
        if ring == 'f' then fields[#fields + 1] = id .. 'F' .. c
        else fields[#fields + 1] = id .. 'C' .. c end
      end
      local got = {}
      if #fields > 0 then
        local vals = hmget(data, fields)
        for i = 1, #fields do got[fields[i]] = vals[i] end
      end
      for b = lo, hi do
        local c, s = locate(b, CH)
        if b == hb then
          local n, sum, mn, mx, l, o = sunpack('<I4ddddH', H, head)
          if n > 0 then parts[#parts + 1] = spack('<dI4ddddH', b, n, sum, mn, mx, l, o) end
        elseif ring == 'f' then
          local F = got[id .. 'F' .. c]
          if F then
            local tag, last = sunpack('<Hd', F, s * FS + 1)
            if tag == MULTI then
              local xc, xs, xmn, xmx, xo = sunpack('<I4dddH', F, CH * FS + s * XS + 1)
              parts[#parts + 1] = spack('<dI4ddddH', b, xc, xs, xmn, xmx, last, xo)
            elseif tag ~= 0 then
              parts[#parts + 1] = spack('<dI4ddddH', b, 1, last, last, last, last, tag - 1)
            end
          end
        else
          local C = got[id .. 'C' .. c]
          if C then
            local cc, cs, cmn, cmx, cl, co = sunpack('<I4ddddH', C, s * CS + 1)
            if cc > 0 then parts[#parts + 1] = spack('<dI4ddddH', b, cc, cs, cmn, cmx, cl, co) end
          end
        end
      end
    end
    out[#out + 1] = w
    out[#out + 1] = sr[1]
    out[#out + 1] = table.concat(parts)
    end
  end
end
for _, w in ipairs(writers) do readPartial(w) end
return out
`;

/**
 * fp_heads — other writers' part of given fine buckets, for the live broadcaster (one call per
 * flush on a standalone Redis, per source on Cluster). KEYS: the sources' writer sets (a source's
 * other keys are its writer-set key minus the trailing `w`, plus `i:`/`d:` and the writer).
 * ARGV: ownWriter CH, then per source: n, and n pairs (field, bucket). Returns { source#, pair#,
 * blob, … } (1-based) per other writer holding the bucket, blob = <dI4ddddH b count sum min max
 * last off. A bucket that is the other writer's fine head comes from its `HB` (the usual case).
 */
export const HEADS_LUA = PRELUDE + `
local own, CH = ARGV[1], tonumber(ARGV[2])
local HS = 93
local out = {}
local a = 3
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  local first = a + 1
  a = a + 1 + 2 * n
  local writers = redis.call('SMEMBERS', KEYS[k])
  if #writers > 1 then
    local base = string.sub(KEYS[k], 1, -2)
    local fields = {}
    for i = 1, n do fields[i] = ARGV[first + 2 * (i - 1)] end
    for _, w in ipairs(writers) do
      if w ~= own then
        local ids = hmget(base .. 'i:' .. w, fields)
        local data = base .. 'd:' .. w
        local H = redis.call('HGET', data, 'HB') or ''
        for i = 1, n do
          local id = ids[i]
          if id then
            local b = tonumber(ARGV[first + 2 * (i - 1) + 1])
            local c, s = locate(b, CH)
            local slot = (tonumber(id) - 1) * HS
            if #H >= slot + HS and sunpack('<d', H, slot + 1) == b then
              local cnt, sum, mn, mx, l, o = sunpack('<I4ddddH', H, slot + 56)
              if cnt > 0 then
                out[#out + 1] = k
                out[#out + 1] = i
                out[#out + 1] = spack('<dI4ddddH', b, cnt, sum, mn, mx, l, o)
              end
            else
              local F = redis.call('HGET', data, id .. 'F' .. c)
              if F then
                local tag, last = sunpack('<Hd', F, s * FS + 1)
                if tag == MULTI then
                  local xc, xs, xmn, xmx, xo = sunpack('<I4dddH', F, CH * FS + s * XS + 1)
                  out[#out + 1] = k
                  out[#out + 1] = i
                  out[#out + 1] = spack('<dI4ddddH', b, xc, xs, xmn, xmx, last, xo)
                elseif tag ~= 0 then
                  out[#out + 1] = k
                  out[#out + 1] = i
                  out[#out + 1] = spack('<dI4ddddH', b, 1, last, last, last, last, tag - 1)
                end
              end
            end
          end
        end
      end
    end
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
