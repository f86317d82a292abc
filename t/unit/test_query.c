/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_query: the /poolwatch query parser (pw_query_parse), table-driven:
 * every accepted form with what it sets, and every refused form.
 */
#include <string.h>

#include "pw_query.h"
#include "pw_unit.h"

static const struct {
    const char *args;
    pw_format_e format;
    int refresh;
    apr_uint32_t pid;
    int notable, reset;
} goods[] = {
    {NULL, PW_FORMAT_HTML, 0, 0, 0, 0},
    {"", PW_FORMAT_HTML, 0, 0, 0, 0},
    {"json", PW_FORMAT_JSON, 0, 0, 0, 0},
    {"auto", PW_FORMAT_AUTO, 0, 0, 0, 0},
    {"format=json", PW_FORMAT_JSON, 0, 0, 0, 0},
    {"format=prometheus", PW_FORMAT_PROMETHEUS, 0, 0, 0, 0},
    {"format=html", PW_FORMAT_HTML, 0, 0, 0, 0},
    {"format=auto", PW_FORMAT_AUTO, 0, 0, 0, 0},
    {"refresh=5", PW_FORMAT_HTML, 5, 0, 0, 0},
    {"refresh=1", PW_FORMAT_HTML, 1, 0, 0, 0},
    {"refresh=3600", PW_FORMAT_HTML, 3600, 0, 0, 0},
    {"pid=1234", PW_FORMAT_HTML, 0, 1234, 0, 0},
    {"pid=2147483647", PW_FORMAT_HTML, 0, 2147483647u, 0, 0},
    {"notable", PW_FORMAT_HTML, 0, 0, 1, 0},
    {"reset", PW_FORMAT_HTML, 0, 0, 0, 1},
    {"reset=1", PW_FORMAT_HTML, 0, 0, 0, 1},
    {"pid=7&refresh=10&notable", PW_FORMAT_HTML, 10, 7, 1, 0},
    {"auto&refresh=2", PW_FORMAT_AUTO, 2, 0, 0, 0},
    {"notable&pid=3&format=html", PW_FORMAT_HTML, 0, 3, 1, 0},
};

START_TEST(test_good)
{
    pw_query_t q;
    const char *err = pw_query_parse(goods[_i].args, &q);

    ck_assert_msg(err == NULL, "'%s' refused: %s", goods[_i].args, err);
    ck_assert_int_eq(q.format, goods[_i].format);
    ck_assert_int_eq(q.refresh, goods[_i].refresh);
    ck_assert_uint_eq(q.pid, goods[_i].pid);
    ck_assert_int_eq(q.notable, goods[_i].notable);
    ck_assert_int_eq(q.reset, goods[_i].reset);
}
END_TEST

static const struct {
    const char *args;
    const char *says; /* a word of the message */
} bads[] = {
    {"bogus", "unknown"},
    {"json&bogus", "unknown"},
    {"JSON", "unknown"},   /* names are case-sensitive */
    {"%6Ason", "unknown"}, /* and never decoded */
    {"json=2x", "no value"},
    {"json=", "no value"},
    {"notable=1", "no value"},
    {"auto=yes", "no value"},
    {"reset=0", "reset"},
    {"reset=11", "reset"},
    {"refresh", "refresh"},
    {"refresh=", "refresh"},
    {"refresh=abc", "refresh"},
    {"refresh=0", "refresh"},
    {"refresh=3601", "refresh"},
    {"refresh=-1", "refresh"},
    {"refresh=+5", "refresh"},
    {"refresh= 5", "refresh"},
    {"refresh=5.0", "refresh"},
    {"refresh=99999999999", "refresh"},
    {"pid=-1", "pid"},
    {"pid=0", "pid"},
    {"pid=", "pid"},
    {"pid", "pid"},
    {"pid=2147483648", "pid"},
    {"pid=0x10", "pid"},
    {"pid=1&pid=2", "twice"},
    {"json&json", "twice"},
    {"notable&notable", "twice"},
    {"json&auto", "more than one"},
    {"json&format=json", "more than one"},
    {"format=auto&auto", "more than one"},
    {"format=xml", "format"},
    {"format=", "format"},
    {"format", "format"},
    {"format=JSON", "format"},
    {"&json", "empty"},
    {"json&", "empty"},
    {"json&&auto", "empty"},
    {"&", "empty"},
    {"=5", "empty"},
    {"=", "empty"},
};

START_TEST(test_bad)
{
    pw_query_t q;
    const char *err = pw_query_parse(bads[_i].args, &q);

    ck_assert_msg(err != NULL, "'%s' accepted", bads[_i].args);
    ck_assert_msg(strstr(err, bads[_i].says) != NULL,
                  "'%s': message '%s' lacks '%s'", bads[_i].args, err,
                  bads[_i].says);
}
END_TEST

/* The longest accepted string, and one byte more. */
START_TEST(test_length)
{
    char buf[PW_QUERY_MAX + 2];
    pw_query_t q;
    apr_size_t i;
    const char *err;

    for (i = 0; i < sizeof(buf) - 1; i++) {
        buf[i] = 'x';
    }
    buf[sizeof(buf) - 1] = '\0';
    err = pw_query_parse(buf, &q);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "too long") != NULL, "%s", err);

    /* 8 KiB of junk, as a client might send */
    {
        static char junk[8193];

        memset(junk, 'A', sizeof(junk) - 1);
        junk[sizeof(junk) - 1] = '\0';
        ck_assert_ptr_nonnull(pw_query_parse(junk, &q));
    }
    /* at the limit: refused for what it says, not for its length */
    buf[PW_QUERY_MAX] = '\0';
    err = pw_query_parse(buf, &q);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "unknown") != NULL, "%s", err);
}
END_TEST

/* Every call starts from zero: nothing of a previous query remains. */
START_TEST(test_reset_between_calls)
{
    pw_query_t q;

    ck_assert_ptr_null(pw_query_parse("pid=9&notable", &q));
    ck_assert_ptr_null(pw_query_parse("json", &q));
    ck_assert_uint_eq(q.pid, 0);
    ck_assert_int_eq(q.notable, 0);
    ck_assert_int_eq(q.format, PW_FORMAT_JSON);
}
END_TEST

START_TEST(test_format_names)
{
    ck_assert_str_eq(pw_format_name(PW_FORMAT_HTML), "html");
    ck_assert_str_eq(pw_format_name(PW_FORMAT_JSON), "json");
    ck_assert_str_eq(pw_format_name(PW_FORMAT_PROMETHEUS), "prometheus");
    ck_assert_str_eq(pw_format_name(PW_FORMAT_AUTO), "auto");
    ck_assert_str_eq(pw_format_name((pw_format_e)99), "html");
}
END_TEST

Suite *pw_query_suite(void)
{
    Suite *s = suite_create("pw_query");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, test_good, 0, sizeof(goods) / sizeof(goods[0]));
    tcase_add_loop_test(tc, test_bad, 0, sizeof(bads) / sizeof(bads[0]));
    tcase_add_test(tc, test_length);
    tcase_add_test(tc, test_reset_between_calls);
    tcase_add_test(tc, test_format_names);
    suite_add_tcase(s, tc);
    return s;
}
