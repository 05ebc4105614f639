-- release.lua: returns the in-flight ids of one consumer c of queue q: its
-- graceful stop, or a dead predecessor's (rqueue_reclaim). The same move as
-- reap.lua's, so a late outcome of that consumer finds the id gone from its
-- list and is refused, and the next take counts the delivery against
-- MAX_ATTEMPTS as after a reap.
-- ARGV[3] queue q, ARGV[4] consumer c.
-- LMOVE (LEFT, RIGHT) P q:q:processing:c back to P q:q, ZREM c from
-- P consumers:q.
-- Reply: the number of ids moved.
local q, c = ARGV[3], ARGV[4]
local proc = P .. 'q:' .. q .. ':processing:' .. c
local moved = 0
while redis.call('LMOVE', proc, P .. 'q:' .. q, 'LEFT', 'RIGHT') do
  moved = moved + 1
end
redis.call('ZREM', P .. 'consumers:' .. q, c)
return moved
