-- (`common.lua`, put before this script, defines now_ms, hour_at and
-- keep_counts.)
--
-- Admits a stream for one client against the limits every replica shares,
-- or says which limit refused it. Redis runs one script at a time, so two
-- replicas admitting the same client at once are counted one after the
-- other. The clock is Redis's, the same for every replica.
--
-- KEYS[1] the client's counts: `tat` (requests per minute, as a
--         theoretical arrival time), `since` and `spent` (the token hour)
-- KEYS[2] its open streams: message id -> end of lease (ms)
-- KEYS[3] the tokens each of its open streams holds: message id -> tokens
-- KEYS[4] the reply's record in the registry, written when it is admitted:
--         one round trip for both
-- ARGV: message id, tokens wanted, streams per client, requests per
--       minute, tokens per hour, the hour (ms), the lease (ms), the
--       record, its time to live (s)
-- Returns {'granted', tokens} or {refusal, retry after (ms)}.
local counts, open, held, record = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
local wanted, max_open, per_minute = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local budget, hour, lease = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()

-- The streams of a replica that stopped renewing their leases (it died, or
-- lost Redis) give back their slots and what they held. At most one
-- client's share of streams, so this is bounded by the limit.
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', open, '-inf', now)) do
  redis.call('ZREM', open, gone)
  redis.call('HDEL', held, gone)
end

-- Requests per minute: the generic cell rate algorithm, as governor counts
-- them in one process (a burst of `per_minute`, one more every
-- 60 s / `per_minute`). Every attempt past this check counts.
local interval = 60000 / per_minute
local tat = math.max(tonumber(redis.call('HGET', counts, 'tat')) or now, now)
local allowed_at = tat + interval - per_minute * interval
if now < allowed_at then
  return {'requests', math.ceil(allowed_at - now)}
end
tat = tat + interval
redis.call('HSET', counts, 'tat', tat)
local since = tonumber(redis.call('HGET', counts, 'since'))
keep_counts(counts, tat, since, hour)

if redis.call('ZCARD', open) >= max_open then
  return {'streams', 0}
end

local spent
since, spent = hour_at(since, tonumber(redis.call('HGET', counts, 'spent')) or 0, now, hour)
if spent >= budget then
  return {'spent', math.ceil(since + hour - now)}
end
local holding = 0
for _, tokens in ipairs(redis.call('HVALS', held)) do
  holding = holding + tonumber(tokens)
end
local left = budget - spent - holding
if left <= 0 then
  return {'held', 0}
end
local granted = math.min(wanted, left)
redis.call('HSET', counts, 'since', since, 'spent', spent)
keep_counts(counts, tat, since, hour)
redis.call('ZADD', open, now + lease, id)
redis.call('HSET', held, id, granted)
redis.call('PEXPIRE', open, lease)
redis.call('PEXPIRE', held, lease)
redis.call('SET', record, ARGV[8], 'EX', ARGV[9])
return {'granted', granted}
