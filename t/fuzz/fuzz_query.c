/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * fuzz_query: libFuzzer target for the /poolwatch query parser.
 *
 * The bytes are a query string (cut at the first NUL, as r->args is). The
 * parser must not read past the string, must answer every input, and
 * what it accepts must be within the documented ranges: checked here, so
 * a lenient parse is a finding too, not only a crash. Built and run by
 * build/fuzz.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1); /* exact size: ASan sees any overread */
    pw_query_t q;
    const char *err;

    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    err = pw_query_parse(s, &q);
    if (err == NULL) {
        if ((unsigned int)q.format > PW_FORMAT_AUTO || q.refresh < 0 ||
            q.refresh > PW_REFRESH_MAX || q.pid > PW_QUERY_PID_MAX ||
            (q.notable != 0 && q.notable != 1) ||
            (q.reset != 0 && q.reset != 1) || strlen(s) > PW_QUERY_MAX) {
            abort();
        }
    } else if (*err == '\0') {
        abort(); /* a 400 needs a message */
    }
    free(s);
    return 0;
}
