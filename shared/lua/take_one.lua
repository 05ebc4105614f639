-- take_one.lua (with deliver.lua): the delivery of an id that a BLMOVE has
-- already put in the processing list of consumer c.
-- ARGV[3] queue q, ARGV[4] consumer c, ARGV[5] id, ARGV[6] max_attempts,
-- ARGV[7] stage.
-- Reply: {id, n} (n = delivery count; minus the deliveries made when it was
-- dead-lettered at the cap), or {} when its payload is gone.
local q, c, id = ARGV[3], ARGV[4], ARGV[5]
local n = deliver(q, P .. 'q:' .. q .. ':processing:' .. c, id, tonumber(ARGV[6]), ARGV[7])
if n ~= 0 then return {id, n} end
return {}
