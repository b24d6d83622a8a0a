//! The Lua scripts of [`super::RedisAlertState`], each atomic on the server.
//!
//! A group (rule, evidence class, group values) is one string key, `<prefix>g:<key>`: little-
//! endian doubles — the newest hit, the last alert, then the hits inside the window, oldest first
//! (at most the threshold count); `-inf` for a newest hit or last alert not set. Reading and
//! writing it are one `GET` and one `SET PX` however many hits it holds, so a decision costs about
//! two commands (the value grows with the threshold count: 8 bytes a hit). Times are
//! microseconds, exact in Lua's doubles up to 2^53 (the year 2255); TTLs are milliseconds.
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
-- {newest, last alert, hits...}
local function decode(v)
  if not v or #v < 16 or #v % 8 ~= 0 then return {NONE, NONE} end
  local n = #v / 8
  local g = {struct.unpack(fmt(n), v)}
  g[n + 1] = nil
  return g
end
local function encode(g)
  return struct.pack(fmt(#g), unpack(g))
end
-- Stores g with a TTL of at least ttl ms (a longer one already set is kept).
local function put(k, g, ttl)
  local cur = redis.call('PTTL', k)
  if cur > tonumber(ttl) then ttl = cur end
  redis.call('SET', k, encode(g), 'PX', ttl)
end
-- Adds a hit; the hits now inside the window, or -1 when late (not added).
local function hit(g, at, window, keep, tol)
  if at < g[1] - tol then return -1 end
  local pos = #g + 1
  while pos > 3 and g[pos - 1] > at do pos = pos - 1 end
  table.insert(g, pos, at)
  if at > g[1] then g[1] = at end
  local from = g[1] - window
  while #g > 2 and (g[3] < from or #g - 2 > keep) do table.remove(g, 3) end
  return #g - 2
end
local function clear(g)
  for i = #g, 3, -1 do g[i] = nil end
end
-- Claims the right to alert at `at`: false within `dedup` of the last alert.
local function claim(g, at, dedup)
  if g[2] ~= NONE and math.abs(at - g[2]) < dedup then return false end
  if at > g[2] then g[2] = at end
  return true
end
";

/// KEYS: group. ARGV: at, window, keep, tolerance, ttl ms. The count inside the window, or -1
/// for a late hit.
const RECORD_HIT: &str = r"
local g = decode(redis.call('GET', KEYS[1]))
local c = hit(g, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
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
/// counter; ARGV `8i+1` at, `+2` window (-1: no threshold), `+3` threshold count, `+4`
/// tolerance, `+5` test rule (1/0), `+6` dedup window (0: none), `+7` group TTL ms, `+8` alerts
/// per minute (0: unlimited). Returns one code per decision: the count (> 0) when an alert is
/// due, else -1 late, -2 below threshold, -3 test rule, -4 deduplicated, -5 rate limited.
const DECIDE: &str = r"
local n = #ARGV / 8
local gk = {}
for i = 1, n do gk[i] = KEYS[2 * i - 1] end
local vals = redis.call('MGET', unpack(gk))
local groups, ttls = {}, {}
for i = 1, n do
  if groups[gk[i]] == nil then groups[gk[i]] = decode(vals[i]) end
end
local out = {}
for i = 0, n - 1 do
  local a, k = 8 * i, KEYS[2 * i + 1]
  local g = groups[k]
  local at, window, count = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local code = 1
  if window >= 0 then
    local c = hit(g, at, window, math.max(count, 1), tonumber(ARGV[a + 4]))
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
