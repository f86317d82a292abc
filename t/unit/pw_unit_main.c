/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_unit_main: runs every suite of t/unit (see pw_unit.h for the ways to
 * run it). Prints check's summary line ("100%: Checks: N, Failures: 0,
 * Errors: 0") and exits non-zero when a test failed or crashed.
 */
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>

#include "pw_unit.h"

/* Weak: test_json.c comes later. Until it is linked in, its function is
 * NULL and its suite is skipped. */
extern Suite *pw_json_suite(void) __attribute__((weak));

int main(void)
{
    SRunner *sr;
    int failed;

    /* once, before any fork: every test (child or not) inherits it */
    if (apr_initialize() != APR_SUCCESS) {
        fprintf(stderr, "pw_unit: apr_initialize() failed\n");
        return EXIT_FAILURE;
    }
    sr = srunner_create(pw_pool_suite());
    srunner_add_suite(sr, pw_shm_suite());
    srunner_add_suite(sr, pw_proc_suite());
    if (pw_json_suite != NULL) {
        srunner_add_suite(sr, pw_json_suite());
    }
    srunner_add_suite(sr, pw_detect_suite());
    srunner_add_suite(sr, pw_attr_suite());
    srunner_add_suite(sr, pw_keys_suite());
    srunner_add_suite(sr, pw_prom_suite());
    srunner_add_suite(sr, pw_plog_suite());
    srunner_add_suite(sr, pw_query_suite());
    srunner_add_suite(sr, pw_html_suite());
    srunner_add_suite(sr, pw_conf_suite());
    /* CK_ENV: CK_VERBOSITY picks the output, CK_NORMAL when unset */
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
