/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_plog: the pool-debug line parser of poolwatch-log (tools/plog.c).
 *
 * Lines in every form APR 1.2-1.7 writes (apr_pool_log_event): with and
 * without the thread id and the parent, 1.2's upper-case 32-bit addresses,
 * the short GLOBAL/LIFE/THREAD form and the header; then damage: cut
 * anywhere, another record starting mid-line, garbage. The parser must
 * accept the first kind field by field and refuse the second without
 * reading past the end of the line (each case parses a heap copy of
 * exactly the line's length, so an overrun is a read past malloc'd memory
 * under valgrind).
 */
#include <stdlib.h>
#include <string.h>

#include "plog.h"
#include "pw_unit.h"

static plog_kind_e parse(const char *s, plog_event_t *ev, apr_size_t *used)
{
    apr_size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    const char *end;
    plog_kind_e k;

    memcpy(copy, s, n);
    k = plog_parse(copy, n, ev, &end);
    if (used) {
        *used = (apr_size_t)(end - copy);
    }
    /* fields point into the line: re-base them on s before freeing */
    if (k == PLOG_RECORD) {
        if (ev->tag) {
            ev->tag = s + (ev->tag - copy);
        }
        if (ev->site) {
            ev->site = s + (ev->site - copy);
        }
    }
    free(copy);
    return k;
}

static void ck_text(const char *p, apr_size_t n, const char *want)
{
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(p, want, n) == 0);
}

START_TEST(apr17_with_parent)
{
    plog_event_t ev;
    apr_size_t used;
    const char *l = "POOL DEBUG: [22307/140540411389824]  PALLOC (       320/"
                    "       320/       320) 0x55f926fb92a0 \"APR global pool\""
                    " <memory/unix/apr_pools.c:2522> 0x0 (6/6/0) ";

    ck_assert_int_eq(parse(l, &ev, &used), PLOG_RECORD);
    ck_assert_uint_eq(used, strlen(l));
    ck_assert_uint_eq(ev.pid, 22307);
    ck_assert(ev.has_tid);
    ck_assert_uint_eq(ev.tid, 140540411389824ull);
    ck_assert_int_eq(ev.ev, PLOG_EV_PALLOC);
    ck_assert(ev.has_sizes);
    ck_assert_uint_eq(ev.size, 320);
    ck_assert_uint_eq(ev.size_tree, 320);
    ck_assert_uint_eq(ev.size_total, 320);
    ck_assert_uint_eq(ev.pool, 0x55f926fb92a0ull);
    ck_text(ev.tag, ev.tag_len, "APR global pool");
    ck_text(ev.site, ev.site_len, "memory/unix/apr_pools.c:2522");
    ck_assert(ev.has_parent);
    ck_assert_uint_eq(ev.parent, 0);
    ck_assert_uint_eq(ev.allocs, 6);
    ck_assert_uint_eq(ev.total_allocs, 6);
    ck_assert_uint_eq(ev.clears, 0);
}
END_TEST

START_TEST(apr15_no_parent)
{
    plog_event_t ev;
    const char *l = "POOL DEBUG: [27325/16384] CLEARED (         0/         0/"
                    "    256702) 0x080a0568 \"plog\" <strings/apr_strings.c:78>"
                    " (0/6/1) ";

    ck_assert_int_eq(parse(l, &ev, NULL), PLOG_RECORD);
    ck_assert_int_eq(ev.ev, PLOG_EV_CLEARED);
    ck_assert(!ev.has_parent);
    ck_assert_uint_eq(ev.pool, 0x080a0568);
    ck_assert_uint_eq(ev.size_total, 256702);
    ck_assert_uint_eq(ev.clears, 1);
    ck_text(ev.tag, ev.tag_len, "plog");
}
END_TEST

START_TEST(apr12_no_threads_upper_hex)
{
    plog_event_t ev;
    const char *l = "POOL DEBUG: [4242] PCALLOC (       244/       244/    "
                    "256702) 0x080A0BC8 \"pconf\" <config.c:12> (6/6/1) \r";

    ck_assert_int_eq(parse(l, &ev, NULL), PLOG_RECORD);
    ck_assert(!ev.has_tid);
    ck_assert_uint_eq(ev.pid, 4242);
    ck_assert_int_eq(ev.ev, PLOG_EV_PCALLOC);
    ck_assert_uint_eq(ev.pool, 0x080a0bc8);
    ck_assert_uint_eq(ev.size, 244);
}
END_TEST

START_TEST(short_forms)
{
    static const struct {
        const char *line;
        plog_ev_e ev;
    } cases[] = {
        {"POOL DEBUG: [22307/140540411389824]  GLOBAL          "
         "                          0x55f926fb92a0 <memory/unix/apr_pools.c:"
         "apr_pool_initialize> ",
         PLOG_EV_GLOBAL},
        {"POOL DEBUG: [1/2]    LIFE                                    "
         "0xdeadbeef <x.c:1> ",
         PLOG_EV_LIFE},
        {"POOL DEBUG: [1]  THREAD                                    "
         "0xDEADBEEF <x.c:2>",
         PLOG_EV_THREAD},
    };
    unsigned int i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        plog_event_t ev;

        ck_assert_int_eq(parse(cases[i].line, &ev, NULL), PLOG_RECORD);
        ck_assert_int_eq(ev.ev, cases[i].ev);
        ck_assert(!ev.has_sizes);
        ck_assert_uint_eq(ev.pool & 0xffff, i == 0 ? 0x92a0 : 0xbeef);
    }
}
END_TEST

START_TEST(header_lines)
{
    plog_event_t ev;

    ck_assert_int_eq(
        parse("POOL DEBUG: [PID/TID] ACTION  (SIZE      /POOL SIZE /TOTAL "
              "SIZE) POOL       \"TAG\" <__FILE__:__LINE__> PARENT     "
              "(ALLOCS/TOTAL ALLOCS/CLEARS)",
              &ev, NULL),
        PLOG_HEADER);
    ck_assert_int_eq(parse("POOL DEBUG: [PID] ACTION  (SIZE      /POOL SIZE "
                           "/TOTAL SIZE) POOL       \"TAG\" "
                           "<__FILE__:__LINE__> (ALLOCS/TOTAL ALLOCS/CLEARS)",
                           &ev, NULL),
                     PLOG_HEADER);
}
END_TEST

START_TEST(tags_with_quotes_and_spaces)
{
    plog_event_t ev;
    const char *l = "POOL DEBUG: [1/2]  PALLOC (  8/  8/  8) 0x10 \"a \"q\" b\""
                    " <s.c:1> 0x20 (1/1/0) ";

    ck_assert_int_eq(parse(l, &ev, NULL), PLOG_RECORD);
    ck_text(ev.tag, ev.tag_len, "a \"q\" b");
    ck_text(ev.site, ev.site_len, "s.c:1");
    ck_assert_uint_eq(ev.parent, 0x20);
}
END_TEST

/* Every proper prefix of a whole record is refused. */
START_TEST(cut_anywhere)
{
    const char *l = "POOL DEBUG: [22307/140540411389824] DESTROY (       396/"
                    "       396/    208586) 0x55f926ffc970 \"pchild\" "
                    "<undefined> 0x55f926fbadc0 (10/10/0)";
    apr_size_t n = strlen(l), i;

    for (i = 0; i < n; i++) {
        char *copy = malloc(i ? i : 1);
        plog_event_t ev;
        const char *end;

        memcpy(copy, l, i);
        ck_assert_msg(plog_parse(copy, i, &ev, &end) == PLOG_BAD,
                      "accepted a line cut at %u", (unsigned int)i);
        ck_assert(end >= copy && end <= copy + i);
        free(copy);
    }
}
END_TEST

START_TEST(torn_then_whole)
{
    const char *l = "POOL DEBUG: [1/2]  PALLOC (      12/POOL DEBUG: [3/4]  "
                    "PALLOC (  8/  8/  8) 0x10 \"t\" <s.c:1> 0x20 (1/1/0) ";
    plog_event_t ev;
    apr_size_t used;
    const char *next;

    ck_assert_int_eq(parse(l, &ev, &used), PLOG_BAD);
    next = plog_find_prefix(l + 1, strlen(l) - 1);
    ck_assert_ptr_nonnull(next);
    ck_assert_int_eq(parse(next, &ev, &used), PLOG_RECORD);
    ck_assert_uint_eq(ev.pid, 3);
    ck_assert_uint_eq(used, strlen(next));
}
END_TEST

START_TEST(garbage)
{
    static const char *const lines[] = {
        "",
        "POOL DEBUG:",
        "POOL DEBUG: ",
        "pool debug: [1/2]  PALLOC (  8/  8/  8) 0x10 \"t\" <s> (1/1/0)",
        "POOL DEBUG: [x/2]  PALLOC (  8/  8/  8) 0x10 \"t\" <s> (1/1/0)",
        "POOL DEBUG: [1/2]  MALLOC (  8/  8/  8) 0x10 \"t\" <s> (1/1/0)",
        "POOL DEBUG: [1/2]  PALLOC (  8/  8/  8) 10 \"t\" <s> (1/1/0)",
        "POOL DEBUG: [1/2]  PALLOC (  8/  8/  8) 0x10 t <s> (1/1/0)",
        "POOL DEBUG: [1/2]  PALLOC (  8/  8/  8) 0x10 \"t\" s (1/1/0)",
        "POOL DEBUG: [1/2]  PALLOC (  8/  8/  8) 0x10 \"t\" <s> (1/1)",
        "POOL DEBUG: [1/2]  PALLOC (  8/ -8/  8) 0x10 \"t\" <s> (1/1/0)",
        "POOL DEBUG: [1/2]  GLOBAL 0x10",
        "POOL DEBUG: [PID/TID] ACTION",
        "[Mon Nov 23 16:50:00 2026] [notice] Apache configured",
        "\x01\x02\xff\xfe",
    };
    unsigned int i;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        plog_event_t ev;

        ck_assert_msg(parse(lines[i], &ev, NULL) == PLOG_BAD,
                      "accepted garbage %u: %s", i, lines[i]);
    }
}
END_TEST

START_TEST(find_prefix)
{
    const char *s = "xxPOOL DEBUGPOOL DEBUG: [1]";

    ck_assert_ptr_eq(plog_find_prefix(s, strlen(s)), s + 12);
    ck_assert_ptr_null(plog_find_prefix(s, 20));
    ck_assert_ptr_null(plog_find_prefix("POOL DEBUG:", 11));
}
END_TEST

Suite *pw_plog_suite(void)
{
    Suite *s = suite_create("pw_plog");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, apr17_with_parent);
    tcase_add_test(tc, apr15_no_parent);
    tcase_add_test(tc, apr12_no_threads_upper_hex);
    tcase_add_test(tc, short_forms);
    tcase_add_test(tc, header_lines);
    tcase_add_test(tc, tags_with_quotes_and_spaces);
    tcase_add_test(tc, cut_anywhere);
    tcase_add_test(tc, torn_then_whole);
    tcase_add_test(tc, garbage);
    tcase_add_test(tc, find_prefix);
    suite_add_tcase(s, tc);
    return s;
}
