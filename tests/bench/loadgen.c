/* loadgen.c - upload load generator for the end-to-end benchmark.
 *
 * Sends N multipart uploads (parts `image` and `description`, as
 * POST /api/images expects) with at most C in flight over keep-alive
 * connections, using one libcurl multi handle in one thread, so the generator
 * itself costs little of the two cores it shares with the stack. With --rate
 * the uploads are started on a fixed schedule (R per second) instead of as
 * fast as the server answers, to measure latency at a given load.
 *
 * Usage: loadgen --url URL --image FILE --text TEXT [-n N] [-c C] [--rate R]
 *                [--ids FILE] [--deadline S]
 * Prints one line of JSON with counts per HTTP status, transport errors,
 * accepted/s and client-side latency percentiles; --ids receives the id of
 * every 202 answer, one per line, for the lost/duplicate check. Exits 0 when
 * the run completed (whatever the answers were), 1 on a setup failure, 2 on
 * bad usage. Traffic goes only where --url points. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "benchutil.h"

#define LOADGEN_BODY_MAX 4096 /* a 202 body is ~200 bytes; problems are small too */

typedef struct loadgen_slot {
    CURL *easy;
    curl_mime *mime;
    struct curl_slist *headers;
    char body[LOADGEN_BODY_MAX];
    size_t body_len;
    double started_ms;
    int busy;
} loadgen_slot_t;

typedef struct loadgen_opts {
    const char *url, *image, *text, *ids_path;
    long n, c;
    double rate, deadline_s;
} loadgen_opts_t;

static size_t loadgen_on_body(char *data, size_t size, size_t nmemb, void *user)
{
    loadgen_slot_t *s = user;
    size_t n = size * nmemb, room = sizeof s->body - 1 - s->body_len;
    memcpy(s->body + s->body_len, data, n < room ? n : room);
    s->body_len += n < room ? n : room;
    return n;
}

/* The "id" of a 202 body, copied into id (37 bytes). Returns 0 or -1. */
static int loadgen_parse_id(const char *body, char *id, size_t idlen)
{
    const char *p = strstr(body, "\"id\"");
    if (!p) return -1;
    p = strchr(p + 4, '"');
    if (!p) return -1;
    const char *end = strchr(p + 1, '"');
    if (!end || (size_t)(end - p - 1) >= idlen) return -1;
    memcpy(id, p + 1, (size_t)(end - p - 1));
    id[end - p - 1] = '\0';
    return 0;
}

static int loadgen_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double loadgen_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* A non-negative number from the command line into *out. 0 or -1. */
static int loadgen_parse_num(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0 && v <= 1e9)) return -1;
    *out = v;
    return 0;
}

static int loadgen_parse_args(int argc, char **argv, loadgen_opts_t *o)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"image", required_argument, NULL, 'i'},
                                             {"text", required_argument, NULL, 't'},
                                             {"ids", required_argument, NULL, 'o'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"deadline", required_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    *o = (loadgen_opts_t){.n = 2000, .c = 32, .deadline_s = 120};
    double num;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:c:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o->url = optarg;
            break;
        case 'i':
            o->image = optarg;
            break;
        case 't':
            o->text = optarg;
            break;
        case 'o':
            o->ids_path = optarg;
            break;
        case 'r':
            if (loadgen_parse_num(optarg, &o->rate) < 0) return -1;
            break;
        case 'd':
            if (loadgen_parse_num(optarg, &o->deadline_s) < 0) return -1;
            break;
        case 'n':
            if (loadgen_parse_num(optarg, &num) < 0) return -1;
            o->n = (long)num;
            break;
        case 'c':
            if (loadgen_parse_num(optarg, &num) < 0) return -1;
            o->c = (long)num;
            break;
        default:
            return -1;
        }
    }
    if (!o->url || !o->image || !o->text || o->n < 1 || o->c < 1 || o->c > 1024 || o->rate < 0 ||
        o->deadline_s <= 0)
        return -1;
    return 0;
}

static int loadgen_slot_init(loadgen_slot_t *s, const loadgen_opts_t *o, const unsigned char *img,
                             size_t imglen)
{
    s->easy = curl_easy_init();
    if (!s->easy) return -1;
    s->mime = curl_mime_init(s->easy);
    curl_mimepart *part = curl_mime_addpart(s->mime);
    curl_mime_name(part, "image");
    curl_mime_filename(part, "camera.jpg");
    curl_mime_type(part, "image/jpeg");
    curl_mime_data(part, (const char *)img, imglen);
    part = curl_mime_addpart(s->mime);
    curl_mime_name(part, "description");
    curl_mime_data(part, o->text, CURL_ZERO_TERMINATED);
    /* No "Expect: 100-continue" round trip: a client on the same host would
     * not wait for it either. */
    s->headers = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(s->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(s->easy, CURLOPT_MIMEPOST, s->mime);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, loadgen_on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    return s->mime && s->headers ? 0 : -1;
}

int main(int argc, char **argv)
{
    loadgen_opts_t o;
    if (loadgen_parse_args(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: %s --url URL --image FILE --text TEXT [-n N] [-c C] "
                "[--rate PER_S] [--ids FILE] [--deadline S]\n",
                argv[0]);
        return 2;
    }
    size_t imglen;
    unsigned char *img = bench_read_file("loadgen", o.image, &imglen);
    if (!img) return 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "loadgen: curl_global_init failed\n");
        free(img);
        return 1;
    }
    int rc = 1;
    FILE *ids = NULL;
    CURLM *multi = curl_multi_init();
    loadgen_slot_t *slots = calloc((size_t)o.c, sizeof *slots);
    double *lat = calloc((size_t)o.n, sizeof *lat);
    long status_count[600] = {0};
    long transport_errors = 0, bad_bodies = 0, done = 0, started = 0, nlat = 0;
    if (!multi || !slots || !lat) {
        fprintf(stderr, "loadgen: out of memory\n");
        goto out;
    }
    if (o.ids_path && !(ids = fopen(o.ids_path, "w"))) {
        fprintf(stderr, "loadgen: %s: %s\n", o.ids_path, strerror(errno));
        goto out;
    }
    for (long i = 0; i < o.c; i++)
        if (loadgen_slot_init(&slots[i], &o, img, imglen) != 0) {
            fprintf(stderr, "loadgen: cannot set up a curl handle\n");
            goto out;
        }
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, o.c);

    double t0 = bench_clock_ms(CLOCK_MONOTONIC), wall0 = bench_clock_ms(CLOCK_REALTIME),
           deadline = t0 + o.deadline_s * 1e3;
    int timed_out = 0;
    while (done < o.n) {
        double now = bench_clock_ms(CLOCK_MONOTONIC);
        if (now > deadline) {
            timed_out = 1;
            break;
        }
        /* Start what is due: everything up to C in flight, or, with a rate,
         * the uploads whose scheduled start has passed. */
        for (long i = 0; i < o.c && started < o.n; i++) {
            if (slots[i].busy) continue;
            if (o.rate > 0 && t0 + (double)started * 1e3 / o.rate > now) break;
            slots[i].busy = 1;
            slots[i].body_len = 0;
            slots[i].started_ms = now;
            curl_multi_add_handle(multi, slots[i].easy);
            started++;
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            loadgen_slot_t *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            double end = bench_clock_ms(CLOCK_MONOTONIC);
            if (m->data.result != CURLE_OK) {
                if (transport_errors++ == 0)
                    fprintf(stderr, "loadgen: first transport error: %s\n",
                            curl_easy_strerror(m->data.result));
            } else {
                long code = 0;
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
                long idx = code > 0 && code < 600 ? code : 0; /* 0 = no valid status */
                status_count[idx]++;
                lat[nlat++] = end - s->started_ms;
                s->body[s->body_len] = '\0';
                char id[64];
                if (code == 202) {
                    if (loadgen_parse_id(s->body, id, sizeof id) == 0) {
                        if (ids) fprintf(ids, "%s\n", id);
                    } else if (bad_bodies++ == 0) {
                        fprintf(stderr, "loadgen: 202 without an id: %.200s\n", s->body);
                    }
                } else if (status_count[idx] == 1) {
                    fprintf(stderr, "loadgen: first %ld answer: %.300s\n", code, s->body);
                }
            }
            curl_multi_remove_handle(multi, m->easy_handle);
            s->busy = 0;
            done++;
        }
        /* Sleep until a socket is ready or the next scheduled start. */
        int wait_ms = 100;
        if (o.rate > 0 && started < o.n) {
            double next = t0 + (double)started * 1e3 / o.rate - bench_clock_ms(CLOCK_MONOTONIC);
            wait_ms = next <= 0 ? 0 : next < 100 ? (int)next + 1 : 100;
        }
        if (running || wait_ms > 0) curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
    double elapsed_s = (bench_clock_ms(CLOCK_MONOTONIC) - t0) / 1e3;

    qsort(lat, (size_t)nlat, sizeof *lat, loadgen_cmp_double);
    long accepted = status_count[202];
    printf("{\"sent\":%ld,\"completed\":%ld,\"accepted\":%ld,\"transport_errors\":%ld,"
           "\"bad_bodies\":%ld,\"timed_out\":%s,\"concurrency\":%ld,\"rate\":%.1f,"
           "\"elapsed_s\":%.3f,\"accepted_per_s\":%.1f,\"start_unix_ms\":%.0f,"
           "\"client_ms\":{\"p50\":%.2f,\"p95\":%.2f,\"p99\":%.2f,\"max\":%.2f},\"status\":{",
           started, done, accepted, transport_errors, bad_bodies, timed_out ? "true" : "false", o.c,
           o.rate, elapsed_s, (double)accepted / elapsed_s, wall0,
           loadgen_percentile(lat, (size_t)nlat, 50), loadgen_percentile(lat, (size_t)nlat, 95),
           loadgen_percentile(lat, (size_t)nlat, 99), nlat ? lat[nlat - 1] : 0.0);
    const char *sep = "";
    for (int code = 0; code < 600; code++)
        if (status_count[code]) {
            printf("%s\"%d\":%ld", sep, code, status_count[code]);
            sep = ",";
        }
    printf("}}\n");
    rc = 0;
out:
    if (ids && fclose(ids) != 0) {
        fprintf(stderr, "loadgen: writing %s failed\n", o.ids_path);
        rc = 1;
    }
    for (long i = 0; slots && i < o.c; i++) {
        if (!slots[i].easy) continue;
        if (slots[i].busy) curl_multi_remove_handle(multi, slots[i].easy);
        curl_easy_cleanup(slots[i].easy);
        curl_mime_free(slots[i].mime);
        curl_slist_free_all(slots[i].headers);
    }
    if (multi) curl_multi_cleanup(multi);
    curl_global_cleanup();
    free(slots);
    free(lat);
    free(img);
    return rc;
}
