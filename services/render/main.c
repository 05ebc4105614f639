/* main.c - imgcap-render: the queue 1 consumer (services/render/README.md), and
 * the one-shot CLI that runs the same render code on a file. */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor.h"
#include "config.h"
#include "consumer.h"
#include "font.h"
#include "log.h"
#include "render.h"
#include "rqueue.h"
#include "service.h"
#include "thumb.h"
#include "timeutil.h"
#include "wire.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imgcap-render                 run the render service (queue %s -> %s)\n"
            "       imgcap-render --once IN.jpg OUT.jpg --text TEXT [--thumbnail THUMB.jpg]\n"
            "                     [--layout] [--repeat N]\n"
            "       imgcap-render --check         exit 0 if this host has a live render consumer\n"
            "       imgcap-render --help\n"
            "\n"
            "--once renders one file with the service's code and configuration.\n"
            "  --thumbnail THUMB.jpg  also write the thumbnail of OUT (THUMBNAIL_SIZE)\n"
            "  --layout    print the layout as one line of JSON instead of writing OUT\n"
            "  --repeat N  render N times and print the mean milliseconds per image, then\n"
            "              render and make the thumbnail N times and print that mean too\n"
            "Configuration comes from the environment and .env (IMGCAP_ENV_FILE): FONT_NAME,\n"
            "FONT_PATH, FONTS_DIR, FONT_SIZE, TEXT_PADDING, BAND_MODE, JPEG_QUALITY,\n"
            "MAX_PIXELS, THUMBNAIL_SIZE, RENDER_WORKERS, REDIS_URL, REDIS_PREFIX, LOG_DIR,\n"
            "LOG_LEVEL, ...\n",
            RQ_QUEUE_RENDER, RQ_QUEUE_PERSIST);
}

static int opts_from_config(const config_t *cfg, render_opts_t *o, char *font_file, size_t font_len)
{
    char err[512];
    if (render_font_resolve(cfg->font_path, cfg->font_name, cfg->fonts_dir, font_file, font_len,
                            err, sizeof err) < 0) {
        log_error("font: %s", err);
        return -1;
    }
    *o = (render_opts_t){
        .font_file = font_file,
        .font_size = cfg->font_size,
        .text_padding = cfg->text_padding,
        .band_mode = (band_mode_t)cfg->band_mode,
        .jpeg_quality = cfg->jpeg_quality,
        .max_pixels = cfg->max_pixels,
    };
    return 0;
}

/* Reads a whole file. Caller frees *buf. */
static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    size_t cap = 1 << 16, n = 0;
    unsigned char *p = malloc(cap);
    while (p != NULL) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap) break;
        unsigned char *q = realloc(p, cap * 2);
        if (q == NULL) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (p == NULL || bad) {
        free(p);
        errno = bad ? EIO : ENOMEM;
        return -1;
    }
    *buf = p;
    *len = n;
    return 0;
}

static int write_file(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t n = fwrite(buf, 1, len, f);
    int rc = fclose(f);
    return n == len && rc == 0 ? 0 : -1;
}

/* Renders in to out (and its thumbnail to thumb_out unless NULL) with ctx and
 * tc. With repeat > 1, renders repeat times and prints the mean, then renders
 * and makes the thumbnail repeat times and prints that mean: the caption
 * alone and the service's whole job (tc NULL, THUMBNAIL_SIZE=0: the caption
 * alone). Returns the exit status. */
static int once_render(render_ctx_t *ctx, render_thumb_t *tc, const unsigned char *jpeg, size_t len,
                       const char *in, const char *out, const char *thumb_out, const char *text,
                       long repeat)
{
    char err[512];
    unsigned char *img = NULL;
    size_t img_len = 0;
    const unsigned char *thumb = NULL;
    size_t thumb_len = 0;
    int w = 0, h = 0, tw = 0, th = 0, rc = SERVICE_EXIT_FAILURE;
    uint64_t t0 = time_mono_ns();
    long i;
    for (i = 0; i < repeat; i++) {
        free(img);
        if (render_caption(ctx, jpeg, len, text, strlen(text), &img, &img_len, &w, &h, err,
                           sizeof err) < 0)
            break;
    }
    uint64_t t1 = time_mono_ns(), t2 = t1;
    if (i < repeat) {
        log_error("%s: %s", in, err);
        return SERVICE_EXIT_FAILURE;
    }
    int thumb_failed = 0;
    if (repeat > 1 && tc != NULL) {
        for (i = 0; i < repeat && !thumb_failed; i++) {
            free(img);
            /* the same input rendered a moment ago: only the thumbnail can fail */
            thumb_failed = render_caption(ctx, jpeg, len, text, strlen(text), &img, &img_len, &w,
                                          &h, err, sizeof err) < 0 ||
                           render_thumb_make(tc, img, img_len, &thumb, &thumb_len, &tw, &th, err,
                                             sizeof err) < 0;
        }
        t2 = time_mono_ns();
    } else if (thumb_out != NULL) {
        thumb_failed = render_thumb_make(tc, img, img_len, &thumb, &thumb_len, &tw, &th, err,
                                         sizeof err) < 0;
    }
    if (thumb_failed) {
        log_error("%s: thumbnail: %s", in, err);
        free(img);
        return SERVICE_EXIT_FAILURE;
    }
    if (write_file(out, img, img_len) < 0) {
        log_error("cannot write %s: %s", out, strerror(errno));
    } else if (thumb_out != NULL && write_file(thumb_out, thumb, thumb_len) < 0) {
        log_error("cannot write %s: %s", thumb_out, strerror(errno));
    } else {
        rc = SERVICE_EXIT_OK;
        if (repeat > 1) {
            printf("%ld renders, mean %.3f ms per image (%s path, %dx%d, %zu bytes)\n", repeat,
                   (double)(t1 - t0) / 1e6 / (double)repeat, render_last_path(ctx), w, h, img_len);
            if (tc != NULL)
                printf("%ld renders + thumbnails, mean %.3f ms per image (thumbnail %dx%d, %zu "
                       "bytes)\n",
                       repeat, (double)(t2 - t1) / 1e6 / (double)repeat, tw, th, thumb_len);
        } else {
            log_info("%s -> %s: %dx%d, %zu bytes, %s path", in, out, w, h, img_len,
                     render_last_path(ctx));
            if (thumb_out != NULL)
                log_info("thumbnail -> %s: %dx%d, %zu bytes", thumb_out, tw, th, thumb_len);
        }
    }
    free(img);
    return rc;
}

static int run_once(const config_t *cfg, const char *in, const char *out, const char *thumb_out,
                    const char *text, int layout_only, long repeat)
{
    render_opts_t o;
    char font_file[1024], err[512];
    if (opts_from_config(cfg, &o, font_file, sizeof font_file) < 0) return SERVICE_EXIT_FAILURE;
    unsigned char *jpeg;
    size_t len;
    if (read_file(in, &jpeg, &len) < 0) {
        log_error("cannot read %s: %s", in, strerror(errno));
        return SERVICE_EXIT_FAILURE;
    }
    render_ctx_t *ctx = render_ctx_new(&o, err, sizeof err);
    if (ctx == NULL) {
        log_error("%s", err);
        free(jpeg);
        return SERVICE_EXIT_FAILURE;
    }
    int rc = SERVICE_EXIT_FAILURE;
    if (layout_only) {
        const layout_t *lo;
        if (render_layout_jpeg(ctx, jpeg, len, text, strlen(text), &lo, err, sizeof err) < 0) {
            log_error("%s: %s", in, err);
        } else {
            layout_font_t lf = render_font_layout(render_font_of(ctx));
            size_t n = layout_format_json(lo, &lf, text, NULL, 0);
            char *json = malloc(n + 1);
            if (json != NULL) {
                layout_format_json(lo, &lf, text, json, n + 1);
                printf("%s\n", json);
                free(json);
                rc = SERVICE_EXIT_OK;
            }
        }
    } else if (cfg->thumbnail_size == 0) {
        if (thumb_out != NULL)
            log_error("--thumbnail: THUMBNAIL_SIZE=0, thumbnails are off");
        else
            rc = once_render(ctx, NULL, jpeg, len, in, out, NULL, text, repeat);
    } else {
        render_thumb_t *tc = render_thumb_new(cfg->thumbnail_size, cfg->max_pixels);
        if (tc == NULL)
            log_error("out of memory for the thumbnail context");
        else
            rc = once_render(ctx, tc, jpeg, len, in, out, thumb_out, text, repeat);
        render_thumb_free(tc);
    }
    render_ctx_free(ctx);
    free(jpeg);
    return rc;
}

/* ---- service ---- */

typedef struct render_service {
    render_opts_t opts;
    char font_file[1024];
    int thumbnail_size;
    consumer_t *consumer;
} render_service_t;

static void process(render_ctx_t *rc, render_thumb_t *tc, consumer_job_t *job)
{
    wire_msg_t m;
    char err[400]; /* leaves room for a prefix in job->reason */
    if (wire_decode(job->payload, job->len, &m, err, sizeof err) < 0) {
        job->outcome = CONSUMER_JOB_DEAD; /* logged by the consumer, with the reason */
        snprintf(job->reason, sizeof job->reason, "undecodable payload: %s", err);
        return;
    }
    uint64_t t0 = time_mono_ns();
    unsigned char *img;
    size_t img_len;
    int w, h;
    if (render_caption(rc, m.jpeg, m.jpeg_len, m.description, strlen(m.description), &img, &img_len,
                       &w, &h, err, sizeof err) < 0) {
        job->outcome = CONSUMER_JOB_DEAD;
        snprintf(job->reason, sizeof job->reason, "render failed: %s", err);
        return;
    }
    uint64_t t1 = time_mono_ns();
    /* A thumbnail of render's own output fails only when out of memory (or
     * on a bug): the image goes on without one (thumb_bytes NULL), as with
     * THUMBNAIL_SIZE=0 (tc NULL). */
    const unsigned char *thumb = NULL;
    size_t thumb_len = 0;
    int tw = 0, th = 0;
    if (tc != NULL &&
        render_thumb_make(tc, img, img_len, &thumb, &thumb_len, &tw, &th, err, sizeof err) < 0) {
        log_warn("id=%s no thumbnail, forwarded without one: %s", job->id, err);
        thumb = NULL;
        thumb_len = 0;
    }
    wire_msg_t o = m; /* id, received_at, description, camera */
    o.jpeg = img;
    o.jpeg_len = img_len;
    o.width = w;
    o.height = h;
    o.thumb = thumb;
    o.thumb_len = thumb_len;
    int enc = wire_encode(&o, &job->out, &job->out_len, err, sizeof err);
    free(img);
    if (enc < 0) {
        job->outcome = CONSUMER_JOB_DEAD;
        snprintf(job->reason, sizeof job->reason, "cannot encode rendered payload: %s", err);
        return;
    }
    job->outcome = CONSUMER_JOB_FORWARD;
    /* One INFO line per image, so that the logs follow it (grep its id). */
    log_info("id=%s rendered %dx%d, %zu bytes, %s path, %.2f ms; thumbnail %dx%d, %zu bytes, "
             "%.2f ms (attempt %ld)",
             job->id, w, h, img_len, render_last_path(rc), (double)(t1 - t0) / 1e6, tw, th,
             thumb_len, (double)(time_mono_ns() - t1) / 1e6, job->attempts);
}

static void worker_main(actor_t *self)
{
    render_service_t *svc = self->ctx;
    char err[512];
    /* the worker's own FreeType library and buffers (created on its thread) */
    render_ctx_t *rc = render_ctx_new(&svc->opts, err, sizeof err);
    if (rc == NULL) {
        service_fail("cannot start: %s", err);
        return;
    }
    /* THUMBNAIL_SIZE=0: no thumbnails, tc stays NULL */
    render_thumb_t *tc = NULL;
    if (svc->thumbnail_size > 0 &&
        (tc = render_thumb_new(svc->thumbnail_size, svc->opts.max_pixels)) == NULL) {
        service_fail("cannot start: out of memory for the thumbnail context");
        render_ctx_free(rc);
        return;
    }
    mailbox_t *jobs = consumer_jobs(svc->consumer);
    for (;;) {
        void *item;
        mailbox_rc_t r = mailbox_pop(jobs, &item, 1000);
        if (r == MAILBOX_TIMEOUT) continue;
        if (r == MAILBOX_CLOSED) break;
        consumer_job_t *job = item;
        process(rc, tc, job);
        consumer_finish(svc->consumer, job);
    }
    render_thumb_free(tc);
    render_ctx_free(rc);
}

/* The font, once: a font that cannot be used fails the start, not every
 * worker. */
static int render_prepare(service_def_t *d, const config_t *cfg)
{
    render_service_t *svc = d->ctx;
    char err[512];
    if (opts_from_config(cfg, &svc->opts, svc->font_file, sizeof svc->font_file) < 0) return -1;
    svc->thumbnail_size = cfg->thumbnail_size;
    render_ctx_t *probe = render_ctx_new(&svc->opts, err, sizeof err);
    if (probe == NULL) {
        log_error("%s", err);
        return -1;
    }
    render_ctx_free(probe);
    d->workers = cfg->render_workers;
    snprintf(d->detail, sizeof d->detail, ", font %s %dpx, band %s, thumbnails %d px",
             svc->font_file, cfg->font_size, cfg->band_mode == BAND_EXTEND ? "extend" : "overlay",
             cfg->thumbnail_size);
    return 0;
}

static int render_before_workers(service_def_t *d, consumer_t *c)
{
    render_service_t *svc = d->ctx;
    svc->consumer = c;
    return 0;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *text = NULL, *thumb_out = NULL;
    int once = 0, layout_only = 0, check = 0;
    long repeat = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return SERVICE_EXIT_OK;
        } else if (!strcmp(a, "--once") && i + 2 < argc) {
            once = 1;
            in = argv[++i];
            out = argv[++i];
        } else if (!strcmp(a, "--text") && i + 1 < argc) {
            text = argv[++i];
        } else if (!strcmp(a, "--thumbnail") && i + 1 < argc) {
            thumb_out = argv[++i];
        } else if (!strcmp(a, "--layout")) {
            layout_only = 1;
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            char *end;
            repeat = strtol(argv[++i], &end, 10);
            if (*end || repeat < 1 || repeat > 1000000) {
                fprintf(stderr, "imgcap-render: --repeat wants a count from 1 to 1000000\n");
                return SERVICE_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--check")) {
            check = 1;
        } else {
            fprintf(stderr, "imgcap-render: unexpected argument '%s'\n", a);
            usage(stderr);
            return SERVICE_EXIT_USAGE;
        }
    }
    if ((once && text == NULL) ||
        (!once && (text != NULL || layout_only || repeat != 1 || thumb_out != NULL)) ||
        (once && check) || (layout_only && thumb_out != NULL)) {
        usage(stderr);
        return SERVICE_EXIT_USAGE;
    }

    /* Every job allocates and frees a few MB of coefficient and pixel buffers
     * (libjpeg's pools among them, which we cannot reuse). With glibc's
     * defaults they are mmapped, page-faulted in and unmapped per job: about a
     * third of a lossless render. Keep such memory in the heap instead. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);

    /* static: the workers keep pointers to it until they are joined */
    static config_t cfg;
    int rc = service_config("render", &cfg);
    if (rc != SERVICE_EXIT_OK) return rc;
    if (check) return consumer_check_main(&cfg, "render", RQ_QUEUE_RENDER);
    if (once) {
        /* the CLI logs to stderr only: a user's one-off run is not service history */
        log_open("render", NULL, (log_level_t)cfg.log_level);
        rc = run_once(&cfg, in, out, thumb_out, text, layout_only, repeat);
        render_font_shutdown();
        log_close();
        return rc;
    }
    static render_service_t svc;
    service_def_t d = {
        .name = "render",
        .usage = usage,
        .consumer =
            {
                .queue = RQ_QUEUE_RENDER,
                .next_queue = RQ_QUEUE_PERSIST,
                .taken_stage = RQ_STAGE_RENDERING,
                .next_stage = RQ_STAGE_RENDERED,
                .done_stage = NULL,
            },
        .worker = worker_main,
        .ctx = &svc,
        .hook = {.prepare = render_prepare, .before_workers = render_before_workers},
    };
    rc = service_run(&d, &cfg);
    render_font_shutdown();
    return rc;
}
