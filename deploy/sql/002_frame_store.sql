-- 002_frame_store.sql - finding frames, thumbnails, deletion and retention
-- (docs/api.md, Finding frames; docs/operations.md, Retention and disk space;
-- deploy/README.md, sql/).
-- Idempotent like 001: PostgreSQL's image runs it on a fresh data dir and
-- imgcap-persist applies it again at start, also on a database that already
-- holds rows of 001's schema.

-- Substring search in any script (GET /api/images?q=): a trigram index on the
-- lowercased description serves LIKE '%...%' of three characters or more.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may
-- create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The camera the frame came from (upload part "camera"); NULL when none was
-- given. thumb_bytes: size of <id>.thumb.jpg beside the image, NULL for rows
-- stored before thumbnails existed (they have none).
ALTER TABLE images ADD COLUMN IF NOT EXISTS camera text;
ALTER TABLE images ADD COLUMN IF NOT EXISTS thumb_bytes int;

-- Pages go newest first by id (UUIDv7: time order), and from/to become an id
-- range on the primary key, so no query needs an index on received_at.
DROP INDEX IF EXISTS images_received_at_id_idx;
CREATE INDEX IF NOT EXISTS images_camera_id_idx ON images (camera, id);
CREATE INDEX IF NOT EXISTS images_description_trgm_idx
    ON images USING gin (lower(description) gin_trgm_ops);

-- Every image deleted (DELETE /api/images/{id}, RETENTION, STORAGE_RECYCLE),
-- in the transaction that deletes its row. Two jobs:
--   * a durable work list: persist's janitor removes the files of the rows
--     with purged_at NULL, then sets it, so a crash between the row and the
--     files only delays the removal;
--   * a tombstone: persist never inserts a row for an id listed here, so no
--     late render or redelivery brings a deleted image back.
-- path is the image's file relative to STORAGE_DIR ('' for an id deleted
-- while it was still in the pipeline: it had no row yet).
CREATE TABLE IF NOT EXISTS image_deletions (
    id          uuid PRIMARY KEY,
    path        text NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('delete', 'retention', 'recycle')),
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    purged_at   timestamptz
);
CREATE INDEX IF NOT EXISTS image_deletions_pending_idx
    ON image_deletions (deleted_at) WHERE purged_at IS NULL;

-- Deleting a row and inserting it race: under READ COMMITTED a DELETE does not
-- see a row another transaction has inserted but not committed, and that
-- INSERT's check of image_deletions does not see the tombstone. Both sides
-- therefore take a transaction-scoped advisory lock on the id first, in its
-- own statement (a statement's snapshot is taken before it waits on a lock):
-- persist shared, deleters exclusive. Each statement of a VOLATILE plpgsql
-- function takes a fresh snapshot, so the checks after the lock see what the
-- other side committed.
CREATE OR REPLACE FUNCTION imgcap_lock_key(p_id uuid) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT hashtextextended(p_id::text, 0) $$;

-- The smallest UUIDv7 of the millisecond p_ts falls in: ids carry their
-- received_at's millisecond in their first 48 bits, so "received before
-- p_ts" is also "id < imgcap_uuid_floor(p_ts)", a range of the primary key.
CREATE OR REPLACE FUNCTION imgcap_uuid_floor(p_ts timestamptz) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM p_ts) * 1000)::bigint), 12, '0')
            || '00000000000000000000')::uuid $$;

-- persist, inside the transaction that inserts a batch: locks the ids
-- (shared) and returns those deleted meanwhile, which it must not insert.
CREATE OR REPLACE FUNCTION imgcap_claim_ids(p_ids uuid[]) RETURNS SETOF uuid
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(imgcap_lock_key(i)) FROM unnest(p_ids) AS i;
    RETURN QUERY SELECT d.id FROM image_deletions d WHERE d.id = ANY (p_ids);
END $$;

-- DELETE /api/images/{id}. Returns
--   'deleted' the row was deleted (or, with p_in_pipeline, a tombstone laid
--             for an id that has no row yet);
--   'gone'    deleted before;
--   'unknown' no row and no tombstone, and p_in_pipeline false: the caller
--             asks Redis whether the id is in the pipeline and calls again.
CREATE OR REPLACE FUNCTION imgcap_delete_image(p_id uuid, p_in_pipeline boolean) RETURNS text
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_path text;
BEGIN
    PERFORM pg_advisory_xact_lock(imgcap_lock_key(p_id));
    IF EXISTS (SELECT 1 FROM image_deletions WHERE id = p_id) THEN
        RETURN 'gone';
    END IF;
    DELETE FROM images WHERE id = p_id RETURNING path INTO v_path;
    IF v_path IS NULL AND NOT p_in_pipeline THEN
        RETURN 'unknown';
    END IF;
    INSERT INTO image_deletions (id, path, reason) VALUES (p_id, coalesce(v_path, ''), 'delete');
    PERFORM pg_notify('imgcap_purge', '');
    RETURN 'deleted';
END $$;

-- persist's janitor: deletes up to p_limit rows, oldest first, received
-- before p_cutoff (RETENTION; 'infinity' for STORAGE_RECYCLE), recording each
-- in image_deletions. Rows another janitor holds, or whose id persist is
-- inserting right now, are skipped (SKIP LOCKED, a try-lock), so several
-- persists never wait on or fight over one row. Returns how many it deleted.
CREATE OR REPLACE FUNCTION imgcap_expire(p_cutoff timestamptz, p_limit int, p_reason text)
    RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n int;
    -- Bounds the primary key scan: without it, finding that nothing has
    -- expired would read every row.
    v_bound uuid := CASE WHEN isfinite(p_cutoff) THEN imgcap_uuid_floor(p_cutoff)
                         ELSE 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid END;
BEGIN
    WITH c AS (
        SELECT id, path FROM images
        WHERE id < v_bound AND received_at < p_cutoff
        ORDER BY id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), l AS (
        SELECT id, path FROM c WHERE pg_try_advisory_xact_lock(imgcap_lock_key(id))
    ), d AS (
        DELETE FROM images i USING l WHERE i.id = l.id RETURNING i.id, i.path
    )
    INSERT INTO image_deletions (id, path, reason)
    SELECT id, path, p_reason FROM d
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n > 0 THEN
        PERFORM pg_notify('imgcap_purge', '');
    END IF;
    RETURN v_n;
END $$;
