-- forward.lua: hands id over from queue `from` to queue `to`, if it is still
-- consumer c's.
-- ARGV[3] from, ARGV[4] consumer c, ARGV[5] id, ARGV[6] to, ARGV[7] stage.
-- The next payload was SET beforehand (same pipeline) as P stage:<c>:<id>;
-- it is renamed into place only if the id is still ours, so the handoff stays
-- atomic and conditional without passing the payload through Lua. The EXISTS
-- check comes before any write: a script that fails midway keeps its earlier
-- writes.
-- If LREM removes id from P q:from:processing:c: RENAME the staged key to
-- P msg:to:<id>, PERSIST it, LPUSH P q:to, DEL P msg:from:<id>, HDEL
-- P attempts:from, status `stage`. Otherwise DEL the staged key.
-- Reply: 1 handed off, 0 not ours any more, -2 staged payload missing.
local from, c, id, to = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local staged = P .. 'stage:' .. c .. ':' .. id
if redis.call('EXISTS', staged) == 0 then return -2 end
if redis.call('LREM', P .. 'q:' .. from .. ':processing:' .. c, 1, id) == 0 then
  redis.call('DEL', staged)
  return 0
end
local dst = P .. 'msg:' .. to .. ':' .. id
redis.call('RENAME', staged, dst)
redis.call('PERSIST', dst)
redis.call('LPUSH', P .. 'q:' .. to, id)
redis.call('DEL', P .. 'msg:' .. from .. ':' .. id)
redis.call('HDEL', P .. 'attempts:' .. from, id)
status(id, ARGV[7])
return 1
