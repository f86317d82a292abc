/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * test_conf: directive values (src/pw_conf.c). One table of arguments per
 * kind of value, each with what it must give or that it must be refused;
 * a refusal must name the directive and what it accepts, and echo the
 * argument cut and printable.
 */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

#include "pw_conf.h"
#include "pw_keys.h"
#include "pw_unit.h"

#define SEC  APR_INT64_C(1000000)
#define HOUR (APR_INT64_C(3600) * SEC)

static const pw_conf_spec_t s_flag = {"PoolWatchTrace", PW_CONF_FLAG, 0, 1};
static const pw_conf_spec_t s_int = {"PoolWatchMaxKeys", PW_CONF_INT, 4, 1024};
static const pw_conf_spec_t s_zero = {"PoolWatchWarmup", PW_CONF_INT, 0,
                                      100000};
static const pw_conf_spec_t s_time = {"PoolWatchRSSInterval", PW_CONF_INTERVAL,
                                      0, HOUR};
static const pw_conf_spec_t s_walk = {"PoolWatchWalk", PW_CONF_WALK, 0, 1};
static const pw_conf_spec_t s_key = {"PoolWatchKey", PW_CONF_KEY, 0, 0};
static const pw_conf_spec_t s_streams = {"PoolWatchStreams", PW_CONF_STREAMS, 0,
                                         2};

static const struct {
    const pw_conf_spec_t *spec;
    const char *arg;
    int ok;
    apr_int64_t num;  /* when ok */
    const char *name; /* PW_CONF_KEY, when ok */
} cases[] = {
    {&s_streams, "auto", 1, PW_STREAMS_AUTO, NULL},
    {&s_streams, "On", 1, PW_STREAMS_ON, NULL},
    {&s_streams, "OFF", 1, PW_STREAMS_OFF, NULL},
    {&s_streams, "sometimes", 0, 0, NULL},
    {&s_streams, "1", 0, 0, NULL},
    {&s_streams, "", 0, 0, NULL},
    {&s_streams, "auto ", 0, 0, NULL},
    {&s_flag, "On", 1, 1, NULL},
    {&s_flag, "off", 1, 0, NULL},
    {&s_flag, "OFF", 1, 0, NULL},
    {&s_flag, "maybe", 0, 0, NULL},
    {&s_flag, "", 0, 0, NULL},
    {&s_flag, "1", 0, 0, NULL},
    {&s_flag, "On ", 0, 0, NULL},
    {&s_int, "4", 1, 4, NULL},
    {&s_int, "1024", 1, 1024, NULL},
    {&s_int, "+32", 1, 32, NULL},
    {&s_int, "0032", 1, 32, NULL},
    {&s_int, "3", 0, 0, NULL},
    {&s_int, "1025", 0, 0, NULL},
    {&s_int, "-4", 0, 0, NULL},
    {&s_int, "", 0, 0, NULL},
    {&s_int, "-", 0, 0, NULL},
    {&s_int, "abc", 0, 0, NULL},
    {&s_int, "12abc", 0, 0, NULL},
    {&s_int, " 12", 0, 0, NULL},
    {&s_int, "12 ", 0, 0, NULL},
    {&s_int, "0x10", 0, 0, NULL},
    {&s_int, "1e2", 0, 0, NULL},
    {&s_int, "4294967300", 0, 0, NULL}, /* 2^32 + 4: no wrap to 4 */
    {&s_int, "18446744073709551620", 0, 0, NULL},
    {&s_int, "99999999999999999999999999", 0, 0, NULL},
    {&s_zero, "0", 1, 0, NULL},
    {&s_zero, "-0", 1, 0, NULL},
    {&s_zero, "-1", 0, 0, NULL},
    {&s_zero, "100001", 0, 0, NULL},
    {&s_time, "0", 1, 0, NULL},
    {&s_time, "1", 1, SEC, NULL},
    {&s_time, "2s", 1, 2 * SEC, NULL},
    {&s_time, "500ms", 1, 500000, NULL},
    {&s_time, "500MS", 1, 500000, NULL},
    {&s_time, "1mi", 1, 60 * SEC, NULL},
    {&s_time, "60min", 1, HOUR, NULL},
    {&s_time, "1h", 1, HOUR, NULL},
    {&s_time, "3600s", 1, HOUR, NULL},
    {&s_time, "3600000ms", 1, HOUR, NULL},
    {&s_time, "3601s", 0, 0, NULL},
    {&s_time, "3600001ms", 0, 0, NULL},
    {&s_time, "2h", 0, 0, NULL},
    {&s_time, "-1s", 0, 0, NULL},
    {&s_time, "+1s", 0, 0, NULL},
    {&s_time, "soon", 0, 0, NULL},
    {&s_time, "s", 0, 0, NULL},
    {&s_time, "", 0, 0, NULL},
    {&s_time, "1 s", 0, 0, NULL},
    {&s_time, "1us", 0, 0, NULL},
    {&s_time, "1sec", 0, 0, NULL},
    {&s_time, "1.5s", 0, 0, NULL},
    {&s_time, "999999999999999999h", 0, 0, NULL}, /* would overflow */
    {&s_time, "9223372036854775807ms", 0, 0, NULL},
    {&s_walk, "auto", 1, 1, NULL},
    {&s_walk, "Off", 1, 0, NULL},
    {&s_walk, "on", 0, 0, NULL},
    {&s_walk, "sometimes", 0, 0, NULL},
    {&s_key, "path", 1, PW_KEYBY_PATH, NULL},
    {&s_key, "QUERY", 1, PW_KEYBY_QUERY, NULL},
    {&s_key, "env=PW_KEY", 1, PW_KEYBY_ENV, "PW_KEY"},
    {&s_key, "note=rewrite:x.y-z", 1, PW_KEYBY_NOTE, "rewrite:x.y-z"},
    {&s_key, "env=", 0, 0, NULL},
    {&s_key, "note=", 0, 0, NULL},
    {&s_key, "env=A B", 0, 0, NULL},
    {&s_key, "env=A\tB", 0, 0, NULL},
    {&s_key, "env=\xc3\xa9", 0, 0, NULL},
    {&s_key, "env", 0, 0, NULL},
    {&s_key, "header=X", 0, 0, NULL},
    {&s_key, "bogus", 0, 0, NULL},
    {&s_key, "", 0, 0, NULL},
};

/* What each kind's message must say it accepts. */
static const char *accepts_word(const pw_conf_spec_t *spec)
{
    switch (spec->kind) {
        case PW_CONF_FLAG:
            return "one of On, Off";
        case PW_CONF_INT:
            return spec == &s_int ? "from 4 to 1024" : "from 0 to 100000";
        case PW_CONF_INTERVAL:
            return "from 0 to 3600s";
        case PW_CONF_WALK:
            return "one of auto, off";
        case PW_CONF_KEY:
            return "path, query, env=NAME, note=NAME";
        case PW_CONF_STREAMS:
            return "one of auto, on, off";
    }
    return "?";
}

START_TEST(test_parse)
{
    apr_pool_t *p;
    pw_conf_value_t v = {-77, "untouched"};
    const char *err;

    apr_pool_create(&p, NULL);
    err = pw_conf_parse(p, cases[_i].spec, cases[_i].arg, &v);
    if (cases[_i].ok) {
        ck_assert_msg(err == NULL, "%s '%s' refused: %s", cases[_i].spec->name,
                      cases[_i].arg, err);
        ck_assert_msg(
            v.num == cases[_i].num,
            "%s '%s' gave %" APR_INT64_T_FMT ", want %" APR_INT64_T_FMT,
            cases[_i].spec->name, cases[_i].arg, v.num, cases[_i].num);
        if (cases[_i].name) {
            ck_assert_str_eq(v.name, cases[_i].name);
        } else {
            ck_assert_ptr_null(v.name);
        }
    } else {
        ck_assert_msg(err != NULL, "%s '%s' accepted", cases[_i].spec->name,
                      cases[_i].arg);
        ck_assert_msg(v.num == -77, "a refusal changed the value");
        ck_assert_msg(
            !strncmp(err, cases[_i].spec->name, strlen(cases[_i].spec->name)),
            "message does not start with the directive: %s", err);
        ck_assert_msg(strstr(err, accepts_word(cases[_i].spec)) != NULL,
                      "message does not give the range: %s", err);
    }
    apr_pool_destroy(p);
}
END_TEST

/* A hostile argument is echoed cut and printable. */
START_TEST(test_echo_bounded)
{
    apr_pool_t *p;
    pw_conf_value_t v;
    char arg[1000];
    const char *err, *c;

    apr_pool_create(&p, NULL);
    memset(arg, 'x', sizeof(arg) - 1);
    arg[sizeof(arg) - 1] = '\0';
    arg[3] = '\n';
    arg[4] = '\x1b';
    arg[5] = '\'';
    arg[6] = (char)0xff;
    err = pw_conf_parse(p, &s_int, arg, &v);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strlen(err) < 300, "message of %d bytes", (int)strlen(err));
    ck_assert_ptr_nonnull(strstr(err, "'xxx????xxx"));
    ck_assert_ptr_nonnull(strstr(err, "...'"));
    for (c = err; *c; c++) {
        ck_assert_msg(*c >= 0x20 && *c < 0x7f, "byte %#x in the message",
                      (unsigned char)*c);
    }
    /* NULL is the empty argument */
    ck_assert_ptr_nonnull(pw_conf_parse(p, &s_int, NULL, &v));
    apr_pool_destroy(p);
}
END_TEST

/* NAME longer than PW_CONF_NAME_MAX is refused; at the limit accepted. */
START_TEST(test_key_name_length)
{
    apr_pool_t *p;
    pw_conf_value_t v;
    char arg[4 + PW_CONF_NAME_MAX + 2];

    apr_pool_create(&p, NULL);
    memcpy(arg, "env=", 4);
    memset(arg + 4, 'N', PW_CONF_NAME_MAX);
    arg[4 + PW_CONF_NAME_MAX] = '\0';
    ck_assert_ptr_null(pw_conf_parse(p, &s_key, arg, &v));
    ck_assert_int_eq((int)strlen(v.name), PW_CONF_NAME_MAX);
    arg[4 + PW_CONF_NAME_MAX] = 'N';
    arg[4 + PW_CONF_NAME_MAX + 1] = '\0';
    ck_assert_ptr_nonnull(pw_conf_parse(p, &s_key, arg, &v));
    apr_pool_destroy(p);
}
END_TEST

START_TEST(test_misplaced)
{
    apr_pool_t *p;
    const char *m;

    apr_pool_create(&p, NULL);
    m = pw_conf_misplaced(p, &s_int,
                          "PoolWatchMaxKeys cannot occur within "
                          "<VirtualHost> section");
    ck_assert_ptr_nonnull(strstr(m, "<VirtualHost>"));
    ck_assert_ptr_nonnull(strstr(m, "main server config"));
    ck_assert_ptr_nonnull(strstr(m, "from 4 to 1024"));
    apr_pool_destroy(p);
}
END_TEST

Suite *pw_conf_suite(void)
{
    Suite *s = suite_create("pw_conf");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, test_parse, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_echo_bounded);
    tcase_add_test(tc, test_key_name_length);
    tcase_add_test(tc, test_misplaced);
    suite_add_tcase(s, tc);
    return s;
}
