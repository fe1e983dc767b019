/*
 * bench_http.c - the queue's full cycle over the HTTP worker protocol.
 *
 * Talks to a running `flowstate serve` (URL and admin key from argv) over
 * real sockets with libcurl, the way an external agent would: a producer
 * posts batches of 1000 jobs, W worker threads each lease up to 100 jobs
 * (long-poll) and complete them with one batch request.  Prints jobs/s for
 * W = 1, 2, 4, 8 and the enqueue -> lease latency seen by an idle,
 * long-polling worker (p50/p99 over single-job enqueues).
 *
 * usage: bench_http URL KEY [JOBS]
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/xmem.h"

static const char *URL, *KEY;
static int NJOBS = 50000;
static char AGENT[64];

typedef struct conn {
    CURL *h;
    struct curl_slist *hdr;
    fs_buf resp;
} conn;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    fs_buf *b = ud;
    fs_buf_printf(b, "%.*s", (int)(sz * n), p);
    return sz * n;
}

static void conn_init(conn *c)
{
    memset(c, 0, sizeof *c);
    c->h = curl_easy_init();
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY);
    c->hdr = curl_slist_append(NULL, auth);
    c->hdr = curl_slist_append(c->hdr, "Content-Type: application/json");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdr);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
}

static void conn_free(conn *c)
{
    curl_slist_free_all(c->hdr);
    curl_easy_cleanup(c->h);
    fs_buf_free(&c->resp);
}

/* POSTs body to path; returns the parsed JSON reply (caller decrefs). */
static json_t *post(conn *c, const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", URL, path);
    c->resp.len = 0;
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c->h);
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status >= 300) {
        fprintf(stderr, "POST %s: %s (HTTP %ld) %.*s\n", path,
                curl_easy_strerror(rc), status, (int)c->resp.len,
                c->resp.data ? c->resp.data : "");
        exit(1);
    }
    return json_loadb(c->resp.data, c->resp.len, 0, NULL);
}

static void enqueue(conn *c, int n)
{
    fs_buf b = { 0 };
    fs_buf_printf(&b, "{\"jobs\":[");
    for (int i = 0; i < n; i++)
        fs_buf_printf(&b, "%s{\"type\":\"bench\",\"target_agent\":\"w\","
                      "\"payload\":{\"n\":%d}}", i ? "," : "", i);
    fs_buf_printf(&b, "]}");
    json_decref(post(c, "/v1/jobs", b.data));
    fs_buf_free(&b);
}

/* Leases up to max jobs and completes them in one batch; returns how many. */
static int cycle_once(conn *c, int max, int wait_ms)
{
    char req[256];
    snprintf(req, sizeof req, "{\"agent_id\":\"%s\",\"max\":%d,"
             "\"lease_seconds\":60,\"wait_ms\":%d}", AGENT, max, wait_ms);
    json_t *r = post(c, "/v1/jobs/lease", req);
    json_t *jobs = json_object_get(r, "jobs");
    size_t n = json_array_size(jobs);
    if (n > 0) {
        json_t *done = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *j = json_array_get(jobs, i);
            json_array_append_new(done, json_pack("{s:O,s:O,s:{s:b}}", "id",
                json_object_get(j, "id"), "lease_token",
                json_object_get(j, "lease_token"), "result", "ok", 1));
        }
        json_t *body = json_pack("{s:o}", "jobs", done);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(post(c, "/v1/jobs/complete", text));
        free(text);
        json_decref(body);
    }
    json_decref(r);
    return (int)n;
}

typedef struct run {
    _Atomic int done;
} run;

static void *worker(void *arg)
{
    run *r = arg;
    conn c;
    conn_init(&c);
    while (atomic_load(&r->done) < NJOBS)
        atomic_fetch_add(&r->done, cycle_once(&c, 100, 200));
    conn_free(&c);
    return NULL;
}

static double bench_cycle(int workers)
{
    run r = { 0 };
    pthread_t th[8];
    conn c;
    conn_init(&c);
    int64_t t0 = fs_mono_ns();
    for (int i = 0; i < workers; i++) pthread_create(&th[i], NULL, worker, &r);
    for (int i = 0; i < NJOBS; i += 1000) enqueue(&c, 1000);
    for (int i = 0; i < workers; i++) pthread_join(th[i], NULL);
    conn_free(&c);
    return NJOBS / ((double)(fs_mono_ns() - t0) / 1e9);
}

enum { LAT_SAMPLES = 500 };

typedef struct lat {
    _Atomic int64_t sent;
    _Atomic int n;
    double ms[LAT_SAMPLES];
} lat;

static void *lat_worker(void *arg)
{
    lat *l = arg;
    conn c;
    conn_init(&c);
    while (atomic_load(&l->n) < LAT_SAMPLES)
        if (cycle_once(&c, 1, 5000) == 1) {
            int i = atomic_load(&l->n);
            l->ms[i] = (double)(fs_mono_ns() - atomic_load(&l->sent)) / 1e6;
            atomic_store(&l->n, i + 1);
        }
    conn_free(&c);
    return NULL;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_latency(double *p50, double *p99)
{
    lat *l = xcalloc(1, sizeof *l);
    pthread_t th;
    conn c;
    conn_init(&c);
    pthread_create(&th, NULL, lat_worker, l);
    for (int i = 0; i < LAT_SAMPLES; i++) {
        usleep(3000);
        atomic_store(&l->sent, fs_mono_ns());
        json_decref(post(&c, "/v1/jobs", "{\"type\":\"bench\",\"target_agent\":\"w\"}"));
        while (atomic_load(&l->n) <= i) usleep(50);
    }
    pthread_join(th, NULL);
    conn_free(&c);
    qsort(l->ms, LAT_SAMPLES, sizeof(double), dcmp);
    *p50 = l->ms[LAT_SAMPLES / 2];
    *p99 = l->ms[LAT_SAMPLES * 99 / 100];
    free(l);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_http URL KEY [JOBS]\n");
        return 2;
    }
    URL = argv[1];
    KEY = argv[2];
    if (argc > 3) NJOBS = atoi(argv[3]);
    NJOBS -= NJOBS % 1000;
    if (NJOBS < 1000) NJOBS = 1000;
    curl_global_init(CURL_GLOBAL_ALL);
    conn c;
    conn_init(&c);
    json_t *a = post(&c, "/v1/agents", "{\"name\":\"bench\",\"type\":\"w\","
                                       "\"job_types\":[\"bench\"]}");
    snprintf(AGENT, sizeof AGENT, "%s", json_string_value(json_object_get(a, "id")));
    json_decref(a);
    conn_free(&c);
    printf("queue over HTTP (batch lease 100 / batch complete), %d jobs per run\n\n",
           NJOBS);
    printf("%-34s %12s\n", "measure", "value");
    int ws[] = { 1, 2, 4, 8 };
    for (int i = 0; i < 4; i++) {
        char label[64];
        snprintf(label, sizeof label, "full cycle, %d worker%s", ws[i],
                 ws[i] > 1 ? "s" : "");
        printf("%-34s %9.0f /s\n", label, bench_cycle(ws[i]));
        fflush(stdout);
    }
    double p50, p99;
    bench_latency(&p50, &p99);
    printf("%-34s %9.3f ms\n", "enqueue->lease p50 (long-poll)", p50);
    printf("%-34s %9.3f ms\n", "enqueue->lease p99 (long-poll)", p99);
    curl_global_cleanup();
    return 0;
}
