/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_shm: geometry, slot claims, the seqlock and the history ring.
 *
 * Segments live in plain (64-byte aligned) heap memory, except where a test
 * needs other processes to share one: the layout is offsets only, so where
 * it is mapped does not matter.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_thread_proc.h>

#include "pw_shm.h"
#include "pw_unit.h"

static void *new_segment(apr_uint32_t nslots, apr_uint32_t max_pools,
                         apr_uint32_t max_keys)
{
    apr_size_t len = pw_shm_size(nslots, max_pools, max_keys);
    void *base = NULL;

    ck_assert_int_eq(posix_memalign(&base, 64, len), 0);
    /* slots zero, as in a fresh mapping (pw_shm.h); a dirty header */
    memset(base, 0, len);
    memset(base, 0xee, sizeof(pw_shm_header_t));
    ck_assert_int_eq(pw_shm_init(base, len, nslots, max_pools, max_keys),
                     APR_SUCCESS);
    return base;
}

/* ---- geometry -------------------------------------------------------- */

static const struct {
    apr_uint32_t nslots, max_pools, max_keys;
} geometries[] = {{1, 0, 0},    {1, 8, 0},  {4, 64, 16}, {150, 64, 0},
                  {3, 4096, 0}, {7, 13, 3}, {2, 0, 64},  {1, 8, 1}};

START_TEST(test_size_formula)
{
    apr_uint32_t ns = geometries[_i].nslots, mp = geometries[_i].max_pools;
    apr_uint32_t mk = geometries[_i].max_keys;
    apr_size_t raw = sizeof(pw_slot_t) + (apr_size_t)mp * sizeof(pw_poolrec_t) +
                     (apr_size_t)mk * sizeof(pw_keyrec_t);
    void *base = new_segment(ns, mp, mk);
    pw_shm_header_t *h = base;
    apr_uint32_t i;

    ck_assert_uint_eq(h->magic, PW_SHM_MAGIC);
    ck_assert_uint_eq(h->version, PW_SHM_VERSION);
    ck_assert_uint_eq(h->header_size % 64, 0);
    ck_assert_uint_ge(h->header_size, sizeof(pw_shm_header_t));
    ck_assert_uint_lt(h->header_size, sizeof(pw_shm_header_t) + 64);
    ck_assert_uint_eq(h->slot_size % 64, 0);
    ck_assert_uint_ge(h->slot_size, raw);
    ck_assert_uint_lt(h->slot_size, raw + 64);
    ck_assert_uint_eq(h->nslots, ns);
    ck_assert_uint_eq(h->max_pools, mp);
    ck_assert_uint_eq(h->max_keys, mk);
    ck_assert_uint_eq(h->slot_overflow, 0);
    ck_assert_uint_eq(pw_shm_size(ns, mp, mk),
                      h->header_size + (apr_size_t)ns * h->slot_size);

    for (i = 0; i < ns; i++) {
        pw_slot_t *s = pw_shm_slot(base, i);

        ck_assert_ptr_eq(s, (char *)base + h->header_size +
                                (apr_size_t)i * h->slot_size);
        ck_assert_uint_eq((apr_uintptr_t)s % 64, 0);
        ck_assert_uint_eq(s->owner, 0);
        ck_assert_uint_eq(s->seq, 0);
        ck_assert_uint_eq(s->state, PW_SLOT_FREE);
        /* the pool table follows the slot, the key table the pools, and
         * both end inside it */
        ck_assert_ptr_eq(pw_slot_pools(s), (char *)s + sizeof(pw_slot_t));
        ck_assert_ptr_eq(pw_slot_keys(s, mp),
                         (char *)s + sizeof(pw_slot_t) +
                             (apr_size_t)mp * sizeof(pw_poolrec_t));
        ck_assert_uint_le(
            (apr_size_t)((char *)(pw_slot_keys(s, mp) + mk) - (char *)s),
            h->slot_size);
    }
    ck_assert_ptr_null(pw_shm_slot(base, ns));
    ck_assert_ptr_null(pw_shm_slot(NULL, 0));
    free(base);
}
END_TEST

/* Every key adds one pw_keyrec_t to each slot (rounded up to 64 bytes),
 * and the keys sit right after the pool records. */
START_TEST(test_slot_grows_with_keys)
{
    static const apr_uint32_t keys[] = {0, 1, 2, 16, 64, 1000};
    apr_size_t base_slot =
        sizeof(pw_slot_t) + (apr_size_t)10 * sizeof(pw_poolrec_t);
    apr_size_t prev = 0;
    unsigned int k;

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        apr_uint32_t mk = keys[k];
        void *base = new_segment(3, 10, mk);
        pw_shm_header_t *h = base;
        apr_size_t want =
            (base_slot + (apr_size_t)mk * sizeof(pw_keyrec_t) + 63) &
            ~(apr_size_t)63;
        pw_slot_t *s = pw_shm_slot(base, 2);
        pw_keyrec_t *kr = pw_slot_keys(s, 10);

        ck_assert_uint_eq(h->slot_size, want);
        ck_assert_uint_eq(pw_shm_size(3, 10, mk), h->header_size + 3 * want);
        if (k > 0) {
            ck_assert_uint_gt(h->slot_size, prev);
        }
        prev = h->slot_size;
        ck_assert_ptr_eq((void *)kr, (void *)(pw_slot_pools(s) + 10));
        ck_assert_ptr_eq((void *)kr, (char *)s + sizeof(pw_slot_t) +
                                         10 * sizeof(pw_poolrec_t));
        if (mk > 0) {
            /* the last key is inside this slot and before the next one's
             * start; a fresh segment has them free */
            ck_assert_uint_le((apr_uintptr_t)(kr + mk),
                              (apr_uintptr_t)((char *)s + h->slot_size));
            ck_assert_uint_eq(kr[mk - 1].hash, 0);
            ck_assert_uint_eq(kr[0].hash, 0);
        }
        /* a segment laid out for fewer keys is not compatible */
        ck_assert_int_ne(
            pw_shm_compatible(base, pw_shm_size(3, 10, mk), 3, 10, mk), 0);
        ck_assert_int_eq(
            pw_shm_compatible(base, pw_shm_size(3, 10, mk + 1), 3, 10, mk + 1),
            0);
        if (mk > 0) {
            ck_assert_int_eq(
                pw_shm_compatible(base, pw_shm_size(3, 10, mk), 3, 10, mk - 1),
                0);
        }
        free(base);
    }
}
END_TEST

START_TEST(test_init_refuses)
{
    apr_size_t len = pw_shm_size(4, 16, 2);
    void *base = calloc(1, len + 64);

    ck_assert_int_eq(pw_shm_init(base, len - 1, 4, 16, 2), APR_EINVAL);
    ck_assert_int_eq(pw_shm_init(base, len, 0, 16, 2), APR_EINVAL);
    ck_assert_int_eq(pw_shm_init(NULL, len, 4, 16, 2), APR_EINVAL);
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 2), 0);
    /* a longer region is fine; only the header is written (pw_shm.h), so
     * unused slots of a fresh mapping stay out of RSS */
    memset(base, 0xee, len + 64);
    ck_assert_int_eq(pw_shm_init(base, len + 64, 4, 16, 2), APR_SUCCESS);
    ck_assert_int_ne(pw_shm_compatible(base, len, 4, 16, 2), 0);
    ck_assert_uint_eq(((pw_shm_header_t *)base)->slot_overflow, 0);
    ck_assert_uint_eq(((unsigned char *)pw_shm_slot(base, 0))[0], 0xee);
    ck_assert_uint_eq(((unsigned char *)base)[len - 1], 0xee);
    ck_assert_uint_eq(((unsigned char *)base)[len], 0xee);
    free(base);
}
END_TEST

START_TEST(test_compatible)
{
    apr_size_t len = pw_shm_size(4, 16, 2);
    void *base = new_segment(4, 16, 2);
    pw_shm_header_t *h = base;

    ck_assert_int_ne(pw_shm_compatible(base, len, 4, 16, 2), 0);
    ck_assert_int_ne(pw_shm_compatible(base, len + 4096, 4, 16, 2), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len, 5, 16, 2), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len, 3, 16, 2), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 17, 2), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 15, 2), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 3), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 1), 0);
    ck_assert_int_eq(pw_shm_compatible(base, len - 1, 4, 16, 2), 0);
    ck_assert_int_eq(pw_shm_compatible(NULL, len, 4, 16, 2), 0);

    h->magic ^= 1;
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 2), 0);
    h->magic ^= 1;
    h->version++;
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 2), 0);
    h->version--;
    h->slot_size += 64;
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 2), 0);
    h->slot_size -= 64;
    h->header_size += 64;
    ck_assert_int_eq(pw_shm_compatible(base, len, 4, 16, 2), 0);
    h->header_size -= 64;
    ck_assert_int_ne(pw_shm_compatible(base, len, 4, 16, 2), 0);
    free(base);
}
END_TEST

/* ---- claims ---------------------------------------------------------- */

static apr_uint32_t dead_pids[8];

static int alive_unless_listed(apr_uint32_t pid)
{
    unsigned int i;

    for (i = 0; i < sizeof(dead_pids) / sizeof(dead_pids[0]); i++) {
        if (dead_pids[i] == pid) {
            return 0;
        }
    }
    return 1;
}

static void set_dead(apr_uint32_t a, apr_uint32_t b)
{
    memset(dead_pids, 0, sizeof(dead_pids));
    dead_pids[0] = a;
    dead_pids[1] = b;
}

START_TEST(test_claim_free_first)
{
    void *base = new_segment(3, 4, 0);
    pw_shm_header_t *h = base;
    pw_slot_t *s;

    set_dead(0, 0);
    ck_assert_int_eq(pw_shm_claim(base, 101, 7, alive_unless_listed, 1000), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 7, alive_unless_listed, 1001), 1);
    s = pw_shm_slot(base, 0);
    ck_assert_uint_eq(s->owner, 101);
    ck_assert_uint_eq(s->state, PW_SLOT_RUNNING);
    ck_assert_uint_eq(s->generation, 7);
    ck_assert_int_eq(s->started, 1000);
    ck_assert_int_eq(s->updated, 1000);
    ck_assert_uint_eq(s->seq % 2, 0);

    /* an exited slot waits while a free one is left */
    pw_shm_release(base, 0, 101, 2000);
    ck_assert_int_eq(pw_shm_claim(base, 103, 7, alive_unless_listed, 3000), 2);
    ck_assert_uint_eq(h->slot_overflow, 0);
    free(base);
}
END_TEST

/* A child killed between pw_slot_write_begin and _end leaves seq odd; the
 * next owner must leave it even after its claim, and readers must get
 * consistent copies of it again. */
START_TEST(test_claim_after_writer_died_mid_write)
{
    void *base = new_segment(1, 4, 0);
    pw_slot_t *s, *copy;

    set_dead(0, 0);
    ck_assert_int_eq(pw_shm_claim(base, 101, 1, alive_unless_listed, 1), 0);
    s = pw_shm_slot(base, 0);
    s->requests = 280;
    pw_slot_write_begin(s); /* ... and 101 is killed here */
    ck_assert_uint_eq(s->seq % 2, 1);
    set_dead(101, 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, alive_unless_listed, 2), 0);
    ck_assert_uint_eq(s->owner, 102);
    ck_assert_uint_eq(s->seq % 2, 0);
    ck_assert_uint_eq(s->requests, 0);
    copy = malloc(((pw_shm_header_t *)base)->slot_size);
    ck_assert_int_eq(pw_shm_copy_slot(base, 0, copy), APR_SUCCESS);
    ck_assert_uint_eq(copy->seq % 2, 0);
    /* the new owner's writes open and close sections as they should */
    pw_slot_write_begin(s);
    ck_assert_uint_eq(s->seq % 2, 1);
    pw_slot_write_end(s);
    ck_assert_uint_eq(s->seq % 2, 0);
    free(copy);
    free(base);
}
END_TEST

START_TEST(test_claim_overflow)
{
    void *base = new_segment(2, 4, 0);
    pw_shm_header_t *h = base;

    set_dead(0, 0);
    ck_assert_int_eq(pw_shm_claim(base, 101, 1, alive_unless_listed, 1), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, alive_unless_listed, 1), 1);
    ck_assert_int_eq(pw_shm_claim(base, 103, 1, alive_unless_listed, 1), -1);
    ck_assert_uint_eq(h->slot_overflow, 1);
    ck_assert_int_eq(pw_shm_claim(base, 104, 1, NULL, 1), -1);
    ck_assert_uint_eq(h->slot_overflow, 2);
    /* the owners were left alone */
    ck_assert_uint_eq(pw_shm_slot(base, 0)->owner, 101);
    ck_assert_uint_eq(pw_shm_slot(base, 1)->owner, 102);
    /* nonsense arguments claim nothing */
    ck_assert_int_eq(pw_shm_claim(base, 0, 1, NULL, 1), -1);
    ck_assert_int_eq(pw_shm_claim(NULL, 105, 1, NULL, 1), -1);
    free(base);
}
END_TEST

START_TEST(test_claim_reuses_oldest_exited)
{
    void *base = new_segment(3, 4, 0);
    pw_slot_t *s;

    ck_assert_int_eq(pw_shm_claim(base, 101, 1, NULL, 10), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, NULL, 10), 1);
    ck_assert_int_eq(pw_shm_claim(base, 103, 1, NULL, 10), 2);
    pw_shm_release(base, 2, 103, 300);
    pw_shm_release(base, 1, 102, 100); /* exited longest ago */
    pw_shm_release(base, 0, 101, 200);

    ck_assert_int_eq(pw_shm_claim(base, 201, 2, NULL, 400), 1);
    s = pw_shm_slot(base, 1);
    ck_assert_uint_eq(s->owner, 201);
    ck_assert_uint_eq(s->state, PW_SLOT_RUNNING);
    ck_assert_uint_eq(s->generation, 2);
    ck_assert_int_eq(s->exited, 0);
    ck_assert_int_eq(s->started, 400);
    ck_assert_int_eq(pw_shm_claim(base, 202, 2, NULL, 401), 0);
    ck_assert_int_eq(pw_shm_claim(base, 203, 2, NULL, 402), 2);
    ck_assert_int_eq(pw_shm_claim(base, 204, 2, NULL, 403), -1);
    free(base);
}
END_TEST

START_TEST(test_claim_reuses_dead_owner)
{
    void *base = new_segment(3, 4, 0);

    set_dead(0, 0);
    ck_assert_int_eq(pw_shm_claim(base, 101, 1, alive_unless_listed, 10), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, alive_unless_listed, 20), 1);
    ck_assert_int_eq(pw_shm_claim(base, 103, 1, alive_unless_listed, 30), 2);

    /* 102 was killed without releasing its slot */
    set_dead(102, 0);
    ck_assert_int_eq(pw_shm_claim(base, 104, 1, alive_unless_listed, 40), 1);
    ck_assert_uint_eq(pw_shm_slot(base, 1)->owner, 104);

    /* several dead: the one that went quiet first */
    set_dead(103, 101);
    ck_assert_int_eq(pw_shm_claim(base, 105, 1, alive_unless_listed, 50), 0);
    /* without a callback nobody is presumed dead */
    ck_assert_int_eq(pw_shm_claim(base, 106, 1, NULL, 60), -1);
    free(base);
}
END_TEST

/* pw_shm.h: "a free one first, else the one whose child exited longest ago,
 * else one whose owner is dead". A crashed child's figures are the ones
 * worth keeping longest. */
START_TEST(test_claim_prefers_exited_over_dead)
{
    void *base = new_segment(2, 4, 0);

    ck_assert_int_eq(pw_shm_claim(base, 101, 1, NULL, 10), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, NULL, 10), 1);
    pw_shm_release(base, 1, 102, 500); /* exited at 500 */
    set_dead(101, 0);                  /* 101 died, last update at 10 */
    ck_assert_int_eq(pw_shm_claim(base, 103, 1, alive_unless_listed, 600), 1);
    free(base);
}
END_TEST

START_TEST(test_release_keeps_figures)
{
    void *base = new_segment(2, 4, 0);
    pw_slot_t *s = pw_shm_slot(base, 1);
    apr_uint32_t seq;

    ck_assert_int_eq(pw_shm_claim(base, 101, 1, NULL, 10), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 3, NULL, 10), 1);
    pw_slot_write_begin(s);
    s->pool_bytes = 12345;
    s->heap_bytes = 678;
    s->samples = 9;
    strcpy(pw_slot_pools(s)[3].path, "process/pconf");
    s->npools = 4;
    pw_slot_write_end(s);
    apr_atomic_set64(&s->requests, 77);

    /* only the owner may release */
    pw_shm_release(base, 1, 999, 50);
    ck_assert_uint_eq(s->state, PW_SLOT_RUNNING);
    pw_shm_release(base, -1, 102, 50);
    pw_shm_release(base, 2, 102, 50);
    ck_assert_uint_eq(s->state, PW_SLOT_RUNNING);

    seq = s->seq;
    pw_shm_release(base, 1, 102, 50);
    ck_assert_uint_eq(s->state, PW_SLOT_EXITED);
    ck_assert_int_eq(s->exited, 50);
    ck_assert_uint_eq(s->seq, seq + 2); /* under the seqlock */
    ck_assert_uint_eq(s->owner, 102);
    ck_assert_uint_eq(s->generation, 3);
    ck_assert_uint_eq(s->pool_bytes, 12345);
    ck_assert_uint_eq(s->heap_bytes, 678);
    ck_assert_uint_eq(s->samples, 9);
    ck_assert_uint_eq(s->requests, 77);
    ck_assert_uint_eq(s->npools, 4);
    ck_assert_str_eq(pw_slot_pools(s)[3].path, "process/pconf");
    ck_assert_uint_eq(pw_shm_slot(base, 0)->state, PW_SLOT_RUNNING);

    /* a new owner starts from zero, pool table included */
    ck_assert_int_eq(pw_shm_claim(base, 103, 4, NULL, 60), 1);
    ck_assert_uint_eq(s->pool_bytes, 0);
    ck_assert_uint_eq(s->requests, 0);
    ck_assert_uint_eq(s->npools, 0);
    ck_assert_uint_eq(s->hist_count, 0);
    ck_assert_str_eq(pw_slot_pools(s)[3].path, "");
    free(base);
}
END_TEST

/* Children of a forked server race for slots through one shared mapping. */
#define RACERS     8
#define RACE_SLOTS 5

START_TEST(test_claim_race_between_processes)
{
    apr_size_t len = pw_shm_size(RACE_SLOTS, 4, 0);
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile apr_uint32_t *go;
    pid_t kids[RACERS];
    apr_uint32_t owners[RACE_SLOTS];
    int i, j, status, won = 0;

    ck_assert_ptr_ne(base, MAP_FAILED);
    ck_assert_int_eq(pw_shm_init(base, len, RACE_SLOTS, 4, 0), APR_SUCCESS);
    go = mmap(NULL, sizeof(*go), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne((void *)go, MAP_FAILED);
    *go = 0;
    for (i = 0; i < RACERS; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            while (apr_atomic_read32(go) == 0) {
                /* start together */
            }
            _exit(pw_shm_claim(base, (apr_uint32_t)getpid(), 1, NULL, 1) + 1);
        }
    }
    apr_atomic_set32(go, 1);
    for (i = 0; i < RACERS; i++) {
        ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
        ck_assert(WIFEXITED(status));
        won += WEXITSTATUS(status) > 0; /* slot index + 1 */
    }
    ck_assert_int_eq(won, RACE_SLOTS);
    for (i = 0; i < RACE_SLOTS; i++) {
        owners[i] = pw_shm_slot(base, (apr_uint32_t)i)->owner;
        ck_assert_uint_ne(owners[i], 0);
        for (j = 0; j < i; j++) {
            ck_assert_uint_ne(owners[i], owners[j]);
        }
    }
    ck_assert_uint_eq(((pw_shm_header_t *)base)->slot_overflow,
                      RACERS - RACE_SLOTS);
    munmap((void *)go, sizeof(*go));
    munmap(base, len);
}
END_TEST

/* ---- seqlock --------------------------------------------------------- */

START_TEST(test_copy_slot_stable)
{
    void *base = new_segment(2, 8, 0);
    pw_shm_header_t *h = base;
    pw_slot_t *s = pw_shm_slot(base, 1), *copy;
    apr_status_t rv;

    ck_assert_int_eq(pw_shm_claim(base, 101, 1, NULL, 10), 0);
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, NULL, 10), 1);
    copy = malloc(h->slot_size);
    pw_slot_write_begin(s);
    s->pool_bytes = 4242;
    strcpy(pw_slot_pools(s)[7].tag, "last");
    pw_slot_write_end(s);

    ck_assert_int_eq(pw_shm_copy_slot(base, 1, copy), APR_SUCCESS);
    ck_assert_int_eq(memcmp(copy, s, h->slot_size), 0);
    ck_assert_uint_eq(copy->pool_bytes, 4242);
    ck_assert_str_eq(pw_slot_pools(copy)[7].tag, "last");
    /* a copy, not a view */
    s->pool_bytes = 1;
    ck_assert_uint_eq(copy->pool_bytes, 4242);

    /* a writer that never finishes: the reader gives up */
    pw_slot_write_begin(s);
    rv = pw_shm_copy_slot(base, 1, copy);
    ck_assert_int_eq(rv, APR_EAGAIN);
    pw_slot_write_end(s);
    ck_assert_int_eq(pw_shm_copy_slot(base, 1, copy), APR_SUCCESS);
    ck_assert_uint_eq(copy->pool_bytes, 1);

    ck_assert_int_eq(pw_shm_copy_slot(base, 2, copy), APR_EINVAL);
    free(copy);
    free(base);
}
END_TEST

#define SEQ_POOLS 32

typedef struct writer_t {
    pw_slot_t *slot;
    volatile apr_uint32_t stop;
    apr_uint64_t writes;
} writer_t;

static void *APR_THREAD_FUNC writer_main(apr_thread_t *t, void *arg)
{
    writer_t *w = arg;
    pw_poolrec_t *recs = pw_slot_pools(w->slot);
    apr_uint64_t k = 0;
    int i;

    while (!apr_atomic_read32(&w->stop)) {
        k++;
        pw_slot_write_begin(w->slot);
        w->slot->heap_bytes = k;
        /* a wide write, so a torn copy has room to happen */
        for (i = 0; i < SEQ_POOLS; i++) {
            recs[i].bytes = k;
            recs[i].growth = -(apr_int64_t)k;
        }
        w->slot->pool_bytes = 2 * k;
        pw_slot_write_end(w->slot);
    }
    w->writes = k;
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(test_seqlock_threads)
{
    void *base = new_segment(1, SEQ_POOLS, 0);
    pw_shm_header_t *h = base;
    pw_slot_t *copy = malloc(h->slot_size);
    apr_pool_t *p = NULL;
    apr_thread_t *t = NULL;
    apr_status_t trv;
    writer_t w;
    apr_time_t end;
    apr_uint64_t ok = 0, eagain = 0, last = 0, changes = 0;
    int i;

    ck_assert_int_eq(pw_shm_claim(base, 1, 1, NULL, 1), 0);
    ck_assert_int_eq(apr_pool_create(&p, NULL), APR_SUCCESS);
    memset(&w, 0, sizeof(w));
    w.slot = pw_shm_slot(base, 0);
    ck_assert_int_eq(apr_thread_create(&t, NULL, writer_main, &w, p),
                     APR_SUCCESS);

    end = apr_time_now() + apr_time_from_msec(300);
    while (apr_time_now() < end) {
        apr_status_t rv = pw_shm_copy_slot(base, 0, copy);
        pw_poolrec_t *recs = pw_slot_pools(copy);

        if (rv == APR_EAGAIN) {
            eagain++;
            continue;
        }
        ck_assert_int_eq(rv, APR_SUCCESS);
        ok++;
        ck_assert_uint_eq(copy->seq % 2, 0);
        ck_assert_msg(copy->pool_bytes == 2 * copy->heap_bytes,
                      "torn copy: pool_bytes %llu, heap_bytes %llu",
                      (unsigned long long)copy->pool_bytes,
                      (unsigned long long)copy->heap_bytes);
        for (i = 0; i < SEQ_POOLS; i++) {
            ck_assert_uint_eq(recs[i].bytes, copy->heap_bytes);
            ck_assert_int_eq(recs[i].growth, -(apr_int64_t)copy->heap_bytes);
        }
        ck_assert_uint_ge(copy->heap_bytes, last); /* never backwards */
        if (copy->heap_bytes != last) {
            changes++;
        }
        last = copy->heap_bytes;
    }
    apr_atomic_set32(&w.stop, 1);
    ck_assert_int_eq(apr_thread_join(&trv, t), APR_SUCCESS);
    ck_assert_uint_gt(w.writes, 0);
    ck_assert_uint_gt(ok, 0);
    /* the reader saw the writer at work, not one frozen value */
    ck_assert_uint_gt(changes, 1);
    apr_pool_destroy(p);
    free(copy);
    free(base);
}
END_TEST

/* ---- history --------------------------------------------------------- */

static void add_samples(pw_slot_t *s, apr_uint64_t from, apr_uint64_t to)
{
    apr_uint64_t r;

    for (r = from; r < to; r++) {
        pw_sample_t smp;

        memset(&smp, 0, sizeof(smp));
        smp.requests = r;
        smp.time = (apr_int64_t)r * 1000;
        smp.pool_bytes = r * 2;
        pw_slot_history_add(s, &smp);
    }
}

static void check_history(const pw_slot_t *s, apr_uint64_t from,
                          apr_uint32_t count)
{
    apr_uint32_t n;

    ck_assert_uint_eq(s->hist_count, count);
    for (n = 0; n < count; n++) {
        const pw_sample_t *smp = pw_slot_history_at(s, n);

        ck_assert_ptr_nonnull(smp);
        ck_assert_uint_eq(smp->requests, from + n);
        ck_assert_uint_eq(smp->pool_bytes, 2 * (from + n));
    }
    ck_assert_ptr_null(pw_slot_history_at(s, count));
    ck_assert_ptr_null(pw_slot_history_at(s, count + 1000));
}

START_TEST(test_history_ring)
{
    void *base = new_segment(1, 0, 0);
    pw_slot_t *s = pw_shm_slot(base, 0);

    ck_assert_int_eq(pw_shm_claim(base, 1, 1, NULL, 1), 0);
    check_history(s, 0, 0);
    add_samples(s, 0, 5);
    check_history(s, 0, 5);
    add_samples(s, 5, PW_HISTORY);
    check_history(s, 0, PW_HISTORY); /* full, not yet wrapped */
    ck_assert_uint_lt(s->hist_next, PW_HISTORY);
    add_samples(s, PW_HISTORY, PW_HISTORY + 1);
    check_history(s, 1, PW_HISTORY); /* the oldest went */
    add_samples(s, PW_HISTORY + 1, 3 * PW_HISTORY + 17);
    check_history(s, 2 * PW_HISTORY + 17, PW_HISTORY);
    ck_assert_uint_lt(s->hist_next, PW_HISTORY);
    free(base);
}
END_TEST

/* ---- reset ----------------------------------------------------------- */

/* A reset is a generation in the header: readers bump it, each slot's
 * writer compares and records what it applied. A child that claims a slot
 * after a reset has nothing to apply. */
START_TEST(test_reset_generation)
{
    void *base = new_segment(2, 4, 2);
    pw_slot_t *a, *b;
    apr_uint32_t gen = 99;

    ck_assert_int_eq(pw_shm_claim(base, 101, 1, NULL, 10), 0);
    a = pw_shm_slot(base, 0);
    ck_assert_int_eq(pw_slot_reset_due(base, a, &gen), 0);
    ck_assert_uint_eq(gen, 0);

    ck_assert_uint_eq(pw_shm_request_reset(base), 1);
    ck_assert_int_eq(pw_slot_reset_due(base, a, &gen), 1);
    ck_assert_uint_eq(gen, 1);
    ck_assert_uint_eq(a->reset_seen, 0); /* the reader wrote no slot */

    /* a child claiming a slot now starts clean */
    ck_assert_int_eq(pw_shm_claim(base, 102, 1, NULL, 10), 1);
    b = pw_shm_slot(base, 1);
    ck_assert_int_eq(pw_slot_reset_due(base, b, &gen), 0);

    a->reset_seen = gen; /* the writer applied it */
    ck_assert_int_eq(pw_slot_reset_due(base, a, &gen), 0);
    ck_assert_uint_eq(pw_shm_request_reset(base), 2);
    ck_assert_uint_eq(pw_shm_request_reset(base), 3);
    ck_assert_int_eq(pw_slot_reset_due(base, a, &gen), 1);
    ck_assert_uint_eq(gen, 3); /* two requests, one reset to apply */
    ck_assert_int_eq(pw_slot_reset_due(NULL, a, &gen), 0);
    ck_assert_uint_eq(pw_shm_request_reset(NULL), 0);
    free(base);
}
END_TEST

/* Every duration lands in a bucket whose bounds hold it, buckets are in
 * order and at most 25 % wide, and the last takes what is longer. */
START_TEST(test_time_buckets)
{
    apr_uint64_t ns, lo = 0;
    apr_uint32_t i, prev = 0;

    ck_assert_uint_eq(pw_time_bucket(0), 0);
    ck_assert_uint_eq(pw_time_bucket(255), 0);
    ck_assert_uint_eq(pw_time_bucket(256), 1);
    for (ns = 1; ns < ((apr_uint64_t)1 << 26); ns += 1 + ns / 97) {
        i = pw_time_bucket(ns);
        ck_assert_uint_ge(i, prev);
        ck_assert_uint_lt(i, PW_TIME_BUCKETS);
        if (i < PW_TIME_BUCKETS - 1) {
            ck_assert_uint_lt(ns, pw_time_bucket_upper(i));
        }
        if (i > 0) {
            ck_assert_uint_ge(ns, pw_time_bucket_upper(i - 1));
        }
        prev = i;
    }
    for (i = 1; i < PW_TIME_BUCKETS - 1; i++) {
        lo = pw_time_bucket_upper(i - 1);
        ck_assert_uint_gt(pw_time_bucket_upper(i), lo);
        ck_assert_uint_le(pw_time_bucket_upper(i) * 4, lo * 5);
    }
    ck_assert_uint_eq(pw_time_bucket((apr_uint64_t)1 << 24),
                      PW_TIME_BUCKETS - 1);
    ck_assert_uint_eq(pw_time_bucket(~(apr_uint64_t)0), PW_TIME_BUCKETS - 1);
}
END_TEST

START_TEST(test_time_quantile)
{
    apr_uint32_t h[PW_TIME_BUCKETS];
    int k;

    memset(h, 0, sizeof(h));
    ck_assert_uint_eq(pw_time_quantile(h, PW_TIME_BUCKETS, 0.99), 0);
    /* 98 samples of 3 us, 2 of 300 us: p50 and p98 are 3 us's bucket,
     * p99 300 us's */
    for (k = 0; k < 98; k++) {
        h[pw_time_bucket(3000)]++;
    }
    h[pw_time_bucket(300000)] += 2;
    ck_assert_uint_eq(pw_time_quantile(h, PW_TIME_BUCKETS, 0.5),
                      pw_time_bucket_upper(pw_time_bucket(3000)));
    ck_assert_uint_eq(pw_time_quantile(h, PW_TIME_BUCKETS, 0.98),
                      pw_time_bucket_upper(pw_time_bucket(3000)));
    ck_assert_uint_eq(pw_time_quantile(h, PW_TIME_BUCKETS, 0.99),
                      pw_time_bucket_upper(pw_time_bucket(300000)));
    ck_assert_uint_gt(pw_time_quantile(h, PW_TIME_BUCKETS, 0.5), 3000);
    ck_assert_uint_le(pw_time_quantile(h, PW_TIME_BUCKETS, 0.5), 3750);
}
END_TEST

/* What a request paid at its 99th percentile: nothing measurable while
 * fewer than 1 % of requests took a sample; with 2 %, half of the samples
 * are within the slowest 1 % of requests: their median; with 10 %, their
 * 90th percentile. Percentiles are buckets' upper bounds. */
START_TEST(test_request_p99)
{
    apr_uint32_t h[PW_TIME_BUCKETS];
    apr_uint64_t b3 = pw_time_bucket_upper(pw_time_bucket(3000));
    apr_uint64_t b6 = pw_time_bucket_upper(pw_time_bucket(6000));
    apr_uint64_t b9 = pw_time_bucket_upper(pw_time_bucket(9000));
    int k;

    memset(h, 0, sizeof(h));
    ck_assert_uint_eq(pw_request_p99(h, 0, 1000), 0);
    /* 100 samples: 40 of 3 us, 50 of 6 us, 10 of 9 us */
    for (k = 0; k < 40; k++) {
        h[pw_time_bucket(3000)]++;
    }
    for (k = 0; k < 50; k++) {
        h[pw_time_bucket(6000)]++;
    }
    for (k = 0; k < 10; k++) {
        h[pw_time_bucket(9000)]++;
    }
    ck_assert_uint_eq(pw_request_p99(h, 100, 0), 0);
    ck_assert_uint_eq(pw_request_p99(h, 100, 20000), 0); /* 0.5 % */
    ck_assert_uint_eq(pw_request_p99(h, 100, 10000), 0); /* 1 % */
    ck_assert_uint_eq(pw_request_p99(h, 100, 6000), b3); /* 1.7 %: p40 */
    ck_assert_uint_eq(pw_request_p99(h, 100, 5000), b6); /* 2 %: median */
    ck_assert_uint_eq(pw_request_p99(h, 100, 2500), b6); /* 4 %: p75 */
    ck_assert_uint_eq(pw_request_p99(h, 100, 1000), b6); /* 10 %: p90 */
    ck_assert_uint_eq(pw_request_p99(h, 100, 500), b9);  /* 20 %: p95 */
    ck_assert_uint_eq(pw_request_p99(h, 100, 100), b9);  /* all: p99 */
    ck_assert_uint_eq(pw_request_p99(h, 100, 50), b9);   /* raced count */
}
END_TEST

Suite *pw_shm_suite(void)
{
    Suite *s = suite_create("pw_shm");
    TCase *tc;

    tc = tcase_create("geometry");
    tcase_add_loop_test(tc, test_size_formula, 0,
                        sizeof(geometries) / sizeof(geometries[0]));
    tcase_add_test(tc, test_slot_grows_with_keys);
    tcase_add_test(tc, test_init_refuses);
    tcase_add_test(tc, test_compatible);
    suite_add_tcase(s, tc);

    tc = tcase_create("claim");
    tcase_add_test(tc, test_claim_free_first);
    tcase_add_test(tc, test_claim_overflow);
    tcase_add_test(tc, test_claim_after_writer_died_mid_write);
    tcase_add_test(tc, test_claim_reuses_oldest_exited);
    tcase_add_test(tc, test_claim_reuses_dead_owner);
    tcase_add_test(tc, test_claim_prefers_exited_over_dead);
    tcase_add_test(tc, test_release_keeps_figures);
    tcase_add_test(tc, test_claim_race_between_processes);
    suite_add_tcase(s, tc);

    tc = tcase_create("seqlock");
    tcase_add_test(tc, test_copy_slot_stable);
    tcase_add_test(tc, test_seqlock_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("history");
    tcase_add_test(tc, test_history_ring);
    tcase_add_test(tc, test_reset_generation);
    suite_add_tcase(s, tc);

    tc = tcase_create("time histogram");
    tcase_add_test(tc, test_time_buckets);
    tcase_add_test(tc, test_time_quantile);
    tcase_add_test(tc, test_request_p99);
    suite_add_tcase(s, tc);
    return s;
}
