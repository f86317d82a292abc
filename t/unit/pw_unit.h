/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * pw_unit: the C unit tests of the pure core (pw_pool, pw_shm, pw_proc,
 * pw_detect, pw_attr, pw_keys, pw_prom and, once it exists, pw_json), with
 * Debian's `check` framework.
 *
 * One binary, t/unit/pw_unit, built by `make t/unit/pw_unit` from every C
 * file in t/unit and the core sources. Each test_<part>.c exports one suite,
 * declared here; pw_unit_main.c runs them all (CK_FORK by default, so a
 * test that crashes is reported as an error instead of ending the run).
 *
 *   t/unit/pw_unit                       all suites
 *   CK_RUN_SUITE=pw_shm t/unit/pw_unit   one suite (check's own variables)
 *   CK_VERBOSITY=verbose t/unit/pw_unit  one line per test
 *   CK_FORK=no valgrind --error-exitcode=1 t/unit/pw_unit
 */
#ifndef PW_UNIT_H
#define PW_UNIT_H

#include <check.h>

#include <apr.h>

/* Valgrind runs one thread at a time and replaces malloc: a few tests
 * adapt (0 when valgrind.h is not installed). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Suites, one per test_<part>.c. */
Suite *pw_pool_suite(void);   /* test_pool.c */
Suite *pw_shm_suite(void);    /* test_shm.c */
Suite *pw_proc_suite(void);   /* test_proc.c */
Suite *pw_detect_suite(void); /* test_detect.c */
Suite *pw_attr_suite(void);   /* test_attr.c */
Suite *pw_keys_suite(void);   /* test_keys.c */
Suite *pw_prom_suite(void);   /* test_prom.c */
Suite *pw_plog_suite(void);   /* test_plog.c: tools/plog.c */
Suite *pw_query_suite(void);  /* test_query.c */
Suite *pw_html_suite(void);   /* test_html.c (pw_html, pw_auto) */
Suite *pw_conf_suite(void);   /* test_conf.c: directive values */

/* Suite to come: test_json.c (src/pw_json.c). Define the function there;
 * pw_unit_main.c declares it weak and runs the suite when it is linked in,
 * so adding the file needs no other change. */
Suite *pw_json_suite(void);

/* Test-only corruption of pw_pool_validate()'s probe pool (interpose.c).
 *
 * pw_pool_validate() builds its own probe pools, so the only honest way to
 * make it meet a layout it must refuse, without changing src/, is to
 * interpose apr_pool_create_ex(): while armed, the next pool created with
 * an abort function (the probe; nothing else in the tests passes one) gets
 * the mirror fields in `mask` overwritten, and apr_pool_destroy() puts the
 * real values back before APR frees the pool. An accessor reads the same
 * field as the mirror, so a mismatch between the two is staged by making
 * the accessor lie instead (lie_allocator). */
#define PW_UNIT_F_PARENT           0 /* field indexes in the release */
#define PW_UNIT_F_CHILD            1 /* struct apr_pool_t, 15 pointers */
#define PW_UNIT_F_SIBLING          2
#define PW_UNIT_F_ALLOCATOR        6
#define PW_UNIT_F_TAG              10
#define PW_UNIT_F_ACTIVE           11
#define PW_UNIT_F_SELF             12
#define PW_UNIT_F_SELF_FIRST_AVAIL 13
#define PW_UNIT_NFIELDS            15

typedef struct pw_unit_corruption_t {
    unsigned int mask; /* 1u << PW_UNIT_F_* */
    void *value;       /* stored in each masked field, or if NULL: */
    apr_ssize_t delta; /* added (in bytes) to each masked field */
    int lie_allocator; /* apr_pool_allocator_get(probe) returns value */
} pw_unit_corruption_t;

void pw_unit_corrupt_arm(const pw_unit_corruption_t *c);
void pw_unit_corrupt_disarm(void);
/* Probe pools corrupted since the last arm, and whether they are all
 * restored (destroyed) again. */
int pw_unit_corrupt_hits(void);
int pw_unit_corrupt_pending(void);

/* A readable page followed by an inaccessible one: returns the address of
 * the second page (PROT_NONE if !unmap, else unmapped). pw_unit_util.c */
char *pw_unit_guard_page(int unmap);
void pw_unit_guard_free(char *guard, int unmap);

#endif /* PW_UNIT_H */
