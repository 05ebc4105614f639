-- prelude.lua: the head of every rqueue script (rqueue.c puts it first,
-- after the STAGE_<NAME> locals it writes from rqueue.h's RQ_STAGE_<NAME>:
-- a script names a stage only through them).
-- ARGV[1] key prefix P; ARGV[2] status TTL in seconds (RQ_STATUS_TTL_S in
-- rqueue.c, the one place it is written). A script's own arguments follow
-- from ARGV[3]. Key names are built here from P rather than passed as KEYS:
-- the names depend on ids read inside the script.
-- Defines P, now (unix ms by Redis's clock, so every instance agrees) and
-- status(id, stage, err): HSET P status:<id> stage/updated_at/error, EXPIRE
-- it, PUBLISH {"id","status","at"} on P events: the one place an event is
-- built, with Redis's clock, which every host shares.
local P = ARGV[1]
local status_ttl = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function status(id, stage, err)
  local k = P .. 'status:' .. id
  redis.call('HSET', k, 'stage', stage, 'updated_at', now, 'error', err or '')
  redis.call('EXPIRE', k, status_ttl)
  redis.call('PUBLISH', P .. 'events', '{"id":"' .. id .. '","status":"' .. stage .. '","at":' .. string.format('%d', now) .. '}')
end
