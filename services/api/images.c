/* images.c - GET/HEAD /api/images/{id} (see images.h). */
#include "images.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobcache.h"
#include "log.h"
#include "params.h"
#include "rowcache.h"
#include "rqueue.h"
#include "storage.h"
#include "timeutil.h"
#include "utf8.h"

#define ROWCACHE_SLOTS 8192 /* about 2.3 MB: the hot working set of reads */
/* Stored files kept in memory: 32 MiB is about 700 typical (~45 KB)
 * captioned photos, and keeps the api under the 64 MB of resident memory a
 * service may take (about 20 MB without the cache); a file above
 * BLOB_MAX_BYTES is streamed from disk. */
#define BLOB_SLOTS 4096
#define BLOB_CACHE_BYTES (32u * 1024 * 1024)
#define BLOB_MAX_BYTES (1024 * 1024)
/* The caches' key of a thumbnail: the image id and this suffix. */
#define THUMB_KEY_SUFFIX ".t"

struct api_images {
    const char *storage_dir;
    pthread_mutex_t storage_mu;
    char storage_real[PATH_MAX]; /* storage_dir resolved, once it exists */
    api_rowcache_t *rows;        /* key (id, or id + THUMB_KEY_SUFFIX) -> resolved path */
    api_blobcache_t *blobs;      /* key -> file bytes */
    api_respcache_t *ready;      /* key -> open file as a ready response (api_images_ready) */
    /* Deletions seen (api_images_forget). A read that looked its image up
     * before one and caches what it read afterwards drops that entry again
     * (cache_settle), so no deleted image comes back into a cache. */
    _Atomic unsigned long forgets;
};

api_images_t *api_images_new(const char *storage_dir)
{
    api_images_t *im = calloc(1, sizeof *im);
    if (im == NULL) return NULL;
    im->storage_dir = storage_dir;
    pthread_mutex_init(&im->storage_mu, NULL);
    im->rows = api_rowcache_new(ROWCACHE_SLOTS);
    im->blobs = api_blobcache_new(BLOB_SLOTS, BLOB_CACHE_BYTES);
    im->ready = api_respcache_new(API_IMAGES_READY_SLOTS);
    if (im->rows == NULL || im->blobs == NULL || im->ready == NULL) {
        api_images_free(im);
        return NULL;
    }
    return im;
}

void api_images_free(api_images_t *im)
{
    if (im == NULL) return;
    api_rowcache_free(im->rows);
    api_blobcache_free(im->blobs);
    api_respcache_free(im->ready);
    pthread_mutex_destroy(&im->storage_mu);
    free(im);
}

void api_images_usage(api_images_t *im, size_t *images, size_t *bytes)
{
    api_blobcache_usage(im->blobs, images, bytes);
}

/* The caches' key of the thumbnail of id into key (UUID_STR_LEN + 2 bytes). */
static void thumb_key(const char *id, char *key, size_t keylen)
{
    snprintf(key, keylen, "%s" THUMB_KEY_SUFFIX, id);
}

void api_images_forget(api_images_t *im, const char *id)
{
    /* Counted first: a read that cached after these evictions sees it. */
    atomic_fetch_add(&im->forgets, 1);
    char key[UUID_STR_LEN + 2];
    thumb_key(id, key, sizeof key);
    api_respcache_evict(im->ready, id);
    api_blobcache_evict(im->blobs, id);
    api_rowcache_evict(im->rows, id);
    api_respcache_evict(im->ready, key);
    api_blobcache_evict(im->blobs, key);
    api_rowcache_evict(im->rows, key);
}

unsigned long api_images_forgets(api_images_t *im) { return atomic_load(&im->forgets); }

/* What one request reads: an image or its thumbnail. */
typedef struct target {
    char id[UUID_STR_LEN];
    int thumb;                    /* the thumbnail, else the image */
    char key[UUID_STR_LEN + 2];   /* the caches' key */
    char etag[UUID_STR_LEN + 10]; /* "\"<id>\"" or "\"<id>.thumb\"" */
    unsigned long forgets;        /* im->forgets when the request began */
} target_t;

static void target_init(target_t *t, api_images_t *im, const char *id, int thumb)
{
    snprintf(t->id, sizeof t->id, "%s", id);
    t->thumb = thumb;
    if (thumb)
        thumb_key(id, t->key, sizeof t->key);
    else
        snprintf(t->key, sizeof t->key, "%s", id);
    snprintf(t->etag, sizeof t->etag, thumb ? "\"%s.thumb\"" : "\"%s\"", id);
    t->forgets = atomic_load(&im->forgets);
}

/* After caching t's entries: when a deletion was seen since the request
 * began, its image may be the deleted one, so they go again. */
static void cache_settle(api_images_t *im, const target_t *t)
{
    if (atomic_load(&im->forgets) == t->forgets) return;
    api_respcache_evict(im->ready, t->key);
    api_blobcache_evict(im->blobs, t->key);
    api_rowcache_evict(im->rows, t->key);
}

/* Writes strerror(e) to err; returns -1. */
static int fail_errno(int e, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", strerror(e));
    return -1;
}

typedef enum {
    IMG_ERROR,
    IMG_STORED,
    IMG_PENDING,
    IMG_FAILED,
    IMG_UNKNOWN,  /* never seen, or deleted */
    IMG_NO_THUMB, /* stored without a thumbnail (a thumbnail was asked for) */
} img_state_t;

typedef struct lookup {
    img_state_t state;
    char path[1024];    /* IMG_STORED: the target's file, relative to STORAGE_DIR */
    long long bytes;    /* IMG_STORED: its size from the row, -1 if unknown */
    int cached;         /* IMG_STORED from the row cache: path is resolved */
    rq_status_t status; /* IMG_PENDING / IMG_FAILED */
    char err[512];      /* IMG_ERROR: what was unreachable */
} lookup_t;

/* The stored row of r (API_SQL_GET's one row, which has an image) into out. */
static void take_row(const target_t *t, PGresult *r, lookup_t *out)
{
    const char *path = PQgetvalue(r, 0, 0);
    int col = t->thumb ? 2 : 1;
    out->bytes = PQgetisnull(r, 0, col) ? -1 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
    out->state = IMG_STORED;
    if (!t->thumb) {
        snprintf(out->path, sizeof out->path, "%s", path);
        return;
    }
    /* thumb_bytes NULL: stored before thumbnails, or render could not make one. */
    if (out->bytes < 0) {
        out->state = IMG_NO_THUMB;
    } else if (storage_thumb_path(path, out->path, sizeof out->path) != 0) {
        log_warn("id=%s stored path %s has no thumbnail name (not *.jpg)", t->id, path);
        out->state = IMG_NO_THUMB;
    }
}

static void look_up(api_conn_t *conn, const target_t *t, lookup_t *out)
{
    memset(out, 0, sizeof *out);
    const char *params[1] = {t->id};
    PGresult *r = api_backend_query(conn, API_SQL_GET, 1, params, out->err, sizeof out->err);
    if (r == NULL) {
        out->state = IMG_ERROR;
        return;
    }
    int has_row = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    int deleted = PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    if (has_row && !deleted) take_row(t, r, out);
    PQclear(r);
    if (has_row && !deleted) return;
    if (deleted) {
        /* Its status in Redis may still say where it was in the pipeline. */
        out->state = IMG_UNKNOWN;
        return;
    }
    rqueue_t *rq = api_backend_redis(conn, out->err, sizeof out->err);
    if (rq == NULL) {
        out->state = IMG_ERROR;
        return;
    }
    /* One retry: a dead connection is only noticed by the command that fails
     * on it, and rqueue reconnects on the next call. */
    if (rqueue_get_status(rq, t->id, &out->status) != 0 &&
        rqueue_get_status(rq, t->id, &out->status) != 0) {
        snprintf(out->err, sizeof out->err, "%s", rqueue_error(rq));
        out->state = IMG_ERROR;
        return;
    }
    if (out->status.stage[0] == '\0' || strcmp(out->status.stage, RQ_STAGE_DELETED) == 0)
        out->state = IMG_UNKNOWN;
    else if (strcmp(out->status.stage, RQ_STAGE_FAILED) == 0)
        out->state = IMG_FAILED;
    else
        out->state = IMG_PENDING; /* RQ_STAGE_STORED here: the row is being committed */
}

/* The resolved STORAGE_DIR into out (PATH_MAX), computed once it exists
 * (persist may create it after the API starts). 0, or -1 while it does not
 * (errno says why). */
static int storage_root(api_images_t *im, char *out)
{
    pthread_mutex_lock(&im->storage_mu);
    if (im->storage_real[0] == '\0' && realpath(im->storage_dir, im->storage_real) == NULL)
        im->storage_real[0] = '\0';
    snprintf(out, PATH_MAX, "%s", im->storage_real);
    pthread_mutex_unlock(&im->storage_mu);
    return out[0] != '\0' ? 0 : -1;
}

typedef struct file_stream {
    int fd;
} file_stream_t;

static ssize_t file_stream_read(void *cls, uint64_t offset, char *buf, size_t max)
{
    file_stream_t *f = cls;
    ssize_t n;
    do {
        n = pread(f->fd, buf, max, (off_t)offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        log_error("reading a stored image failed: %s", strerror(errno));
        return U_STREAM_ERROR;
    }
    return n == 0 ? U_STREAM_END : n;
}

static void file_stream_free(void *cls)
{
    file_stream_t *f = cls;
    close(f->fd);
    free(f);
}

/* Resolves relpath inside STORAGE_DIR into real (a PATH_MAX buffer), refusing
 * any path that escapes it. Returns 0, or -1 with err set and *eno the errno
 * (EPERM for an escaping path). */
static int resolve_stored(api_images_t *im, const char *relpath, char *real, int *eno, char *err,
                          size_t errlen)
{
    char root[PATH_MAX], full[PATH_MAX * 2];
    if (storage_root(im, root) != 0) {
        *eno = errno;
        snprintf(err, errlen, "STORAGE_DIR %s: %s", im->storage_dir, strerror(*eno));
        return -1;
    }
    snprintf(full, sizeof full, "%s/%s", root, relpath);
    if (realpath(full, real) == NULL) {
        *eno = errno;
        snprintf(err, errlen, "stored file %s: %s", relpath, strerror(*eno));
        return -1;
    }
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
        *eno = EPERM;
        snprintf(err, errlen, "refusing stored path %s: it escapes STORAGE_DIR", relpath);
        return -1;
    }
    return 0;
}

/* The validators of every answer with a stored file (200 and 304). */
static void set_image_cache_headers(api_call_t *c, const target_t *t)
{
    api_set_cache_headers(c, t->etag, API_CACHE_IMMUTABLE);
}

/* Sets up the 200 with b's bytes. 0, or -1 (out of memory) with nothing
 * answered.
 *
 * A body buffer rather than a stream: MHD sends the headers and a buffer body
 * in one sendmsg(), a stream in two sends after zeroing a block for it (the
 * stream measured ~10 % fewer requests/s). Ulfius copies the body twice on
 * the way (here, then into MHD's buffer); no call of its API avoids that. */
static int send_blob(api_call_t *c, const target_t *t, const api_blob_t *b)
{
    int head = c->req->http_verb != NULL && strcmp(c->req->http_verb, "HEAD") == 0;
    if (head && b->len > 0) {
        if (api_reply_bodiless(c, 200, b->len) != 0) return -1;
    } else if (ulfius_set_binary_body_response(c->resp, 200, (const char *)b->data, b->len) !=
               U_OK) {
        return -1;
    }
    api_set_header(c, "Content-Type", "image/jpeg");
    set_image_cache_headers(c, t);
    return 0;
}

/* Reads the whole regular file open as fd (st its fstat) into a new blob
 * (the caller releases it), or NULL with err set. */
static api_blob_t *read_blob(const char *key, const char *real, int fd, const struct stat *st,
                             char *err, size_t errlen)
{
    api_blob_t *b = api_blob_new(key, real, (size_t)st->st_size);
    if (b == NULL) {
        fail_errno(ENOMEM, err, errlen);
        return NULL;
    }
    size_t got = 0;
    while (got < b->len) {
        ssize_t n = pread(fd, b->data + got, b->len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fail_errno(n < 0 ? errno : EIO, err, errlen); /* shorter than its fstat: replaced */
            api_blob_release(b);
            return NULL;
        }
        got += (size_t)n;
    }
    b->dev = st->st_dev;
    b->ino = st->st_ino;
    b->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    return b;
}

/* Sets up the 200 with the file at real: read into the blob cache when it is
 * small enough, streamed otherwise. Once open, the file is answered whole even
 * if it is removed meanwhile (the descriptor keeps it). 0, or -1 with err set,
 * *eno the errno, and nothing answered yet. */
static int send_file(api_call_t *c, const target_t *t, const char *real, int *eno, char *err,
                     size_t errlen)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *eno = errno;
        return fail_errno(*eno, err, errlen);
    }
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (e != 0) {
        close(fd);
        *eno = e;
        return fail_errno(e, err, errlen);
    }
    *eno = ENOMEM; /* the only failure left but a short read, EIO */
    if (st.st_size <= BLOB_MAX_BYTES) {
        api_blob_t *b = read_blob(t->key, real, fd, &st, err, errlen);
        close(fd);
        if (b == NULL) {
            *eno = EIO;
            return -1;
        }
        api_blobcache_put(c->env->images->blobs, b);
        int rc = send_blob(c, t, b);
        api_blob_release(b);
        return rc == 0 ? 0 : fail_errno(ENOMEM, err, errlen);
    }
    file_stream_t *f = malloc(sizeof *f);
    if (f == NULL) {
        close(fd);
        return fail_errno(ENOMEM, err, errlen);
    }
    f->fd = fd;
    /* Streamed with pread() in 64 KiB blocks: memory per request stays
     * bounded whatever the file size. MHD sends Content-Length from the
     * stream size and, for HEAD, never calls the reader. */
    if (ulfius_set_stream_response(c->resp, 200, file_stream_read, file_stream_free,
                                   (uint64_t)st.st_size, API_STREAM_BLOCK, f) != U_OK) {
        file_stream_free(f);
        return fail_errno(ENOMEM, err, errlen);
    }
    api_set_header(c, "Content-Type", "image/jpeg");
    set_image_cache_headers(c, t);
    return 0;
}

/* 1 after answering 304 when If-None-Match names t's ETag (its 200 body has
 * bytes bytes); 0 without answering otherwise. */
static int answered_not_modified(api_call_t *c, const target_t *t, long long bytes)
{
    if (!api_etag_matches(api_req_header(c, "If-None-Match"), t->etag)) return 0;
    set_image_cache_headers(c, t);
    api_reply_not_modified(c, bytes);
    return 1;
}

/* The forgetting of an entry whose file has vanished (deleted, or removed
 * by hand) or was replaced: the caller looks the image up again. */
static void evict_gone(api_call_t *c, const target_t *t, int cached)
{
    log_warn("id=%s %s%s is gone, looking the image up again", t->id,
             cached ? "cached file" : "stored file", t->thumb ? " (thumbnail)" : "");
    api_respcache_evict(c->env->images->ready, t->key);
    api_blobcache_evict(c->env->images->blobs, t->key);
    api_rowcache_evict(c->env->images->rows, t->key);
}

/* Cuts s at its first invalid UTF-8 sequence. */
static void utf8_truncate_valid(char *s)
{
    size_t len = strlen(s), pos = 0;
    while (pos < len) {
        size_t at = pos;
        if (utf8_next(s, len, &pos) < 0) {
            s[at] = '\0';
            return;
        }
    }
}

/* Finds where t stands, holding the request up to wait_s seconds while it is
 * in the pipeline. */
static void find_image(api_call_t *c, const target_t *t, int wait_s, int use_cache, lookup_t *lk)
{
    memset(lk, 0, sizeof *lk);
    if (use_cache && api_rowcache_get(c->env->images->rows, t->key, lk->path, &lk->bytes)) {
        lk->state = IMG_STORED;
        lk->cached = 1;
        return;
    }
    api_events_t *ev = c->env->ev;
    api_waiter_t *w = NULL;
    uint64_t deadline = time_mono_ms() + (uint64_t)wait_s * 1000;
    for (;;) {
        look_up(api_call_conn(c), t, lk);
        if (lk->state != IMG_PENDING || wait_s == 0) break;
        api_call_release(c); /* never hold a backend slot while sleeping */
        if (w == NULL) {
            /* Register, then look again: an event between the first look and
             * the registration would otherwise be missed. */
            w = api_waiter_add(ev, t->id);
            if (w == NULL) break; /* too many waiters or stopping: answer now */
            continue;
        }
        uint64_t now = time_mono_ms();
        if (now >= deadline) break;
        uint64_t left = deadline - now;
        if (api_waiter_wait(ev, w, left > 1000 ? 1000 : (int)left) == API_WAIT_STOPPING) break;
    }
    api_waiter_remove(ev, w);
}

typedef enum {
    SERVE_ANSWERED = 0, /* 200, 304 or 500 set up */
    SERVE_FILE_GONE,    /* nothing answered: the file is gone (deleted?) or replaced */
} serve_outcome_t;

/* Answers a stored file (200, 304 or 500), or finds it gone: a cached entry's
 * file missing or replaced, or a looked-up row's file missing (the image may
 * have been deleted since). The caller then looks again; on that last try
 * (last_try) a missing file is a 500: a row without its file. */
static serve_outcome_t serve_stored(api_call_t *c, const target_t *t, const lookup_t *lk,
                                    int last_try)
{
    api_images_t *im = c->env->images;
    char real[PATH_MAX], err[PATH_MAX + 128];
    int eno = 0;
    if (answered_not_modified(c, t, lk->bytes)) return SERVE_ANSWERED;
    if (lk->cached) {
        snprintf(real, sizeof real, "%s", lk->path);
    } else if (resolve_stored(im, lk->path, real, &eno, err, sizeof err) != 0) {
        if (!last_try && (eno == ENOENT || eno == ENOTDIR)) return SERVE_FILE_GONE;
        api_reply_internal(c, "%s", err);
        return SERVE_ANSWERED;
    }
    if (send_file(c, t, real, &eno, err, sizeof err) != 0) {
        if (!last_try && (lk->cached || eno == ENOENT || eno == ENOTDIR)) return SERVE_FILE_GONE;
        api_reply_internal(c, "stored file %s: %s", real, err);
        return SERVE_ANSWERED;
    }
    if (!lk->cached) api_rowcache_put(im->rows, t->key, real, lk->bytes);
    cache_settle(im, t);
    return SERVE_ANSWERED;
}

/* Answers from the blob cache (200 or 304), or finds the file the blob was
 * read from gone or replaced. */
static serve_outcome_t serve_blob(api_call_t *c, const target_t *t, const api_blob_t *b)
{
    if (answered_not_modified(c, t, (long long)b->len)) return SERVE_ANSWERED;
    if (!api_blob_current(b)) return SERVE_FILE_GONE;
    if (send_blob(c, t, b) != 0) api_reply_internal(c, "cannot set up a response (out of memory)");
    return SERVE_ANSWERED;
}

/* Answers a target that is not stored (yet): 202, 422, 404 or 503. */
static void reply_not_stored(api_call_t *c, const target_t *t, lookup_t *lk)
{
    switch (lk->state) {
    case IMG_STORED:
        return;
    case IMG_PENDING:
        api_set_header(c, "Retry-After", "1");
        api_reply_json(c, 202, json_pack("{s:s, s:s}", "id", t->id, "status", lk->status.stage));
        return;
    case IMG_FAILED: {
        /* The stored reason may have been cut inside a UTF-8 sequence. */
        utf8_truncate_valid(lk->status.error);
        const char *reason = lk->status.error[0] != '\0' ? lk->status.error : "processing failed";
        /* The pipeline state is "state" here ("status" is the problem's HTTP
         * status, 422); the 202 of the same resource names the stage "status",
         * as it is no problem document. */
        json_t *extra = json_pack("{s:s, s:s, s:s}", "id", t->id, "state", "failed", "reason",
                                  reason);
        char detail[600];
        snprintf(detail, sizeof detail, "the image could not be processed: %s", reason);
        api_reply_problem(c, 422, API_PROBLEM_FAILED, "Image processing failed", detail, NULL, 0,
                          extra);
        return;
    }
    case IMG_UNKNOWN:
        api_reply_problem(c, 404, NULL, NULL, "no image with this id", NULL, 0, NULL);
        return;
    case IMG_NO_THUMB:
        api_reply_problem(c, 404, NULL, NULL, "this image has no thumbnail", NULL, 0, NULL);
        return;
    case IMG_ERROR:
        log_warn("id=%s lookup failed: %s", t->id, lk->err);
        api_reply_unavailable(c, API_PROBLEM_UNAVAILABLE,
                              "the database or the queue is unreachable", "2");
        return;
    }
}

/* GET/HEAD of an image (thumb 0) or its thumbnail (thumb 1). */
static void serve_target(api_call_t *c, int thumb)
{
    api_images_t *im = c->env->images;
    char err[160], id[UUID_STR_LEN];
    int wait_s;
    if (api_parse_id(c->match.param, id, err, sizeof err) != 0) {
        api_reply_field_error(c, "id", err);
        return;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    if (api_parse_wait(api_req_query(c, "wait"), &wait_s, err, sizeof err) != 0) {
        api_reply_field_error(c, "wait", err);
        return;
    }
    target_t t = {.thumb = thumb};
    target_init(&t, im, id, thumb);

    lookup_t lk;
    int use_cache = 1;
    api_blob_t *b = api_blobcache_get(im->blobs, t.key);
    if (b != NULL) {
        serve_outcome_t r = serve_blob(c, &t, b);
        api_blob_release(b);
        if (r == SERVE_ANSWERED) return;
        evict_gone(c, &t, 1);
        use_cache = 0;
    }
    find_image(c, &t, wait_s, use_cache, &lk);
    if (lk.state == IMG_STORED && serve_stored(c, &t, &lk, 0) == SERVE_FILE_GONE) {
        /* Most likely deleted since the lookup: the row is gone by now, as
         * files are removed only after their row. */
        evict_gone(c, &t, lk.cached);
        find_image(c, &t, 0, 0, &lk);
        if (lk.state == IMG_STORED) serve_stored(c, &t, &lk, 1);
    }
    reply_not_stored(c, &t, &lk);
}

void api_handle_image(api_call_t *c) { serve_target(c, 0); }

void api_handle_thumbnail(api_call_t *c) { serve_target(c, 1); }

/* ---- ready responses (api_images_ready) ---- */

/* The responses of one ready file (api_ready_set_t): API_IMAGES_READY_STRIPES
 * copies, each with a descriptor of its own (dup), so that connections sending the same
 * image take different response mutexes: MHD locks a response's mutex to
 * count each queue and each release, and one response shared by every
 * connection made that lock the most contended of the api (about a tenth of
 * a cached read's CPU in futex waits and wakes, 32 connections on 2 cores). */
/* Extra copies alive (ready_copy), at most API_IMAGES_READY_COPIES_MAX. */
static _Atomic int ready_copies;

void api_ready_set_free(void *obj)
{
    api_ready_set_t *set = obj;
    if (set == NULL) return;
    for (int i = 0; i < API_IMAGES_READY_STRIPES; i++) {
        if (set->r[i] == NULL) continue;
        MHD_destroy_response(set->r[i]);
        if (i > 0 && set->copy != NULL) atomic_fetch_sub(&ready_copies, 1);
    }
    free(set);
}

struct MHD_Response *api_ready_set_pick(api_ready_set_t *set)
{
    /* A thread keeps its stripe: its connection's requests reuse one mutex. */
    static _Atomic unsigned next_stripe;
    static __thread int stripe = -1;
    if (stripe < 0) stripe = (int)(atomic_fetch_add(&next_stripe, 1) % API_IMAGES_READY_STRIPES);
    struct MHD_Response *r = __atomic_load_n(&set->r[stripe], __ATOMIC_ACQUIRE);
    if (r != NULL) return r;
    if (set->copy == NULL) return set->r[0]; /* made whole: share the first */
    if (atomic_fetch_add(&ready_copies, 1) >= API_IMAGES_READY_COPIES_MAX) {
        atomic_fetch_sub(&ready_copies, 1);
        return set->r[0]; /* the copies at their bound: share the first */
    }
    struct MHD_Response *mine = set->copy(set);
    if (mine == NULL) {
        atomic_fetch_sub(&ready_copies, 1);
        return set->r[0];
    }
    struct MHD_Response *seen = NULL;
    if (__atomic_compare_exchange_n(&set->r[stripe], &seen, mine, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return mine;
    MHD_destroy_response(mine); /* another thread of the stripe was first */
    atomic_fetch_sub(&ready_copies, 1);
    return seen;
}

struct MHD_Response *api_images_ready_response(const api_resp_t *e)
{
    return api_ready_set_pick(e->obj);
}

/* One response of the open file fd (size bytes) with t's headers; fd is
 * the response's (closed with it, or here on failure: the caller never
 * closes it). NULL when out of memory. */
static struct MHD_Response *ready_response(const char *etag, int fd, uint64_t size)
{
    /* The body is the descriptor: MHD sends it with sendfile(2) at explicit
     * offsets, so one response serves any number of connections at once, and
     * closes the file when the last of them is done with it. */
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)size, fd);
    if (r == NULL) {
        close(fd);
        return NULL;
    }
    if (MHD_add_response_header(r, "Content-Type", "image/jpeg") != MHD_YES ||
        MHD_add_response_header(r, "ETag", etag) != MHD_YES ||
        MHD_add_response_header(r, "Cache-Control", API_CACHE_IMMUTABLE) != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* Whether e's file is still the one opened: linked (a deleted or replaced
 * file has no name left: st_nlink 0), same size and modification time. One
 * fstat() of the open descriptor, no path walk. */
static int ready_current(const api_resp_t *e)
{
    struct stat st;
    if (fstat(e->fd, &st) != 0 || st.st_nlink == 0) return 0;
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return (uint64_t)st.st_size == e->size && mt == e->mtime_ns;
}

static int ready_keep(const api_resp_t *e, void *arg)
{
    (void)arg;
    return ready_current(e);
}

size_t api_images_sweep_ready(api_images_t *im)
{
    /* One fstat() per entry (about a microsecond): 1024 entries cost about
     * a millisecond of the guard's thread per sweep. */
    return api_respcache_sweep(im->ready, ready_keep, NULL);
}

/* Another copy of a file's ready response (api_ready_set_t.copy): its own
 * descriptor of the same open file, the same headers. NULL when out of
 * descriptors or memory (the first copy then serves). */
static struct MHD_Response *ready_copy(const api_ready_set_t *set)
{
    int own = fcntl(set->fd, F_DUPFD_CLOEXEC, 0);
    return own < 0 ? NULL : ready_response(set->etag, own, set->size);
}

/* Opens the file at real (a resolved path from the row cache) as a ready
 * response of t, or NULL (gone, not a regular file, out of memory). */
static api_resp_t *ready_open(const target_t *t, const char *real)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    api_ready_set_t *set = calloc(1, sizeof *set);
    api_resp_t *e = set != NULL ? api_resp_new(t->key, set, api_ready_set_free) : NULL;
    if (e == NULL) {
        free(set);
        close(fd);
        return NULL;
    }
    if ((set->r[0] = ready_response(t->etag, fd, (uint64_t)st.st_size)) == NULL) {
        api_resp_release(e); /* fd closed by ready_response */
        return NULL;
    }
    set->copy = ready_copy;
    set->fd = fd;
    set->size = (uint64_t)st.st_size;
    snprintf(set->etag, sizeof set->etag, "%s", t->etag);
    e->fd = fd;
    e->size = (uint64_t)st.st_size;
    e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return e;
}

api_resp_t *api_images_ready(api_images_t *im, const char *id, int thumb)
{
    target_t t = {.thumb = thumb};
    target_init(&t, im, id, thumb);
    api_resp_t *e = api_respcache_get(im->ready, t.key);
    if (e != NULL) {
        if (ready_current(e)) return e;
        /* Gone or replaced: the full handler looks the image up again. */
        api_resp_release(e);
        api_respcache_evict(im->ready, t.key);
        return NULL;
    }
    char real[API_ROWCACHE_PATH_MAX];
    long long bytes;
    if (!api_rowcache_get(im->rows, t.key, real, &bytes)) return NULL;
    e = ready_open(&t, real);
    if (e == NULL) return NULL;
    api_respcache_put(im->ready, e);
    if (atomic_load(&im->forgets) != t.forgets) {
        /* A deletion seen since this began may have been this image's: it
         * must not come back into a cache, nor be answered from one. */
        cache_settle(im, &t);
        api_resp_release(e);
        return NULL;
    }
    return e;
}

/* ---- DELETE /api/images/{id} ---- */

/* imgcap_delete_image(id, in_pipeline) into out ("deleted", "gone" or
 * "unknown"). Returns 0, or -1 with err set (the database is unreachable). */
static int delete_row(api_call_t *c, const char *id, int in_pipeline, char *out, size_t outlen,
                      char *err, size_t errlen)
{
    const char *params[2] = {id, in_pipeline ? "true" : "false"};
    PGresult *r = api_backend_query(api_call_conn(c), API_SQL_DELETE, 2, params, err, errlen);
    if (r == NULL) return -1;
    snprintf(out, outlen, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

/* status:<id> into st (stage "" when Redis knows nothing of id). Returns 0,
 * or -1 with err set (Redis is unreachable). */
static int pipeline_status(api_call_t *c, const char *id, rq_status_t *st, char *err, size_t errlen)
{
    rqueue_t *rq = api_backend_redis(api_call_conn(c), err, errlen);
    if (rq == NULL) return -1;
    /* One retry: a dead connection is only noticed by the command that fails on it. */
    if (rqueue_get_status(rq, id, st) == 0 || rqueue_get_status(rq, id, st) == 0) return 0;
    snprintf(err, errlen, "%s", rqueue_error(rq));
    return -1;
}

/* After a deletion: other apis forget their copies when they see the
 * deleted status (events.c), and the count is shared (P counters). Neither
 * can undo the deletion, so a failure is only logged. */
static void publish_deleted(api_call_t *c, const char *id)
{
    char err[256];
    rqueue_t *rq = api_backend_redis(api_call_conn(c), err, sizeof err);
    if (rq == NULL) {
        log_warn("id=%s deleted, but Redis is unreachable (%s): other apis keep their cached "
                 "copies until they find the files gone",
                 id, err);
        return;
    }
    if (rqueue_mark_deleted(rq, id) != 0 && rqueue_mark_deleted(rq, id) != 0)
        log_warn("id=%s deleted, but the deleted status was not published: %s", id,
                 rqueue_error(rq));
    if (rqueue_counter_add(rq, RQ_COUNTER_DELETED_API, 1) != 0)
        log_warn("id=%s deleted, but not counted: %s", id, rqueue_error(rq));
}

void api_handle_delete(api_call_t *c)
{
    char err[512], id[UUID_STR_LEN], outcome[16];
    if (api_parse_id(c->match.param, id, err, sizeof err) != 0) {
        api_reply_field_error(c, "id", err);
        return;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    if (delete_row(c, id, 0, outcome, sizeof outcome, err, sizeof err) != 0) {
        log_warn("id=%s delete: %s", id, err);
        api_reply_unavailable(c, API_PROBLEM_UNAVAILABLE, "the database is unreachable", "2");
        return;
    }
    if (strcmp(outcome, "unknown") == 0) {
        /* No row and no tombstone: is it still in the pipeline? Then a
         * tombstone keeps persist from ever storing it. */
        rq_status_t st;
        if (pipeline_status(c, id, &st, err, sizeof err) != 0) {
            log_warn("id=%s delete: redis: %s", id, err);
            api_reply_unavailable(c, API_PROBLEM_UNAVAILABLE, "the queue (Redis) is unreachable",
                                  "2");
            return;
        }
        if (st.stage[0] != '\0' && strcmp(st.stage, RQ_STAGE_DELETED) != 0 &&
            delete_row(c, id, 1, outcome, sizeof outcome, err, sizeof err) != 0) {
            log_warn("id=%s delete: %s", id, err);
            api_reply_unavailable(c, API_PROBLEM_UNAVAILABLE, "the database is unreachable", "2");
            return;
        }
    }
    if (strcmp(outcome, "deleted") != 0) {
        api_reply_problem(c, 404, NULL, NULL, "no image with this id", NULL, 0, NULL);
        return;
    }
    log_info("id=%s deleted", id);
    api_images_forget(c->env->images, id);
    publish_deleted(c, id);
    c->resp->status = 204;
}
