-- (`common.lua`, put before this script, defines now_ms, hour_at and
-- keep_counts.)
--
-- A replica's streams are still open: their leases run on. A stream whose
-- slot is not there takes it again, with the tokens it holds: a Redis that
-- restarted without its data, or a replica cut off from Redis for longer
-- than a lease, would otherwise leave a running stream counted nowhere,
-- and its client free to open more than its share. A stream that has ended
-- is never renewed: its replica sends the release only after any renewal
-- that counted it open has run (`SharedLimits::turns`).
--
-- KEYS: each stream's open streams and held tokens (`admit.lua`'s KEYS[2]
-- and KEYS[3]), in turn. ARGV: the lease (ms), then each stream's id and
-- the tokens it holds, in turn.
local lease = tonumber(ARGV[1])
local now = now_ms()
for i = 1, #KEYS / 2 do
  local open, held = KEYS[2 * i - 1], KEYS[2 * i]
  local id, tokens = ARGV[2 * i], ARGV[2 * i + 1]
  if not redis.call('ZSCORE', open, id) then
    redis.call('HSET', held, id, tokens)
  end
  redis.call('ZADD', open, now + lease, id)
  redis.call('PEXPIRE', open, lease)
  redis.call('PEXPIRE', held, lease)
end
return 0
