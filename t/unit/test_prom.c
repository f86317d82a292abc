/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_prom: the Prometheus exposition (pw_prom_render) and its label
 * escaping (pw_prom_label, through the shared UTF-8 escaper).
 *
 * Snapshots are built by hand in a zeroed segment (pw_shm_init), slots
 * standing for the copies the glue makes. The output is checked line by
 * line: exact samples for what the snapshot holds, and the format's rules
 * (HELP and TYPE once per family, before its samples, families not split,
 * no series twice, valid UTF-8 throughout) for every line.
 */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "pw_detect.h"
#include "pw_prom.h"
#include "pw_unit.h"

/* ---- label values ----------------------------------------------------- */

static const struct {
    const char *in, *want;
} labels[] = {
    {"", ""},
    {"plain /x?a=1&b=2", "plain /x?a=1&b=2"},
    {"a\"b", "a\\\"b"},
    {"a\\b", "a\\\\b"},
    {"a\nb", "a\\nb"},
    {"\\\"\n", "\\\\\\\"\\n"},
    /* other bytes below 0x80 are left alone (the format escapes only 3) */
    {"tab\there\r", "tab\there\r"},
    {"{x=\"1\"} 2", "{x=\\\"1\\\"} 2"},
    /* valid UTF-8 kept: 2, 3 and 4 byte forms */
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    /* invalid: each offending byte becomes U+FFFD */
    {"x\xffy", "x\xef\xbf\xbdy"},
    {"\x80", "\xef\xbf\xbd"},
    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
    {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},       /* cut short at the end */
    {"\xe2\x82\"", "\xef\xbf\xbd\xef\xbf\xbd\\\""}, /* cut short by a quote */
    {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"\xc3(", "\xef\xbf\xbd("},
};

START_TEST(test_label)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    ck_assert_str_eq(pw_prom_label(p, labels[_i].in), labels[_i].want);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(test_label_null)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    ck_assert_str_eq(pw_prom_label(p, NULL), "");
    apr_pool_destroy(p);
}
END_TEST

/* The worst case fits: every byte invalid (3 out) or escaped (2 out). */
START_TEST(test_label_worst_case)
{
    char in[PW_KEY_MAX], want[3 * PW_KEY_MAX];
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < PW_KEY_MAX - 1; i++) {
        in[i] = '\xff';
        memcpy(want + 3 * i, "\xef\xbf\xbd", 3);
    }
    in[i] = '\0';
    want[3 * i] = '\0';
    ck_assert_str_eq(pw_prom_label(p, in), want);
    apr_pool_destroy(p);
}
END_TEST

/* ---- a snapshot by hand ----------------------------------------------- */

#define MAX_POOLS 8
#define MAX_KEYS  32
#define NSLOTS    3

typedef struct outbuf_t {
    char *buf;
    apr_size_t len, cap;
} outbuf_t;

static void out_emit(void *baton, const char *data, apr_size_t len)
{
    outbuf_t *o = baton;

    if (o->len + len + 1 > o->cap) {
        o->cap = 2 * (o->len + len + 1);
        o->buf = realloc(o->buf, o->cap);
        ck_assert_ptr_nonnull(o->buf);
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    o->buf[o->len] = '\0';
}

typedef struct fixture_t {
    apr_pool_t *pool;
    void *base;
    const pw_slot_t *kids[NSLOTS];
    apr_uint32_t slot_of[NSLOTS];
    pw_snapshot_t snap;
    outbuf_t out;
} fixture_t;

static void fx_init(fixture_t *fx, apr_uint32_t nchildren)
{
    apr_size_t len = pw_shm_size(NSLOTS, MAX_POOLS, MAX_KEYS);
    apr_uint32_t i;

    memset(fx, 0, sizeof(*fx));
    apr_pool_create(&fx->pool, NULL);
    ck_assert_int_eq(posix_memalign(&fx->base, 64, len), 0);
    memset(fx->base, 0, len);
    ck_assert_int_eq(pw_shm_init(fx->base, len, NSLOTS, MAX_POOLS, MAX_KEYS),
                     APR_SUCCESS);
    fx->snap.server.version = "Apache/2.4.71 (Debian)";
    fx->snap.server.mpm = "event";
    fx->snap.server.threaded = 1;
    fx->snap.server.generation = 3;
    fx->snap.server.walk = PW_WALK_LOCKED;
    fx->snap.server.walk_reason = "why";
    fx->snap.server.apr_version = "1.7.2";
    fx->snap.server.slots = NSLOTS;
    fx->snap.server.slots_overflow = 2;
    fx->snap.server.max_pools = MAX_POOLS;
    fx->snap.server.max_keys = MAX_KEYS;
    fx->snap.server.key_by = "query";
    fx->snap.server.shm_bytes = len;
    fx->snap.pool = fx->pool;
    for (i = 0; i < nchildren; i++) {
        pw_slot_t *s = pw_shm_slot(fx->base, i);

        s->owner = 1000 + i;
        s->state = PW_SLOT_RUNNING;
        s->requests = 100 * (i + 1);
        s->connections = 10 * (i + 1);
        s->samples = 25;
        s->pool_bytes = 200000 + i;
        s->pool_reserved_bytes = 262144;
        s->heap_bytes = 58832;
        s->rss_bytes = 4202496;
        s->pools_seen = 38;
        s->started = apr_time_from_sec(1795443409);
        s->updated = apr_time_from_sec(1795443410) + 310000;
        s->walk_ns = 3100;
        fx->kids[i] = s;
        fx->slot_of[i] = i;
    }
    fx->snap.nchildren = nchildren;
    fx->snap.children = fx->kids;
    fx->snap.slot_of = fx->slot_of;
}

static void fx_free(fixture_t *fx)
{
    free(fx->out.buf);
    free(fx->base);
    apr_pool_destroy(fx->pool);
}

static pw_keyrec_t *add_key(fixture_t *fx, apr_uint32_t child, const char *key,
                            pw_verdict_e v, pw_signal_e sig, double bpr,
                            const char *pool, apr_uint64_t requests)
{
    pw_slot_t *s = pw_shm_slot(fx->base, child);
    pw_keyrec_t *k = pw_slot_keys(s, MAX_POOLS);
    apr_uint32_t i;

    for (i = 0; i < MAX_KEYS && k[i].hash; i++) {
    }
    ck_assert_uint_lt(i, MAX_KEYS);
    k += i;
    k->hash = 7 + i;
    k->ready = 1;
    apr_cpystrn(k->key, key, sizeof(k->key));
    k->verdict = v;
    k->signal = sig;
    k->bytes_per_request = bpr;
    apr_cpystrn(k->pool, pool, sizeof(k->pool));
    k->requests = requests;
    return k;
}

static void add_pool(fixture_t *fx, apr_uint32_t child, const char *path,
                     apr_uint64_t bytes)
{
    pw_slot_t *s = pw_shm_slot(fx->base, child);
    pw_poolrec_t *pr = pw_slot_pools(s) + s->npools++;

    apr_cpystrn(pr->path, path, sizeof(pr->path));
    apr_cpystrn(pr->tag, strrchr(path, '/') + 1, sizeof(pr->tag));
    pr->bytes = bytes;
}

/* Renders and checks the format's rules; returns the text. */
static const char *render(fixture_t *fx)
{
    pw_out_t out = {out_emit, &fx->out};

    pw_prom_render(&out, &fx->snap);
    ck_assert_ptr_nonnull(fx->out.buf);
    return fx->out.buf;
}

/* Whether the whole text is valid UTF-8 (a strict decoder's view). */
static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned int n, cp, i;

        if (*s < 0x80) {
            s++;
            continue;
        }
        if (*s >= 0xc2 && *s <= 0xdf) {
            n = 2, cp = *s & 0x1f;
        } else if (*s >= 0xe0 && *s <= 0xef) {
            n = 3, cp = *s & 0x0f;
        } else if (*s >= 0xf0 && *s <= 0xf4) {
            n = 4, cp = *s & 0x07;
        } else {
            return 0;
        }
        for (i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
            return 0;
        }
        s += n;
    }
    return 1;
}

/* The exposition rules every output must keep. Returns the number of
 * samples. */
static int check_format(apr_pool_t *p, const char *text)
{
    apr_hash_t *families = apr_hash_make(p), *series = apr_hash_make(p);
    char *copy = apr_pstrdup(p, text), *line, *last;
    const char *help_of = NULL, *type_of = NULL;
    int samples = 0;

    ck_assert_msg(valid_utf8((const unsigned char *)text), "not UTF-8");
    ck_assert_msg(text[strlen(text) - 1] == '\n', "no final newline");
    for (line = apr_strtok(copy, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        if (!strncmp(line, "# HELP ", 7)) {
            char *name = apr_pstrndup(p, line + 7, strcspn(line + 7, " "));

            ck_assert_msg(!apr_hash_get(families, name, APR_HASH_KEY_STRING),
                          "family %s twice", name);
            apr_hash_set(families, name, APR_HASH_KEY_STRING, name);
            help_of = name;
            type_of = NULL;
        } else if (!strncmp(line, "# TYPE ", 7)) {
            char *name = apr_pstrndup(p, line + 7, strcspn(line + 7, " "));
            const char *type = line + 7 + strlen(name) + 1;

            ck_assert_msg(help_of && !strcmp(name, help_of),
                          "TYPE %s without its HELP", name);
            ck_assert_msg(!strcmp(type, "gauge") || !strcmp(type, "counter"),
                          "type %s", type);
            /* counters, and only counters, end in _total */
            ck_assert_int_eq(!strcmp(type, "counter"),
                             strlen(name) > 6 &&
                                 !strcmp(name + strlen(name) - 6, "_total"));
            type_of = name;
        } else {
            apr_size_t nlen = strcspn(line, "{ ");
            const char *sp = strrchr(line, ' ');
            char *id = apr_pstrndup(p, line, (apr_size_t)(sp - line));

            ck_assert_msg(line[0] != '#', "stray comment %s", line);
            ck_assert_msg(type_of && strlen(type_of) == nlen &&
                              !strncmp(line, type_of, nlen),
                          "sample outside its family: %s", line);
            ck_assert_msg(!strncmp(line, "poolwatch_", 10), "%s", line);
            ck_assert_msg(!apr_hash_get(series, id, APR_HASH_KEY_STRING),
                          "series twice: %s", id);
            apr_hash_set(series, id, APR_HASH_KEY_STRING, id);
            ck_assert_msg(strspn(sp + 1, "0123456789.") == strlen(sp + 1),
                          "value %s", sp + 1);
            samples++;
        }
    }
    return samples;
}

/* Whether text holds this exact line. */
static int has_line(const char *text, const char *line)
{
    apr_size_t n = strlen(line);
    const char *at = text;

    while ((at = strstr(at, line)) != NULL) {
        if ((at == text || at[-1] == '\n') && at[n] == '\n') {
            return 1;
        }
        at += n;
    }
    return 0;
}

#define ck_line(text, line)                                                    \
    ck_assert_msg(has_line(text, line), "missing line: %s\n--- in:\n%.1500s",  \
                  line, text)

static int count_prefix(const char *text, const char *prefix)
{
    int n = 0;
    const char *at = text;

    while ((at = strstr(at, prefix)) != NULL) {
        if (at == text || at[-1] == '\n') {
            n++;
        }
        at += strlen(prefix);
    }
    return n;
}

START_TEST(test_render_empty)
{
    fixture_t fx;
    const char *t;

    fx_init(&fx, 0);
    t = render(&fx);
    check_format(fx.pool, t);
    ck_line(t,
            "poolwatch_info{version=\"Apache/2.4.71 (Debian)\",mpm=\"event\","
            "walk=\"locked\",apr_version=\"1.7.2\",key_by=\"query\"} 1");
    ck_line(t, "poolwatch_generation 3");
    ck_line(t, "poolwatch_children{state=\"running\"} 0");
    ck_line(t, "poolwatch_children{state=\"exited\"} 0");
    ck_line(t, "poolwatch_slots 3");
    ck_line(t, "poolwatch_slots_overflow_total 2");
    ck_line(t, "poolwatch_keys{verdict=\"leak\"} 0");
    ck_line(t, "poolwatch_keys{verdict=\"warmup\"} 0");
    ck_line(t, "poolwatch_keys_flagged_dropped 0");
    /* every family announced even without samples */
    ck_line(t, "# TYPE poolwatch_key_leak gauge");
    ck_line(t, "# TYPE poolwatch_child_requests_total counter");
    ck_assert_int_eq(count_prefix(t, "poolwatch_child_"), 0);
    fx_free(&fx);
}
END_TEST

START_TEST(test_render_children_and_keys)
{
    fixture_t fx;
    const char *t;
    pw_slot_t *gone;

    fx_init(&fx, 3);
    gone = pw_shm_slot(fx.base, 2);
    gone->state = PW_SLOT_EXITED;
    fx.slot_of[1] = 2; /* slot numbers are the slot's, not the index */
    fx.slot_of[2] = 1;
    add_pool(&fx, 0, "process/pconf", 4000);
    add_pool(&fx, 0, "process/pconf/pchild", 51792);
    add_key(&fx, 0, "GET h /leak?what=pchild&n=1024", PW_VERDICT_LEAK,
            PW_SIG_POOL, 1024.0, "process/pconf/pchild", 50);
    /* the same key in another child: requests summed, affected counted */
    add_key(&fx, 1, "GET h /leak?what=pchild&n=1024", PW_VERDICT_SUSPECT,
            PW_SIG_POOL, 700.0, "process/pconf/pchild", 30);
    add_key(&fx, 1, "GET h /m", PW_VERDICT_SUSPECT, PW_SIG_HEAP, 40.04, "", 70);
    add_key(&fx, 0, "GET h /ok", PW_VERDICT_OK, PW_SIG_POOL, 0.0, "", 99);
    add_key(&fx, 1, "GET h /w", PW_VERDICT_WARMUP, PW_SIG_POOL, 0.0, "", 3);
    add_key(&fx, 0, "GET h /s", PW_VERDICT_LEAK, PW_SIG_STREAM, 8192.0, "", 1);
    /* keys of an exited child are not counted */
    add_key(&fx, 2, "GET h /gone", PW_VERDICT_LEAK, PW_SIG_POOL, 9.0, "", 9);
    t = render(&fx);
    check_format(fx.pool, t);

    ck_line(t, "poolwatch_children{state=\"running\"} 2");
    ck_line(t, "poolwatch_children{state=\"exited\"} 1");
    ck_line(
        t,
        "poolwatch_child_state{pid=\"1000\",slot=\"0\",state=\"running\"} 1");
    ck_line(
        t, "poolwatch_child_state{pid=\"1000\",slot=\"0\",state=\"exited\"} 0");
    ck_line(
        t,
        "poolwatch_child_state{pid=\"1002\",slot=\"1\",state=\"running\"} 0");
    ck_line(
        t, "poolwatch_child_state{pid=\"1002\",slot=\"1\",state=\"exited\"} 1");
    ck_line(t, "poolwatch_child_requests_total{pid=\"1001\",slot=\"2\"} 200");
    ck_line(t, "poolwatch_child_connections_total{pid=\"1000\",slot=\"0\"} 10");
    ck_line(t, "poolwatch_child_pool_bytes{pid=\"1002\",slot=\"1\"} 200002");
    ck_line(t, "poolwatch_child_heap_bytes{pid=\"1000\",slot=\"0\"} 58832");
    ck_line(t, "poolwatch_child_rss_bytes{pid=\"1000\",slot=\"0\"} 4202496");
    ck_line(t, "poolwatch_child_pools{pid=\"1000\",slot=\"0\"} 38");
    ck_line(t, "poolwatch_child_start_time_seconds{pid=\"1000\",slot=\"0\"} "
               "1795443409.000000");
    ck_line(t, "poolwatch_child_last_sample_timestamp_seconds{pid=\"1000\","
               "slot=\"0\"} 1795443410.310000");
    ck_line(t, "poolwatch_child_walk_duration_seconds{pid=\"1000\",slot=\"0\"} "
               "0.000003100");
    ck_assert_int_eq(count_prefix(t, "poolwatch_child_requests_total{"), 3);

    ck_line(t, "poolwatch_keys{verdict=\"leak\"} 2");
    ck_line(t, "poolwatch_keys{verdict=\"suspect\"} 1");
    ck_line(t, "poolwatch_keys{verdict=\"ok\"} 1");
    ck_line(t, "poolwatch_keys{verdict=\"warmup\"} 1");
    ck_line(t, "poolwatch_keys_flagged_dropped 0");
    ck_line(t, "poolwatch_key_leak{key=\"GET h /leak?what=pchild&n=1024\","
               "signal=\"pool\",pool=\"process/pconf/pchild\"} 1");
    ck_line(t,
            "poolwatch_key_leak{key=\"GET h /m\",signal=\"heap\",pool=\"\"} 0");
    ck_line(
        t,
        "poolwatch_key_leak{key=\"GET h /s\",signal=\"stream\",pool=\"\"} 1");
    ck_line(t, "poolwatch_key_growth_bytes_per_request{key=\"GET h "
               "/leak?what=pchild&n=1024\",signal=\"pool\",pool=\"process/"
               "pconf/pchild\"} 1024.0");
    ck_line(t, "poolwatch_key_growth_bytes_per_request{key=\"GET h /m\","
               "signal=\"heap\",pool=\"\"} 40.0");
    ck_line(t, "poolwatch_key_stream_growth_bytes_per_mebibyte{key=\"GET h "
               "/s\",signal=\"stream\",pool=\"\"} 8192.0");
    ck_assert_int_eq(count_prefix(t, "poolwatch_key_growth_bytes_per_request{"),
                     2);
    ck_line(t, "poolwatch_key_requests_total{key=\"GET h "
               "/leak?what=pchild&n=1024\"} 80");
    ck_line(t, "poolwatch_key_children_affected{key=\"GET h "
               "/leak?what=pchild&n=1024\"} 2");
    ck_line(t, "poolwatch_pool_bytes{pid=\"1000\",slot=\"0\","
               "pool=\"process/pconf/pchild\"} 51792");
    ck_assert_int_eq(count_prefix(t, "poolwatch_pool_bytes{"), 1);
    /* neither ok, warmup nor an exited child's keys get series */
    ck_assert_ptr_null(strstr(t, "/ok\""));
    ck_assert_ptr_null(strstr(t, "/w\""));
    ck_assert_ptr_null(strstr(t, "/gone"));
    fx_free(&fx);
}
END_TEST

/* More flagged keys than the cap: the worst are kept, the rest counted. */
START_TEST(test_render_cap)
{
    fixture_t fx;
    const char *t;
    int i, leaks = PW_PROM_MAX_KEYS + 4, suspects = 3;

    fx_init(&fx, 1);
    for (i = 0; i < suspects; i++) {
        add_key(&fx, 0, apr_psprintf(fx.pool, "GET h /suspect%d", i),
                PW_VERDICT_SUSPECT, PW_SIG_HEAP, 10.0, "", 1000 + i);
    }
    for (i = 0; i < leaks; i++) {
        add_key(&fx, 0, apr_psprintf(fx.pool, "GET h /leak%02d", i),
                PW_VERDICT_LEAK, PW_SIG_HEAP, 10.0, "", 100 + i);
    }
    t = render(&fx);
    check_format(fx.pool, t);
    ck_assert_int_eq(count_prefix(t, "poolwatch_key_leak{"), PW_PROM_MAX_KEYS);
    ck_line(t, apr_psprintf(fx.pool, "poolwatch_keys_flagged_dropped %d",
                            leaks + suspects - PW_PROM_MAX_KEYS));
    ck_line(
        t, apr_psprintf(fx.pool, "poolwatch_keys{verdict=\"leak\"} %d", leaks));
    /* leaks outrank suspects; among leaks, the most requested first */
    ck_assert_ptr_null(strstr(t, "/suspect"));
    ck_assert_ptr_nonnull(strstr(t, "/leak23\""));
    ck_assert_ptr_nonnull(strstr(t, "/leak04\""));
    ck_assert_ptr_null(strstr(t, "/leak03\""));
    ck_assert_ptr_null(strstr(t, "/leak00\""));
    fx_free(&fx);
}
END_TEST

/* Hostile keys: escaped, valid UTF-8, and keys that escape to the same
 * label value give one series (the other is counted as dropped). */
START_TEST(test_render_hostile_keys)
{
    fixture_t fx;
    const char *t;

    fx_init(&fx, 1);
    add_key(&fx, 0, "GET h /\"q\\b\xff\n}{x=\"1\"} 2", PW_VERDICT_LEAK,
            PW_SIG_POOL, 1024.0, "process/pconf/pchild", 60);
    add_key(&fx, 0, "GET h /\"q\\b\xfe\n}{x=\"1\"} 2", PW_VERDICT_LEAK,
            PW_SIG_POOL, 512.0, "process/pconf/pchild", 50);
    add_key(&fx, 0, "GET h /\xc3\xa9\xe2\x82", PW_VERDICT_SUSPECT, PW_SIG_RSS,
            4096.0, "", 40);
    t = render(&fx);
    check_format(fx.pool, t);
    ck_line(t, "poolwatch_key_leak{key=\"GET h /\\\"q\\\\b\xef\xbf\xbd\\n}{x="
               "\\\"1\\\"} 2\",signal=\"pool\",pool=\"process/pconf/pchild\"} "
               "1");
    ck_line(t, "poolwatch_key_growth_bytes_per_request{key=\"GET h /\\\"q\\\\b"
               "\xef\xbf\xbd\\n}{x=\\\"1\\\"} 2\",signal=\"pool\",pool=\""
               "process/pconf/pchild\"} 1024.0");
    ck_line(t, "poolwatch_key_leak{key=\"GET h /\xc3\xa9\xef\xbf\xbd\xef\xbf"
               "\xbd\",signal=\"rss\",pool=\"\"} 0");
    ck_assert_int_eq(count_prefix(t, "poolwatch_key_leak{"), 2);
    ck_line(t, "poolwatch_keys_flagged_dropped 1");
    ck_line(t, "poolwatch_keys{verdict=\"leak\"} 2");
    fx_free(&fx);
}
END_TEST

/* A slot copy is not trusted: unterminated pool paths and keys, and a pool
 * count beyond the table, stay inside their fields. */
START_TEST(test_render_unterminated)
{
    fixture_t fx;
    const char *t;
    pw_keyrec_t *k;
    pw_slot_t *s;

    fx_init(&fx, 1);
    add_pool(&fx, 0, "process/pconf/pchild", 1);
    k = add_key(&fx, 0, "GET h /x", PW_VERDICT_LEAK, PW_SIG_POOL, 8.0, "", 20);
    memset(k->pool, 'p', sizeof(k->pool));
    s = pw_shm_slot(fx.base, 0);
    s->npools = 1000;
    t = render(&fx);
    check_format(fx.pool, t);
    ck_assert_int_eq(count_prefix(t, "poolwatch_key_leak{"), 1);
    ck_assert_int_eq(count_prefix(t, "poolwatch_pool_bytes{"), 0);
    /* an unterminated key is not a live key at all */
    memset(k->key, 'k', sizeof(k->key));
    fx.out.len = 0;
    t = render(&fx);
    check_format(fx.pool, t);
    ck_assert_int_eq(count_prefix(t, "poolwatch_key_leak{"), 0);
    fx_free(&fx);
}
END_TEST

/* Numbers the renderers print: huge ones are clamped (APR's "%.1f" ran
 * out of digits and printed "000...0" for 1e300), NaN is 0. */
START_TEST(test_fmt_double)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {{0.0, "0.0"},
                 {1024.0, "1024.0"},
                 {-3.25, "-3.3"},
                 {1e15, "1000000000000000.0"},
                 {1e300, "1000000000000000.0"},
                 {-1.7976931348623157e308, "-1000000000000000.0"},
                 {1e46, "1000000000000000.0"}};
    char buf[48];
    unsigned int i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pw_fmt_double(buf, sizeof(buf), cases[i].v);
        ck_assert_str_eq(buf, cases[i].want);
    }
    pw_fmt_double(buf, sizeof(buf), NAN);
    ck_assert_str_eq(buf, "0.0");
    pw_fmt_double(buf, sizeof(buf), -INFINITY);
    ck_assert_str_eq(buf, "0.0");
}
END_TEST

Suite *pw_prom_suite(void)
{
    Suite *s = suite_create("pw_prom");
    TCase *tc = tcase_create("label");

    tcase_add_loop_test(tc, test_label, 0, sizeof(labels) / sizeof(labels[0]));
    tcase_add_test(tc, test_label_null);
    tcase_add_test(tc, test_label_worst_case);
    suite_add_tcase(s, tc);
    tc = tcase_create("render");
    tcase_add_test(tc, test_render_empty);
    tcase_add_test(tc, test_render_children_and_keys);
    tcase_add_test(tc, test_render_cap);
    tcase_add_test(tc, test_render_hostile_keys);
    tcase_add_test(tc, test_render_unterminated);
    tcase_add_test(tc, test_fmt_double);
    suite_add_tcase(s, tc);
    return s;
}
