/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * cli: what the command-line tools share to read their arguments.
 */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <stdio.h>

#include <apr_getopt.h>

/* Parses all of s as a number in [lo, hi] into *out. Returns 1, or 0 (and
 * leaves *out alone) when s is not a number, has trailing bytes, or is out
 * of range: the caller names the option and the range. */
int pw_cli_number(const char *s, double lo, double hi, double *out);

/* Says on f which option got a bad value: "-n/--requests: bad value
 * 'x'". ch is what apr_getopt_long returned. */
void pw_cli_bad_value(FILE *f, const char *prog,
                      const apr_getopt_option_t *opts, int ch, const char *arg);

#endif /* PW_CLI_H */
