/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_proc: the statm parser (table-driven) and live readings of this
 * process's RSS and malloc heap.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pw_proc.h"
#include "pw_unit.h"

#define MiB (1024 * 1024)

static const struct {
    const char *text;
    apr_status_t rv;
    apr_uint64_t pages;
} statm_cases[] = {
    {"123 45 6 7 0 8 0\n", APR_SUCCESS, 45},
    {"2270 1043 722 256 0 223 0\n", APR_SUCCESS, 1043},
    {"1 0 0 0 0 0 0\n", APR_SUCCESS, 0},
    {"1 45", APR_SUCCESS, 45},
    {"1 45\n", APR_SUCCESS, 45},
    {"99999999999999999999999 45 1\n", APR_SUCCESS, 45}, /* size ignored */
    {"1 123456789012345678 1\n", APR_SUCCESS, 123456789012345678ull},
    {"", APR_EINVAL, 0},
    {"abc", APR_EINVAL, 0},
    {"1", APR_EINVAL, 0},
    {"1 ", APR_EINVAL, 0},
    {"1 x", APR_EINVAL, 0},
    {"1 45x 6", APR_EINVAL, 0},
    {"1 -45 6", APR_EINVAL, 0},
    {" 1 45", APR_EINVAL, 0},
    {"1  45", APR_EINVAL, 0},
    {"1\t45", APR_EINVAL, 0},
    {"1 99999999999999999999 1\n", APR_EINVAL, 0}, /* > 2^64 */
    {"1 18446744073709551616 1\n", APR_EINVAL, 0}, /* 2^64 */
    {"1 184467440737095516150\n", APR_EINVAL, 0},  /* wraps if unchecked */
    {"1 1000000000000000000000000000000\n", APR_EINVAL, 0},
};

START_TEST(test_parse_statm)
{
    const char *text = statm_cases[_i].text;
    apr_uint64_t pages = 0xdeadbeef;
    apr_status_t rv;

    rv = pw_proc_parse_statm(text, strlen(text), &pages);
    ck_assert_msg(rv == statm_cases[_i].rv, "\"%s\": got %d, want %d", text, rv,
                  statm_cases[_i].rv);
    if (rv == APR_SUCCESS) {
        ck_assert_uint_eq(pages, statm_cases[_i].pages);
    } else {
        ck_assert_uint_eq(pages, 0xdeadbeef); /* untouched on error */
    }
}
END_TEST

START_TEST(test_parse_statm_len)
{
    static const char text[] = "123 4567 8 9";
    apr_uint64_t pages = 0;

    /* the length bounds the parse: no NUL needed, nothing read beyond */
    ck_assert_int_eq(pw_proc_parse_statm(text, 6, &pages), APR_SUCCESS);
    ck_assert_uint_eq(pages, 45);
    ck_assert_int_eq(pw_proc_parse_statm(text, 4, &pages), APR_EINVAL);
    ck_assert_int_eq(pw_proc_parse_statm(text, 3, &pages), APR_EINVAL);
    ck_assert_int_eq(pw_proc_parse_statm(text, 0, &pages), APR_EINVAL);
    ck_assert_int_eq(pw_proc_parse_statm(text, 8, &pages), APR_SUCCESS);
    ck_assert_uint_eq(pages, 4567);
}
END_TEST

/* Keeps the compiler from dropping memory the test only touches. */
static char *volatile keep;

static void touch(char *mem, apr_size_t len)
{
    memset(mem, 0x5a, len);
    keep = mem;
}

START_TEST(test_rss_plausible_and_grows)
{
    pw_proc_t pp;
    apr_uint64_t before = 0, after = 0;
    char *mem;

    ck_assert_int_eq(pw_proc_open(&pp), APR_SUCCESS);
    ck_assert_int_ge(pp.statm_fd, 0);
    ck_assert_uint_eq(pp.pid, (apr_uint32_t)getpid());
    ck_assert_uint_eq(pp.page_size, (apr_size_t)sysconf(_SC_PAGESIZE));

    ck_assert_int_eq(pw_proc_rss(&pp, &before), APR_SUCCESS);
    ck_assert_uint_gt(before, 0);
    ck_assert_uint_eq(before % pp.page_size, 0);
    ck_assert_uint_lt(before, (apr_uint64_t)64 * 1024 * MiB);

    mem = malloc(8 * MiB);
    ck_assert_ptr_nonnull(mem);
    touch(mem, 8 * MiB);
    ck_assert_int_eq(pw_proc_rss(&pp, &after), APR_SUCCESS);
    ck_assert_uint_eq(after % pp.page_size, 0);
    /* every page was written: nearly all of them are resident */
    ck_assert_msg(after >= before + 7 * MiB, "rss %llu -> %llu",
                  (unsigned long long)before, (unsigned long long)after);
    free(mem);
    pw_proc_close(&pp);
}
END_TEST

START_TEST(test_rss_refused)
{
    pw_proc_t pp;
    apr_uint64_t rss = 0;
    pid_t kid;
    int status;

    ck_assert_int_eq(pw_proc_open(&pp), APR_SUCCESS);

    /* a child must not report its parent's statm */
    kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        _exit(pw_proc_rss(&pp, &rss) == APR_ENOTIMPL ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(kid, &status, 0), kid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);

    pw_proc_close(&pp);
    ck_assert_int_eq(pp.statm_fd, -1);
    ck_assert_int_eq(pw_proc_rss(&pp, &rss), APR_ENOTIMPL);
    pw_proc_close(&pp); /* twice is harmless */
}
END_TEST

START_TEST(test_heap_grows)
{
    apr_uint64_t before, mid, after;
    char *small, *big;

    if (RUNNING_ON_VALGRIND) {
        /* valgrind's malloc replaces glibc's: mallinfo2() reads 0 */
        return;
    }
    before = pw_proc_heap();
    ck_assert_uint_gt(before, 0); /* check and stdio have malloc'd */

    /* an arena chunk */
    small = malloc(64 * 1024);
    touch(small, 64 * 1024);
    mid = pw_proc_heap();
    ck_assert_uint_ge(mid, before + 64 * 1024);

    /* big enough to be mmapped by malloc (counted in hblkhd) */
    big = malloc(MiB);
    touch(big, MiB);
    after = pw_proc_heap();
    ck_assert_msg(after >= mid + MiB, "heap %llu -> %llu",
                  (unsigned long long)mid, (unsigned long long)after);

    free(big);
    free(small);
    ck_assert_uint_lt(pw_proc_heap(), after - MiB + 4096);
}
END_TEST

/* Pacing of heap reads: a fast read never delays the next; a slow one
 * by the wall clock makes the next timed in CPU time, and a slow one in
 * CPU time makes the next wait PW_HEAP_DUTY times as long. */
START_TEST(test_heap_pace)
{
    pw_heap_pace_t p;
    const apr_time_t t = apr_time_from_sec(1000);

    memset(&p, 0, sizeof(p));
    ck_assert(pw_heap_due(&p, t)); /* never read */

    pw_heap_took(&p, t, PW_HEAP_FAST_NS - 1, 42);
    ck_assert_uint_eq(p.value, 42);
    ck_assert(!p.cpu);
    ck_assert(pw_heap_due(&p, t)); /* fast: at once */

    /* 2 ms by the wall clock: maybe preempted, not paced; timed in CPU
     * time next */
    pw_heap_took(&p, t, 2000000, 43);
    ck_assert(p.cpu);
    ck_assert(pw_heap_due(&p, t));
    /* and fast in CPU time: it was preempted */
    pw_heap_took(&p, t, 1000, 43);
    ck_assert(!p.cpu);
    ck_assert(pw_heap_due(&p, t));

    /* 2 ms, then 2 ms in CPU time: the next read 400 ms later */
    pw_heap_took(&p, t, 2000000, 43);
    pw_heap_took(&p, t, 2000000, 43);
    ck_assert(p.cpu);
    ck_assert(!pw_heap_due(&p, t));
    ck_assert(!pw_heap_due(&p, t + apr_time_from_msec(2) * PW_HEAP_DUTY - 1));
    ck_assert(pw_heap_due(&p, t + apr_time_from_msec(2) * PW_HEAP_DUTY));

    /* 30 ms (in CPU time, as paced reads are): 6 s */
    pw_heap_took(&p, t, 30000000, 44);
    ck_assert(!pw_heap_due(&p, t + apr_time_from_sec(5)));
    ck_assert(pw_heap_due(&p, t + apr_time_from_sec(6)));

    /* and fast again: every sample, by the wall clock */
    pw_heap_took(&p, t, 1000, 45);
    ck_assert(pw_heap_due(&p, t));
    ck_assert(!p.cpu);
}
END_TEST

Suite *pw_proc_suite(void)
{
    Suite *s = suite_create("pw_proc");
    TCase *tc;

    tc = tcase_create("statm");
    tcase_add_loop_test(tc, test_parse_statm, 0,
                        sizeof(statm_cases) / sizeof(statm_cases[0]));
    tcase_add_test(tc, test_parse_statm_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("live");
    tcase_add_test(tc, test_rss_plausible_and_grows);
    tcase_add_test(tc, test_rss_refused);
    tcase_add_test(tc, test_heap_grows);
    tcase_add_test(tc, test_heap_pace);
    suite_add_tcase(s, tc);
    return s;
}
