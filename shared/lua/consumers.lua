-- consumers.lua: the consumers of queue q.
-- ARGV[3] queue q, ARGV[4] lease_ms.
-- Reply: the names in P consumers:q whose heartbeat is younger than lease_ms
-- by Redis's clock (every name when lease_ms < 0).
local lease = tonumber(ARGV[4])
return redis.call('ZRANGEBYSCORE', P .. 'consumers:' .. ARGV[3], lease < 0 and '-inf' or now - lease, '+inf')
