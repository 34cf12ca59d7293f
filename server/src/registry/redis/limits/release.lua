-- (`common.lua`, put before this script, defines now_ms, hour_at and
-- keep_counts.)
--
-- A stream has ended: its slot and what it held go back, and the tokens it
-- was sent count against its client's hour (all of them, even past what it
-- held: a model API that overshoots its `max_tokens` is charged).
--
-- KEYS as `admit.lua`. ARGV: message id, tokens used, the hour (ms)
local counts, open, held = KEYS[1], KEYS[2], KEYS[3]
local id, used, hour = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREM', open, id)
redis.call('HDEL', held, id)
if used == 0 then
  return 0
end
local now = now_ms()
local since, spent = hour_at(
  tonumber(redis.call('HGET', counts, 'since')),
  tonumber(redis.call('HGET', counts, 'spent')) or 0,
  now,
  hour
)
redis.call('HSET', counts, 'since', since, 'spent', spent + used)
keep_counts(counts, tonumber(redis.call('HGET', counts, 'tat')) or now, since, hour)
return 0
