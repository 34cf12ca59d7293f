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
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local since = tonumber(redis.call('HGET', counts, 'since'))
local spent = tonumber(redis.call('HGET', counts, 'spent')) or 0
if since == nil or now - since >= hour then
  since, spent = now, 0
end
redis.call('HSET', counts, 'since', since, 'spent', spent + used)
local tat = tonumber(redis.call('HGET', counts, 'tat')) or now
redis.call('PEXPIREAT', counts, math.ceil(math.max(tat, since + hour)))
return 0
