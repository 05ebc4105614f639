-- deliver.lua: deliver(q, proc, id, max, stage), the bookkeeping of one
-- delivery shared by take_many.lua and take_one.lua (rqueue.c puts it after
-- the prelude, whose P and status() it uses). id is already in the processing
-- list proc of queue q.
-- Returns the delivery count n (> 0) and sets status `stage`; or 0 when the
-- payload P msg:q:<id> is gone (id dropped from proc); or -(n - 1), the
-- deliveries made, when n passed max (id moved to P q:q:dead, status
-- STAGE_FAILED with the reason): the caller logs that dead letter.
local function deliver(q, proc, id, max, stage)
  if redis.call('EXISTS', P .. 'msg:' .. q .. ':' .. id) == 0 then
    redis.call('LREM', proc, 1, id)
    redis.call('HDEL', P .. 'attempts:' .. q, id)
    return 0
  end
  local n = redis.call('HINCRBY', P .. 'attempts:' .. q, id, 1)
  if n > max then
    redis.call('LREM', proc, 1, id)
    redis.call('LPUSH', P .. 'q:' .. q .. ':dead', id)
    status(id, STAGE_FAILED, 'gave up after ' .. (n - 1) .. ' deliveries to ' .. q .. ' that never finished (worker crashed or hung each time)')
    return -(n - 1)
  end
  status(id, stage)
  return n
end
