-- Put before each of the limits' scripts: what they share.

-- Now, in ms, on Redis's clock: the same for every replica.
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- The client's token hour at `now`, from what is stored (`since` nil if
-- none): that hour, or a new one if there is none or it is over, as
-- `TokenHour::at` counts it in one process. Returns its start and spent.
local function hour_at(since, spent, now, hour)
  if since == nil or now - since >= hour then
    return now, 0
  end
  return since, spent
end

-- The client's counts live as long as the rate (`tat`), or the hour once
-- it has begun (`since`, nil if not), still matters.
local function keep_counts(counts, tat, since, hour)
  redis.call('PEXPIREAT', counts, math.ceil(since and math.max(tat, since + hour) or tat))
end

