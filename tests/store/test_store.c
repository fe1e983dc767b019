/*
 * test_store.c - the store contract (store.h), backend-agnostic: every test
 * opens its store through tdb_open, so the suite runs on SQLite by default
 * and on PostgreSQL with FLOWSTATE_TEST_DB.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static fs_job mk(const char *type, const char *target, int priority)
{
    return (fs_job){ .type = strdup(type), .target_agent = strdup(target),
                     .payload = strdup("{\"n\":1}"), .priority = priority,
                     .max_attempts = 3, .timeout_ms = 1000 };
}

static int64_t put(fs_job j, int64_t now)
{
    cr_assert_eq(store_job_enqueue(T.st, &j, 1, now, NULL), 0);
    int64_t id = j.id;
    fs_job_clear(&j);
    return id;
}

static store_lease lease_for(const char *type, int max)
{
    return (store_lease){ .agent_id = "ag_1", .agent_type = type, .max = max };
}

Test(store, migrations_are_idempotent_across_reopen)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    tdb_reopen(&T);
    fs_job j;
    cr_assert_eq(store_job_get(T.st, id, &j), 0);
    cr_assert_str_eq(j.type, "t");
    cr_assert_str_eq(j.payload, "{\"n\":1}");
    fs_job_clear(&j);
}

Test(store, enqueue_sets_state_from_run_at)
{
    fs_job v[2] = { mk("t", "w", 0), mk("t", "w", 0) };
    v[1].run_at = 5000;
    cr_assert_eq(store_job_enqueue(T.st, v, 2, 1000, NULL), 0);
    cr_assert_eq(v[0].state, JOB_PENDING);
    cr_assert_eq(v[1].state, JOB_SCHEDULED);
    cr_assert_eq(v[0].run_at, 1000);
    cr_assert(v[1].id > v[0].id);
    cr_assert_eq(v[0].created_at, 1000);
    fs_job_clear(&v[0]);
    fs_job_clear(&v[1]);
}

Test(store, unique_key_returns_existing_job)
{
    fs_job a = mk("t", "w", 0), b = mk("t", "w", 7);
    a.unique_key = strdup("k1");
    b.unique_key = strdup("k1");
    bool ex = true;
    cr_assert_eq(store_job_enqueue(T.st, &a, 1, 1000, &ex), 0);
    cr_assert_not(ex);
    cr_assert_eq(store_job_enqueue(T.st, &b, 1, 1001, &ex), 0);
    cr_assert(ex);
    cr_assert_eq(b.id, a.id);
    cr_assert_eq(b.priority, 0, "the stored job, not the new one");
    fs_job *all;
    size_t n;
    store_job_filter f = { .state = -1, .limit = 100 };
    cr_assert_eq(store_job_list(T.st, &f, &all, &n), 0);
    cr_assert_eq(n, 1);
    fs_jobs_free(all, n);
    fs_job_clear(&a);
    fs_job_clear(&b);
}

Test(store, lease_orders_by_priority_then_age)
{
    int64_t low = put(mk("t", "w", 0), 1000);
    int64_t high = put(mk("t", "w", 5), 1001);
    int64_t low2 = put(mk("t", "w", 0), 1002);
    store_lease r = lease_for("w", 3);
    fs_job *got;
    size_t n;
    cr_assert_eq(store_job_lease(T.st, &r, 2000, &got, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(got[0].id, high);
    cr_assert_eq(got[1].id, low);
    cr_assert_eq(got[2].id, low2);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(got[i].state, JOB_RUNNING);
        cr_assert_eq(got[i].attempts, 1);
        cr_assert_not_null(got[i].lease_token);
        cr_assert_eq(got[i].lease_expires, 2000 + 1000);
        cr_assert_str_eq(got[i].lease_owner, "ag_1");
    }
    cr_assert_str_neq(got[0].lease_token, got[1].lease_token);
    fs_jobs_free(got, n);
}

Test(store, lease_matches_type_or_agent_id_and_job_types)
{
    put(mk("a", "other", 0), 1000);
    int64_t by_id = put(mk("a", "ag_1", 0), 1000);
    int64_t by_type = put(mk("b", "w", 0), 1000);
    put(mk("c", "w", 0), 1000);
    const char *types[] = { "a", "b" };
    store_lease r = lease_for("w", 10);
    r.types = types;
    r.ntypes = 2;
    fs_job *got;
    size_t n;
    cr_assert_eq(store_job_lease(T.st, &r, 2000, &got, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert((got[0].id == by_id && got[1].id == by_type) ||
              (got[1].id == by_id && got[0].id == by_type));
    fs_jobs_free(got, n);
}

Test(store, scheduled_jobs_wait_for_run_at)
{
    fs_job j = mk("t", "w", 0);
    j.run_at = 5000;
    int64_t id = put(j, 1000);
    store_lease r = lease_for("w", 1);
    fs_job *got;
    size_t n;
    cr_assert_eq(store_job_lease(T.st, &r, 4999, &got, &n), 0);
    cr_assert_eq(n, 0);
    free(got);
    int64_t run_at, expiry;
    cr_assert_eq(store_job_next_due(T.st, &run_at, &expiry), 0);
    cr_assert_eq(run_at, 5000);
    cr_assert_eq(expiry, 0);
    cr_assert_eq(store_job_lease(T.st, &r, 5000, &got, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(got[0].id, id);
    fs_jobs_free(got, n);
}

static fs_job lease_one(int64_t now)
{
    store_lease r = lease_for("w", 1);
    fs_job *got;
    size_t n;
    cr_assert_eq(store_job_lease(T.st, &r, now, &got, &n), 0);
    cr_assert_eq(n, 1);
    fs_job j = got[0];
    free(got);
    return j;
}

Test(store, complete_needs_the_current_token)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    fs_job j = lease_one(1000);
    store_completion bad = { id, "nope", "{}" }, unknown = { 999999, "x", NULL };
    store_completion good = { id, j.lease_token, "{\"ok\":true}" };
    cr_assert_eq(store_job_complete(T.st, &bad, 1, 1100), 0);
    cr_assert_eq(bad.rc, FS_ELEASE);
    cr_assert_eq(store_job_complete(T.st, &unknown, 1, 1100), 0);
    cr_assert_eq(unknown.rc, FS_ENOTFOUND);
    cr_assert_eq(store_job_complete(T.st, &good, 1, 1200), 0);
    cr_assert_eq(good.rc, 0);
    cr_assert_eq(good.started_at, 1000);
    store_completion again = good;
    cr_assert_eq(store_job_complete(T.st, &again, 1, 1300), 0);
    cr_assert_eq(again.rc, FS_ELEASE, "a second completion is refused");
    fs_job got;
    cr_assert_eq(store_job_get(T.st, id, &got), 0);
    cr_assert_eq(got.state, JOB_COMPLETED);
    cr_assert_str_eq(got.result, "{\"ok\":true}");
    cr_assert_eq(got.finished_at, 1200);
    cr_assert_null(got.lease_token);
    fs_job_clear(&got);
    fs_job_clear(&j);
}

Test(store, heartbeat_extends_only_the_holders_lease)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    fs_job j = lease_one(1000);
    int64_t exp = 0;
    cr_assert_eq(store_job_heartbeat(T.st, id, "wrong", 0, 1500, &exp), FS_ELEASE);
    cr_assert_eq(store_job_heartbeat(T.st, 424242, "x", 0, 1500, &exp), FS_ENOTFOUND);
    cr_assert_eq(store_job_heartbeat(T.st, id, j.lease_token, 5000, 1500, &exp), 0);
    cr_assert_eq(exp, 6500);
    size_t n;
    cr_assert_eq(store_job_rescue(T.st, 3000, &n), 0);
    cr_assert_eq(n, 0, "a heartbeated lease is not rescued");
    fs_job_clear(&j);
}

Test(store, fail_retries_with_backoff_then_dead_letters)
{
    int64_t id = put(mk("t", "w", 0), 1000); /* max_attempts 3 */
    fs_backoff bo = { 100, 10000, 0 };
    int64_t now = 1000;
    for (int attempt = 1; attempt <= 3; attempt++) {
        fs_job j = lease_one(now), out;
        cr_assert_eq(j.attempts, attempt);
        cr_assert_eq(store_job_fail(T.st, id, j.lease_token, "boom", true, &bo,
                                    now, &out), 0);
        cr_assert_str_eq(out.last_error, "boom");
        if (attempt < 3) {
            cr_assert_eq(out.state, JOB_SCHEDULED);
            int64_t want = 100LL << (attempt - 1);
            cr_assert_eq(out.run_at, now + want, "attempt %d backoff", attempt);
            now = out.run_at;
        } else {
            cr_assert_eq(out.state, JOB_FAILED);
            cr_assert_eq(out.finished_at, now);
        }
        fs_job_clear(&j);
        fs_job_clear(&out);
    }
}

Test(store, fail_without_retry_dead_letters_at_once)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    fs_job j = lease_one(1000), out;
    cr_assert_eq(store_job_fail(T.st, id, "bad", "x", true, NULL, 1000, NULL),
                 FS_ELEASE);
    cr_assert_eq(store_job_fail(T.st, id, j.lease_token, "x", false, NULL, 1000,
                                &out), 0);
    cr_assert_eq(out.state, JOB_FAILED);
    fs_job_clear(&out);
    fs_job_clear(&j);
}

Test(store, rescue_returns_expired_leases)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    fs_job j = lease_one(1000); /* expires at 2000 */
    size_t n;
    cr_assert_eq(store_job_rescue(T.st, 2000, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_job_rescue(T.st, 2001, &n), 0);
    cr_assert_eq(n, 1);
    fs_job got;
    cr_assert_eq(store_job_get(T.st, id, &got), 0);
    cr_assert_eq(got.state, JOB_PENDING);
    cr_assert_str_eq(got.last_error, "lease expired");
    fs_job_clear(&got);
    store_completion late = { id, j.lease_token, NULL };
    cr_assert_eq(store_job_complete(T.st, &late, 1, 2002), 0);
    cr_assert_eq(late.rc, FS_ELEASE, "the old holder lost the job");
    fs_job j2 = lease_one(2003);
    cr_assert_eq(j2.attempts, 2);
    fs_job_clear(&j2);
    fs_job_clear(&j);
}

Test(store, rescue_dead_letters_when_attempts_are_used_up)
{
    fs_job one = mk("t", "w", 0);
    one.max_attempts = 1;
    int64_t id = put(one, 1000);
    fs_job j = lease_one(1000);
    size_t n;
    cr_assert_eq(store_job_rescue(T.st, 5000, &n), 0);
    cr_assert_eq(n, 1);
    fs_job got;
    cr_assert_eq(store_job_get(T.st, id, &got), 0);
    cr_assert_eq(got.state, JOB_FAILED);
    fs_job_clear(&got);
    fs_job_clear(&j);
}

Test(store, cancel_and_retry_follow_the_state_machine)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    fs_job out;
    cr_assert_eq(store_job_retry(T.st, id, 1000, NULL), FS_ESTATE);
    cr_assert_eq(store_job_cancel(T.st, id, 1100, &out), 0);
    cr_assert_eq(out.state, JOB_CANCELLED);
    fs_job_clear(&out);
    cr_assert_eq(store_job_cancel(T.st, id, 1100, NULL), FS_ESTATE);
    cr_assert_eq(store_job_cancel(T.st, 999999, 1100, NULL), FS_ENOTFOUND);
    cr_assert_eq(store_job_retry(T.st, id, 1200, &out), 0);
    cr_assert_eq(out.state, JOB_PENDING);
    cr_assert_eq(out.attempts, 0);
    cr_assert_eq(out.finished_at, 0);
    fs_job_clear(&out);
}

Test(store, cancel_of_running_job_revokes_the_lease)
{
    int64_t id = put(mk("t", "w", 0), 1000);
    fs_job j = lease_one(1000);
    cr_assert_eq(store_job_cancel(T.st, id, 1100, NULL), 0);
    store_completion c = { id, j.lease_token, NULL };
    cr_assert_eq(store_job_complete(T.st, &c, 1, 1200), 0);
    cr_assert_eq(c.rc, FS_ELEASE);
    fs_job_clear(&j);
}

Test(store, prune_deletes_only_old_finished_jobs)
{
    int64_t done = put(mk("t", "w", 0), 1000);
    int64_t live = put(mk("t", "w", 0), 1000);
    fs_job j = lease_one(1000);
    cr_assert_eq(j.id, done);
    store_completion c = { done, j.lease_token, NULL };
    cr_assert_eq(store_job_complete(T.st, &c, 1, 1500), 0);
    size_t n;
    cr_assert_eq(store_job_prune(T.st, 1500, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_job_prune(T.st, 1501, &n), 0);
    cr_assert_eq(n, 1);
    fs_job got;
    cr_assert_eq(store_job_get(T.st, done, &got), FS_ENOTFOUND);
    cr_assert_eq(store_job_get(T.st, live, &got), 0);
    fs_job_clear(&got);
    fs_job_clear(&j);
}

Test(store, list_filters_and_pages_newest_first)
{
    for (int i = 0; i < 5; i++) put(mk(i % 2 ? "odd" : "even", "w", 0), 1000);
    store_job_filter f = { .state = -1, .type = "even", .limit = 2 };
    fs_job *v;
    size_t n;
    cr_assert_eq(store_job_list(T.st, &f, &v, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(v[0].id > v[1].id);
    f.before_id = v[1].id;
    fs_jobs_free(v, n);
    cr_assert_eq(store_job_list(T.st, &f, &v, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0].type, "even");
    fs_jobs_free(v, n);
    f = (store_job_filter){ .state = JOB_RUNNING, .limit = 10 };
    cr_assert_eq(store_job_list(T.st, &f, &v, &n), 0);
    cr_assert_eq(n, 0);
    free(v);
}

Test(store, stats_group_by_type_and_state)
{
    put(mk("a", "w", 0), 1000);
    put(mk("a", "w", 0), 900);
    put(mk("b", "w", 0), 1000);
    store_stat *rows;
    size_t n;
    cr_assert_eq(store_job_stats(T.st, &rows, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(rows[0].type, "a");
    cr_assert_eq(rows[0].state, JOB_PENDING);
    cr_assert_eq(rows[0].count, 2);
    cr_assert_eq(rows[0].oldest_run_at, 900);
    store_stats_free(rows, n);
}

static fs_agent agent(const char *id)
{
    return (fs_agent){ .id = (char *)id, .name = "n", .type = "w",
                       .job_types = "[\"a\"]", .metadata = "{}",
                       .created_at = 1000, .last_heartbeat = 1000 };
}

Test(store, agents_register_heartbeat_and_find_by_token)
{
    fs_agent a = agent("ag_x");
    cr_assert_eq(store_agent_create(T.st, &a, "hash1"), 0);
    cr_assert_eq(store_agent_create(T.st, &a, "hash2"), FS_ECONFLICT);
    cr_assert_eq(store_agent_heartbeat(T.st, "ag_x", 5000), 0);
    cr_assert_eq(store_agent_heartbeat(T.st, "ag_nope", 5000), FS_ENOTFOUND);
    fs_agent got;
    cr_assert_eq(store_agent_by_token(T.st, "hash1", &got), 0);
    cr_assert_str_eq(got.id, "ag_x");
    cr_assert_eq(got.last_heartbeat, 5000);
    cr_assert_str_eq(got.job_types, "[\"a\"]");
    fs_agent_clear(&got);
    cr_assert_eq(store_agent_by_token(T.st, "hash9", &got), FS_ENOTFOUND);
    fs_agent *all;
    size_t n;
    cr_assert_eq(store_agent_list(T.st, &all, &n), 0);
    cr_assert_eq(n, 1);
    fs_agents_free(all, n);
}

Test(store, agent_state_is_versioned_with_optimistic_concurrency)
{
    fs_agent a = agent("ag_s");
    cr_assert_eq(store_agent_create(T.st, &a, "h"), 0);
    fs_agent_state s;
    cr_assert_eq(store_state_get(T.st, "ag_s", 0, &s), FS_ENOTFOUND);
    cr_assert_eq(store_state_put(T.st, "ag_s", "{\"v\":1}", 0, 10, &s), 0);
    cr_assert_eq(s.version, 1);
    fs_agent_state_clear(&s);
    cr_assert_eq(store_state_put(T.st, "ag_s", "{\"v\":2}", 1, 20, &s), 0);
    cr_assert_eq(s.version, 2);
    fs_agent_state_clear(&s);
    cr_assert_eq(store_state_put(T.st, "ag_s", "{\"v\":9}", 1, 30, NULL),
                 FS_ECONFLICT, "a write based on version 1 is stale");
    cr_assert_eq(store_state_put(T.st, "ag_s", "{\"v\":3}", -1, 40, NULL), 0);
    cr_assert_eq(store_state_put(T.st, "ag_none", "{}", -1, 40, NULL), FS_ENOTFOUND);
    cr_assert_eq(store_state_get(T.st, "ag_s", 0, &s), 0);
    cr_assert_eq(s.version, 3);
    cr_assert_str_eq(s.state, "{\"v\":3}");
    fs_agent_state_clear(&s);
    cr_assert_eq(store_state_get(T.st, "ag_s", 1, &s), 0);
    cr_assert_str_eq(s.state, "{\"v\":1}");
    fs_agent_state_clear(&s);
    fs_agent_state *v;
    size_t n;
    cr_assert_eq(store_state_versions(T.st, "ag_s", &v, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(v[2].version, 3);
    fs_agent_states_free(v, n);
    fs_agent got;
    cr_assert_eq(store_agent_get(T.st, "ag_s", &got), 0);
    cr_assert_eq(got.state_version, 3);
    fs_agent_clear(&got);
}

Test(store, api_keys_are_looked_up_by_hash)
{
    int64_t n = -1;
    cr_assert_eq(store_key_count(T.st, "admin", &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_key_add(T.st, "first", "abc", "admin", 1), 0);
    cr_assert_eq(store_key_add(T.st, "dup", "abc", "admin", 1), FS_ECONFLICT);
    char *role = NULL;
    cr_assert_eq(store_key_lookup(T.st, "abc", &role), 0);
    cr_assert_str_eq(role, "admin");
    free(role);
    cr_assert_eq(store_key_lookup(T.st, "zzz", &role), FS_ENOTFOUND);
    cr_assert_eq(store_key_count(T.st, "admin", &n), 0);
    cr_assert_eq(n, 1);
}

Test(store, failed_batch_leaves_nothing_behind)
{
    /* Two jobs in one batch; the second violates NOT NULL (no type): the
     * batch must be all-or-nothing. */
    fs_job v[2] = { mk("t", "w", 0), mk("t", "w", 0) };
    free(v[1].target_agent);
    v[1].target_agent = NULL;
    cr_assert_neq(store_job_enqueue(T.st, v, 2, 1000, NULL), 0);
    cr_assert_str_eq(v[0].type, "t", "caller's jobs untouched on failure");
    fs_job *all;
    size_t n;
    store_job_filter f = { .state = -1, .limit = 10 };
    cr_assert_eq(store_job_list(T.st, &f, &all, &n), 0);
    cr_assert_eq(n, 0);
    free(all);
    fs_job_clear(&v[0]);
    fs_job_clear(&v[1]);
}

/* --- memory documents ---------------------------------------------------- */

static fs_doc doc(const char *content, const char *agent, const char *kind,
                  const char *tags, const char *meta)
{
    return (fs_doc){ .content = strdup(content), .agent = agent ? strdup(agent) : NULL,
                     .kind = kind ? strdup(kind) : NULL,
                     .tags = strdup(tags ? tags : "[]"),
                     .metadata = strdup(meta ? meta : "{}"),
                     .importance = 0.5, .parent_ref = -1, .chunk_index = -1 };
}

static int64_t epoch(void)
{
    int64_t e = -1;
    cr_assert_eq(store_memory_epoch(T.st, &e), 0);
    return e;
}

Test(store, documents_round_trip_with_embeddings_and_chunks)
{
    int64_t e0 = epoch();
    fs_doc v[3] = { doc("parent text", "ag_1", "note", "[\"a\"]", "{\"k\":1}"),
                    doc("chunk one", "ag_1", "note", NULL, NULL),
                    doc("chunk two", "ag_1", "note", NULL, NULL) };
    float emb[4] = { 0.5f, -1.0f, 0.25f, 2.0f };
    v[0].embedding = malloc(sizeof emb);
    memcpy(v[0].embedding, emb, sizeof emb);
    v[0].dims = 4;
    v[1].parent_ref = v[2].parent_ref = 0;
    v[1].chunk_index = 0;
    v[2].chunk_index = 1;
    cr_assert_eq(store_doc_add(T.st, v, 3, 5000), 0);
    cr_assert(v[0].id > 0 && v[1].parent_id == v[0].id && v[2].parent_id == v[0].id);
    cr_assert_eq(epoch(), e0 + 1, "one batch, one epoch step");
    fs_doc got;
    cr_assert_eq(store_doc_get(T.st, v[0].id, true, &got), 0);
    cr_assert_str_eq(got.content, "parent text");
    cr_assert_str_eq(got.tags, "[\"a\"]");
    cr_assert_eq(got.dims, 4);
    cr_assert_eq(memcmp(got.embedding, emb, sizeof emb), 0, "bytes intact");
    cr_assert_eq(got.created_at, 5000);
    cr_assert_eq(got.chunk_index, -1);
    fs_doc_clear(&got);
    cr_assert_eq(store_doc_get(T.st, v[2].id, false, &got), 0);
    cr_assert_eq(got.chunk_index, 1);
    cr_assert_null(got.embedding);
    fs_doc_clear(&got);
    int64_t *ids;
    size_t n;
    cr_assert_eq(store_doc_delete(T.st, v[0].id, &ids, &n), 0);
    cr_assert_eq(n, 3, "the parent and both chunks");
    free(ids);
    cr_assert_eq(epoch(), e0 + 2);
    cr_assert_eq(store_doc_get(T.st, v[1].id, false, &got), FS_ENOTFOUND);
    cr_assert_eq(store_doc_delete(T.st, v[0].id, &ids, &n), FS_ENOTFOUND);
    for (int i = 0; i < 3; i++) fs_doc_clear(&v[i]);
}

Test(store, a_bad_parent_ref_stores_nothing)
{
    int64_t e0 = epoch();
    fs_doc v[2] = { doc("a", NULL, NULL, NULL, NULL), doc("b", NULL, NULL, NULL, NULL) };
    v[0].parent_ref = 1; /* must point backwards */
    cr_assert_eq(store_doc_add(T.st, v, 2, 1000), FS_EINVAL);
    cr_assert_eq(epoch(), e0);
    fs_doc *all;
    size_t n;
    store_doc_filter f = { .with_chunks = true, .limit = 10 };
    cr_assert_eq(store_doc_list(T.st, &f, false, &all, &n), 0);
    cr_assert_eq(n, 0);
    free(all);
    fs_doc_clear(&v[0]);
    fs_doc_clear(&v[1]);
}

Test(store, document_listing_filters)
{
    fs_doc v[4] = { doc("1", "ag_a", "email", "[\"vip\",\"eu\"]", "{\"stage\":\"won\",\"n\":3}"),
                    doc("2", "ag_a", "call", "[\"vip\"]", "{\"stage\":\"lost\"}"),
                    doc("3", "ag_b", "email", "[\"eu\"]", "{\"stage\":\"won\"}"),
                    doc("4", "ag_b", "email", "[]", "{}") };
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(store_doc_add(T.st, &v[i], 1, 1000 + i), 0);
    }
    struct { store_doc_filter f; const char *want; } cases[] = {
        { { .agent = "ag_a", .limit = 10 }, "21" },
        { { .kind = "email", .limit = 10 }, "431" },
        { { .tags = (const char *[]){ "vip", "eu" }, .ntags = 2, .limit = 10 }, "1" },
        { { .meta_keys = (const char *[]){ "stage" },
            .meta_values = (const char *[]){ "won" }, .nmeta = 1, .limit = 10 }, "31" },
        { { .meta_keys = (const char *[]){ "n" },
            .meta_values = (const char *[]){ "3" }, .nmeta = 1, .limit = 10 }, "1" },
        { { .since = 1001, .until = 1003, .limit = 10 }, "32" },
        { { .limit = 2 }, "43" },
        { { .before_id = v[2].id, .limit = 10 }, "21" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        fs_doc *got;
        size_t n;
        cr_assert_eq(store_doc_list(T.st, &cases[c].f, false, &got, &n), 0);
        char ids[8] = "";
        for (size_t i = 0; i < n && i < 7; i++) ids[i] = got[i].content[0];
        cr_assert_str_eq(ids, cases[c].want, "case %zu", c);
        fs_docs_free(got, n);
    }
    store_doc_filter bad = { .meta_keys = (const char *[]){ "a\"b" },
                             .meta_values = (const char *[]){ "x" }, .nmeta = 1,
                             .limit = 10 };
    fs_doc *got;
    size_t n;
    cr_assert_eq(store_doc_list(T.st, &bad, false, &got, &n), FS_EINVAL);
    for (int i = 0; i < 4; i++) fs_doc_clear(&v[i]);
}

Test(store, settings_keep_their_first_value)
{
    char *v = NULL;
    cr_assert_eq(store_setting_init(T.st, "dims", "1536", &v), 0);
    cr_assert_str_eq(v, "1536");
    free(v);
    cr_assert_eq(store_setting_init(T.st, "dims", "768", &v), 0);
    cr_assert_str_eq(v, "1536", "a later start cannot change the space");
    free(v);
}

static int64_t add_text(const char *content, const char *agent)
{
    fs_doc d = doc(content, agent, NULL, NULL, NULL);
    cr_assert_eq(store_doc_add(T.st, &d, 1, 1000), 0);
    int64_t id = d.id;
    fs_doc_clear(&d);
    return id;
}

Test(store, bm25_ranks_by_stemmed_words_and_follows_deletes)
{
    /* "refund" is rare here and repeated in a; b has it once in a longer
     * text; c has an inflected form (stemmed to the same term); d has none. */
    int64_t a = add_text("Refund refund: the customer wants a refund", "ag_1");
    int64_t b = add_text("The meeting covered pricing, onboarding, the roadmap "
                         "and one refund question", "ag_2");
    int64_t c = add_text("Refunds are processed within five days", "ag_1");
    add_text("Quarterly pipeline review", "ag_1");
    store_doc_filter f = { .with_chunks = true, .limit = 10 };
    store_hit *h;
    size_t n;
    cr_assert_eq(store_doc_text_search(T.st, "refunding", &f, &h, &n), 0);
    cr_assert_eq(n, 3, "stemming matches refund/refunds/refunding");
    cr_assert_eq(h[0].id, a, "most occurrences in a short text first");
    cr_assert_eq(h[1].id, c, "a short text beats a long one with one match");
    cr_assert_eq(h[2].id, b);
    cr_assert(h[0].score > h[1].score && h[1].score > h[2].score);
    free(h);

    f.agent = "ag_2";
    cr_assert_eq(store_doc_text_search(T.st, "refund", &f, &h, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].id, b, "filters apply to text search");
    free(h);

    int64_t df, ndocs;
    cr_assert_eq(store_term_stats(T.st, "refund", &df, &ndocs), 0);
    cr_assert_eq(df, 3);
    cr_assert_eq(ndocs, 4);
    int64_t *ids;
    cr_assert_eq(store_doc_delete(T.st, a, &ids, &n), 0);
    free(ids);
    cr_assert_eq(store_term_stats(T.st, "refund", &df, &ndocs), 0);
    cr_assert_eq(df, 2, "the text index follows deletes");
    f.agent = NULL;
    cr_assert_eq(store_doc_text_search(T.st, "refund", &f, &h, &n), 0);
    cr_assert_eq(n, 2);
    free(h);
}

Test(store, text_queries_cannot_inject_fts_syntax)
{
    add_text("alpha beta", NULL);
    store_doc_filter f = { .limit = 10 };
    store_hit *h;
    size_t n;
    const char *nasty[] = { "\"unbalanced", "alpha NEAR(beta", "*", "-alpha",
                            "alpha OR", "col:alpha", "", "!!!" };
    for (size_t i = 0; i < sizeof nasty / sizeof *nasty; i++) {
        cr_assert_eq(store_doc_text_search(T.st, nasty[i], &f, &h, &n), 0,
                     "query %s", nasty[i]);
        free(h);
    }
    cr_assert_eq(store_doc_text_search(T.st, "alpha NEAR(beta", &f, &h, &n), 0);
    cr_assert_eq(n, 1, "the words still match");
    free(h);
}
