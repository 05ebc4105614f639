-- 001_images.sql - one row per stored image (deploy/README.md, sql/).
-- Idempotent: PostgreSQL's image runs it from /docker-entrypoint-initdb.d on a
-- fresh data dir, and imgcap-persist applies it again at start (recording it in
-- schema_migrations), so both must succeed on the same database.
CREATE TABLE IF NOT EXISTS images (
    id          uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    description text NOT NULL,
    -- relative to STORAGE_DIR: YYYY/MM/DD/<id>.jpg
    path        text NOT NULL,
    width       int,
    height      int,
    bytes       int,
    stored_at   timestamptz NOT NULL DEFAULT now()
);

-- An index 002_frame_store.sql drops: the list pages by id alone (UUIDv7 ids
-- sort by time), so no query used it.
CREATE INDEX IF NOT EXISTS images_received_at_id_idx ON images (received_at DESC, id DESC);
