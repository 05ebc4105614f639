-- take_many.lua (with deliver.lua): takes up to max ids of queue q.
-- ARGV[3] q, ARGV[4] consumer c, ARGV[5] max, ARGV[6] max_attempts,
-- ARGV[7] stage.
-- Up to max times LMOVE P q:q -> P q:q:processing:c (RIGHT, LEFT), each then
-- delivered (deliver.lua). Payloads are read outside Lua: copying 40 KB
-- strings through the interpreter costs more than the round trip it saves.
-- Reply: {id1, n1, id2, n2, ...}, the ids now held and their delivery counts,
-- and those dead-lettered at the delivery cap with minus their deliveries.
local q, c = ARGV[3], ARGV[4]
local src = P .. 'q:' .. q
local proc = src .. ':processing:' .. c
local out = {}
for _ = 1, tonumber(ARGV[5]) do
  local id = redis.call('LMOVE', src, proc, 'RIGHT', 'LEFT')
  if not id then break end
  local n = deliver(q, proc, id, tonumber(ARGV[6]), ARGV[7])
  if n ~= 0 then out[#out + 1] = id; out[#out + 1] = n end
end
return out
