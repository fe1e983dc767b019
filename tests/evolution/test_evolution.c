/*
 * test_evolution.c - the evolution log's rules (evolution/evolution.h) on
 * a real store: each path through the state diagram from the samples a
 * proposal carries, settings as the latest applied change, stale and
 * superseded changes refused, on_change told each new value (also, by
 * the refresh thread, values another instance changed), bad proposals
 * named, and the monitor rolling back a planted harmful change while
 * leaving a harmless one alone.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/learn/rng.h"
#include "core/fs.h"
#include "evolution/evolution.h"
#include "support/testdb.h"

static tdb T;
static int64_t NOW = 1700000000000;
static fs_clock CLK = { fs_clock_manual_now, &NOW };
static evolution *EV;
static char changed_component[64];
static json_t *changed_value; /* the last on_change value (owned) */
static int nchanges;

static void on_change(void *ctx, const char *component, const json_t *value)
{
    (void)ctx;
    snprintf(changed_component, sizeof changed_component, "%s", component);
    json_decref(changed_value);
    changed_value = value ? json_deep_copy(value) : NULL;
    nchanges++;
}

static void open_with(bool manual)
{
    evolution_config cfg = evolution_config_default();
    cfg.on_change = on_change;
    cfg.manual = manual;
    cr_assert_eq(evolution_open(&EV, T.st, &CLK, &cfg), 0);
}

static void setup(void)
{
    tdb_open(&T);
    nchanges = 0;
    changed_value = NULL;
    open_with(false);
}

static void teardown(void)
{
    evolution_close(EV);
    json_decref(changed_value);
    tdb_close(&T);
}

TestSuite(evolution, .init = setup, .fini = teardown, .timeout = 60);

/* A follow_up proposal from -> to with control k1/n1 and candidate k2/n2
 * (n1 = 0: no samples). */
static json_t *proposal(const char *from, const char *to, int k1, int n1,
                        int k2, int n2)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:{s:s?,s:s}}", "type",
                          "parameter_tuning", "component", "learning.follow_up",
                          "description", "switch the follow-up", "proposed_by",
                          "learning", "change", "from", from, "to", to);
    if (n1)
        json_object_set_new(p, "metrics_before",
                            json_pack("{s:i,s:i}", "successes", k1, "trials", n1));
    if (n2)
        json_object_set_new(p, "metrics_after",
                            json_pack("{s:i,s:i}", "successes", k2, "trials", n2));
    return p;
}

/* Proposes p (consumed), expecting success.  OUT: the entry. */
static json_t *propose(json_t *p)
{
    json_t *e = NULL;
    evolution_err err = { 0 };
    int rc = evolution_propose(EV, p, &e, &err);
    cr_assert_eq(rc, 0, "propose: %s %s", err.field, err.msg);
    json_decref(p);
    return e;
}

static const char *status(const json_t *e)
{
    return json_string_value(json_object_get(e, "status"));
}

static int64_t id_of(const json_t *e)
{
    return json_integer_value(json_object_get(e, "id"));
}

static const char *setting(const char *component)
{
    static char buf[64];
    json_t *all = NULL;
    cr_assert_eq(evolution_settings(EV, &all), 0);
    json_t *v = json_object_get(json_object_get(all, component), "value");
    snprintf(buf, sizeof buf, "%s", v ? json_string_value(v) : "(default)");
    json_decref(all);
    return buf;
}

Test(evolution, a_clear_lift_is_validated_and_applied_by_itself)
{
    json_t *e = propose(proposal("email_today", "call_today", 40, 400, 120, 400));
    cr_assert_str_eq(status(e), "applied");
    json_t *h = json_object_get(e, "history");
    cr_assert_eq(json_array_size(h), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 1), "status")),
                     "validated");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "validation"),
                                                       "verdict")),
                     "apply");
    cr_assert_not_null(json_object_get(e, "monitor"));
    cr_assert_str_eq(setting("learning.follow_up"), "call_today");
    cr_assert_eq(nchanges, 1);
    cr_assert_str_eq(changed_component, "learning.follow_up");
    cr_assert_str_eq(json_string_value(changed_value), "call_today");
    json_decref(e);
}

Test(evolution, a_lift_under_the_margin_waits_for_approval)
{
    /* 0.20 -> 0.215 on 2,000 each: maybe better, not shown > 0.01 */
    json_t *e = propose(proposal("a", "b", 400, 2000, 430, 2000));
    cr_assert_str_eq(status(e), "validated");
    cr_assert_eq(nchanges, 0);
    cr_assert_str_eq(setting("learning.follow_up"), "(default)");
    json_t *a = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_approve(EV, id_of(e), "api", "looks fine", &a, &err), 0);
    cr_assert_str_eq(status(a), "applied");
    cr_assert_str_eq(setting("learning.follow_up"), "b");
    cr_assert_eq(nchanges, 1);
    json_decref(a);
    json_decref(e);
}

Test(evolution, a_confidently_worse_change_is_rejected)
{
    json_t *e = propose(proposal("a", "b", 400, 1000, 200, 1000));
    cr_assert_str_eq(status(e), "rejected");
    json_t *r = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_approve(EV, id_of(e), "api", NULL, &r, &err), FS_ESTATE);
    cr_assert_eq(nchanges, 0);
    json_decref(e);
}

Test(evolution, too_few_outcomes_stay_proposed_until_validated_again)
{
    json_t *e = propose(proposal("a", "b", 5, 20, 15, 20));
    cr_assert_str_eq(status(e), "proposed");
    json_t *more = json_pack("{s:{s:i,s:i},s:{s:i,s:i}}", "metrics_before",
                             "successes", 50, "trials", 500, "metrics_after",
                             "successes", 150, "trials", 500);
    json_t *v = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_validate(EV, id_of(e), more, &v, &err), 0);
    cr_assert_str_eq(status(v), "applied");
    cr_assert_str_eq(setting("learning.follow_up"), "b");
    json_t *again = NULL;
    cr_assert_eq(evolution_validate(EV, id_of(e), more, &again, &err), FS_ESTATE);
    json_decref(more);
    json_decref(v);
    json_decref(e);
}

Test(evolution, manual_mode_never_applies_by_itself)
{
    evolution_close(EV);
    open_with(true);
    json_t *e = propose(proposal("a", "b", 40, 400, 120, 400));
    cr_assert_str_eq(status(e), "validated");
    cr_assert_eq(nchanges, 0);
    json_decref(e);
}

Test(evolution, no_samples_waits_for_a_person)
{
    json_t *e = propose(proposal("a", "b", 0, 0, 0, 0));
    cr_assert_str_eq(status(e), "proposed");
    json_t *r = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_reject(EV, id_of(e), "api", "not now", &r, &err), 0);
    cr_assert_str_eq(status(r), "rejected");
    json_decref(r);
    json_decref(e);
}

Test(evolution, a_record_without_a_change_is_applied_as_logged)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:s}", "type", "knowledge_acquisition",
                          "component", "memory", "description",
                          "learned: enterprise leads answer calls", "proposed_by",
                          "learning");
    json_t *e = propose(p);
    cr_assert_str_eq(status(e), "applied");
    cr_assert_str_neq(json_string_value(json_object_get(e, "applied_at")), "");
    cr_assert_eq(nchanges, 0);
    json_decref(e);
}

Test(evolution, a_require_rule_checks_the_candidate_against_a_target)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:{s:i,s:i},s:{s:f},"
                          "s:{s:i,s:i},s:{s:i,s:i}}",
                          "type", "parameter_tuning", "component",
                          "memory.ef_search", "description", "smaller beam",
                          "proposed_by", "monitoring", "change", "from", 64,
                          "to", 32, "require", "min", 0.95, "metrics_before",
                          "successes", 495, "trials", 500, "metrics_after",
                          "successes", 480, "trials", 500);
    json_t *e = propose(json_deep_copy(p));
    cr_assert_str_eq(status(e), "applied"); /* 0.96 >= 0.95 */
    cr_assert_eq(json_integer_value(changed_value), 32);
    json_decref(e);
    json_object_set_new(p, "change", json_pack("{s:i,s:i}", "from", 32, "to", 16));
    json_object_set_new(p, "metrics_after",
                        json_pack("{s:i,s:i}", "successes", 450, "trials", 500));
    e = propose(p);
    cr_assert_str_eq(status(e), "rejected"); /* 0.90 < 0.95 */
    json_decref(e);
}

Test(evolution, a_stale_proposal_is_not_applied)
{
    json_t *a = propose(proposal("x", "y", 40, 400, 120, 400));
    cr_assert_str_eq(status(a), "applied");
    /* proposed while the value was still x: now it is y */
    json_t *b = propose(proposal("x", "z", 40, 400, 120, 400));
    cr_assert_str_eq(status(b), "rejected");
    cr_assert_str_eq(setting("learning.follow_up"), "y");
    json_t *c = propose(proposal("x", "w", 0, 0, 0, 0));
    json_t *r = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_approve(EV, id_of(c), "api", NULL, &r, &err), FS_ECONFLICT);
    cr_assert(strstr(err.msg, "stale"), "%s", err.msg);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

Test(evolution, only_the_latest_change_rolls_back_and_restores_the_one_before)
{
    json_t *a = propose(proposal("x", "y", 40, 400, 120, 400));
    NOW += 1000;
    json_t *b = propose(proposal("y", "z", 40, 400, 120, 400));
    cr_assert_str_eq(setting("learning.follow_up"), "z");
    json_t *r = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_rollback(EV, id_of(a), "api", NULL, &r, &err), FS_ESTATE);
    cr_assert_eq(evolution_rollback(EV, id_of(b), "api", "worse", &r, &err), 0);
    cr_assert_str_eq(status(r), "rolled_back");
    cr_assert_str_eq(json_string_value(json_object_get(r, "reason")), "worse");
    cr_assert_str_eq(setting("learning.follow_up"), "y");
    cr_assert_str_eq(json_string_value(changed_value), "y");
    json_decref(r);
    cr_assert_eq(evolution_rollback(EV, id_of(a), "api", NULL, &r, &err), 0);
    cr_assert_str_eq(setting("learning.follow_up"), "(default)");
    cr_assert_null(changed_value);
    json_decref(r);
    json_decref(a);
    json_decref(b);
}

/* Approves a change validated over a 0.30 baseline, then reports
 * outcomes at `rate` in batches of 50, checking after each, until the
 * monitor decides or `limit` outcomes.  Returns the final status. */
static char *watch_change(double rate, int limit, uint64_t seed, int *seen)
{
    json_t *p = proposal("a", "b", 600, 2000, 610, 2000);
    json_t *e = propose(p);
    cr_assert_str_eq(status(e), "validated");
    int64_t id = id_of(e);
    json_decref(e);
    evolution_err err = { 0 };
    cr_assert_eq(evolution_approve(EV, id, "api", NULL, &e, &err), 0);
    json_decref(e);
    learn_rng rng;
    learn_rng_seed(&rng, seed);
    char *final = NULL;
    for (*seen = 0; *seen < limit && !final;) {
        int k = 0;
        for (int i = 0; i < 50; i++) k += learn_rng_uniform(&rng) < rate;
        cr_assert_eq(evolution_observe(EV, id, k, 50, &e, &err), 0, "%s", err.msg);
        json_decref(e);
        *seen += 50;
        cr_assert_eq(evolution_check(EV, id, "monitoring", &e, &err), 0);
        if (strcmp(status(e), "applied") ||
            strcmp(json_string_value(json_object_get(json_object_get(e, "monitor"),
                                                     "verdict")),
                   "watch"))
            final = strdup(status(e));
        json_decref(e);
    }
    return final ? final : strdup("applied");
}

Test(evolution, monitoring_rolls_back_a_planted_harmful_change)
{
    int seen;
    char *st = watch_change(0.15, 5000, 7, &seen);
    cr_assert_str_eq(st, "rolled_back", "after %d outcomes", seen);
    cr_assert_lt(seen, 2000, "caught after %d outcomes", seen);
    cr_assert_str_eq(setting("learning.follow_up"), "(default)");
    cr_assert_null(changed_value);
    free(st);
}

Test(evolution, a_harmless_change_is_kept)
{
    int seen;
    char *st = watch_change(0.30, 6000, 11, &seen);
    cr_assert_str_eq(st, "applied", "rolled back after %d outcomes", seen);
    cr_assert_str_eq(setting("learning.follow_up"), "b");
    free(st);
}

Test(evolution, observing_needs_an_applied_entry_and_sane_counts)
{
    json_t *e = propose(proposal("a", "b", 0, 0, 0, 0));
    json_t *r = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_observe(EV, id_of(e), 1, 1, &r, &err), FS_ESTATE);
    cr_assert_eq(evolution_observe(EV, id_of(e), 1, 0, &r, &err), FS_EINVAL);
    cr_assert_str_eq(err.field, "count");
    cr_assert_eq(evolution_observe(EV, id_of(e), NAN, 1, &r, &err), FS_EINVAL);
    cr_assert_eq(evolution_observe(EV, 9999, 1, 1, &r, &err), FS_ENOTFOUND);
    json_decref(e);
}

/* Proposes p (consumed) expecting FS_EINVAL naming field. */
static void bad(json_t *p, const char *field)
{
    json_t *e = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_propose(EV, p, &e, &err), FS_EINVAL, "field %s", field);
    cr_assert_str_eq(err.field, field, "%s: %s", err.field, err.msg);
    cr_assert_null(e);
    json_decref(p);
}

Test(evolution, bad_proposals_name_the_field)
{
    json_t *p = proposal("a", "b", 1, 2, 1, 2);
    json_object_set_new(p, "colour", json_string("red"));
    bad(p, "colour");
    p = proposal("a", "b", 1, 2, 1, 2);
    json_object_set_new(p, "type", json_string("magic"));
    bad(p, "type");
    p = proposal("a", "b", 1, 2, 1, 2);
    json_object_set_new(p, "component", json_string("no spaces"));
    bad(p, "component");
    p = proposal("a", "b", 1, 2, 0, 0);
    bad(p, "metrics_after");
    p = proposal("a", "b", 5, 2, 1, 2);
    bad(p, "metrics_before");
    p = proposal("a", "b", 1, 2, 1, 2);
    json_object_del(p, "change");
    bad(p, "change");
    p = proposal("a", "b", 1, 2, 1, 2);
    json_object_del(p, "description");
    bad(p, "description");
    p = proposal("a", "b", 1, 2, 1, 2);
    json_object_set_new(p, "require", json_string("high"));
    bad(p, "require");
    store_evolution_filter f = { .limit = 10 };
    json_t *list = NULL;
    int64_t next = -1;
    cr_assert_eq(evolution_list(EV, &f, &list, &next), 0);
    cr_assert_eq(json_array_size(list), 0, "nothing was logged");
    cr_assert_eq(next, 0);
    json_decref(list);
}

Test(evolution, list_pages_newest_first)
{
    for (int i = 0; i < 5; i++) json_decref(propose(proposal("a", "b", 0, 0, 0, 0)));
    store_evolution_filter f = { .limit = 2 };
    json_t *list = NULL;
    int64_t next = 0;
    cr_assert_eq(evolution_list(EV, &f, &list, &next), 0);
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_eq(id_of(json_array_get(list, 0)), 5);
    cr_assert_eq(next, 4);
    json_decref(list);
    f.before_id = next;
    f.limit = 10;
    cr_assert_eq(evolution_list(EV, &f, &list, &next), 0);
    cr_assert_eq(json_array_size(list), 3);
    cr_assert_eq(next, 0);
    json_decref(list);
}

/* What the refreshing instance of the next test was told last. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen[64];

static void on_change_seen(void *ctx, const char *component, const json_t *value)
{
    (void)ctx;
    (void)component;
    pthread_mutex_lock(&seen_lock);
    snprintf(seen, sizeof seen, "%s", value ? json_string_value(value) : "(default)");
    pthread_mutex_unlock(&seen_lock);
}

/* Waits up to 5 s for the refreshing instance to have been told want. */
static bool seen_becomes(const char *want)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&seen_lock);
        bool ok = !strcmp(seen, want);
        pthread_mutex_unlock(&seen_lock);
        if (ok) return true;
        usleep(10000);
    }
    return false;
}

Test(evolution, another_process_change_reaches_a_refreshing_instance)
{
    store *st2; /* a second handle: another process's view */
    cr_assert_eq(store_open(&st2, T.url, NULL), 0);
    evolution_config cfg = evolution_config_default();
    cfg.on_change = on_change_seen;
    cfg.refresh_ms = 20;
    evolution *other;
    snprintf(seen, sizeof seen, "(untold)");
    cr_assert_eq(evolution_open(&other, st2, &fs_clock_real, &cfg), 0);
    cr_assert_eq(evolution_apply_all(other), 0);
    json_t *e = propose(proposal("a", "b", 40, 400, 120, 400));
    cr_assert(seen_becomes("b"), "told %s", seen);
    json_t *r = NULL;
    evolution_err err = { 0 };
    cr_assert_eq(evolution_rollback(EV, id_of(e), "api", NULL, &r, &err), 0);
    cr_assert(seen_becomes("(default)"), "told %s", seen);
    json_decref(r);
    json_decref(e);
    evolution_close(other);
    store_close(st2);
}
