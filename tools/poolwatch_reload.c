/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * poolwatch-reload: the mod_perl book's reload test as one command.
 *
 *   poolwatch-reload -n 200 'http://127.0.0.1:8080/leak?what=pchild&n=1000'
 *
 * Sends N identical requests (one keep-alive connection by default) and
 * reads the server's /poolwatch?json before, every --every requests, and
 * after. Two verdicts, kept apart in the output:
 *
 *   - the module's: the server's own verdict for the key this URL makes
 *     (keys[] of the JSON; "METHOD vhost path[?query]");
 *   - the tool's: the module's detector (src/pw_detect.c, linked in) run
 *     here on what the tool saw from outside, step by step: the growth of
 *     pool bytes, heap and RSS summed over the children, and of each pool
 *     path, per request sent. It judges even when the module's key is not
 *     flagged (another key took the blame, the key table was full, a
 *     threaded MPM's regression was unsure).
 *
 * Growth is summed per child over the children present in two readings
 * (matched by pid and start time) that served requests in between, so a
 * child that starts, exits or idles (a spare starting up) adds nothing. The status is read through the same libcurl
 * multi handle as the requests: with one keep-alive connection it goes to
 * the serving child, which samples itself first, so steps are exact.
 *
 * Exit status: 0 no leak, 1 a leak (either verdict), 2 error. The error
 * rule: bad arguments; a transfer error (connect, timeout) on any request;
 * an HTTP status of 400 or more on the URL (unless --allow-http-errors);
 * /poolwatch?json not answering 200 with a JSON object with "children".
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_strings.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "pw_detect.h"

#define EXIT_NOLEAK 0
#define EXIT_LEAK   1
#define EXIT_ERROR  2
#define MAX_CONC    256
#define MAX_BODY    (64 * 1024 * 1024) /* status page and --data-file */
#define MAX_PATHS   64                 /* pool paths followed */
#define SERIES_MAX  1024               /* points kept per series */
#define SIGNALS     3
#define FORMAT      1 /* of --json */

static const char *progname = "poolwatch-reload";
static const char *const sig_names[SIGNALS] = {"pool", "heap", "rss"};
/* The module's minimum slopes per signal (mod_poolwatch_verdict.c), so
 * that both verdicts ask the same question. */
static const double sig_min_slope[SIGNALS] = {4.0, 16.0, 512.0};

/* A level against requests sent; halved (every other point dropped) when
 * full, so a long run keeps an even, bounded record. */
typedef struct series_t {
    double x[SERIES_MAX], y[SERIES_MAX];
    unsigned int n, stride, skip;
} series_t;

typedef struct path_t {
    char *path;
    double level; /* cumulative growth seen */
    series_t s;
    pw_detect_result_t r;
} path_t;

typedef struct buf_t {
    char *data;
    size_t len, cap;
    int too_big;
} buf_t;

typedef struct app_t {
    apr_pool_t *pool;
    /* options */
    const char *url, *status_url, *method, *data_file, *key;
    struct curl_slist *headers;
    long n, every, conc, warmup;
    double connect_timeout, timeout;
    int new_conn, json, quiet, allow_http_errors, progress;
    char *data;
    size_t data_len;
    /* what the URL's key should look like */
    char *path_query, *path_only, *host;
    /* state */
    CURLM *multi;
    CURL *h[MAX_CONC];
    int busy[MAX_CONC];
    CURL *st;
    buf_t stbuf;
    char errbuf[CURL_ERROR_SIZE];
    long sent, done, http_errors, first_bad_status;
    json_t *prev, *last;
    double level[SIGNALS];
    series_t sig[SIGNALS];
    pw_detect_result_t sres[SIGNALS];
    path_t paths[MAX_PATHS];
    unsigned int npaths, paths_dropped;
    json_t *steps; /* for --json */
    double t0, last_progress;
    char *error;
} app_t;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: %s -n N [options] URL\n"
        "Sends N identical requests to URL and reads the server's "
        "/poolwatch?json\n"
        "before, during and after: a soak test that fails on a leak.\n"
        "\n"
        "  -n, --requests N        requests to send (required)\n"
        "  -X, --request METHOD    method (default GET; POST with "
        "--data-file)\n"
        "  -H, --header 'K: V'     a request header (repeatable)\n"
        "      --data-file FILE    request body from FILE\n"
        "      --new-connection    a new connection per request (default: "
        "keep-alive)\n"
        "  -c, --concurrency C     requests in flight (default 1)\n"
        "  -e, --every K           read /poolwatch?json every K requests "
        "(default: so\n"
        "                          that about 32 readings follow the warm-up)\n"
        "  -w, --warmup W          requests not judged by the tool (default "
        "10)\n"
        "      --status URL        status URL (default: /poolwatch?json on the "
        "URL's\n"
        "                          scheme, host and port)\n"
        "      --key KEY           the module's key to report (default: built "
        "from\n"
        "                          the method and URL as the server builds "
        "it)\n"
        "      --connect-timeout S connect timeout in seconds (default 5)\n"
        "      --timeout S         time limit per request in seconds (default "
        "30)\n"
        "      --allow-http-errors statuses of 400 and up on URL are not "
        "errors\n"
        "      --json              one JSON document on stdout (no table)\n"
        "  -q, --quiet             verdicts only, no table\n"
        "      --no-progress       no progress line on stderr\n"
        "  -h, --help              this text\n"
        "\n"
        "Exit status: 0 no leak, 1 leak (the module's verdict for the key or "
        "the\n"
        "tool's own), 2 error (bad arguments, server unreachable, a transfer "
        "error,\n"
        "HTTP status >= 400 on URL, /poolwatch?json missing or not JSON).\n",
        progname);
}

/* ---- series and verdicts -------------------------------------------------- */

static void series_add(series_t *s, double x, double y)
{
    unsigned int i;

    if (s->stride == 0) {
        s->stride = 1;
    }
    if (s->skip++ % s->stride) {
        return;
    }
    if (s->n == SERIES_MAX) {
        for (i = 0; i < SERIES_MAX / 2; i++) {
            s->x[i] = s->x[2 * i];
            s->y[i] = s->y[2 * i];
        }
        s->n = SERIES_MAX / 2;
        s->stride *= 2;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

/* Judges the points after warm-up, at most PW_DETECT_MAX_POINTS of them
 * picked evenly (the detector keeps only the last ones otherwise). */
static void judge(const series_t *s, double warmup, double min_slope,
                  double last_x, double last_y, pw_detect_result_t *out)
{
    pw_point_t pts[PW_DETECT_MAX_POINTS];
    unsigned int i, first = 0, n = 0, avail;
    pw_detect_params_t p;
    series_t tmp;

    memcpy(&tmp, s, sizeof(tmp));
    /* the last reading always counts, even between two kept points */
    if (tmp.n == 0 || tmp.x[tmp.n - 1] < last_x) {
        if (tmp.n == SERIES_MAX) {
            tmp.n--;
        }
        tmp.x[tmp.n] = last_x;
        tmp.y[tmp.n] = last_y;
        tmp.n++;
    }
    while (first < tmp.n && tmp.x[first] < warmup) {
        first++;
    }
    avail = tmp.n - first;
    for (i = 0; i < PW_DETECT_MAX_POINTS && i < avail; i++) {
        unsigned int k =
            avail <= PW_DETECT_MAX_POINTS
                ? first + i
                : first + (unsigned int)((double)i * (avail - 1) /
                                         (PW_DETECT_MAX_POINTS - 1));

        pts[n].x = tmp.x[k];
        pts[n].y = tmp.y[k];
        n++;
    }
    pw_detect_defaults(&p);
    p.min_slope = min_slope;
    pw_detect(pts, n, &p, out);
}

/* ---- HTTP ------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *baton)
{
    return size * n;
}

static size_t collect(char *p, size_t size, size_t n, void *baton)
{
    buf_t *b = baton;
    size_t len = size * n;

    if (b->len + len + 1 > MAX_BODY) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        char *d;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        d = realloc(b->data, cap);
        if (d == NULL) {
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

static void common_opts(app_t *a, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(a->connect_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(a->timeout * 1000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "poolwatch-reload/1");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->errbuf);
    if (a->new_conn) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }
}

static CURL *target_handle(app_t *a)
{
    CURL *h = curl_easy_init();

    if (h == NULL) {
        return NULL;
    }
    common_opts(a, h);
    curl_easy_setopt(h, CURLOPT_URL, a->url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, a->headers);
    if (!strcmp(a->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (a->data) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, a->data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)a->data_len);
        if (strcmp(a->method, "POST")) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, a->method);
        }
    } else if (strcmp(a->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, a->method);
    }
    return h;
}

static void fail(app_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(app_t *a, const char *fmt, ...)
{
    va_list ap;

    if (a->error) {
        return; /* the first error is the one to report */
    }
    va_start(ap, fmt);
    a->error = apr_pvsprintf(a->pool, fmt, ap);
    va_end(ap);
}

static void progress(app_t *a, int final)
{
    double t = now();

    if (!a->progress || (!final && t - a->last_progress < 0.25)) {
        return;
    }
    a->last_progress = t;
    if (final) {
        fputs("\r\033[K", stderr);
        return;
    }
    fprintf(stderr, "\r\033[K%s: %ld/%ld requests, %.0f/s", progname, a->done,
            a->n, a->done / (t - a->t0 > 0 ? t - a->t0 : 1));
}

/* Runs the multi handle until nothing is in flight, starting target
 * requests up to `until` sent (and the status handle if added). Each
 * transfer ends within its timeout, so this loop does too. */
static void run(app_t *a, long until)
{
    int running = 1;

    while (!a->error) {
        int i, q;
        CURLMsg *msg;

        for (i = 0; i < a->conc && a->sent < until; i++) {
            if (!a->busy[i]) {
                a->busy[i] = 1;
                a->sent++;
                curl_multi_add_handle(a->multi, a->h[i]);
                running = 1;
            }
        }
        curl_multi_perform(a->multi, &running);
        while ((msg = curl_multi_info_read(a->multi, &q)) != NULL) {
            long code = 0;

            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            curl_multi_remove_handle(a->multi, msg->easy_handle);
            if (msg->easy_handle == a->st) {
                if (msg->data.result != CURLE_OK) {
                    fail(a, "%s: %s", a->status_url,
                         a->stbuf.too_big
                             ? "status page over 64 MiB"
                             : curl_easy_strerror(msg->data.result));
                }
                continue;
            }
            for (i = 0; i < a->conc; i++) {
                if (a->h[i] == msg->easy_handle) {
                    a->busy[i] = 0;
                }
            }
            a->done++;
            if (msg->data.result != CURLE_OK) {
                fail(a, "request %ld: %s: %s", a->done, a->url,
                     a->errbuf[0] ? a->errbuf
                                  : curl_easy_strerror(msg->data.result));
                continue;
            }
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (code >= 400) {
                a->http_errors++;
                if (!a->first_bad_status) {
                    a->first_bad_status = code;
                }
                if (!a->allow_http_errors) {
                    fail(a, "request %ld: %s answered HTTP %ld", a->done,
                         a->url, code);
                }
            }
        }
        progress(a, 0);
        if (!running && a->sent >= until) {
            int any = 0;

            for (i = 0; i < a->conc; i++) {
                any |= a->busy[i];
            }
            if (!any) {
                break;
            }
        }
        if (running) {
            curl_multi_poll(a->multi, NULL, 0, 200, NULL);
        }
    }
}

/* Reads the status page into a->last. */
static int read_status(app_t *a)
{
    json_error_t jerr;
    json_t *doc;
    long code = 0;
    char *ctype = NULL;

    a->stbuf.len = 0;
    a->stbuf.too_big = 0;
    curl_multi_add_handle(a->multi, a->st);
    run(a, a->sent);
    if (a->error) {
        return -1;
    }
    curl_easy_getinfo(a->st, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(a->st, CURLINFO_CONTENT_TYPE, &ctype);
    if (code != 200) {
        fail(a, "%s answered HTTP %ld%s", a->status_url, code,
             code == 404 ? " (is mod_poolwatch loaded and /poolwatch mapped "
                           "with SetHandler poolwatch?)"
                         : "");
        return -1;
    }
    doc =
        json_loadb(a->stbuf.data ? a->stbuf.data : "", a->stbuf.len, 0, &jerr);
    if (doc == NULL || !json_is_object(doc) ||
        !json_is_array(json_object_get(doc, "children"))) {
        fail(a, "%s: not mod_poolwatch's JSON (Content-Type %s%s%s)",
             a->status_url, ctype ? ctype : "none", doc ? "" : ": ",
             doc ? "" : jerr.text);
        json_decref(doc);
        return -1;
    }
    json_decref(a->prev);
    a->prev = a->last;
    a->last = doc;
    return 0;
}

/* ---- steps ------------------------------------------------------------------ */

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static json_t *same_child(json_t *children, json_t *c)
{
    size_t i;
    json_t *p;

    json_array_foreach(children, i, p)
    {
        if (num(p, "pid") == num(c, "pid") &&
            num(p, "started") == num(c, "started")) {
            return p;
        }
    }
    return NULL;
}

static path_t *path_get(app_t *a, const char *path, double x_prev)
{
    unsigned int i;
    path_t *p;

    for (i = 0; i < a->npaths; i++) {
        if (!strcmp(a->paths[i].path, path)) {
            return &a->paths[i];
        }
    }
    if (a->npaths == MAX_PATHS) {
        a->paths_dropped++;
        return NULL;
    }
    p = &a->paths[a->npaths++];
    p->path = apr_pstrdup(a->pool, path);
    series_add(&p->s, x_prev, 0.0); /* it had not grown before */
    return p;
}

typedef struct grew_t {
    const char *path;
    double growth;
} grew_t;

static int grew_cmp(const void *x, const void *y)
{
    const grew_t *a = x, *b = y;

    return a->growth == b->growth ? 0 : (a->growth > b->growth ? -1 : 1);
}

/* One step: growth between the previous and the last reading. */
static void step(app_t *a, double x_prev)
{
    json_t *cur = json_object_get(a->last, "children"), *prv, *c, *js, *jp;
    double g[SIGNALS] = {0, 0, 0}, pg[MAX_PATHS];
    static const char *const fields[SIGNALS] = {"pool_bytes", "heap_bytes",
                                                "rss_bytes"};
    grew_t grew[MAX_PATHS];
    unsigned int i, ngrew = 0, s;
    size_t ci, pi;

    if (a->prev == NULL) {
        return;
    }
    prv = json_object_get(a->prev, "children");
    memset(pg, 0, sizeof(pg));
    json_array_foreach(cur, ci, c)
    {
        json_t *p = same_child(prv, c), *pools, *pp, *pool;
        const char *state = json_string_value(json_object_get(c, "state"));

        /* a child that served nothing in the step (a spare starting up,
         * faulting in its pages) grew for reasons of its own */
        if (p == NULL || (state && strcmp(state, "running")) ||
            num(c, "requests") <= num(p, "requests")) {
            continue;
        }
        for (s = 0; s < SIGNALS; s++) {
            g[s] += num(c, fields[s]) - num(p, fields[s]);
        }
        pools = json_object_get(p, "pools");
        json_array_foreach(json_object_get(c, "pools"), pi, pool)
        {
            const char *path = json_string_value(json_object_get(pool, "path"));
            size_t k;
            path_t *t;
            double d = 0;

            if (path == NULL) {
                continue;
            }
            json_array_foreach(pools, k, pp)
            {
                const char *q = json_string_value(json_object_get(pp, "path"));

                if (q && !strcmp(q, path)) {
                    d = num(pool, "bytes") - num(pp, "bytes");
                    break;
                }
            }
            if (d == 0) {
                continue;
            }
            t = path_get(a, path, x_prev);
            if (t) {
                pg[t - a->paths] += d;
            }
        }
    }
    for (s = 0; s < SIGNALS; s++) {
        a->level[s] += g[s];
        series_add(&a->sig[s], (double)a->done, a->level[s]);
    }
    for (i = 0; i < a->npaths; i++) {
        a->paths[i].level += pg[i];
        series_add(&a->paths[i].s, (double)a->done, a->paths[i].level);
        if (pg[i] > 0) {
            grew[ngrew].path = a->paths[i].path;
            grew[ngrew].growth = pg[i];
            ngrew++;
        }
    }
    qsort(grew, ngrew, sizeof(grew[0]), grew_cmp);
    if (a->json) {
        js = json_pack("{s:I,s:f,s:f,s:f}", "requests", (json_int_t)a->done,
                       "pool_growth", g[0], "heap_growth", g[1], "rss_growth",
                       g[2]);
        jp = json_array();
        for (i = 0; i < ngrew; i++) {
            json_array_append_new(jp,
                                  json_pack("{s:s,s:f}", "path", grew[i].path,
                                            "growth", grew[i].growth));
        }
        json_object_set_new(js, "pools", jp);
        json_array_append_new(a->steps, js);
    } else if (!a->quiet) {
        progress(a, 1);
        printf("%9ld %+12.0f %+12.0f %+12.0f ", a->done, g[0], g[1], g[2]);
        for (i = 0; i < ngrew && i < 3; i++) {
            printf(" %s %+.0f", grew[i].path, grew[i].growth);
        }
        if (ngrew > 3) {
            printf(" (+%u more)", ngrew - 3);
        }
        putchar('\n');
        fflush(stdout);
    }
}

/* ---- the module's key ------------------------------------------------------- */

/* The key the server made for our URL: --key exactly, else method and
 * path[?query] (by the server's key_by) with any vhost, preferring the
 * URL's host and then the most requested. */
static json_t *find_key(app_t *a, const char **want)
{
    json_t *keys = json_object_get(a->last, "keys"), *k, *best = NULL;
    json_t *server = json_object_get(a->last, "server");
    const char *key_by = json_string_value(json_object_get(server, "key_by"));
    const char *tail;
    char *prefix;
    size_t i, plen;
    int best_host = 0;

    if (a->key) {
        *want = a->key;
        json_array_foreach(keys, i, k)
        {
            const char *t = json_string_value(json_object_get(k, "key"));

            if (t && !strcmp(t, a->key)) {
                return k;
            }
        }
        return NULL;
    }
    if (key_by && strcmp(key_by, "path") && strcmp(key_by, "query")) {
        *want = apr_psprintf(a->pool, "(PoolWatchKey %s: give --key)", key_by);
        return NULL;
    }
    tail = key_by && !strcmp(key_by, "query") ? a->path_query : a->path_only;
    *want = apr_psprintf(a->pool, "%s %s %s", a->method, a->host, tail);
    prefix = apr_pstrcat(a->pool, a->method, " ", NULL);
    plen = strlen(prefix);
    json_array_foreach(keys, i, k)
    {
        const char *t = json_string_value(json_object_get(k, "key"));
        const char *sp;
        size_t len;
        int host_match;

        if (t == NULL || strncmp(t, prefix, plen)) {
            continue;
        }
        sp = strchr(t + plen, ' ');
        if (sp == NULL || strcmp(sp + 1, tail)) {
            continue;
        }
        len = (size_t)(sp - (t + plen));
        host_match = len == strlen(a->host) && !strncmp(t + plen, a->host, len);
        if (best == NULL || host_match > best_host ||
            (host_match == best_host &&
             num(k, "requests") > num(best, "requests"))) {
            best = k;
            best_host = host_match;
            *want = t;
        }
    }
    return best;
}

/* ---- arguments -------------------------------------------------------------- */

static int read_file(app_t *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    buf_t b;
    char chunk[65536];
    size_t n;

    memset(&b, 0, sizeof(b));
    if (f == NULL) {
        fprintf(stderr, "%s: --data-file %s: %s\n", progname, path,
                strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (collect(chunk, 1, n, &b) != n) {
            fprintf(stderr, "%s: --data-file %s: over 64 MiB\n", progname,
                    path);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    a->data = b.data ? b.data : apr_pstrdup(a->pool, "");
    a->data_len = b.len;
    return 0;
}

/* Splits the URL; builds the default status URL and the key's parts. */
static int parse_url(app_t *a)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL,
         *query = NULL;
    int rc = -1;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, a->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") && strcmp(scheme, "https")) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        fprintf(stderr, "%s: not an http(s) URL: %s\n", progname, a->url);
        goto done;
    }
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK) {
        query = NULL;
    }
    a->host = apr_pstrdup(a->pool, host);
    a->path_only = apr_pstrdup(a->pool, path && *path ? path : "/");
    a->path_query = query ? apr_pstrcat(a->pool, a->path_only, "?", query, NULL)
                          : a->path_only;
    if (a->status_url == NULL) {
        /* an IPv6 literal needs its brackets back */
        a->status_url =
            apr_psprintf(a->pool, "%s://%s%s%s:%s/poolwatch?json", scheme,
                         strchr(host, ':') ? "[" : "", host,
                         strchr(host, ':') ? "]" : "", port ? port : "80");
    }
    rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

static int parse_args(app_t *a, int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        {"requests", 'n', 1, ""},
        {"request", 'X', 1, ""},
        {"header", 'H', 1, ""},
        {"data-file", 256, 1, ""},
        {"new-connection", 257, 0, ""},
        {"concurrency", 'c', 1, ""},
        {"every", 'e', 1, ""},
        {"warmup", 'w', 1, ""},
        {"status", 258, 1, ""},
        {"key", 259, 1, ""},
        {"connect-timeout", 260, 1, ""},
        {"timeout", 261, 1, ""},
        {"allow-http-errors", 262, 0, ""},
        {"json", 263, 0, ""},
        {"quiet", 'q', 0, ""},
        {"no-progress", 264, 0, ""},
        {"help", 'h', 0, ""},
        {NULL, 0, 0, NULL}};
    apr_getopt_t *g;
    apr_status_t rv;
    int ch, progress = 1;
    const char *arg;
    double v;

    a->n = -1;
    a->every = 0;
    a->conc = 1;
    a->warmup = 10;
    a->connect_timeout = 5;
    a->timeout = 30;
    apr_getopt_init(&g, a->pool, argc, argv);
    g->errfn = NULL;
    while ((rv = apr_getopt_long(g, opts, &ch, &arg)) == APR_SUCCESS) {
        switch (ch) {
            case 'n':
                if (!pw_cli_number(arg, 1, 1e9, &v)) {
                    goto bad_value;
                }
                a->n = (long)v;
                break;
            case 'X':
                a->method = arg;
                break;
            case 'H':
                if (strchr(arg, ':') == NULL) {
                    goto bad_value;
                }
                a->headers = curl_slist_append(a->headers, arg);
                break;
            case 256:
                a->data_file = arg;
                break;
            case 257:
                a->new_conn = 1;
                break;
            case 'c':
                if (!pw_cli_number(arg, 1, MAX_CONC, &v)) {
                    goto bad_value;
                }
                a->conc = (long)v;
                break;
            case 'e':
                if (!pw_cli_number(arg, 1, 1e9, &v)) {
                    goto bad_value;
                }
                a->every = (long)v;
                break;
            case 'w':
                if (!pw_cli_number(arg, 0, 1e9, &v)) {
                    goto bad_value;
                }
                a->warmup = (long)v;
                break;
            case 258:
                a->status_url = arg;
                break;
            case 259:
                a->key = arg;
                break;
            case 260:
                if (!pw_cli_number(arg, 0.001, 3600, &a->connect_timeout)) {
                    goto bad_value;
                }
                break;
            case 261:
                if (!pw_cli_number(arg, 0.001, 86400, &a->timeout)) {
                    goto bad_value;
                }
                break;
            case 262:
                a->allow_http_errors = 1;
                break;
            case 263:
                a->json = 1;
                break;
            case 'q':
                a->quiet = 1;
                break;
            case 264:
                progress = 0;
                break;
            case 'h':
                usage(stdout);
                exit(EXIT_NOLEAK);
        }
        continue;
    bad_value:
        pw_cli_bad_value(stderr, progname, opts, ch, arg);
        return -1;
    }
    if (rv != APR_EOF) {
        fprintf(stderr, "%s: unknown option or missing value: %s\n", progname,
                argv[g->ind - 1]);
        return -1;
    }
    if (g->ind != argc - 1) {
        fprintf(stderr, "%s: give one URL\n", progname);
        return -1;
    }
    if (a->n < 0) {
        fprintf(stderr, "%s: -n N is required\n", progname);
        return -1;
    }
    a->url = argv[g->ind];
    if (a->data_file && read_file(a, a->data_file) != 0) {
        return -1;
    }
    if (a->method == NULL) {
        a->method = a->data ? "POST" : "GET";
    }
    if (a->every == 0) {
        long after = a->n > a->warmup ? a->n - a->warmup : a->n;

        a->every = after / 32 > 0 ? after / 32 : 1;
    }
    a->progress = progress && !a->json && isatty(2);
    return parse_url(a);
}

/* ---- output ----------------------------------------------------------------- */

static int worse(pw_verdict_e a, pw_verdict_e b)
{
    return a > b;
}

int main(int argc, const char *const *argv)
{
    app_t a;
    apr_pool_t *pool;
    json_t *mk, *out = NULL;
    const char *want = NULL;
    unsigned int i, s, best_sig = 0;
    int rc, best_path = -1, module_leak = 0, tool_leak;
    pw_verdict_e tool_v = PW_VERDICT_WARMUP;
    double tool_bpr = 0;
    const char *tool_signal = "none", *tool_pool = "";

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    memset(&a, 0, sizeof(a));
    a.pool = pool;
    if (parse_args(&a, argc, argv) != 0) {
        fprintf(stderr, "Try '%s --help'.\n", progname);
        return EXIT_ERROR;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
        (a.multi = curl_multi_init()) == NULL ||
        (a.st = curl_easy_init()) == NULL) {
        fprintf(stderr, "%s: cannot start libcurl\n", progname);
        return EXIT_ERROR;
    }
    for (i = 0; i < (unsigned int)a.conc; i++) {
        if ((a.h[i] = target_handle(&a)) == NULL) {
            fprintf(stderr, "%s: cannot start libcurl\n", progname);
            return EXIT_ERROR;
        }
    }
    common_opts(&a, a.st);
    curl_easy_setopt(a.st, CURLOPT_URL, a.status_url);
    curl_easy_setopt(a.st, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(a.st, CURLOPT_WRITEDATA, &a.stbuf);
    a.steps = json_array();
    a.t0 = now();

    if (!a.json && !a.quiet) {
        printf("%s: %ld x %s %s, %s%s, reading %s every %ld requests\n",
               progname, a.n, a.method, a.url,
               a.new_conn ? "a new connection per request"
                          : "keep-alive connections",
               a.conc > 1 ? apr_psprintf(pool, ", %ld in flight", a.conc) : "",
               a.status_url, a.every);
    }
    if (read_status(&a) == 0 && !a.json && !a.quiet) {
        printf("%9s %12s %12s %12s  %s\n", "requests", "pool bytes", "heap",
               "rss", "pools that grew (summed over children)");
    }
    while (!a.error && a.done < a.n) {
        double x_prev = (double)a.done;
        long until = a.sent + a.every < a.n ? a.sent + a.every : a.n;

        run(&a, until);
        if (a.error || read_status(&a) != 0) {
            break;
        }
        step(&a, x_prev);
    }
    progress(&a, 1);

    if (a.error) {
        if (a.json) {
            out =
                json_pack("{s:s,s:i,s:s,s:s,s:I,s:b,s:i,s:s}", "tool", progname,
                          "format", FORMAT, "url", a.url, "status_url",
                          a.status_url, "completed", (json_int_t)a.done, "leak",
                          0, "exit", EXIT_ERROR, "error", a.error);
            json_dumpf(out, stdout, JSON_INDENT(2));
            putchar('\n');
        }
        fprintf(stderr, "%s: error: %s\n", progname, a.error);
        return EXIT_ERROR;
    }

    /* the tool's own verdict: worst signal, most specific first */
    for (s = 0; s < SIGNALS; s++) {
        judge(&a.sig[s], (double)a.warmup, sig_min_slope[s], (double)a.done,
              a.level[s], &a.sres[s]);
        if (worse(a.sres[s].verdict, tool_v)) {
            tool_v = a.sres[s].verdict;
            best_sig = s;
        }
    }
    for (i = 0; i < a.npaths; i++) {
        path_t *p = &a.paths[i];

        judge(&p->s, (double)a.warmup, sig_min_slope[0], (double)a.done,
              p->level, &p->r);
        if (p->r.verdict >= tool_v && p->r.verdict >= PW_VERDICT_SUSPECT &&
            (best_path < 0 || p->r.slope > a.paths[best_path].r.slope)) {
            best_path = (int)i;
        }
    }
    if (best_path >= 0 && a.paths[best_path].r.verdict >= tool_v) {
        tool_v = a.paths[best_path].r.verdict;
        tool_signal = "pool";
        tool_pool = a.paths[best_path].path;
        tool_bpr = a.paths[best_path].r.slope;
    } else {
        tool_signal = sig_names[best_sig];
        tool_bpr = a.sres[best_sig].slope;
    }
    tool_leak = tool_v == PW_VERDICT_LEAK;

    mk = find_key(&a, &want);
    if (mk) {
        const char *v = json_string_value(json_object_get(mk, "verdict"));

        module_leak = v && !strcmp(v, "leak");
    }
    rc = module_leak || tool_leak ? EXIT_LEAK : EXIT_NOLEAK;

    if (a.json) {
        json_t *sigs = json_object(), *paths = json_array(), *module, *server;

        for (s = 0; s < SIGNALS; s++) {
            json_object_set_new(sigs, sig_names[s],
                                json_pack("{s:s,s:f,s:f,s:i}", "verdict",
                                          pw_verdict_name(a.sres[s].verdict),
                                          "bytes_per_request", a.sres[s].slope,
                                          "growth", a.level[s], "points",
                                          (int)a.sres[s].points));
        }
        for (i = 0; i < a.npaths; i++) {
            json_array_append_new(
                paths,
                json_pack("{s:s,s:s,s:f,s:f,s:i}", "path", a.paths[i].path,
                          "verdict", pw_verdict_name(a.paths[i].r.verdict),
                          "bytes_per_request", a.paths[i].r.slope, "growth",
                          a.paths[i].level, "points",
                          (int)a.paths[i].r.points));
        }
        if (mk) {
            module = json_pack(
                "{s:s,s:b,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "key", want,
                "found", 1, "verdict", json_object_get(mk, "verdict"),
                "bytes_per_request", json_object_get(mk, "bytes_per_request"),
                "signal", json_object_get(mk, "signal"), "pool",
                json_object_get(mk, "pool"), "requests",
                json_object_get(mk, "requests"), "attribution",
                json_object_get(mk, "attribution"), "children_affected",
                json_object_get(mk, "children_affected"));
        } else {
            module = json_pack("{s:s,s:b,s:n}", "key", want ? want : "",
                               "found", 0, "verdict");
        }
        server = json_object_get(a.last, "server");
        out = json_pack(
            "{s:s,s:i,s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:I,s:I,s:f,s:I,"
            "s:{s:O?,s:O?,s:O?,s:O?},s:o,s:o,s:{s:s,s:s,s:s,s:f,s:o,s:o},s:b,"
            "s:i,s:n}",
            "tool", progname, "format", FORMAT, "url", a.url, "status_url",
            a.status_url, "method", a.method, "requests", (json_int_t)a.n,
            "completed", (json_int_t)a.done, "concurrency", (json_int_t)a.conc,
            "keepalive", !a.new_conn, "every", (json_int_t)a.every, "warmup",
            (json_int_t)a.warmup, "elapsed_s", now() - a.t0, "http_errors",
            (json_int_t)a.http_errors, "server", "version",
            json_object_get(server, "version"), "mpm",
            json_object_get(server, "mpm"), "walk",
            json_object_get(server, "walk"), "key_by",
            json_object_get(server, "key_by"), "steps", a.steps, "module",
            module, "observed", "verdict", pw_verdict_name(tool_v), "signal",
            tool_signal, "pool", tool_pool, "bytes_per_request", tool_bpr,
            "signals", sigs, "pools", paths, "leak", rc == EXIT_LEAK, "exit",
            rc, "error");
        if (out == NULL) {
            fprintf(stderr, "%s: cannot build the JSON output\n", progname);
            return EXIT_ERROR;
        }
        json_dumpf(out, stdout, JSON_INDENT(2));
        putchar('\n');
        return rc;
    }

    printf("\nmodule verdict (the server's own judgement of key \"%s\"):\n  ",
           want ? want : "?");
    if (mk) {
        const char *pool_name = json_string_value(json_object_get(mk, "pool"));

        printf("%s, %.1f B/request, signal %s%s%s, %.0f requests, "
               "attribution %s, %.0f of %.0f children affected\n",
               json_string_value(json_object_get(mk, "verdict")),
               num(mk, "bytes_per_request"),
               json_string_value(json_object_get(mk, "signal")),
               pool_name && *pool_name ? ", pool " : "",
               pool_name ? pool_name : "", num(mk, "requests"),
               json_string_value(json_object_get(mk, "attribution")),
               num(mk, "children_affected"), num(mk, "children"));
    } else {
        printf("no such key in %s (keys are \"METHOD vhost path\"; try "
               "--key)\n",
               a.status_url);
    }
    printf("tool verdict (this tool's pw_detect on the growth it read, "
           "requests %ld-%ld):\n  %s, %.1f B/request, signal %s%s%s\n",
           a.warmup, a.done, pw_verdict_name(tool_v), tool_bpr, tool_signal,
           *tool_pool ? ", pool " : "", tool_pool);
    for (s = 0; s < SIGNALS; s++) {
        printf("    %-5s %-8s %10.1f B/request %+12.0f B (%u points)\n",
               sig_names[s], pw_verdict_name(a.sres[s].verdict),
               a.sres[s].slope, a.level[s], a.sres[s].points);
    }
    for (i = 0; i < a.npaths; i++) {
        if (a.paths[i].r.verdict >= PW_VERDICT_SUSPECT) {
            printf("    pool  %-8s %10.1f B/request %+12.0f B  %s\n",
                   pw_verdict_name(a.paths[i].r.verdict), a.paths[i].r.slope,
                   a.paths[i].level, a.paths[i].path);
        }
    }
    if (a.sres[0].points < 8) {
        printf("  (fewer than 8 readings after warm-up: raise -n or lower "
               "--every)\n");
    }
    if (a.http_errors) {
        printf("  %ld responses had HTTP status >= 400 (first %ld)\n",
               a.http_errors, a.first_bad_status);
    }
    printf("result: %s (exit %d)\n", rc == EXIT_LEAK ? "LEAK" : "no leak", rc);
    return rc;
}
