-- heartbeat.lua: consumer c of queue q is alive.
-- ARGV[3] queue q, ARGV[4] consumer c.
-- ZADD P consumers:q <now> c.
-- Reply: 1.
redis.call('ZADD', P .. 'consumers:' .. ARGV[3], now, ARGV[4])
return 1
