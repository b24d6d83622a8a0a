//! The Lua scripts of [`super::RedisAlertState`], each atomic on the server. Times are
//! microseconds (exact in Lua's doubles up to 2^53, the year 2255); TTLs are milliseconds.

/// KEYS: hits zset, newest time. ARGV: at, window, keep, tolerance, ttl ms, member.
/// Returns the count inside the window, or -1 for a late hit.
pub(super) const RECORD_HIT: &str = r"
local at = tonumber(ARGV[1])
local newest = at
local n = redis.call('GET', KEYS[2])
if n then
  n = tonumber(n)
  if at < n - tonumber(ARGV[4]) then return -1 end
  if n > at then newest = n end
end
if newest == at then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', newest - tonumber(ARGV[2])))
local c = redis.call('ZCARD', KEYS[1])
local keep = tonumber(ARGV[3])
if c > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, c - keep - 1)
  c = keep
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return c
";

/// KEYS: hits zset.
pub(super) const CLEAR_HITS: &str = "redis.call('DEL', KEYS[1]) return 0";

/// KEYS: last alert. ARGV: at, dedup window, ttl ms. Returns 1 when claimed.
pub(super) const CLAIM_ALERT: &str = r"
local last = redis.call('GET', KEYS[1])
local at = tonumber(ARGV[1])
if last then
  local l = tonumber(last)
  if math.abs(at - l) < tonumber(ARGV[2]) then return 0 end
  if l > at then return 1 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

/// KEYS: last alert. ARGV: at.
pub(super) const RELEASE_ALERT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: rate counter. Returns the alerts taken in the minute, this one included.
pub(super) const TAKE_RATE: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], 120) end
return c
";

/// Decides many matches in order, exactly as [`crate::rules::decide_with`] over the
/// scripts above would, in one call. Per decision `i` (from 0): KEYS `4i+1` hits zset, `4i+2`
/// newest time, `4i+3` last alert, `4i+4` rate counter; ARGV `10i+1` at, `+2` window (-1: no
/// threshold), `+3` threshold count, `+4` tolerance, `+5` hits TTL ms, `+6` member, `+7` test
/// rule (1/0), `+8` dedup window (0: none), `+9` last-alert TTL ms, `+10` alerts per minute (0:
/// unlimited). Returns one code per decision: the count (> 0) when an alert is due, else -1 late,
/// -2 below threshold, -3 test rule, -4 deduplicated, -5 rate limited.
pub(super) const DECIDE: &str = r"
local out = {}
for i = 0, #ARGV / 10 - 1 do
  local k, a = 4 * i, 10 * i
  local at = tonumber(ARGV[a + 1])
  local window = tonumber(ARGV[a + 2])
  local code = 1
  if window >= 0 then
    local hits, nk, ttl = KEYS[k + 1], KEYS[k + 2], ARGV[a + 5]
    local newest = at
    local prev = redis.call('GET', nk)
    if prev then
      prev = tonumber(prev)
      if at < prev - tonumber(ARGV[a + 4]) then
        code = -1
      elseif prev > at then
        newest = prev
      end
    end
    if code == 1 then
      if newest == at then
        redis.call('SET', nk, ARGV[a + 1], 'PX', ttl)
      else
        redis.call('PEXPIRE', nk, ttl)
      end
      redis.call('ZADD', hits, ARGV[a + 1], ARGV[a + 6])
      redis.call('ZREMRANGEBYSCORE', hits, '-inf', '(' .. string.format('%.0f', newest - window))
      local c = redis.call('ZCARD', hits)
      local count = tonumber(ARGV[a + 3])
      local keep = math.max(count, 1)
      if c > keep then
        redis.call('ZREMRANGEBYRANK', hits, 0, c - keep - 1)
        c = keep
      end
      if c < count then
        redis.call('PEXPIRE', hits, ttl)
        code = -2
      else
        redis.call('DEL', hits)
        code = c
      end
    end
  end
  if code > 0 and ARGV[a + 7] == '1' then code = -3 end
  local dedup = tonumber(ARGV[a + 8])
  if code > 0 and dedup > 0 then
    local last = redis.call('GET', KEYS[k + 3])
    local set = true
    if last then
      local l = tonumber(last)
      if math.abs(at - l) < dedup then
        code = -4
      elseif l > at then
        set = false
      end
    end
    if code > 0 and set then redis.call('SET', KEYS[k + 3], ARGV[a + 1], 'PX', ARGV[a + 9]) end
  end
  local rate = tonumber(ARGV[a + 10])
  if code > 0 and rate > 0 then
    local c = redis.call('INCR', KEYS[k + 4])
    if c == 1 then redis.call('EXPIRE', KEYS[k + 4], 120) end
    if c > rate then
      code = -5
      if dedup > 0 and redis.call('GET', KEYS[k + 3]) == ARGV[a + 1] then
        redis.call('DEL', KEYS[k + 3])
      end
    end
  end
  out[i + 1] = code
end
return out
";
