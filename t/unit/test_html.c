/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_html: the renderers' pieces that must hold whatever the bytes:
 * HTML escaping (pw_html_escape), ?auto escaping (pw_auto_text), the SVG
 * chart (pw_svg_chart) and whole pages from a snapshot built here, with
 * hostile keys, a torn copy and non-finite numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

#include "pw_auto.h"
#include "pw_detect.h"
#include "pw_html.h"
#include "pw_unit.h"

/* Output collected into a growing buffer (malloc: tests only). */
typedef struct buf_t {
    char *s;
    apr_size_t len, cap;
} buf_t;

static void collect(void *baton, const char *data, apr_size_t len)
{
    buf_t *b = baton;

    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ck_assert_ptr_nonnull(b->s);
    }
    memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
}

static char *escaped(const char *in, void (*fn)(pw_out_t *, const char *))
{
    static buf_t b;
    pw_out_t out = {collect, &b};

    b.len = 0;
    if (b.s) {
        b.s[0] = '\0';
    }
    fn(&out, in);
    return b.s ? b.s : (char *)"";
}

static const struct {
    const char *in, *want;
} html_cases[] = {
    {"plain /x?a=1", "plain /x?a=1"},
    {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"a&b", "a&amp;b"},
    {"\"'", "&quot;&#39;"},
    {"tab\there", "tab&#xFFFD;here"},
    {"nl\nx\r\x7f", "nl&#xFFFD;x&#xFFFD;&#xFFFD;"},
    {"\xff\xfe", "&#xFFFD;&#xFFFD;"},
    {"caf\xc3\xa9", "caf\xc3\xa9"},               /* valid UTF-8 stays */
    {"\xc3", "&#xFFFD;"},                         /* cut sequence */
    {"\xe0\x80\xaf", "&#xFFFD;&#xFFFD;&#xFFFD;"}, /* overlong */
    {"\xed\xa0\x80", "&#xFFFD;&#xFFFD;&#xFFFD;"}, /* surrogate */
    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
    {"", ""},
};

START_TEST(test_html_escape)
{
    ck_assert_str_eq(escaped(html_cases[_i].in, pw_html_escape),
                     html_cases[_i].want);
}
END_TEST

static const struct {
    const char *in, *want;
} auto_cases[] = {
    {"GET h /x?a=1", "GET h /x?a=1"},
    {"a\nPoolWatchLeaks: 0", "a\\x0aPoolWatchLeaks: 0"},
    {"back\\slash", "back\\x5cslash"},
    {"\xc3\xa9\x01", "\\xc3\\xa9\\x01"},
    {"<b>", "<b>"}, /* text/plain: no HTML escaping */
};

START_TEST(test_auto_text)
{
    ck_assert_str_eq(escaped(auto_cases[_i].in, pw_auto_text),
                     auto_cases[_i].want);
}
END_TEST

static int count(const char *hay, const char *needle)
{
    int n = 0;
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static char *chart(const pw_chart_t *c)
{
    static buf_t b;
    pw_out_t out = {collect, &b};

    b.len = 0;
    if (b.s) {
        b.s[0] = '\0';
    }
    pw_svg_chart(&out, c);
    return b.s;
}

START_TEST(test_chart_line_and_fit)
{
    double x[10], y[10];
    pw_chart_t c;
    char *s;
    int i;

    for (i = 0; i < 10; i++) {
        x[i] = 10 + i * 4;
        y[i] = 1000.0 * i * 4;
    }
    memset(&c, 0, sizeof(c));
    c.title = "t<1>";
    c.xlabel = "requests";
    c.ylabel = "growth";
    c.x = x;
    c.y = y;
    c.n = 10;
    c.fit = 1;
    c.slope = 1000.0;
    c.fit_unit = "B/request";
    c.intercept = pw_fit_intercept(x, y, 10, 1000.0);
    ck_assert(fabs(c.intercept - (-10000.0)) < 1e-6);
    s = chart(&c);
    ck_assert_int_eq(count(s, "<svg"), 1);
    ck_assert_int_eq(count(s, "</svg>"), 1);
    ck_assert_int_eq(count(s, "<circle"), 10); /* a marker per point */
    ck_assert_int_eq(count(s, "<polyline"), 1);
    ck_assert_int_eq(count(s, "stroke-dasharray"), 1); /* the fit */
    ck_assert_msg(strstr(s, "fit (dashed): 1000.0 B/request"), "%s", s);
    ck_assert_msg(strstr(s, "growth (KiB)"), "y unit: %s", s); /* 36000 B */
    ck_assert_msg(strstr(s, ">requests<"), "x label: %s", s);
    ck_assert_msg(strstr(s, "<title>t&lt;1&gt;</title>"), "%s", s);
    ck_assert_ptr_null(strstr(s, "nan"));
    ck_assert_ptr_null(strstr(s, "inf"));
}
END_TEST

START_TEST(test_chart_degenerate)
{
    double x[3] = {5, 5, 5}, y[3] = {NAN, INFINITY, -INFINITY};
    pw_chart_t c;
    char *s;

    memset(&c, 0, sizeof(c));
    c.title = "flat";
    c.xlabel = "x";
    c.ylabel = "y";
    c.x = x;
    c.y = y;
    c.n = 3;
    c.fit = 1;
    c.slope = NAN;
    c.intercept = INFINITY;
    s = chart(&c);
    ck_assert_int_eq(count(s, "<svg"), 1);
    ck_assert_ptr_null(strstr(s, "nan"));
    ck_assert_ptr_null(strstr(s, "inf"));

    {
        /* extremes whose range would overflow a double */
        double bx[2] = {-3e38, 3e38}, by[2] = {1e308, -1e308};

        c.x = bx;
        c.y = by;
        c.n = 2;
        c.slope = 1e300;
        c.intercept = -1e308;
        s = chart(&c);
        ck_assert_ptr_null(strstr(s, "nan"));
        ck_assert_ptr_null(strstr(s, "inf"));
    }

    c.n = 0; /* nothing to draw: still one svg, saying so */
    s = chart(&c);
    ck_assert_int_eq(count(s, "<svg"), 1);
    ck_assert_msg(strstr(s, "no samples yet"), "%s", s);
}
END_TEST

/* ---- whole pages from a snapshot ---------------------------------------- */

#define MP 8
#define MK 4

static pw_slot_t *make_child(apr_pool_t *p, apr_uint32_t pid, int leak,
                             const char *key)
{
    apr_size_t size = sizeof(pw_slot_t) + MP * sizeof(pw_poolrec_t) +
                      MK * sizeof(pw_keyrec_t);
    pw_slot_t *s = apr_pcalloc(p, size);
    pw_poolrec_t *pools = pw_slot_pools(s);
    pw_keyrec_t *k = pw_slot_keys(s, MP);
    int i;

    s->owner = pid;
    s->state = PW_SLOT_RUNNING;
    s->requests = 100;
    s->pool_bytes = 200000;
    s->heap_bytes = 60000;
    s->rss_bytes = 4000000;
    for (i = 0; i < 20; i++) {
        pw_sample_t smp = {(apr_uint64_t)i * 4, 0, 200000 + 4000u * i, 60000,
                           4000000};

        pw_slot_history_add(s, &smp);
    }
    s->npools = 2;
    strcpy(pools[0].tag, "pconf");
    strcpy(pools[0].path, "process/pconf");
    pools[0].depth = 2;
    strcpy(pools[1].tag, "<pchild>");
    strcpy(pools[1].path, "process/pconf/<pchild>");
    pools[1].depth = 3;
    pools[1].growth = 4000;
    s->last_requests = 4;
    k[0].hash = 42;
    k[0].ready = 1;
    apr_cpystrn(k[0].key, key, sizeof(k[0].key));
    k[0].requests = 80;
    k[0].verdict = leak ? PW_VERDICT_LEAK : PW_VERDICT_OK;
    k[0].signal = PW_SIG_POOL;
    k[0].bytes_per_request = leak ? 1000.0 : 0.0;
    strcpy(k[0].pool, "process/pconf/<pchild>");
    k[0].series_signal = PW_SIG_POOL;
    k[0].series_n = 12;
    for (i = 0; i < 12; i++) {
        k[0].series_x[i] = (float)(i * 4);
        k[0].series_y[i] = leak ? (float)(i * 4000) : 0.0f;
    }
    return s;
}

static char *page(apr_pool_t *p, const pw_snapshot_t *snap,
                  const pw_html_opts_t *o, int which)
{
    static buf_t b;
    pw_out_t out = {collect, &b};

    b.len = 0;
    if (b.s) {
        b.s[0] = '\0';
    }
    if (which == 0) {
        pw_html_render(&out, snap, o);
    } else if (which == 1) {
        pw_auto_render(&out, snap, 0);
    } else {
        pw_html_status(&out, snap, 0);
    }
    return b.s;
}

static const char hostile[] = "GET h /<script>alert(\"x\")</script>\x01\xff";

static void snapshot(apr_pool_t *p, pw_snapshot_t *snap, const pw_slot_t **kids,
                     apr_uint32_t *slot_of)
{
    memset(snap, 0, sizeof(*snap));
    snap->server.version = "Apache/2.4 <test>";
    snap->server.mpm = "prefork";
    snap->server.walk = PW_WALK_EXACT;
    snap->server.walk_reason = "single <threaded>";
    snap->server.max_pools = MP;
    snap->server.max_keys = MK;
    snap->server.key_by = "query";
    snap->server.now = apr_time_from_sec(1000000);
    snap->server.restart_time = apr_time_from_sec(1000000 - 3725);
    kids[0] = make_child(p, 101, 1, hostile);
    kids[1] = make_child(p, 102, 0, "GET h /fine");
    slot_of[0] = 0;
    slot_of[1] = 1;
    snap->children = kids;
    snap->slot_of = slot_of;
    snap->nchildren = 2;
    snap->pool = p;
}

START_TEST(test_page)
{
    apr_pool_t *p;
    pw_snapshot_t snap;
    const pw_slot_t *kids[2];
    apr_uint32_t slot_of[2];
    pw_html_opts_t o;
    char *s;

    apr_pool_create(&p, NULL);
    snapshot(p, &snap, kids, slot_of);
    memset(&o, 0, sizeof(o));
    o.self = "/poolwatch\"><x>";
    o.pid = 101;
    s = page(p, &snap, &o, 0);
    ck_assert_ptr_null(strstr(s, "<script>"));
    ck_assert_ptr_null(strstr(s, "<x>"));
    ck_assert_ptr_null(strstr(s, "<pchild>"));
    ck_assert_ptr_null(strstr(s, "<test>"));
    ck_assert_msg(strstr(s, "&lt;script&gt;alert(&quot;x&quot;)"), "%s", s);
    ck_assert_int_eq(count(s, "<table"), 3); /* keys, children, pools */
    /* one leaking key graph + 2 children x 3 */
    ck_assert_int_eq(count(s, "<svg"), 7);
    ck_assert_int_eq(count(s, "<figure class=\"graph\">"), 7);
    ck_assert_int_eq(count(s, "stroke-dasharray"), 1);
    ck_assert_msg(strstr(s, "1 key leaks, 0 suspect"), "%s", s);
    ck_assert_msg(strstr(s, "in child 101;"), "%s", s);
    ck_assert_msg(strstr(s, "Server uptime: 1 hour 2 minutes 5 seconds"), "%s",
                  s);
    ck_assert_msg(strstr(s, "method=\"post\""), "%s", s);
    ck_assert_msg(strstr(s, "Pools of child 101"), "%s", s);
    ck_assert_int_eq(count(s, "<html"), 1);
    ck_assert_int_eq(count(s, "</html>"), 1);

    o.notable = 1;
    s = page(p, &snap, &o, 0);
    ck_assert_int_eq(count(s, "<table"), 0);
    ck_assert_int_eq(count(s, "<svg"), 0);
    ck_assert_int_eq(count(s, "<style"), 0);
    ck_assert_ptr_null(strstr(s, "<script>"));

    s = page(p, &snap, &o, 1);
    ck_assert_msg(strstr(s, "PoolWatchLeaks: 1\n"), "%s", s);
    ck_assert_msg(strstr(s, "PoolWatchSuspects: 0\n"), "%s", s);
    ck_assert_msg(strstr(s, "PoolWatchChildren: 2\n"), "%s", s);
    ck_assert_msg(strstr(s, "PoolWatchRequests: 200\n"), "%s", s);
    ck_assert_msg(strstr(s, "PoolWatchUptime: 3725\n"), "%s", s);
    ck_assert_msg(strstr(s, "PoolWatchKey: leak 1000.0 request pool "
                            "process/pconf/<pchild> 1 GET h /<script>"),
                  "%s", s);
    ck_assert_msg(strstr(s, "</script>\\x01\\xff\n"), "%s", s);
    /* every line is "Name: value" */
    {
        char *line, *last, *copy = apr_pstrdup(p, s);

        for (line = apr_strtok(copy, "\n", &last); line;
             line = apr_strtok(NULL, "\n", &last)) {
            ck_assert_msg(!strncmp(line, "PoolWatch", 9) && strstr(line, ": "),
                          "bad line '%s'", line);
        }
    }

    s = page(p, &snap, &o, 2);
    ck_assert_msg(strstr(s, "<h2>Pool Watch</h2>"), "%s", s);
    ck_assert_ptr_null(strstr(s, "<script>"));
    apr_pool_destroy(p);
}
END_TEST

/* A suspect held back by the regression's standard error says so, in the
 * table and in the notable view; a plain suspect does not. */
START_TEST(test_page_held)
{
    apr_pool_t *p;
    pw_snapshot_t snap;
    const pw_slot_t *kids[2];
    apr_uint32_t slot_of[2];
    pw_html_opts_t o;
    pw_keyrec_t *k;
    char *s;

    apr_pool_create(&p, NULL);
    snapshot(p, &snap, kids, slot_of);
    k = pw_slot_keys((pw_slot_t *)kids[1], MP);
    k[0].verdict = PW_VERDICT_SUSPECT;
    k[0].bytes_per_request = 12.0;
    k[0].held = 1u << PW_SIG_HEAP; /* another signal's: not this verdict */
    memset(&o, 0, sizeof(o));
    o.self = "/poolwatch";
    snap.server.sample_every = 4;
    s = page(p, &snap, &o, 0);
    ck_assert_ptr_null(strstr(s, "not separable"));
    /* the pace in the header: no time limit at interval 0 */
    ck_assert_msg(strstr(s, "a sample every 4 requests, "), "%s", s);
    ck_assert_ptr_null(strstr(s, "at most one every"));
    snap.server.sample_interval_ms = 50;
    s = page(p, &snap, &o, 0);
    ck_assert_msg(strstr(s, "a sample every 4 requests but at most one every "
                            "50 ms, "),
                  "%s", s);
    k[0].held |= 1u << PW_SIG_POOL;
    s = page(p, &snap, &o, 0);
    ck_assert_msg(strstr(s, "suspect (not separable from other keys)</td>"),
                  "%s", s);
    ck_assert_int_eq(count(s, "not separable"), 1);
    o.notable = 1;
    s = page(p, &snap, &o, 0);
    ck_assert_msg(strstr(s, "suspect (not separable from other keys): GET h "
                            "/fine</dt>"),
                  "%s", s);
    apr_pool_destroy(p);
}
END_TEST

/* A torn copy: strings without NUL, counts out of range, NaN. */
START_TEST(test_page_torn)
{
    apr_pool_t *p;
    pw_snapshot_t snap;
    const pw_slot_t *kids[2];
    apr_uint32_t slot_of[2];
    pw_html_opts_t o;
    pw_slot_t *s0;
    pw_poolrec_t *pools;
    pw_keyrec_t *k;
    int w;

    apr_pool_create(&p, NULL);
    snapshot(p, &snap, kids, slot_of);
    s0 = (pw_slot_t *)kids[0];
    s0->seq = 1;
    s0->npools = 1000;     /* beyond max_pools */
    s0->hist_count = 9999; /* beyond PW_HISTORY */
    pools = pw_slot_pools(s0);
    memset(pools[0].tag, 'A', sizeof(pools[0].tag));
    memset(pools[0].path, '<', sizeof(pools[0].path));
    pools[0].depth = 1000000;
    k = pw_slot_keys(s0, MP);
    memset(k[0].pool, '"', sizeof(k[0].pool));
    k[0].bytes_per_request = NAN;
    k[0].series_n = 100000;
    k[0].series_y[3] = INFINITY;
    k[0].signal = 77;
    k[0].verdict = 99;
    memset(&o, 0, sizeof(o));
    o.pid = 101;
    for (w = 0; w < 3; w++) {
        char *s = page(p, &snap, &o, w);

        ck_assert_ptr_nonnull(s);
        ck_assert_ptr_null(strstr(s, "nan"));
        ck_assert_ptr_null(strstr(s, "<<"));
    }
    apr_pool_destroy(p);
}
END_TEST

Suite *pw_html_suite(void)
{
    Suite *s = suite_create("pw_html");
    TCase *tc = tcase_create("render");

    tcase_add_loop_test(tc, test_html_escape, 0,
                        sizeof(html_cases) / sizeof(html_cases[0]));
    tcase_add_loop_test(tc, test_auto_text, 0,
                        sizeof(auto_cases) / sizeof(auto_cases[0]));
    tcase_add_test(tc, test_chart_line_and_fit);
    tcase_add_test(tc, test_chart_degenerate);
    tcase_add_test(tc, test_page);
    tcase_add_test(tc, test_page_held);
    tcase_add_test(tc, test_page_torn);
    suite_add_tcase(s, tc);
    return s;
}
