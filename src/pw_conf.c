/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_conf: directive values (pw_conf.h has the contract).
 *
 * Hand-written scanners, not strtol: strtol skips leading blanks, takes
 * "0x10" under base 0, saturates silently on overflow and needs errno,
 * and ap_timeout_parameter_parse reads "soon" as 0 s. Here a number is
 * an optional sign and at most 18 digits (no int64 overflow possible),
 * a unit is matched whole, and nothing may follow. The trap is the unit
 * multiplication: 10^18 ms overflows microseconds, so the value is
 * compared with hi / unit before it is multiplied.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "pw_conf.h"
#include "pw_keys.h"

#define PW_CONF_DIGITS 18

/* Reads [+-]digits from s into *v; returns the end, or NULL when there
 * is no digit or too many. */
static const char *scan_number(const char *s, apr_int64_t *v, int sign_ok)
{
    apr_int64_t n = 0;
    int neg = 0, digits = 0;

    if (sign_ok && (*s == '-' || *s == '+')) {
        neg = *s == '-';
        s++;
    }
    while (*s >= '0' && *s <= '9') {
        if (++digits > PW_CONF_DIGITS) {
            return NULL;
        }
        n = n * 10 + (*s - '0');
        s++;
    }
    if (digits == 0) {
        return NULL;
    }
    *v = neg ? -n : n;
    return s;
}

/* The argument as a message may show it: at most PW_CONF_ECHO_MAX bytes,
 * bytes outside printable ASCII and the quote replaced by '?'. */
static const char *echo(apr_pool_t *p, const char *arg)
{
    apr_size_t n = strlen(arg), i, keep;
    char *s;

    keep = n > PW_CONF_ECHO_MAX ? PW_CONF_ECHO_MAX : n;
    s = apr_palloc(p, keep + 4);
    for (i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)arg[i];

        s[i] = (c < 0x20 || c > 0x7e || c == '\'') ? '?' : (char)c;
    }
    if (keep < n) {
        memcpy(s + keep, "...", 3);
        keep += 3;
    }
    s[keep] = '\0';
    return s;
}

const char *pw_conf_accepts(apr_pool_t *p, const pw_conf_spec_t *spec)
{
    switch (spec->kind) {
        case PW_CONF_FLAG:
            return "one of On, Off";
        case PW_CONF_INT:
            return apr_psprintf(p,
                                "a whole number from %" APR_INT64_T_FMT
                                " to %" APR_INT64_T_FMT,
                                spec->lo, spec->hi);
        case PW_CONF_INTERVAL:
            return apr_psprintf(p,
                                "a time from %" APR_INT64_T_FMT
                                "%s to %" APR_INT64_T_FMT
                                "s (e.g. 500ms, 2s, 0; units ms, s, mi, h)",
                                spec->lo / 1000, spec->lo ? "ms" : "",
                                spec->hi / APR_USEC_PER_SEC);
        case PW_CONF_WALK:
            return "one of auto, off";
        case PW_CONF_STREAMS:
            return "one of auto, on, off";
        case PW_CONF_KEY:
            return apr_psprintf(p,
                                "one of path, query, env=NAME, note=NAME "
                                "(NAME: 1 to %d of A-Z a-z 0-9 _ - . :)",
                                PW_CONF_NAME_MAX);
    }
    return "?";
}

static const char *bad(apr_pool_t *p, const pw_conf_spec_t *spec,
                       const char *arg)
{
    return apr_psprintf(p, "%s: '%s' is not %s", spec->name, echo(p, arg),
                        pw_conf_accepts(p, spec));
}

const char *pw_conf_misplaced(apr_pool_t *p, const pw_conf_spec_t *spec,
                              const char *why)
{
    return apr_psprintf(p,
                        "%s; %s belongs in the main server config and "
                        "takes %s",
                        why, spec->name, pw_conf_accepts(p, spec));
}

/* A time: digits, then a unit (none means seconds). */
static int parse_interval(const char *arg, const pw_conf_spec_t *spec,
                          apr_int64_t *out)
{
    static const struct {
        const char *unit;
        apr_int64_t usec;
    } units[] = {{"", APR_USEC_PER_SEC},
                 {"s", APR_USEC_PER_SEC},
                 {"ms", 1000},
                 {"mi", APR_INT64_C(60) * APR_USEC_PER_SEC},
                 {"min", APR_INT64_C(60) * APR_USEC_PER_SEC},
                 {"h", APR_INT64_C(3600) * APR_USEC_PER_SEC}};
    const char *end;
    apr_int64_t v;
    apr_size_t i;

    end = scan_number(arg, &v, 0);
    if (end == NULL) {
        return 0;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (!strcasecmp(end, units[i].unit)) {
            /* compare before multiplying: no overflow */
            if (v > spec->hi / units[i].usec) {
                return 0;
            }
            v *= units[i].usec;
            if (v < spec->lo) {
                return 0;
            }
            *out = v;
            return 1;
        }
    }
    return 0;
}

static int name_ok(const char *s)
{
    apr_size_t n = 0;

    for (; *s; s++) {
        if (!apr_isalnum(*s) && *s != '_' && *s != '-' && *s != '.' &&
            *s != ':') {
            return 0;
        }
        if (++n > PW_CONF_NAME_MAX) {
            return 0;
        }
    }
    return n > 0;
}

const char *pw_conf_parse(apr_pool_t *p, const pw_conf_spec_t *spec,
                          const char *arg, pw_conf_value_t *out)
{
    apr_int64_t v;
    const char *end;

    if (arg == NULL) {
        arg = "";
    }
    switch (spec->kind) {
        case PW_CONF_FLAG:
            if (!strcasecmp(arg, "on") || !strcasecmp(arg, "off")) {
                out->num = !strcasecmp(arg, "on");
                out->name = NULL;
                return NULL;
            }
            break;
        case PW_CONF_WALK:
            if (!strcasecmp(arg, "auto") || !strcasecmp(arg, "off")) {
                out->num = !strcasecmp(arg, "auto");
                out->name = NULL;
                return NULL;
            }
            break;
        case PW_CONF_STREAMS:
            if (!strcasecmp(arg, "auto") || !strcasecmp(arg, "on") ||
                !strcasecmp(arg, "off")) {
                out->num = !strcasecmp(arg, "auto") ? PW_STREAMS_AUTO
                           : !strcasecmp(arg, "on") ? PW_STREAMS_ON
                                                    : PW_STREAMS_OFF;
                out->name = NULL;
                return NULL;
            }
            break;
        case PW_CONF_INT:
            end = scan_number(arg, &v, 1);
            if (end && *end == '\0' && v >= spec->lo && v <= spec->hi) {
                out->num = v;
                out->name = NULL;
                return NULL;
            }
            break;
        case PW_CONF_INTERVAL:
            if (parse_interval(arg, spec, &v)) {
                out->num = v;
                out->name = NULL;
                return NULL;
            }
            break;
        case PW_CONF_KEY:
            if (!strcasecmp(arg, "path") || !strcasecmp(arg, "query")) {
                out->num =
                    !strcasecmp(arg, "path") ? PW_KEYBY_PATH : PW_KEYBY_QUERY;
                out->name = NULL;
                return NULL;
            }
            if (!strncasecmp(arg, "env=", 4) && name_ok(arg + 4)) {
                out->num = PW_KEYBY_ENV;
                out->name = arg + 4;
                return NULL;
            }
            if (!strncasecmp(arg, "note=", 5) && name_ok(arg + 5)) {
                out->num = PW_KEYBY_NOTE;
                out->name = arg + 5;
                return NULL;
            }
            break;
    }
    return bad(p, spec, arg);
}
