/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog_input: lines from a file or stdin, plain or xz, in constant memory.
 *
 * xz is recognised by its magic bytes, not by the name, so a pipe works
 * too (`xzcat` is not needed). Lines longer than PLOG_LINE_MAX are cut
 * there and the rest is dropped: a pool-debug line is about 200 bytes, a
 * longer one is damage, and is counted by the parser as unparsable.
 */
#ifndef PLOG_INPUT_H
#define PLOG_INPUT_H

#include <stdio.h>

#include <apr.h>

#define PLOG_LINE_MAX (64 * 1024)

typedef void plog_line_fn(void *baton, const char *line, apr_size_t len);

/* Reads f to its end, calling fn per line (without the newline). Returns
 * 0, or -1 with a message in err. */
int plog_read(FILE *f, plog_line_fn *fn, void *baton, char *err,
              apr_size_t errlen);

#endif /* PLOG_INPUT_H */
