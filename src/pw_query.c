/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_query: strict, table-driven parsing of the /poolwatch query string
 * (arguments in pw_query.h).
 *
 * The string is scanned in place as (pointer, length) pieces split at '&'
 * and at the first '='; nothing is copied, decoded or allocated, so the
 * parser is cheap and has no state a hostile string could grow. Names and
 * values are compared byte for byte: a percent-encoded name is an unknown
 * name, which is the safe answer for a handful of ASCII words.
 *
 * The trap is leniency: a page that ignores "refresh=abc" or a second
 * "pid=" shows something else than the user asked for, without saying so.
 */
#include <string.h>

#include <stddef.h>

#include "pw_query.h"

typedef enum {
    ARG_FLAG,    /* no value */
    ARG_NUMBER,  /* decimal digits, range-checked */
    ARG_FORMAT,  /* one of format_names */
    ARG_FLAG_ONE /* no value, or exactly "1" (a form's checkbox value) */
} arg_kind_e;

typedef struct pw_arg_t {
    const char *name;
    arg_kind_e kind;
    apr_size_t offset; /* int or apr_uint32_t field of pw_query_t */
    apr_int64_t lo, hi;
    int sets_format; /* the flag implies this format (+1), 0 none */
} pw_arg_t;

#define F(field) offsetof(pw_query_t, field)

/* Every argument; anything else is an error. Keep "format" taking a
 * value: the Prometheus exposition is format=prometheus. */
static const pw_arg_t args_table[] = {
    {"json", ARG_FLAG, F(format), 0, 0, PW_FORMAT_JSON + 1},
    {"auto", ARG_FLAG, F(format), 0, 0, PW_FORMAT_AUTO + 1},
    {"format", ARG_FORMAT, F(format), 0, 0, 0},
    {"refresh", ARG_NUMBER, F(refresh), 1, PW_REFRESH_MAX, 0},
    {"pid", ARG_NUMBER, F(pid), 1, PW_QUERY_PID_MAX, 0},
    {"notable", ARG_FLAG, F(notable), 0, 0, 0},
    {"reset", ARG_FLAG_ONE, F(reset), 0, 0, 0},
};

#define NARGS (sizeof(args_table) / sizeof(args_table[0]))

static const char *const format_names[] = {"html", "json", "prometheus",
                                           "auto"};

const char *pw_format_name(pw_format_e f)
{
    return (unsigned int)f < sizeof(format_names) / sizeof(format_names[0])
               ? format_names[f]
               : "html";
}

static int same(const char *s, apr_size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Decimal digits only (no sign, no blanks), at most 10 of them. */
static int number(const char *s, apr_size_t n, apr_int64_t *out)
{
    apr_int64_t v = 0;
    apr_size_t i;

    if (n == 0 || n > 10) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static void set_int(pw_query_t *q, const pw_arg_t *a, apr_int64_t v)
{
    char *field = (char *)q + a->offset;

    if (a->offset == F(pid)) {
        *(apr_uint32_t *)(void *)field = (apr_uint32_t)v;
    } else {
        *(int *)(void *)field = (int)v;
    }
}

/* One name[=value] piece. seen: bit per table entry. */
static const char *one(pw_query_t *q, const char *s, apr_size_t n,
                       unsigned int *seen)
{
    const char *eq = memchr(s, '=', n);
    apr_size_t nlen = eq ? (apr_size_t)(eq - s) : n;
    const char *val = eq ? eq + 1 : NULL;
    apr_size_t vlen = eq ? n - nlen - 1 : 0;
    const pw_arg_t *a = NULL;
    apr_size_t i;
    apr_int64_t v;

    if (nlen == 0) {
        return "empty argument name";
    }
    for (i = 0; i < NARGS; i++) {
        if (same(s, nlen, args_table[i].name)) {
            a = &args_table[i];
            break;
        }
    }
    if (a == NULL) {
        return "unknown query argument (accepted: json, auto, format, "
               "refresh, pid, notable, reset)";
    }
    if (*seen & (1u << i)) {
        return "an argument is given twice";
    }
    *seen |= 1u << i;

    switch (a->kind) {
        case ARG_FLAG:
            if (val) {
                return "json, auto and notable take no value";
            }
            break;
        case ARG_FLAG_ONE:
            if (val && !same(val, vlen, "1")) {
                return "reset takes no value, or 1";
            }
            break;
        case ARG_NUMBER:
            if (!val || !number(val, vlen, &v) || v < a->lo || v > a->hi) {
                return a->offset == F(pid)
                           ? "pid wants a process id (a whole number > 0)"
                           : "refresh wants a number of seconds, 1-3600";
            }
            set_int(q, a, v);
            return NULL;
        case ARG_FORMAT:
            for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]);
                 i++) {
                if (val && same(val, vlen, format_names[i])) {
                    break;
                }
            }
            if (i == sizeof(format_names) / sizeof(format_names[0])) {
                return "format wants html, json, prometheus or auto";
            }
            if (q->format_given) {
                return "more than one output format";
            }
            q->format = (pw_format_e)i;
            q->format_given = 1;
            return NULL;
    }
    if (a->sets_format) {
        if (q->format_given) {
            return "more than one output format";
        }
        q->format = (pw_format_e)(a->sets_format - 1);
        q->format_given = 1;
    } else {
        set_int(q, a, 1);
    }
    return NULL;
}

const char *pw_query_parse(const char *args, pw_query_t *q)
{
    unsigned int seen = 0;
    apr_size_t len;
    const char *s, *end;

    memset(q, 0, sizeof(*q));
    if (args == NULL || *args == '\0') {
        return NULL;
    }
    len = strlen(args);
    if (len > PW_QUERY_MAX) {
        return "query string too long";
    }
    for (s = args, end = args + len; s <= end;) {
        const char *amp = memchr(s, '&', (apr_size_t)(end - s));
        const char *stop = amp ? amp : end;
        const char *err;

        if (stop == s) {
            return "empty argument (a stray '&')";
        }
        err = one(q, s, (apr_size_t)(stop - s), &seen);
        if (err) {
            return err;
        }
        if (amp == NULL) {
            break;
        }
        s = amp + 1;
    }
    return NULL;
}
