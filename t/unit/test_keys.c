/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_keys: request keys (pw_key_make) and the lock-free key table
 * (pw_key_get, pw_key_evict, pw_key_victim).
 *
 * Tables are plain zeroed arrays, as in a fresh shared mapping. Probe
 * order is forced by passing chosen hashes: pw_key_get trusts the hash it
 * is given, so "colliding" keys need no search for real collisions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "pw_detect.h"
#include "pw_keys.h"
#include "pw_unit.h"

/* The hash of a key is the hash of its text, however it was built */
static apr_uint32_t text_hash(const char *s)
{
    return pw_key_hash(s, strlen(s));
}

static int cmp_u32(const void *a, const void *b)
{
    apr_uint32_t x = *(const apr_uint32_t *)a, y = *(const apr_uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* ---- pw_key_make ----------------------------------------------------- */

static const struct {
    const char *method, *host, *path, *query, *alt;
    const char *want;
} makes[] = {
    {"GET", "example.com", "/index.html", NULL, NULL,
     "GET example.com /index.html"},
    {"POST", "h", "/api/v1/users", NULL, NULL, "POST h /api/v1/users"},
    /* the query string when given (PoolWatchKey query) */
    {"GET", "example.com", "/search", "q=leak&page=2", NULL,
     "GET example.com /search?q=leak&page=2"},
    {"GET", "h", "/x", "", NULL, "GET h /x?"},
    /* an alternative name stands for the path, and drops the query */
    {"GET", "example.com", "/user/123", NULL, "user", "GET example.com $user"},
    {"GET", "example.com", "/user/7", "a=1", "user", "GET example.com $user"},
    {"GET", "h", "/p", NULL, "", "GET h $"},
    /* missing parts are "-" */
    {NULL, "h", "/p", NULL, NULL, "- h /p"},
    {"GET", NULL, "/p", NULL, NULL, "GET - /p"},
    {"GET", "", "/p", NULL, NULL, "GET - /p"},
    {"GET", "h", NULL, NULL, NULL, "GET h -"},
    {"GET", "h", "", NULL, NULL, "GET h -"},
    {"GET", "h", NULL, "q", NULL, "GET h -?q"},
    /* control bytes from the client become '?', other bytes stay */
    {"GET", "h", "/a\tb\r\nc\x01\x7f", NULL, NULL, "GET h /a?b??c??"},
    {"GE\nT", "h\x1b", "/p", "x=\x1f", NULL, "GE?T h? /p?x=?"},
    {"GET", "h", "/p", NULL, "\x01id", "GET h $?id"},
    {"GET", "h", "/caf\xc3\xa9 ~!", NULL, NULL, "GET h /caf\xc3\xa9 ~!"},
};

START_TEST(test_make)
{
    char buf[PW_KEY_MAX];
    apr_uint32_t h, want = text_hash(makes[_i].want);

    memset(buf, 'Z', sizeof(buf));
    h = pw_key_make(buf, makes[_i].method, makes[_i].host, makes[_i].path,
                    makes[_i].query, makes[_i].alt);
    ck_assert_str_eq(buf, makes[_i].want);
    ck_assert_uint_eq(h, want);
    ck_assert_uint_gt(h, 1);
}
END_TEST

/* Keys are cut at PW_KEY_MAX - 1 bytes, and nothing is written past
 * PW_KEY_MAX. */
START_TEST(test_make_truncates)
{
    char big[4 * PW_KEY_MAX], buf[2 * PW_KEY_MAX], want[PW_KEY_MAX];
    apr_uint32_t h;
    unsigned int i;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    /* a long path */
    memset(buf, 'Z', sizeof(buf));
    h = pw_key_make(buf, "GET", "h", big, NULL, NULL);
    ck_assert_uint_eq(strlen(buf), PW_KEY_MAX - 1);
    ck_assert_int_eq(strncmp(buf, "GET h a", 7), 0);
    for (i = 6; i < PW_KEY_MAX - 1; i++) {
        ck_assert_int_eq(buf[i], 'a');
    }
    for (i = PW_KEY_MAX; i < sizeof(buf); i++) {
        ck_assert_int_eq(buf[i], 'Z');
    }
    ck_assert_uint_eq(h, text_hash(buf));

    /* a long query after a path that fits */
    h = pw_key_make(buf, "GET", "h", "/p", big, NULL);
    ck_assert_uint_eq(strlen(buf), PW_KEY_MAX - 1);
    ck_assert_int_eq(strncmp(buf, "GET h /p?aaa", 12), 0);
    ck_assert_uint_eq(h, text_hash(buf));

    /* a method longer than a key: no room for anything else */
    h = pw_key_make(buf, big, "h", "/p", NULL, NULL);
    memset(want, 'a', PW_KEY_MAX - 1);
    want[PW_KEY_MAX - 1] = '\0';
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(buf[PW_KEY_MAX], 'Z');

    /* exactly PW_KEY_MAX - 1 bytes fit whole */
    memcpy(want, "GET h /", 7);
    memset(want + 7, 'b', PW_KEY_MAX - 1 - 7);
    want[PW_KEY_MAX - 1] = '\0';
    pw_key_make(buf, "GET", "h", want + 6, NULL, NULL);
    ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(test_make_hash)
{
    char a[PW_KEY_MAX], b[PW_KEY_MAX];
    apr_uint32_t ha, hb;

    /* equal keys, built from different parts, hash alike */
    ha = pw_key_make(a, "GET", "h", "/a b", NULL, NULL);
    hb = pw_key_make(b, "GET", "h /a", "b", NULL, NULL);
    ck_assert_str_eq(a, b);
    ck_assert_uint_eq(ha, hb);
    /* the query and the alternative change the key and the hash */
    hb = pw_key_make(b, "GET", "h", "/a b", "x", NULL);
    ck_assert_uint_ne(ha, hb);
    hb = pw_key_make(b, "GET", "h", "/a b", NULL, "a b");
    ck_assert_uint_ne(ha, hb);
    hb = pw_key_make(b, "HEAD", "h", "/a b", NULL, NULL);
    ck_assert_uint_ne(ha, hb);

    /* every byte counts, wherever it is: change one byte of a key of
     * each length, at each place, and the hash changes */
    {
        char k[PW_KEY_MAX];
        apr_size_t len, i;

        for (len = 1; len < PW_KEY_MAX; len += 5) {
            memset(k, 'k', len);
            k[len] = '\0';
            ha = text_hash(k);
            for (i = 0; i < len; i++) {
                k[i] = 'j';
                ck_assert_uint_ne(text_hash(k), ha);
                k[i] = 'k';
            }
        }
    }
}
END_TEST

/* Distinct keys spread: 65536 keys like real ones, sorted hashes, few
 * equal neighbours (about 0.5 expected of a good 32-bit hash), never 0
 * (free) or 1 (evicted). */
START_TEST(test_hash_spread)
{
    enum { N = 65536 };
    apr_uint32_t *h = malloc(N * sizeof(*h));
    char buf[PW_KEY_MAX], path[32];
    unsigned int i, same = 0;

    ck_assert_ptr_nonnull(h);
    for (i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/user/%u", i);
        h[i] = pw_key_make(buf, "GET", "example.com", path, NULL, NULL);
        ck_assert_uint_gt(h[i], 1);
    }
    qsort(h, N, sizeof(*h), cmp_u32);
    for (i = 1; i < N; i++) {
        same += h[i] == h[i - 1];
    }
    ck_assert_uint_le(same, 4);
    free(h);
}
END_TEST

START_TEST(test_signal_names)
{
    ck_assert_str_eq(pw_signal_name(PW_SIG_POOL), "pool");
    ck_assert_str_eq(pw_signal_name(PW_SIG_CONN), "conn");
    ck_assert_str_eq(pw_signal_name(PW_SIG_HEAP), "heap");
    ck_assert_str_eq(pw_signal_name(PW_SIG_RSS), "rss");
    ck_assert_str_eq(pw_signal_name(PW_SIG_STREAM), "stream");
    ck_assert_str_eq(pw_signal_name(PW_SIG_COUNT), "none");
    ck_assert_str_eq(pw_signal_name(0xffffffffu), "none");
}
END_TEST

/* ---- the table ------------------------------------------------------- */

#define NREC 8

START_TEST(test_get_claims_and_finds)
{
    static pw_keyrec_t recs[NREC];
    char k1[PW_KEY_MAX], k2[PW_KEY_MAX];
    apr_uint32_t h1 = pw_key_make(k1, "GET", "h", "/one", NULL, NULL);
    apr_uint32_t h2 = pw_key_make(k2, "GET", "h", "/two", NULL, NULL);
    pw_keyrec_t *r1, *r2;
    unsigned int i, used = 0;

    memset(recs, 0, sizeof(recs));
    r1 = pw_key_get(recs, NREC, k1, h1);
    ck_assert_ptr_eq(r1, &recs[h1 % NREC]);
    ck_assert_uint_eq(r1->hash, h1);
    ck_assert_uint_eq(r1->ready, 1);
    ck_assert_uint_eq(r1->gen, 1);
    ck_assert_str_eq(r1->key, k1);
    ck_assert_uint_eq(r1->requests, 0);

    /* found again, not claimed again */
    ck_assert_ptr_eq(pw_key_get(recs, NREC, k1, h1), r1);
    ck_assert_uint_eq(r1->gen, 1);

    r2 = pw_key_get(recs, NREC, k2, h2);
    ck_assert_ptr_nonnull(r2);
    ck_assert_ptr_ne(r2, r1);
    ck_assert_str_eq(r2->key, k2);
    ck_assert_ptr_eq(pw_key_get(recs, NREC, k2, h2), r2);
    for (i = 0; i < NREC; i++) {
        used += recs[i].hash != 0;
    }
    ck_assert_uint_eq(used, 2);
    ck_assert_ptr_null(pw_key_get(recs, 0, k1, h1));
}
END_TEST

/* Distinct keys with the same hash get distinct entries, in probe order
 * (wrapping at the end of the table), and each is found again. */
START_TEST(test_get_collisions)
{
    static pw_keyrec_t recs[NREC];
    static const char *const keys[] = {"GET h /a", "GET h /b", "GET h /c",
                                       "GET h /d"};
    static const unsigned int at[] = {5, 6, 7, 0};
    pw_keyrec_t *r[4];
    unsigned int i;

    memset(recs, 0, sizeof(recs));
    for (i = 0; i < 4; i++) {
        r[i] = pw_key_get(recs, NREC, keys[i], 13); /* 13 % 8 == 5 */
        ck_assert_ptr_eq(r[i], &recs[at[i]]);
        ck_assert_str_eq(r[i]->key, keys[i]);
        ck_assert_uint_eq(r[i]->hash, 13);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_ptr_eq(pw_key_get(recs, NREC, keys[i], 13), r[i]);
    }
    /* the same text with another hash is not that entry */
    ck_assert_ptr_ne(pw_key_get(recs, NREC, keys[0], 14), r[0]);
}
END_TEST

START_TEST(test_get_full)
{
    static pw_keyrec_t recs[4];
    static const char *const keys[] = {"GET h /a", "GET h /b", "GET h /c",
                                       "GET h /d", "GET h /e"};
    pw_keyrec_t *r[4];
    unsigned int i;

    memset(recs, 0, sizeof(recs));
    for (i = 0; i < 4; i++) {
        r[i] = pw_key_get(recs, 4, keys[i], text_hash(keys[i]));
        ck_assert_ptr_nonnull(r[i]);
    }
    ck_assert_ptr_null(pw_key_get(recs, 4, keys[4], text_hash(keys[4])));
    ck_assert_ptr_null(pw_key_get(recs, 4, keys[4], 1));
    /* a full table still finds what it holds */
    for (i = 0; i < 4; i++) {
        ck_assert_ptr_eq(pw_key_get(recs, 4, keys[i], text_hash(keys[i])),
                         r[i]);
    }
}
END_TEST

/* A claimed entry with every field a request thread or the judge writes
 * set to something. */
static void dirty(pw_keyrec_t *r)
{
    unsigned int s;

    r->warned = 1;
    r->requests = 1000;
    r->conn_requests = 900;
    r->conn_growth = (apr_uint64_t)-4096;
    r->last_used = 12345;
    r->stream_verdict = PW_VERDICT_LEAK;
    r->stream_points = 40;
    r->stream_per_mib = 8192;
    r->verdict = PW_VERDICT_LEAK;
    r->signal = PW_SIG_HEAP;
    r->bytes_per_request = 1024;
    r->share = 0.25;
    r->attribution_exact = 1;
    r->points = 64;
    strcpy(r->pool, "process/pconf/pchild");
    for (s = 0; s < PW_SIG_COUNT; s++) {
        r->sig[s].verdict = PW_VERDICT_SUSPECT;
        r->sig[s].points = 10 + s;
        r->sig[s].bytes_per_request = 100.0 * s;
        r->sig[s].lo = 1;
        r->sig[s].hi = 2;
    }
}

/* Evicting frees the entry, zeroes its counters, leaves its generation
 * (the next claim bumps it) and touches no other entry. */
START_TEST(test_evict)
{
    static pw_keyrec_t recs[NREC], before[NREC];
    static const char *const keys[] = {"GET h /a", "GET h /b", "GET h /c"};
    pw_keyrec_t *r[3], *again;
    unsigned int i, s;

    memset(recs, 0, sizeof(recs));
    for (i = 0; i < 3; i++) {
        r[i] = pw_key_get(recs, NREC, keys[i], 2 + i);
        ck_assert_ptr_eq(r[i], &recs[2 + i]);
        dirty(r[i]);
    }
    memcpy(before, recs, sizeof(recs));

    pw_key_evict(r[1]);
    ck_assert_uint_eq(r[1]->hash, 1); /* a tombstone: chains go on */
    ck_assert_uint_eq(r[1]->ready, 0);
    ck_assert_uint_eq(r[1]->gen, 1);
    ck_assert_uint_eq(r[1]->warned, 0);
    ck_assert_uint_eq(r[1]->requests, 0);
    ck_assert_uint_eq(r[1]->conn_requests, 0);
    ck_assert_uint_eq(r[1]->conn_growth, 0);
    ck_assert_uint_eq(r[1]->last_used, 0);
    ck_assert_uint_eq(r[1]->stream_verdict, 0);
    ck_assert_uint_eq(r[1]->stream_points, 0);
    ck_assert_uint_eq(r[1]->stream_per_mib, 0);
    ck_assert_uint_eq(r[1]->verdict, PW_VERDICT_WARMUP);
    ck_assert_uint_eq(r[1]->signal, 0);
    ck_assert_double_eq(r[1]->bytes_per_request, 0);
    ck_assert_uint_eq(r[1]->points, 0);
    ck_assert_str_eq(r[1]->pool, "");
    for (s = 0; s < PW_SIG_COUNT; s++) {
        ck_assert_uint_eq(r[1]->sig[s].verdict, 0);
        ck_assert_uint_eq(r[1]->sig[s].points, 0);
        ck_assert_double_eq(r[1]->sig[s].bytes_per_request, 0);
    }
    /* nothing else moved */
    for (i = 0; i < NREC; i++) {
        if (i != 3) {
            ck_assert_int_eq(memcmp(&recs[i], &before[i], sizeof(recs[i])), 0);
        }
    }
    /* the others are still found; the evicted key is gone */
    ck_assert_ptr_eq(pw_key_get(recs, NREC, keys[0], 2), r[0]);
    ck_assert_ptr_eq(pw_key_get(recs, NREC, keys[2], 4), r[2]);

    /* a new claim of the entry bumps its generation */
    again = pw_key_get(recs, NREC, "GET h /new", 3);
    ck_assert_ptr_eq(again, r[1]);
    ck_assert_uint_eq(again->gen, 2);
    ck_assert_str_eq(again->key, "GET h /new");
    ck_assert_uint_eq(again->ready, 1);
}
END_TEST

/* What the JSON shows of a key (render_key in pw_json.c) must be the new
 * key's, not the evicted one's, until the judge has written it: every
 * judge field of a reclaimed entry is zero. */
START_TEST(test_evict_reclaimed_looks_new)
{
    static pw_keyrec_t recs[NREC];
    pw_keyrec_t *r, *again;

    memset(recs, 0, sizeof(recs));
    r = pw_key_get(recs, NREC, "GET h /old", 1);
    dirty(r);
    pw_key_evict(r);
    again = pw_key_get(recs, NREC, "GET h /new", 1);
    ck_assert_ptr_eq(again, r);
    ck_assert_uint_eq(again->requests, 0);
    ck_assert_uint_eq(again->verdict, PW_VERDICT_WARMUP);
    ck_assert_double_eq(again->bytes_per_request, 0);
    ck_assert_uint_eq(again->points, 0);
    ck_assert_str_eq(again->pool, "");
    ck_assert_msg(again->share == 0.0, "share of the evicted key kept: %.2f",
                  again->share);
    ck_assert_msg(again->attribution_exact == 0,
                  "attribution_exact of the evicted key kept: %u",
                  again->attribution_exact);
}
END_TEST

/* Evicting an entry in the middle of a probe chain must not hide the
 * entries after it: the next lookup of a key that lives further along
 * the chain has to find it, not claim the hole as a second entry. */
START_TEST(test_evict_keeps_probe_chain)
{
    static pw_keyrec_t recs[NREC];
    pw_keyrec_t *a, *b, *found;
    unsigned int i, holders = 0;

    memset(recs, 0, sizeof(recs));
    a = pw_key_get(recs, NREC, "GET h /a", 5);
    b = pw_key_get(recs, NREC, "GET h /b", 5); /* collides: one further */
    ck_assert_ptr_eq(a, &recs[5]);
    ck_assert_ptr_eq(b, &recs[6]);
    b->requests = 77;

    pw_key_evict(a);
    found = pw_key_get(recs, NREC, "GET h /b", 5);
    for (i = 0; i < NREC; i++) {
        holders += recs[i].hash != 0 && !strcmp(recs[i].key, "GET h /b");
    }
    ck_assert_msg(found == b,
                  "\"GET h /b\" claimed again at %d (it lives at 6): %u "
                  "entries hold it",
                  (int)(found - recs), holders);
    ck_assert_uint_eq(holders, 1);
    ck_assert_uint_eq(found->requests, 77);
}
END_TEST

START_TEST(test_victim)
{
    static pw_keyrec_t recs[NREC];
    static const struct {
        int claimed, ready;
        apr_uint32_t verdict;
        apr_uint64_t last_used;
    } st[NREC] = {
        {1, 1, PW_VERDICT_OK, 50},     {1, 1, PW_VERDICT_LEAK, 10},
        {1, 1, PW_VERDICT_OK, 30},     {1, 1, PW_VERDICT_SUSPECT, 20},
        {0, 0, PW_VERDICT_OK, 0},      {1, 0, PW_VERDICT_OK, 1},
        {1, 1, PW_VERDICT_WARMUP, 20}, {1, 1, PW_VERDICT_OK, 70},
    };
    unsigned int i;

    memset(recs, 0, sizeof(recs));
    ck_assert_int_eq(pw_key_victim(recs, NREC), -1); /* empty */
    ck_assert_int_eq(pw_key_victim(recs, 0), -1);
    for (i = 0; i < NREC; i++) {
        recs[i].hash = st[i].claimed ? 100 + i : 0;
        recs[i].ready = st[i].ready;
        recs[i].verdict = st[i].verdict;
        recs[i].last_used = st[i].last_used;
    }
    /* 1 is older but a leak, 4 is free, 5 is being claimed; 3 and 6 tie
     * and the first wins */
    ck_assert_int_eq(pw_key_victim(recs, NREC), 3);
    recs[3].verdict = PW_VERDICT_LEAK;
    ck_assert_int_eq(pw_key_victim(recs, NREC), 6);
    ck_assert_int_eq(pw_key_victim(recs, 3), 2);
    ck_assert_int_eq(pw_key_victim(recs, 2), 0);
    /* only leaks: nothing to evict */
    for (i = 0; i < NREC; i++) {
        recs[i].verdict = PW_VERDICT_LEAK;
    }
    ck_assert_int_eq(pw_key_victim(recs, NREC), -1);
}
END_TEST

/* ---- threads --------------------------------------------------------- */

#define THREADS    8
#define PER_THREAD 10000
#define TKEYS      4

typedef struct race_t {
    pw_keyrec_t *recs;
    apr_uint32_t n;
    char keys[TKEYS][PW_KEY_MAX];
    apr_uint32_t hash[TKEYS];
    volatile apr_uint32_t go;
    volatile apr_uint32_t misses; /* pw_key_get returned NULL */
    volatile apr_uint32_t wrong;  /* an entry with another key */
} race_t;

typedef struct racer_t {
    race_t *race;
    unsigned int id;
} racer_t;

static void *APR_THREAD_FUNC racer(apr_thread_t *thd, void *data)
{
    racer_t *me = data;
    race_t *rc = me->race;
    unsigned int i;

    while (!apr_atomic_read32(&rc->go)) {
        apr_thread_yield();
    }
    for (i = 0; i < PER_THREAD; i++) {
        unsigned int k = (i + me->id) % TKEYS;
        pw_keyrec_t *r = pw_key_get(rc->recs, rc->n, rc->keys[k], rc->hash[k]);

        if (r == NULL) {
            apr_atomic_inc32(&rc->misses);
            continue;
        }
        if (strcmp(r->key, rc->keys[k]) != 0) {
            apr_atomic_inc32(&rc->wrong);
        }
        apr_atomic_inc64(&r->requests);
    }
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* A claimer preempted between its CAS and `ready` (made here by claiming
 * by hand and finishing 20 ms later): a second thread asking for the same
 * key must wait for it and get that entry, not a miss (a table of one)
 * nor a second entry (a table of four). */
typedef struct late_t {
    pw_keyrec_t *recs;
    apr_uint32_t n, hash;
    const char *key;
    pw_keyrec_t *got;
} late_t;

static void *APR_THREAD_FUNC late_getter(apr_thread_t *thd, void *data)
{
    late_t *l = data;

    l->got = pw_key_get(l->recs, l->n, l->key, l->hash);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

START_TEST(test_waits_for_preempted_claimer)
{
    static pw_keyrec_t recs[4];
    late_t l;
    apr_thread_t *thd;
    apr_pool_t *pool;
    apr_status_t rv;
    char key[PW_KEY_MAX];
    unsigned int i, held = 0;

    memset(recs, 0, sizeof(recs));
    l.recs = recs;
    l.n = _i == 0 ? 1 : 4;
    l.hash = pw_key_make(key, "GET", "h", "/late", NULL, NULL);
    l.key = key;
    l.got = NULL;
    /* the claimer's CAS, without the copy and `ready` */
    apr_atomic_set32(&recs[l.hash % l.n].hash, l.hash);
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
    ck_assert_int_eq(apr_thread_create(&thd, NULL, late_getter, &l, pool),
                     APR_SUCCESS);
    apr_sleep(apr_time_from_msec(20));
    apr_cpystrn(recs[l.hash % l.n].key, key, PW_KEY_MAX);
    apr_atomic_inc32(&recs[l.hash % l.n].gen);
    apr_atomic_set32(&recs[l.hash % l.n].ready, 1);
    ck_assert_int_eq(apr_thread_join(&rv, thd), APR_SUCCESS);
    apr_pool_destroy(pool);
    ck_assert_ptr_eq(l.got, &recs[l.hash % l.n]);
    for (i = 0; i < l.n; i++) {
        held += recs[i].hash != 0;
    }
    ck_assert_uint_eq(held, 1);
}
END_TEST

/* Variants: real hashes in a roomy table; one forced hash for all four
 * (every claim probes past the others); a table of exactly four. */
static const struct {
    apr_uint32_t n;
    int same_hash;
} races[] = {{64, 0}, {16, 1}, {TKEYS, 1}, {TKEYS, 0}};

START_TEST(test_threads_claim_and_count)
{
    static pw_keyrec_t recs[64];
    static race_t rc;
    racer_t who[THREADS];
    apr_thread_t *thd[THREADS];
    apr_pool_t *pool;
    apr_uint64_t sum = 0;
    unsigned int i, k, entries = 0;

    memset(recs, 0, sizeof(recs));
    memset(&rc, 0, sizeof(rc));
    rc.recs = recs;
    rc.n = races[_i].n;
    for (k = 0; k < TKEYS; k++) {
        char path[32];

        apr_snprintf(path, sizeof(path), "/key/%u", k);
        rc.hash[k] = pw_key_make(rc.keys[k], "GET", "h", path, NULL, NULL);
        if (races[_i].same_hash) {
            rc.hash[k] = 7;
        }
    }
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (i = 0; i < THREADS; i++) {
        who[i].race = &rc;
        who[i].id = i;
        ck_assert_int_eq(apr_thread_create(&thd[i], NULL, racer, &who[i], pool),
                         APR_SUCCESS);
    }
    apr_atomic_set32(&rc.go, 1);
    for (i = 0; i < THREADS; i++) {
        apr_status_t rv;

        ck_assert_int_eq(apr_thread_join(&rv, thd[i]), APR_SUCCESS);
    }
    apr_pool_destroy(pool);

    ck_assert_uint_eq(rc.misses, 0);
    ck_assert_uint_eq(rc.wrong, 0);
    for (i = 0; i < rc.n; i++) {
        if (recs[i].hash == 0) {
            continue;
        }
        entries++;
        sum += recs[i].requests;
        ck_assert_uint_eq(recs[i].ready, 1);
        ck_assert_uint_eq(recs[i].gen, 1);
        /* (i + id) % 4 over 10000 requests and 8 threads: 20000 each */
        ck_assert_uint_eq(recs[i].requests, THREADS * PER_THREAD / TKEYS);
    }
    ck_assert_uint_eq(entries, TKEYS);
    ck_assert_uint_eq(sum, THREADS * PER_THREAD);
    for (k = 0; k < TKEYS; k++) {
        unsigned int holders = 0;

        for (i = 0; i < rc.n; i++) {
            holders += recs[i].hash && !strcmp(recs[i].key, rc.keys[k]);
        }
        ck_assert_msg(holders == 1, "%s in %u entries", rc.keys[k], holders);
    }
}
END_TEST

/* ---- pw_key_parts: the per-request path ---------------------------- */

/* Parts that take the fast path give the hash and, once claimed, the text
 * pw_key_make() gives; the others are refused, for pw_key_make(). */
static const struct {
    const char *method, *host, *path;
    int fast;
} parts[] = {
    {"GET", "example.com", "/index.html", 1},
    {"GET", "h", "/", 1},
    {"HEAD", "127.0.0.1", "/small.txt", 1},
    {"PROPFIND", "h", "/a/b/c/d/e/f/g/h/i/j", 1}, /* whole words */
    /* GET's own path (host->get), and the methods next to it */
    {"GETS", "h", "/p", 1},
    {"GE", "h", "/p", 1},
    {"G", "h", "/p", 1},
    {"get", "h", "/p", 1},
    {"GET", "h", "/a b", 1}, /* a space in the path */
    {"GET", "h", "/caf\xc3\xa9", 1},
    {"GET", "h", "/a\x01", 1}, /* replaced: only when new (see below) */
    {"GET", "", "/p", 0},      /* "-" */
    {"GET", "h", "", 0},
    {"", "h", "/p", 0},
    {NULL, "h", "/p", 0},
    {"GET", "h", NULL, 0},
    {"GET", "a b", "/p", 0}, /* a host with a space */
    {"GET", "h\x01", "/p", 0},
};

START_TEST(test_parts_hash_is_make_hash)
{
    pw_keyhost_t host;
    pw_keyparts_t kp;
    char buf[PW_KEY_MAX];
    apr_uint32_t h = 0, want;
    int fast;

    pw_key_host(&host, parts[_i].host);
    fast = pw_key_parts(&kp, parts[_i].method, &host, parts[_i].path, &h);
    ck_assert_int_eq(fast, parts[_i].fast);
    if (!fast) {
        return;
    }
    want = pw_key_make(buf, parts[_i].method, parts[_i].host, parts[_i].path,
                       NULL, NULL);
    ck_assert_uint_eq(kp.len, strlen(buf));
    if (strchr(parts[_i].path, '\x01') == NULL) {
        ck_assert_uint_eq(h, want);
        ck_assert(kp.hash64 == pw_key_hash64(buf, strlen(buf)));
    }
}
END_TEST

/* A key found by its parts is the entry its text finds, and back. */
START_TEST(test_parts_and_text_share_entries)
{
    pw_keyrec_t recs[NREC];
    pw_keyhost_t host;
    pw_keyparts_t kp;
    char buf[PW_KEY_MAX];
    apr_uint32_t h, ht;
    pw_keyrec_t *a, *b;

    memset(recs, 0, sizeof(recs));
    pw_key_host(&host, "example.com");

    /* claimed by parts, found by text */
    ck_assert(pw_key_parts(&kp, "GET", &host, "/one", &h));
    a = pw_key_get_parts(recs, NREC, &kp, h);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->key, "GET example.com /one");
    ht = pw_key_make(buf, "GET", "example.com", "/one", NULL, NULL);
    ck_assert_ptr_eq(pw_key_get(recs, NREC, buf, ht), a);
    ck_assert_ptr_eq(pw_key_get_parts(recs, NREC, &kp, h), a);

    /* claimed by text, found by parts */
    ht = pw_key_make(buf, "POST", "example.com", "/two", NULL, NULL);
    b = pw_key_get(recs, NREC, buf, ht);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert(pw_key_parts(&kp, "POST", &host, "/two", &h));
    ck_assert_ptr_eq(pw_key_get_parts(recs, NREC, &kp, h), b);

    /* another path is another entry */
    ck_assert(pw_key_parts(&kp, "POST", &host, "/two/", &h));
    ck_assert_ptr_ne(pw_key_get_parts(recs, NREC, &kp, h), b);
}
END_TEST

/* Control bytes from the client are replaced in the entry's text, as by
 * pw_key_make(): the raw key and its replaced text share one entry, and
 * the raw bytes never reach the table. */
START_TEST(test_parts_unclean_key)
{
    pw_keyrec_t recs[NREC];
    pw_keyhost_t host;
    pw_keyparts_t kp;
    char buf[PW_KEY_MAX];
    apr_uint32_t h, ht;
    pw_keyrec_t *a;
    unsigned int i, used = 0;

    memset(recs, 0, sizeof(recs));
    pw_key_host(&host, "h");
    ck_assert(pw_key_parts(&kp, "GET", &host, "/a\tb\x7f", &h));
    a = pw_key_get_parts(recs, NREC, &kp, h);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->key, "GET h /a?b?");
    ck_assert_ptr_eq(pw_key_get_parts(recs, NREC, &kp, h), a);
    ht = pw_key_make(buf, "GET", "h", "/a\tb\x7f", NULL, NULL);
    ck_assert_ptr_eq(pw_key_get(recs, NREC, buf, ht), a);
    for (i = 0; i < NREC; i++) {
        used += recs[i].hash > 1;
    }
    ck_assert_uint_eq(used, 1);

    /* a method with a space: split as its text would be */
    ck_assert(pw_key_parts(&kp, "GE T", &host, "/p", &h));
    a = pw_key_get_parts(recs, NREC, &kp, h);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->key, "GE T h /p");
    ht = pw_key_make(buf, "GE T", "h", "/p", NULL, NULL);
    ck_assert_ptr_eq(pw_key_get(recs, NREC, buf, ht), a);
}
END_TEST

/* Long keys are cut by pw_key_make(): the parts path refuses them, and
 * every length up to the cut is taken and agrees. */
START_TEST(test_parts_lengths)
{
    pw_keyhost_t host;
    pw_keyparts_t kp;
    char path[2 * PW_KEY_MAX], buf[PW_KEY_MAX];
    apr_uint32_t h;
    apr_size_t len;

    pw_key_host(&host, "h");
    for (len = 1; len < sizeof(path) - 1; len++) {
        int fast;

        memset(path, 'p', len);
        path[0] = '/';
        path[len] = '\0';
        fast = pw_key_parts(&kp, "GET", &host, path, &h);
        ck_assert_int_eq(fast, 6 + len <= PW_KEY_MAX - 1);
        if (fast) {
            ck_assert_uint_eq(h,
                              pw_key_make(buf, "GET", "h", path, NULL, NULL));
        }
    }
}
END_TEST

/* The seed changes every hash, and the host must be measured after it. */
START_TEST(test_seed)
{
    pw_keyhost_t host;
    pw_keyparts_t kp;
    apr_uint64_t before = pw_key_hash64("GET h /p", 8), after;
    apr_uint32_t h;

    pw_key_seed(0x1234567887654321ull);
    after = pw_key_hash64("GET h /p", 8);
    ck_assert(before != after);
    pw_key_host(&host, "h");
    ck_assert(pw_key_parts(&kp, "GET", &host, "/p", &h));
    ck_assert(kp.hash64 == after);
    pw_key_seed(0x243f6a8885a308d3ull); /* the default, for other tests */
}
END_TEST

Suite *pw_keys_suite(void)
{
    Suite *s = suite_create("pw_keys");
    TCase *tc;

    tc = tcase_create("make");
    tcase_add_loop_test(tc, test_make, 0, sizeof(makes) / sizeof(makes[0]));
    tcase_add_test(tc, test_make_truncates);
    tcase_add_test(tc, test_make_hash);
    tcase_add_test(tc, test_hash_spread);
    tcase_add_test(tc, test_signal_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("parts");
    tcase_add_loop_test(tc, test_parts_hash_is_make_hash, 0,
                        sizeof(parts) / sizeof(parts[0]));
    tcase_add_test(tc, test_parts_and_text_share_entries);
    tcase_add_test(tc, test_parts_unclean_key);
    tcase_add_test(tc, test_parts_lengths);
    tcase_add_test(tc, test_seed);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_add_test(tc, test_get_claims_and_finds);
    tcase_add_test(tc, test_get_collisions);
    tcase_add_loop_test(tc, test_waits_for_preempted_claimer, 0, 2);
    tcase_add_test(tc, test_get_full);
    tcase_add_test(tc, test_evict);
    tcase_add_test(tc, test_evict_reclaimed_looks_new);
    tcase_add_test(tc, test_evict_keeps_probe_chain);
    tcase_add_test(tc, test_victim);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 120); /* valgrind serialises the threads */
    tcase_add_loop_test(tc, test_threads_claim_and_count, 0,
                        sizeof(races) / sizeof(races[0]));
    suite_add_tcase(s, tc);
    return s;
}
