/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * cli: argument helpers shared by poolwatch-reload and poolwatch-log.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int pw_cli_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    /* v != v: "nan" parses, and compares false with both bounds */
    if (errno || end == s || *end || v != v || v < lo || v > hi) {
        return 0;
    }
    *out = v;
    return 1;
}

void pw_cli_bad_value(FILE *f, const char *prog,
                      const apr_getopt_option_t *opts, int ch, const char *arg)
{
    const apr_getopt_option_t *o;

    for (o = opts; o->name || o->optch; o++) {
        if (o->optch == ch) {
            break;
        }
    }
    if (o->name && o->optch < 256) {
        fprintf(f, "%s: -%c/--%s: bad value '%s'\n", prog, o->optch, o->name,
                arg);
    } else if (o->name) {
        fprintf(f, "%s: --%s: bad value '%s'\n", prog, o->name, arg);
    } else {
        fprintf(f, "%s: bad value '%s'\n", prog, arg);
    }
}
