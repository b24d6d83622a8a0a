//! The Lua scripts of [`super::RedisAlertState`], each atomic on the server.
//!
//! A group (rule, evidence class, group values) is one string key, `<prefix>g:<key>`, little-
//! endian: the number of hits `n` (`u32`), then doubles — the newest hit, the last alert, then
//! the `n` hits inside the window, oldest first (at most the threshold count); `-inf` for a newest
//! hit or last alert not set. A group counting members (distinct values of Sigma `count(field)`,
//! `near` parts) then holds each hit's member, in the hits' order, as a `u32` length and its
//! bytes: a member already held keeps its newest hit only, as in
//! [`crate::rules::MemoryAlertState`]. Reading and writing a group are one `GET` and one `SET PX`
//! however many hits it holds, so a decision costs about two commands (the value grows with the
//! threshold count: 8 bytes a hit, plus its member). Times are microseconds, exact in Lua's
//! doubles up to 2^53 (the year 2255); TTLs are milliseconds.
//! The per-minute rate budgets are counters of their own, `<prefix>rate:<rule>:<minute>`.

/// Functions every script starts with: the group's value and the decisions of
/// [`crate::rules::MemoryAlertState`], step for step.
const LIB: &str = r"
local NONE = -math.huge
local FMT = {}
local function fmt(n)
  local f = FMT[n]
  if not f then
    f = '<' .. string.rep('d', n)
    FMT[n] = f
  end
  return f
end
-- Lua returns at most ~8000 values from a call: doubles are (un)packed this many at a time.
local CHUNK = 512
-- {newest, last alert, hits...; m = the hits' members (1..#g - 2, '' for none) or nil}
local function unpack_group(v)
  local n = struct.unpack('<I4', v)
  if #v < 20 + 8 * n then return {NONE, NONE} end
  local g, pos = {}, 5
  while #g < n + 2 do
    local k = math.min(CHUNK, n + 2 - #g)
    local part = {struct.unpack(fmt(k), v, pos)}
    pos = part[k + 1]
    for j = 1, k do g[#g + 1] = part[j] end
  end
  if pos <= #v then
    local ms = {}
    for j = 1, n do ms[j], pos = struct.unpack('<I4c0', v, pos) end
    g.m = ms
  end
  return g
end
-- A value that is not a group (cut, foreign) is an empty group.
local function decode(v)
  if not v or #v < 20 then return {NONE, NONE} end
  local ok, g = pcall(unpack_group, v)
  if ok then return g end
  return {NONE, NONE}
end
local function encode(g)
  local parts = {struct.pack('<I4', #g - 2)}
  for i = 1, #g, CHUNK do
    local j = math.min(i + CHUNK - 1, #g)
    parts[#parts + 1] = struct.pack(fmt(j - i + 1), unpack(g, i, j))
  end
  local ms = g.m
  if ms then
    for j = 1, #g - 2 do parts[#parts + 1] = struct.pack('<I4', #ms[j]) .. ms[j] end
  end
  return table.concat(parts)
end
-- Stores g with a TTL of at least ttl ms (a longer one already set is kept).
local function put(k, g, ttl)
  local cur = redis.call('PTTL', k)
  if cur > tonumber(ttl) then ttl = cur end
  redis.call('SET', k, encode(g), 'PX', ttl)
end
-- Adds a hit of member m (a distinct value or `near` part, held once at its newest hit; nil: an
-- anonymous hit); the hits now inside the window, or -1 when late (not added).
local function hit(g, at, window, keep, tol, m)
  if at < g[1] - tol then return -1 end
  local ms = g.m
  if m then
    m = '=' .. m
    if not ms then
      ms = {}
      for j = 1, #g - 2 do ms[j] = '' end
      g.m = ms
    end
  end
  local add = true
  if m then
    for i = 3, #g do
      if ms[i - 2] == m then
        if g[i] >= at then
          add = false
        else
          table.remove(g, i)
          table.remove(ms, i - 2)
        end
        break
      end
    end
  end
  if add then
    local pos = #g + 1
    while pos > 3 and g[pos - 1] > at do pos = pos - 1 end
    table.insert(g, pos, at)
    if ms then table.insert(ms, pos - 2, m or '') end
  end
  if at > g[1] then g[1] = at end
  local from = g[1] - window
  while #g > 2 and (g[3] < from or #g - 2 > keep) do
    table.remove(g, 3)
    if ms then table.remove(ms, 1) end
  end
  return #g - 2
end
local function clear(g)
  for i = #g, 3, -1 do g[i] = nil end
  g.m = nil
end
-- Claims the right to alert at `at`: false within `dedup` of the last alert.
local function claim(g, at, dedup)
  if g[2] ~= NONE and math.abs(at - g[2]) < dedup then return false end
  if at > g[2] then g[2] = at end
  return true
end
";

/// KEYS: group. ARGV: at, window, keep, tolerance, ttl ms, then the member if the hit has one.
/// The count inside the window, or -1 for a late hit.
const RECORD_HIT: &str = r"
local g = decode(redis.call('GET', KEYS[1]))
local c = hit(g, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  ARGV[6])
if c >= 0 then put(KEYS[1], g, ARGV[5]) end
return c
";

/// KEYS: group.
const CLEAR_HITS: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local g = decode(v)
  clear(g)
  redis.call('SET', KEYS[1], encode(g), 'KEEPTTL')
end
return 0
";

/// KEYS: group. ARGV: at, dedup window, ttl ms. 1 when claimed.
const CLAIM_ALERT: &str = r"
local g = decode(redis.call('GET', KEYS[1]))
if not claim(g, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
put(KEYS[1], g, ARGV[3])
return 1
";

/// KEYS: group. ARGV: at.
const RELEASE_ALERT: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local g = decode(v)
  if g[2] == tonumber(ARGV[1]) then
    g[2] = NONE
    redis.call('SET', KEYS[1], encode(g), 'KEEPTTL')
  end
end
return 0
";

/// KEYS: rate counter. The alerts taken in the minute, this one included.
const TAKE_RATE: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], 120) end
return c
";

/// Decides many matches in order, exactly as [`crate::rules::decide_with`] over the scripts
/// above would, in one call: one `MGET` of their groups, then one `SET PX` per group changed
/// (and `INCR` per rate-limited alert). Per decision `i` (from 0): KEYS `2i+1` group, `2i+2` rate
/// counter; ARGV, one decision after the other: at, window (-1: no threshold), threshold count,
/// tolerance, test rule (1/0), dedup window (0: none), group TTL ms, alerts per minute (0:
/// unlimited), the number of members `k`, then the `k` members (one hit each, stopping at a late
/// one; none: one anonymous hit). Returns one code per
/// decision: the count (> 0) when an alert is due, else -1 late, -2 below threshold, -3 test
/// rule, -4 deduplicated, -5 rate limited.
const DECIDE: &str = r"
local n = #KEYS / 2
local gk = {}
for i = 1, n do gk[i] = KEYS[2 * i - 1] end
local vals = redis.call('MGET', unpack(gk))
local groups, ttls = {}, {}
for i = 1, n do
  if groups[gk[i]] == nil then groups[gk[i]] = decode(vals[i]) end
end
local out = {}
local next_a = 0
for i = 0, n - 1 do
  local a, k = next_a, KEYS[2 * i + 1]
  local members = tonumber(ARGV[a + 9])
  next_a = a + 9 + members
  local g = groups[k]
  local at, window, count = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local code = 1
  if window >= 0 then
    local keep, tol = math.max(count, 1), tonumber(ARGV[a + 4])
    local c
    if members == 0 then
      c = hit(g, at, window, keep, tol)
    else
      for j = 1, members do
        c = hit(g, at, window, keep, tol, ARGV[a + 9 + j])
        if c < 0 then break end
      end
    end
    if c < 0 then
      code = -1
    else
      ttls[k] = ARGV[a + 7]
      if c < count then
        code = -2
      else
        clear(g)
        code = c
      end
    end
  end
  if code > 0 and ARGV[a + 5] == '1' then code = -3 end
  local dedup = tonumber(ARGV[a + 6])
  if code > 0 and dedup > 0 then
    if claim(g, at, dedup) then ttls[k] = ARGV[a + 7] else code = -4 end
  end
  local rate = tonumber(ARGV[a + 8])
  if code > 0 and rate > 0 then
    local rk = KEYS[2 * i + 2]
    local c = redis.call('INCR', rk)
    if c == 1 then redis.call('EXPIRE', rk, 120) end
    if c > rate then
      code = -5
      if dedup > 0 and g[2] == at then g[2] = NONE end
    end
  end
  out[i + 1] = code
end
for k, ttl in pairs(ttls) do redis.call('SET', k, encode(groups[k]), 'PX', ttl) end
return out
";

/// The script texts: [`LIB`] and each body.
pub(super) fn record_hit() -> String {
    [LIB, RECORD_HIT].concat()
}
pub(super) fn clear_hits() -> String {
    [LIB, CLEAR_HITS].concat()
}
pub(super) fn claim_alert() -> String {
    [LIB, CLAIM_ALERT].concat()
}
pub(super) fn release_alert() -> String {
    [LIB, RELEASE_ALERT].concat()
}
pub(super) fn take_rate() -> String {
    TAKE_RATE.to_owned()
}
pub(super) fn decide() -> String {
    [LIB, DECIDE].concat()
}
