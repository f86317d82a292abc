/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * seed_render: writes a realistic input for fuzz_render to stdout: two
 * running children with history, pools and keys, one of them leaking with
 * a series and a hostile key. Random bytes rarely make a live key record
 * (hash, ready, NUL-terminated text, a verdict), so the fuzzer starts from
 * this one: t/fuzz/corpus/render/seed-real (regenerate: build/fuzz --seed).
 */
#include <stdio.h>
#include <string.h>

#include "pw_detect.h"
#include "pw_shm.h"

#define MP 8
#define MK 4

static void child(unsigned char *buf, apr_uint32_t pid, int leak)
{
    pw_slot_t *s = (pw_slot_t *)(void *)buf;
    pw_poolrec_t *pools = pw_slot_pools(s);
    pw_keyrec_t *k = pw_slot_keys(s, MP);
    int i;

    s->owner = pid;
    s->state = PW_SLOT_RUNNING;
    s->requests = 120;
    s->pool_bytes = 200000;
    s->heap_bytes = 60000;
    s->rss_bytes = 4000000;
    for (i = 0; i < 30; i++) {
        pw_sample_t smp = {(apr_uint64_t)i * 4, 0, 200000 + 4000u * i,
                           60000 + 16u * i, 4000000};

        pw_slot_history_add(s, &smp);
    }
    s->npools = 3;
    strcpy(pools[0].tag, "pconf");
    strcpy(pools[0].path, "process/pconf");
    pools[0].depth = 2;
    strcpy(pools[1].tag, "pchild");
    strcpy(pools[1].path, "process/pconf/pchild");
    pools[1].depth = 3;
    pools[1].growth = 4000;
    strcpy(pools[2].tag, "transaction");
    strcpy(pools[2].path, "process/pconf/pchild/transaction");
    pools[2].depth = 4;
    pools[2].flags = PW_POOL_CONN;
    s->last_requests = 4;
    for (i = 0; i < 2; i++) {
        int j;

        k[i].hash = 42 + i;
        k[i].ready = 1;
        strcpy(k[i].key, i ? "GET h /ok" : "GET h /<x>\"'&\xff");
        k[i].requests = 100;
        k[i].verdict = leak && !i ? PW_VERDICT_LEAK : PW_VERDICT_OK;
        k[i].signal = PW_SIG_POOL;
        k[i].bytes_per_request = leak && !i ? 1000.0 : 0.0;
        strcpy(k[i].pool, "process/pconf/pchild");
        k[i].series_signal = PW_SIG_POOL;
        k[i].series_n = 20;
        for (j = 0; j < 20; j++) {
            k[i].series_x[j] = (float)(j * 4);
            k[i].series_y[j] = leak && !i ? (float)(j * 4000) : 0.0f;
        }
    }
}

int main(void)
{
    static unsigned char buf[2][sizeof(pw_slot_t) + MP * sizeof(pw_poolrec_t) +
                                MK * sizeof(pw_keyrec_t)];
    unsigned char head[2] = {1, 0}; /* two children, tables */

    child(buf[0], 101, 1);
    child(buf[1], 102, 0);
    fwrite(head, 1, 2, stdout);
    fwrite(buf, 1, sizeof(buf), stdout);
    return 0;
}
