-- reap.lua: returns the in-flight ids of silent consumers of queue q.
-- ARGV[3] queue q, ARGV[4] lease_ms.
-- For every consumer whose heartbeat is older than lease_ms: LMOVE (LEFT,
-- RIGHT) its processing list back to P q:q, so its oldest in-flight id is
-- taken next, and ZREM it from P consumers:q.
-- Reply: the number of ids moved.
local q = ARGV[3]
local cons = P .. 'consumers:' .. q
local dead = redis.call('ZRANGEBYSCORE', cons, '-inf', '(' .. (now - tonumber(ARGV[4])))
local moved = 0
for _, c in ipairs(dead) do
  local proc = P .. 'q:' .. q .. ':processing:' .. c
  while redis.call('LMOVE', proc, P .. 'q:' .. q, 'LEFT', 'RIGHT') do
    moved = moved + 1
  end
  redis.call('ZREM', cons, c)
end
return moved
