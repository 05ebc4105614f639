-- dead.lua: dead-letters id.
-- ARGV[3] queue q, ARGV[4] consumer c, ARGV[5] id, ARGV[6] reason.
-- If LREM removes id from P q:q:processing:c: LPUSH P q:q:dead, HDEL
-- P attempts:q, status STAGE_FAILED with the reason. The payload stays in
-- P msg:q:<id> for inspection.
-- Reply: 1 done, 0 not ours any more (nothing changed).
local q, c, id = ARGV[3], ARGV[4], ARGV[5]
if redis.call('LREM', P .. 'q:' .. q .. ':processing:' .. c, 1, id) == 0 then
  return 0
end
redis.call('LPUSH', P .. 'q:' .. q .. ':dead', id)
redis.call('HDEL', P .. 'attempts:' .. q, id)
status(id, STAGE_FAILED, ARGV[6])
return 1
