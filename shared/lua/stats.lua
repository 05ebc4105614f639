-- stats.lua: the counts of queue q.
-- ARGV[3] queue q, ARGV[4] lease_ms.
-- Reply: {waiting (LLEN P q:q), in flight (the processing lists of every
-- consumer in P consumers:q), dead (LLEN P q:q:dead), live consumers
-- (heartbeat younger than lease_ms)}.
local q = ARGV[3]
local cons = P .. 'consumers:' .. q
local inflight = 0
for _, c in ipairs(redis.call('ZRANGE', cons, 0, -1)) do
  inflight = inflight + redis.call('LLEN', P .. 'q:' .. q .. ':processing:' .. c)
end
local live = redis.call('ZCOUNT', cons, now - tonumber(ARGV[4]), '+inf')
return {redis.call('LLEN', P .. 'q:' .. q), inflight, redis.call('LLEN', P .. 'q:' .. q .. ':dead'), live}
