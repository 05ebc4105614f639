-- status.lua: sets the status of id outside a consumer's scripts: the
-- enqueue (inside its MULTI, rqueue_enqueue) and a deletion
-- (rqueue_mark_deleted), so that prelude.lua's status() builds every event.
-- ARGV[3] id, ARGV[4] stage.
-- Reply: 1.
status(ARGV[3], ARGV[4])
return 1
