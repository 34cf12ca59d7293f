-- (`common.lua`, put before this script, defines now_ms, hour_at and
-- keep_counts.)
--
-- A replica's streams are still open: their leases run on. One that has
-- already been released (or whose lease ran out) is not added again.
--
-- KEYS: each stream's open streams and held tokens (`admit.lua`'s KEYS[2]
-- and KEYS[3]), in turn. ARGV: the lease (ms), then each stream's id.
local lease = tonumber(ARGV[1])
local now = now_ms()
for i = 2, #ARGV do
  local open, held = KEYS[2 * i - 3], KEYS[2 * i - 2]
  if redis.call('ZADD', open, 'XX', 'CH', now + lease, ARGV[i]) == 1 then
    redis.call('PEXPIRE', open, lease)
    redis.call('PEXPIRE', held, lease)
  end
end
return 0
