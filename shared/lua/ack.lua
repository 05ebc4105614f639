-- ack.lua: the last stage is done with id.
-- ARGV[3] queue q, ARGV[4] consumer c, ARGV[5] id, ARGV[6] stage.
-- If LREM removes id from P q:q:processing:c: DEL P msg:q:<id>, HDEL
-- P attempts:q, status `stage`.
-- Reply: 1 done, 0 not ours any more (nothing changed).
local q, c, id = ARGV[3], ARGV[4], ARGV[5]
if redis.call('LREM', P .. 'q:' .. q .. ':processing:' .. c, 1, id) == 0 then
  return 0
end
redis.call('DEL', P .. 'msg:' .. q .. ':' .. id)
redis.call('HDEL', P .. 'attempts:' .. q, id)
status(id, ARGV[6])
return 1
