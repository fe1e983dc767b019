/*
 * cli_demo.c - `flowstate demo`: the whole system shown to a newcomer in
 * one command, on the embedded default (a SQLite file in a new folder).
 *
 * It starts this same binary as `flowstate serve` with every built-in
 * agent, on a free loopback port, and then speaks to it over HTTP like any
 * client:
 *   1. data       writes a CRM-like CSV (generated: leads in messy formats,
 *                 with planted duplicates and bad rows), runs the
 *                 data_processing workflow on it (validate -> normalize ->
 *                 identify_patterns), dedupes the normalised leads and
 *                 ingests the survivors into memory
 *   2. workflows  the coordinator turns a goal into a lead_qualification
 *                 run (learning and data_processor steps)
 *   3. memory     a hybrid search over the leads
 *   4. learning   simulated customers answer follow-ups with hidden rates;
 *                 rounds of choose_strategy / record_outcome jobs show the
 *                 learning agent's choices moving to the best one
 *   5. evolution  evolve proposes the best follow-up and the log applies
 *                 it; optimize_performance proposes an ef_search
 *   6. a summary
 * Then the server gets SIGTERM and the folder is removed, unless --keep.
 * Every step checks its answer: a failure prints why and exits 1.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agents/learn/rng.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "core/clock.h"
#include "core/rand.h"
#include "core/xmem.h"

#define LEADS 120
#define DUPLICATES 8
#define BAD_ROWS 5
#define ROUND 100          /* follow-ups per learning round (even) */
#define WAIT_MS 120000     /* longest wait for a job or a run */
#define SEED 20261124

typedef struct demo {
    char dir[PATH_MAX];
    char url[64];
    char key[64];
    pid_t pid;
    client *c;
    learn_rng rng;
    int rounds;
    /* for the summary */
    int rows, invalid, groups, ingested, clusters;
    char *plan;        /* "lead_qualification run 2: completed" */
    double search_ms;
    double share_first, share_last, rate_first, rate_last;
    char *evolved;     /* the follow-up entry, in words */
    char *tuned;       /* the ef_search entry, in words */
} demo;

/* --- the server --------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* Starts `flowstate serve` in d->dir (its log in server.log); waits for
 * its port.  0 or 1 (said why). */
static int server_start(demo *d)
{
    char port_file[PATH_MAX + 16], *db = xasprintf("%s/demo.db", d->dir);
    snprintf(port_file, sizeof port_file, "%s/port", d->dir);
    fs_random_hex(d->key + 4, 24);
    memcpy(d->key, "fsk_", 4);
    fflush(stdout); /* else the child writes our buffer again */
    d->pid = fork();
    if (d->pid == 0) {
        char *log = xasprintf("%s/server.log", d->dir);
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr) || chdir(d->dir))
            _exit(127);
        setenv("FLOWSTATE_API_KEY", d->key, 1);
        execl("/proc/self/exe", "flowstate", "serve", "--db", db, "--port", "0",
              "--port-file", port_file, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    free(db);
    if (d->pid < 0) {
        fprintf(stderr, "flowstate demo: cannot start the server: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f && fscanf(f, "%d", &port) == 1 && port > 0) {
            fclose(f);
            snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", port);
            client_opts o = { .url = d->url, .key = d->key, .timeout_ms = 60000 };
            return client_open(&d->c, &o) ? 1 : 0;
        }
        if (f) fclose(f);
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) break;
        sleep_ms(20);
    }
    fprintf(stderr, "flowstate demo: the server did not start (see %s/server.log)\n", d->dir);
    return 1;
}

static void server_stop(demo *d)
{
    if (d->c) client_close(d->c);
    if (d->pid <= 0) return;
    kill(d->pid, SIGTERM);
    waitpid(d->pid, NULL, 0);
}

/* --- requests ------------------------------------------------------------ */

/* An integer member as text (static buffer: one use per call). */
static const char *istr(const json_t *o, const char *k)
{
    static char buf[4][24];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%" PRId64, (int64_t)json_integer_value(json_object_get(o, k)));
    return b;
}

/* One call that must succeed (its error printed otherwise).  OUT: *out. */
static int call(demo *d, const char *method, const char *path, json_t *body, json_t **out)
{
    int code = client_call(d->c, method, path, body, out);
    json_decref(body);
    return code ? 1 : 0;
}

static int job_submit(demo *d, const char *type, const char *target, json_t *payload,
                      int64_t *id)
{
    json_t *j = NULL;
    int rc = call(d, "POST", "/v1/jobs",
                  json_pack("{s:s,s:s,s:o,s:i}", "type", type, "target_agent", target,
                            "payload", payload, "max_attempts", 1),
                  &j);
    if (!rc) *id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return rc;
}

/* Waits for job id to finish.  OUT: *result (completed), else 1. */
static int job_wait(demo *d, int64_t id, json_t **result)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%" PRId64, id);
    for (int64_t t0 = fs_mono_ms(); fs_mono_ms() - t0 < WAIT_MS; sleep_ms(5)) {
        json_t *j = NULL;
        if (call(d, "GET", path, NULL, &j)) return 1;
        const char *st = json_string_value(json_object_get(j, "state"));
        if (!strcmp(st, "completed")) {
            *result = json_incref(json_object_get(j, "result"));
            json_decref(j);
            return 0;
        }
        if (!strcmp(st, "failed") || !strcmp(st, "dead") || !strcmp(st, "cancelled")) {
            fprintf(stderr, "flowstate demo: job %" PRId64 " (%s) %s: %s\n", id,
                    clifmt_str(j, "type"), st, clifmt_str(j, "last_error"));
            json_decref(j);
            return 1;
        }
        json_decref(j);
    }
    fprintf(stderr, "flowstate demo: job %" PRId64 " did not finish in time\n", id);
    return 1;
}

static int job_run(demo *d, const char *type, const char *target, json_t *payload,
                   json_t **result)
{
    int64_t id;
    return job_submit(d, type, target, payload, &id) || job_wait(d, id, result);
}

/* Waits for run id to end.  OUT: *run (as GET /v1/runs/{id} says). */
static int run_wait(demo *d, int64_t id, json_t **run)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/runs/%" PRId64, id);
    for (int64_t t0 = fs_mono_ms(); fs_mono_ms() - t0 < WAIT_MS; sleep_ms(10)) {
        if (call(d, "GET", path, NULL, run)) return 1;
        if (strcmp(json_string_value(json_object_get(*run, "state")), "running")) return 0;
        json_decref(*run);
    }
    fprintf(stderr, "flowstate demo: run %" PRId64 " did not finish in time\n", id);
    return 1;
}

/* The output of step `id` of a run. */
static json_t *step_output(const json_t *run, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
        if (!strcmp(clifmt_str(s, "id"), id)) return json_object_get(s, "output");
    return NULL;
}

static void print_steps(const json_t *run)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
        printf("     %-18s %-15s %s\n", clifmt_str(s, "id"), clifmt_str(s, "agent"),
               clifmt_str(s, "state"));
}

/* --- 1. data ------------------------------------------------------------- */

static const char *const FIRST[] = { "Ana", "Ben", "Chloe", "Diego", "Emma", "Farid",
                                     "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam" };
static const char *const LAST[] = { "Silva", "Okafor", "Martin", "Novak", "Chen",
                                    "Haddad", "Kowalski", "Tanaka", "Moreau", "Berg" };
static const char *const BAD_FIRST[] = { "Quinn", "Rosa", "Sam", "Tara", "Umar" };
static const char *const COMPANY[] = { "Northwind", "Bluebird", "Acme", "Globex",
                                       "Initech", "Umbrella", "Stark", "Wayne",
                                       "Hooli", "Vandelay" };
static const char *const SEGMENT[] = { "smb", "mid_market", "enterprise" };
static const char *const NEED[] = {
    "asked about single sign-on and volume pricing for 500 seats",
    "wants the CRM to sync with Gmail and Outlook calendars",
    "needs an API to import orders from their Shopify store",
    "is comparing us with Salesforce on reporting dashboards",
    "asked for a trial for a small team of five sales reps",
    "needs GDPR data processing terms before signing",
    "wants automated follow-up e-mails after trade shows",
    "is unhappy with their current tool's mobile app",
};

/* One lead as a CSV line (fields: name,email,phone,company,segment,
 * created,notes), in one of several messy styles. */
static char *lead_line(learn_rng *r, int i, bool bad)
{
    /* 12 x 10 names: one person each up to LEADS; the bad rows others */
    const char *f = bad ? BAD_FIRST[i % 5] : FIRST[i % 12];
    const char *l = bad ? "Example" : LAST[(i / 12) % 10];
    const char *co = COMPANY[(i * 7) % 10], *seg = SEGMENT[(i * 5) % 3];
    int num = 1000 + (int)(learn_rng_uniform(r) * 8999);
    char phone[40], email[96], date[24];
    switch (i % 3) {
    case 0: snprintf(phone, sizeof phone, "(415) 555-%04d", num % 10000); break;
    case 1: snprintf(phone, sizeof phone, "+1 415 555 %04d", num % 10000); break;
    default: snprintf(phone, sizeof phone, "415.555.%04d", num % 10000); break;
    }
    snprintf(email, sizeof email, i % 4 ? "%s.%s%d@%s.com" : "  %s.%s%d@%s.COM ", f, l, i,
             co);
    if (bad) snprintf(email, sizeof email, i % 2 ? "" : "%s(at)%s.com", f, co);
    int day = 1 + i % 28, month = 1 + i % 12;
    snprintf(date, sizeof date, i % 2 ? "2026-%02d-%02d" : "%02d/%02d/2026", month, day);
    return xasprintf("%s %s,%s,%s,%s %s,%s,%s,\"%s %s\"\n", f, l, email, phone, co,
                     i % 3 ? "Inc" : "Ltd", seg, date, f, NEED[(i * 3 + i / 5) % 8]);
}

/* Writes leads.csv: LEADS leads, DUPLICATES of them again (the e-mail in
 * other case and spacing), BAD_ROWS without a usable e-mail. */
static int write_leads(demo *d)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/leads.csv", d->dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "flowstate demo: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fputs("name,email,phone,company,segment,created,notes\n", f);
    for (int i = 0; i < LEADS + DUPLICATES + BAD_ROWS; i++) {
        int who = i < LEADS ? i : i < LEADS + DUPLICATES ? (i - LEADS) * 13 : LEADS + i;
        char *line = lead_line(&d->rng, who, i >= LEADS + DUPLICATES);
        fputs(line, f);
        free(line);
    }
    d->rows = LEADS + DUPLICATES + BAD_ROWS;
    return fclose(f) ? 1 : 0;
}

static int show_patterns(demo *d, const json_t *patterns)
{
    size_t i;
    json_t *c;
    d->clusters = (int)json_array_size(json_object_get(patterns, "clusters"));
    printf("   patterns found (k-means over the notes):\n");
    json_array_foreach(json_object_get(patterns, "clusters"), i, c) {
        char *terms = clifmt_value(json_object_get(c, "terms"));
        printf("     %3" PRId64 " leads  %s\n", (int64_t)json_integer_value(
                   json_object_get(c, "size")), terms);
        free(terms);
    }
    return 0;
}

static int step_data(demo *d)
{
    json_t *r = NULL, *run = NULL, *dd = NULL, *ing = NULL, *recs;
    int rc = 1;
    printf("1. Data: %d CRM leads in leads.csv (mixed phone and date formats, %d\n"
           "   planted duplicates, %d rows without a usable e-mail)\n",
           LEADS + DUPLICATES + BAD_ROWS, DUPLICATES, BAD_ROWS);
    if (write_leads(d) ||
        call(d, "POST", "/v1/workflows/data_processing/runs",
             json_pack("{s:{s:s,s:[ss],s:s}}", "inputs", "source", "leads.csv", "required",
                       "name", "email", "kind", "lead"),
             &r) ||
        run_wait(d, json_integer_value(json_object_get(r, "id")), &run))
        goto out;
    printf("   workflow data_processing, run %s: %s\n", istr(run, "id"),
           clifmt_str(run, "state"));
    print_steps(run);
    json_t *val = step_output(run, "validate");
    d->invalid = (int)json_integer_value(json_object_get(val, "invalid"));
    printf("   validate: %" PRId64 " valid, %d invalid\n",
           (int64_t)json_integer_value(json_object_get(val, "valid")), d->invalid);
    recs = json_object_get(step_output(run, "process"), "records");
    printf("   normalize: %" PRId64 " values rewritten (phones to E.164, dates to "
           "ISO 8601, e-mails lower-case)\n",
           (int64_t)json_integer_value(json_object_get(step_output(run, "process"),
                                                       "changes")));
    show_patterns(d, step_output(run, "identify_patterns"));
    if (job_run(d, "dedupe", "data_processor",
                json_pack("{s:O,s:[ss]}", "records", recs, "keys", "email", "name"), &dd))
        goto out;
    json_t *keep = json_array(), *g;
    size_t i, k;
    d->groups = (int)json_array_size(json_object_get(dd, "groups"));
    char *dropped = xcalloc(json_array_size(recs) + 1, 1);
    json_array_foreach(json_object_get(dd, "groups"), i, g) {
        json_t *m;
        json_array_foreach(json_object_get(g, "members"), k, m)
            if (json_integer_value(m) != json_integer_value(json_object_get(g, "survivor")))
                dropped[json_integer_value(m)] = 1;
    }
    json_array_foreach(recs, i, g)
        if (!dropped[i] && strchr(clifmt_str(g, "email"), '@')) json_array_append(keep, g);
    free(dropped);
    printf("   dedupe: %d groups of the same lead merged\n", d->groups);
    if (job_run(d, "ingest", "data_processor",
                json_pack("{s:o,s:s}", "records", keep, "kind", "lead"), &ing))
        goto out;
    d->ingested = (int)json_integer_value(json_object_get(ing, "added"));
    printf("   ingest: %d leads into the shared memory\n\n", d->ingested);
    rc = 0;
out:
    json_decref(r);
    json_decref(run);
    json_decref(dd);
    json_decref(ing);
    return rc;
}

/* --- 2. a goal planned into a workflow ------------------------------------ */

static int step_plan(demo *d)
{
    json_t *p = NULL, *run = NULL;
    const char *goal = "qualify the new sales lead from Northwind Health and choose "
                       "how to follow up";
    printf("2. Workflows across agents: the coordinator is given a goal\n   \"%s\"\n", goal);
    json_t *payload = json_pack(
        "{s:s,s:{s:{s:s,s:s,s:s,s:s,s:s},s:s,s:f}}", "goal", goal, "inputs", "lead",
        "name", "Maya Lindqvist", "company", "Northwind Health", "email",
        "Maya.Lindqvist@NorthwindHealth.com", "phone", "(617) 555-0199", "notes",
        "asked about single sign-on for 800 seats", "segment", "enterprise", "min_score",
        0.0);
    int rc = job_run(d, "plan", "coordinator", payload, &p) ||
             run_wait(d, json_integer_value(json_object_get(p, "run_id")), &run);
    if (!rc) {
        printf("   it chose workflow %s (match %.2f) and started run %s: %s\n",
               clifmt_str(p, "workflow"), json_number_value(json_object_get(p, "score")),
               istr(run, "id"), clifmt_str(run, "state"));
        print_steps(run);
        json_t *score = step_output(run, "score"), *route = step_output(run, "route");
        json_t *fu = step_output(run, "follow_up");
        printf("   score %.2f, routed to %s, follow-up: %s\n\n",
               json_number_value(json_object_get(score, "probability")),
               clifmt_str(route, "choice"), fu ? clifmt_str(fu, "choice") : "none");
        d->plan = xasprintf("the coordinator planned a goal into %s run %s: %s",
                            clifmt_str(p, "workflow"), istr(run, "id"),
                            clifmt_str(run, "state"));
        rc = strcmp(clifmt_str(run, "state"), "completed") != 0;
    }
    json_decref(p);
    json_decref(run);
    return rc;
}

/* --- 3. search ------------------------------------------------------------ */

static int step_search(demo *d)
{
    json_t *r = NULL;
    const char *q = "enterprise customer asking about single sign-on";
    printf("3. Memory: hybrid search (vectors + BM25) for \"%s\"\n", q);
    int64_t t0 = fs_mono_ns();
    if (call(d, "POST", "/v1/search/hybrid", json_pack("{s:s,s:i}", "query", q, "limit", 3),
             &r))
        return 1;
    d->search_ms = (double)(fs_mono_ns() - t0) / 1e6;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(r, "results"), i, h) {
        json_t *lead = json_loads(clifmt_str(h, "content"), 0, NULL);
        printf("   %zu. %s (%s, %s): %s\n", i + 1, clifmt_str(lead, "name"),
               clifmt_str(lead, "company"), clifmt_str(lead, "segment"),
               clifmt_str(lead, "notes"));
        json_decref(lead);
    }
    printf("   (%.1f ms over HTTP)\n\n", d->search_ms);
    json_decref(r);
    return 0;
}

/* --- 4. learning ------------------------------------------------------------ */

static const char *const ARMS[] = { "email_today", "call_today", "email_in_3_days",
                                    "no_follow_up" };
static const double RATE[] = { 0.12, 0.30, 0.18, 0.02 }; /* hidden from the agent */

/* One round: ROUND choices, each answered at its hidden rate.  OUT: the
 * share of call_today and the answer rate. */
static int round_run(demo *d, double *share, double *rate)
{
    int64_t ids[ROUND];
    int best = 0, answered = 0;
    for (int i = 0; i < ROUND; i++)
        if (job_submit(d, "choose_strategy", "learning",
                       json_pack("{s:s}", "decision", "follow_up"), &ids[i]))
            return 1;
    for (int i = 0; i < ROUND; i++) {
        json_t *r = NULL;
        if (job_wait(d, ids[i], &r)) return 1;
        const char *arm = clifmt_str(r, "choice");
        size_t a = 0;
        while (a < 4 && strcmp(ARMS[a], arm)) a++;
        bool ok = a < 4 && learn_rng_uniform(&d->rng) < RATE[a];
        best += a == 1;
        answered += ok;
        json_t *p = json_pack("{s:s,s:s,s:b}", "decision", "follow_up", "choice", arm,
                              "success", ok);
        json_decref(r);
        if (job_submit(d, "record_outcome", "learning", p, &ids[i])) return 1;
    }
    for (int i = 0; i < ROUND; i++) {
        json_t *r = NULL;
        if (job_wait(d, ids[i], &r)) return 1;
        json_decref(r);
    }
    *share = (double)best / ROUND;
    *rate = (double)answered / ROUND;
    return 0;
}

/* A first even split: `each` outcomes of every follow-up, recorded. */
static int warm_up(demo *d, int each, double *rate)
{
    int64_t ids[4 * ROUND];
    int answered = 0, n = 0;
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < each; i++, n++) {
            bool ok = learn_rng_uniform(&d->rng) < RATE[a];
            answered += ok;
            if (job_submit(d, "record_outcome", "learning",
                           json_pack("{s:s,s:s,s:b}", "decision", "follow_up", "choice",
                                     ARMS[a], "success", ok),
                           &ids[n]))
                return 1;
        }
    for (int i = 0; i < n; i++) {
        json_t *r = NULL;
        if (job_wait(d, ids[i], &r)) return 1;
        json_decref(r);
    }
    *rate = (double)answered / n;
    return 0;
}

static int step_learning(demo *d)
{
    printf("4. Learning: simulated customers answer follow-ups at rates the agent\n"
           "   does not know (email_today 12%%, call_today 30%%, email_in_3_days 18%%,\n"
           "   no_follow_up 2%%); each round is %d choose_strategy + record_outcome jobs\n",
           ROUND);
    double even;
    if (warm_up(d, ROUND / 2, &even)) return 1;
    printf("   round 0: an even split, %d of each: call_today chosen  25%%, %3.0f%% answered\n",
           ROUND / 2, 100 * even);
    d->share_first = 0.25;
    d->rate_first = even;
    for (int r = 1; r <= d->rounds; r++) {
        double share, rate;
        if (round_run(d, &share, &rate)) return 1;
        d->share_last = share;
        d->rate_last = rate;
        printf("   round %d: call_today chosen %3.0f%%, %3.0f%% of follow-ups answered\n", r,
               100 * share, 100 * rate);
    }
    putchar('\n');
    return 0;
}

/* --- 5. evolution ------------------------------------------------------------ */

static int step_evolution(demo *d)
{
    json_t *r = NULL, *o = NULL, *e = NULL;
    printf("5. Evolution: the learning agent proposes, the log validates and applies\n");
    if (job_run(d, "evolve", "learning",
                json_pack("{s:s,s:i}", "decision", "follow_up", "min_trials", 50), &r))
        return 1;
    json_t *dec = json_array_get(json_object_get(r, "decisions"), 0);
    json_t *id = json_object_get(dec, "evolution");
    if (json_is_integer(id)) {
        char path[64];
        snprintf(path, sizeof path, "/v1/evolution/%" PRId64, (int64_t)json_integer_value(id));
        if (call(d, "GET", path, NULL, &e)) goto fail;
        json_t *v = json_object_get(e, "validation");
        printf("   entry %" PRId64 ": %s\n   validation: lift %+.3f, %.0f%% lower bound "
               "%+.3f > margin %.2f -> %s\n",
               (int64_t)json_integer_value(id), clifmt_str(e, "description"),
               json_number_value(json_object_get(v, "lift")),
               100 * json_number_value(json_object_get(v, "confidence")),
               json_number_value(json_object_get(v, "lo")),
               json_number_value(json_object_get(v, "margin")), clifmt_str(e, "status"));
        d->evolved = xasprintf("#%" PRId64 " follow_up -> %s: %s (lift %+.3f)",
                               (int64_t)json_integer_value(id), clifmt_str(dec, "best"),
                               clifmt_str(e, "status"),
                               json_number_value(json_object_get(v, "lift")));
    } else {
        printf("   %s\n", clifmt_str(dec, "action"));
        d->evolved = xasprintf("follow_up: %s", clifmt_str(dec, "action"));
    }
    double share, rate;
    if (round_run(d, &share, &rate)) goto fail;
    printf("   next round with the change applied: call_today chosen %.0f%%, %.0f%% "
           "answered\n", 100 * share, 100 * rate);
    d->share_last = share;
    d->rate_last = rate;
    if (job_run(d, "optimize_performance", "monitoring",
                json_pack("{s:f,s:i}", "recall_target", 0.95, "samples", 50), &o))
        goto fail;
    json_t *ch = json_object_get(o, "change");
    if (json_is_object(ch)) {
        printf("   monitoring measured recall@10 %.3f at ef_search %s and proposed "
               "ef_search %s -> %s: %s\n", json_number_value(json_object_get(o, "recall")),
               istr(ch, "to"), istr(ch, "from"), istr(ch, "to"), clifmt_str(ch, "status"));
        d->tuned = xasprintf("#%s memory.ef_search %s -> %s: %s", istr(ch, "evolution"),
                             istr(ch, "from"), istr(ch, "to"), clifmt_str(ch, "status"));
    } else {
        d->tuned = xstrdup("memory.ef_search: already the smallest meeting the target");
    }
    printf("   (see them: flowstate evolution list / show ID)\n\n");
    json_decref(r);
    json_decref(o);
    json_decref(e);
    return 0;
fail:
    json_decref(r);
    json_decref(e);
    return 1;
}

/* --- the whole ------------------------------------------------------------------ */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* Removes the demo's folder and what the server left in it. */
static void remove_tree(const char *dir)
{
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS))
        fprintf(stderr, "flowstate demo: cannot remove %s: %s\n", dir, strerror(errno));
}

static void summary(const demo *d)
{
    printf("Summary\n");
    printf("  data        %d rows read, %d invalid, %d duplicate groups merged, %d leads "
           "in memory, %d patterns\n", d->rows, d->invalid, d->groups, d->ingested,
           d->clusters);
    printf("  workflows   data_processing (data_processor); %s\n", d->plan);
    printf("  search      hybrid search over the leads in %.1f ms\n", d->search_ms);
    printf("  learning    best follow-up chosen %.0f%% -> %.0f%% of the time; answered "
           "%.0f%% -> %.0f%%\n", 100 * d->share_first, 100 * d->share_last,
           100 * d->rate_first, 100 * d->rate_last);
    printf("  evolution   %s; %s\n", d->evolved, d->tuned);
}

static int demo_run(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = { 0 };
    const char *dir = NULL;
    bool keep = false;
    cliopt_num rounds = { 0 };
    const cliopt opts[] = {
        { "dir", CLIOPT_STR, &dir },
        { "keep", CLIOPT_FLAG, &keep },
        { "rounds", CLIOPT_INT, &rounds, 1, 50 },
        { NULL },
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, NULL, &code)) return code;
    demo d = { .rounds = rounds.set ? (int)rounds.v : 8 };
    learn_rng_seed(&d.rng, SEED);
    const char *tmp = getenv("TMPDIR");
    if (dir) {
        snprintf(d.dir, sizeof d.dir, "%s", dir);
        keep = true;
        if (mkdir(d.dir, 0700) && errno != EEXIST)
            return cliopt_fail(ctx, "--dir %s: %s", dir, strerror(errno));
    } else {
        snprintf(d.dir, sizeof d.dir, "%s/flowstate-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(d.dir)) return cliopt_fail(ctx, "cannot make a folder: %s", strerror(errno));
    }
    printf("Flowstate demo: a server with its five built-in agents on a new database in\n"
           "%s\n\n", d.dir);
    int rc = server_start(&d) || step_data(&d) || step_plan(&d) || step_search(&d) ||
             step_learning(&d) || step_evolution(&d);
    server_stop(&d);
    if (!rc) summary(&d);
    if (keep || rc)
        printf("\nThe database stays in %s; look around with\n  flowstate serve --db "
               "%s/demo.db\n", d.dir, d.dir);
    else
        remove_tree(d.dir);
    free(d.plan);
    free(d.evolved);
    free(d.tuned);
    return rc ? CLI_EXIT_REJECTED : CLI_EXIT_OK;
}

static const cliopt_cmd demo_cmd = {
    "demo", demo_run, "[--dir DIR] [--keep] [--rounds N]",
    "Show the whole system on a new embedded database: CRM data processed and\n"
    "ingested by the data_processor, a goal planned into a workflow by the\n"
    "coordinator, memory searched, the learning agent improving a decision, and\n"
    "an evolution event applied, with a summary at the end.  Starts its own\n"
    "server on a free loopback port and stops it at the end.\n"
    "\n"
    "options:\n"
    "  --dir DIR     put the database in DIR and keep it (default: a temporary\n"
    "                folder, removed at the end)\n"
    "  --keep        keep the temporary folder\n"
    "  --rounds N    learning rounds of 100 follow-ups (default 8)\n",
    NULL,
};

int cli_demo_main(int argc, char **argv)
{
    return cliopt_single(&demo_cmd, argc, argv);
}
