/*
 * test_memory_crash.c - kill -9 during a burst of memory batch inserts:
 * after a restart the store and the vector index agree - every document
 * whose insert was acknowledged is there and is found by its own text, and
 * the index holds no vector the store does not.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "integration/it.h"

static th_server S;

typedef struct burst {
    long acked[40000];
    int nacked;
    volatile int stop;
} burst;

static void *writer(void *arg)
{
    burst *b = arg;
    for (int batch = 0; !b->stop && batch < 4000; batch++) {
        char body[8192] = "{\"documents\":[";
        for (int i = 0; i < 10; i++) {
            char d[256];
            snprintf(d, sizeof d, "%s{\"content\":\"note %d-%d about topic "
                     "q%dx%d\"}", i ? "," : "", batch, i, batch, i);
            strcat(body, d);
        }
        strcat(body, "]}");
        int st;
        json_t *r = th_json(&S, "POST", "/v1/memory", body, S.key, &st);
        if (st == 201) {
            json_t *ids = json_object_get(r, "ids");
            for (size_t i = 0; i < json_array_size(ids) && b->nacked < 40000; i++)
                b->acked[b->nacked++] = (long)json_integer_value(json_array_get(ids, i));
        }
        json_decref(r);
        if (st != 201) break;
    }
    return NULL;
}

Test(integration_memory, kill_9_mid_insert_leaves_store_and_index_agreeing,
     .timeout = 120)
{
    th_server_start(&S, "--dims 512");
    burst *b = calloc(1, sizeof *b);
    pthread_t th;
    pthread_create(&th, NULL, writer, b);
    it_sleep_ms(1500);
    th_server_kill(&S);
    b->stop = 1;
    pthread_join(th, NULL);
    cr_assert_gt(b->nacked, 0, "some inserts were acknowledged");
    th_server_restart(&S);
    int st;
    size_t stored = 0;
    char page[96] = "/v1/memory?limit=1000";
    for (;;) { /* count every stored document, page by page */
        json_t *l = th_json(&S, "GET", page, NULL, S.key, &st);
        cr_assert_eq(st, 200);
        stored += json_array_size(json_object_get(l, "documents"));
        const char *next = json_string_value(json_object_get(l, "next_cursor"));
        if (next) snprintf(page, sizeof page, "/v1/memory?limit=1000&cursor=%s", next);
        json_decref(l);
        if (!next) break;
    }
    cr_assert_geq(stored, (size_t)b->nacked, "every acknowledged insert is stored");
    cr_assert_leq(stored, (size_t)b->nacked + 10, "plus at most the batch in flight");
    /* Each acknowledged document is found by its own text (sampled). */
    for (int i = 0; i < b->nacked; i += 1 + b->nacked / 150) {
        char path[64], body[256];
        snprintf(path, sizeof path, "/v1/memory/%ld", b->acked[i]);
        json_t *d = th_json(&S, "GET", path, NULL, S.key, &st);
        cr_assert_eq(st, 200, "document %ld", b->acked[i]);
        snprintf(body, sizeof body, "{\"query\":\"%s\",\"limit\":5}",
                 json_string_value(json_object_get(d, "content")));
        json_decref(d);
        json_t *r = th_json(&S, "POST", "/v1/search/semantic", body, S.key, &st);
        cr_assert_eq(st, 200);
        json_t *res = json_object_get(r, "results");
        bool found = false; /* near-identical notes: among the best five */
        for (size_t k = 0; k < json_array_size(res); k++)
            found |= json_integer_value(json_object_get(json_array_get(res, k),
                                                        "id")) == b->acked[i];
        cr_assert(found, "the index has document %ld", b->acked[i]);
        json_decref(r);
    }
    fprintf(stderr, "memory crash: %d acknowledged, %zu stored\n", b->nacked, stored);
    free(b);
    th_server_cleanup(&S);
}
