/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_directives: the directive value parser (src/pw_conf.c).
 *
 * Input: one byte picks the directive (every PoolWatch* directive, with
 * the kinds and ranges of mod_poolwatch.c), the rest is the argument.
 * Invariants: an accepted value lies in the directive's range (keys: a
 * known kind and a NAME of 1-64 safe characters inside the argument); a
 * refusal starts with the directive's name, says what it accepts, is
 * printable ASCII and bounded whatever the argument; accepted whole
 * numbers print back to a value that parses the same.
 */
#include <apr_strings.h>

#include "fuzz_common.h"
#include "pw_conf.h"
#include "pw_keys.h"

#define HOUR (APR_INT64_C(3600) * APR_USEC_PER_SEC)

static const pw_conf_spec_t specs[] = {
    {"PoolWatch", PW_CONF_FLAG, 0, 1},
    {"PoolWatchSampleEvery", PW_CONF_INT, 1, 1000000},
    {"PoolWatchSampleInterval", PW_CONF_INTERVAL, 0, HOUR},
    {"PoolWatchRSSInterval", PW_CONF_INTERVAL, 0, HOUR},
    {"PoolWatchMaxPools", PW_CONF_INT, 8, 4096},
    {"PoolWatchSlots", PW_CONF_INT, 0, 65536},
    {"PoolWatchWalk", PW_CONF_WALK, 0, 1},
    {"PoolWatchKey", PW_CONF_KEY, 0, 0},
    {"PoolWatchMaxKeys", PW_CONF_INT, 4, 1024},
    {"PoolWatchWarmup", PW_CONF_INT, 0, 100000},
    {"PoolWatchTrace", PW_CONF_FLAG, 0, 1},
    {"PoolWatchStreams", PW_CONF_STREAMS, 0, 2},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const pw_conf_spec_t *spec;
    pw_conf_value_t v = {-1, NULL};
    const char *err, *accepts, *c;
    char *arg;
    apr_pool_t *p;

    if (size < 1) {
        return 0;
    }
    spec = &specs[data[0] % NSPECS];
    arg = fuzz_cstr(data + 1, size - 1);
    apr_pool_create(&p, fuzz_pool);
    err = pw_conf_parse(p, spec, arg, &v);
    if (err == NULL) {
        switch (spec->kind) {
            case PW_CONF_FLAG:
            case PW_CONF_WALK:
                FUZZ_CHECK(v.num == 0 || v.num == 1, "%s", arg);
                FUZZ_CHECK(v.name == NULL, "%s", arg);
                break;
            case PW_CONF_STREAMS:
                FUZZ_CHECK(v.num >= PW_STREAMS_OFF && v.num <= PW_STREAMS_AUTO,
                           "%s", arg);
                FUZZ_CHECK(v.name == NULL, "%s", arg);
                break;
            case PW_CONF_INT:
            case PW_CONF_INTERVAL:
                FUZZ_CHECK(v.num >= spec->lo && v.num <= spec->hi,
                           "%s '%s' -> %" APR_INT64_T_FMT, spec->name, arg,
                           v.num);
                FUZZ_CHECK(v.name == NULL, "%s", arg);
                if (spec->kind == PW_CONF_INT) {
                    pw_conf_value_t again;
                    const char *s = apr_psprintf(p, "%" APR_INT64_T_FMT, v.num);

                    FUZZ_CHECK(pw_conf_parse(p, spec, s, &again) == NULL &&
                                   again.num == v.num,
                               "round trip of %s", s);
                }
                break;
            case PW_CONF_KEY:
                FUZZ_CHECK(v.num >= PW_KEYBY_PATH && v.num <= PW_KEYBY_NOTE,
                           "%s", arg);
                if (v.num == PW_KEYBY_ENV || v.num == PW_KEYBY_NOTE) {
                    size_t n;

                    FUZZ_CHECK(v.name != NULL && v.name > arg &&
                                   v.name < arg + size,
                               "name outside the argument");
                    n = strlen(v.name);
                    FUZZ_CHECK(n >= 1 && n <= PW_CONF_NAME_MAX, "%s", arg);
                    for (c = v.name; *c; c++) {
                        FUZZ_CHECK(*c > 0x20 && *c < 0x7f && *c != '=',
                                   "byte %#x in NAME", (unsigned char)*c);
                    }
                } else {
                    FUZZ_CHECK(v.name == NULL, "%s", arg);
                }
                break;
        }
    } else {
        FUZZ_CHECK(v.num == -1 && v.name == NULL, "refusal changed *out");
        FUZZ_CHECK(!strncmp(err, spec->name, strlen(spec->name)), "%s", err);
        accepts = pw_conf_accepts(p, spec);
        FUZZ_CHECK(strstr(err, accepts) != NULL, "%s", err);
        FUZZ_CHECK(strlen(err) <= strlen(spec->name) + strlen(accepts) +
                                      PW_CONF_ECHO_MAX + 32,
                   "message of %zu bytes", strlen(err));
        for (c = err; *c; c++) {
            FUZZ_CHECK(*c >= 0x20 && *c < 0x7f, "byte %#x in the message",
                       (unsigned char)*c);
        }
    }
    apr_pool_destroy(p);
    free(arg);
    return 0;
}
