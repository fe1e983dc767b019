/*
 * test_store_workflows.c - the workflow part of the store contract
 * (store.h): definitions by name and version, atomic run commits with
 * optimistic revs, run listing and events, and the job signals the trigger
 * writes for the engine.  Backend-agnostic: only store.h through tdb_open.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "support/testdb.h"

static tdb T;
static void setup(void) { tdb_open(&T); }
static void teardown(void) { tdb_close(&T); }

TestSuite(store_workflows, .init = setup, .fini = teardown, .timeout = 120);

static fs_workflow wf(const char *name, int version, const char *def)
{
    return (fs_workflow){ .name = strdup(name), .version = version,
                          .description = strdup("d"),
                          .definition = strdup(def) };
}

static fs_run new_run(const char *workflow)
{
    return (fs_run){ .workflow = strdup(workflow), .version = 1,
                     .state = RUN_RUNNING, .inputs = strdup("{\"x\":1}") };
}

static fs_run_task task(int step, int item, int job_ref)
{
    return (fs_run_task){ .step = step, .item = item, .job_ref = job_ref,
                          .state = job_ref >= 0 ? TASK_SCHEDULED
                                                : TASK_PENDING,
                          .attempts = job_ref >= 0, .items = -1 };
}

static fs_run_event event(const char *type, const char *step)
{
    return (fs_run_event){ .type = strdup(type),
                           .step = step ? strdup(step) : NULL, .item = -1 };
}

static fs_job job(const char *type)
{
    return (fs_job){ .type = strdup(type), .target_agent = strdup("w"),
                     .payload = strdup("{\"p\":1}"), .max_attempts = 2,
                     .timeout_ms = 1000 };
}

/* A new run with one task and event per job, all linked; committed. */
static void start_run(fs_run *r, int njobs, int64_t now, fs_job *jobs)
{
    *r = new_run("flow");
    fs_run_task t[8];
    fs_run_event e[8];
    cr_assert(njobs <= 8);
    for (int i = 0; i < njobs; i++) {
        jobs[i] = job("step");
        t[i] = task(i, -1, i);
        e[i] = event("step_scheduled", "s");
    }
    store_run_change c = { .run = r, .tasks = t, .ntasks = (size_t)njobs,
                           .events = e, .nevents = (size_t)njobs,
                           .jobs = jobs, .njobs = (size_t)njobs };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, now), 0);
    for (int i = 0; i < njobs; i++) {
        fs_run_task_clear(&t[i]);
        fs_run_event_clear(&e[i]);
    }
}

static void signals(store_job_signal **out, size_t *n)
{
    cr_assert_eq(store_job_signals(T.st, 0, 100, out, n), 0);
}

static store_lease lease_all(int max)
{
    return (store_lease){ .agent_id = "ag_1", .agent_type = "w", .max = max };
}

Test(store_workflows, put_get_list_versions)
{
    fs_workflow a1 = wf("alpha", 1, "{\"v\":1}");
    fs_workflow a2 = wf("alpha", 2, "{\"v\":2}");
    fs_workflow b1 = wf("beta", 1, "{\"b\":1}");
    cr_assert_eq(store_workflow_put(T.st, &b1, 100), 0);
    cr_assert_eq(store_workflow_put(T.st, &a1, 200), 0);
    cr_assert_eq(store_workflow_put(T.st, &a2, 300), 0);
    cr_assert_eq(a2.created_at, 300);

    fs_workflow got;
    cr_assert_eq(store_workflow_get(T.st, "alpha", 0, &got), 0);
    cr_assert_eq(got.version, 2, "version 0 is the latest");
    cr_assert_str_eq(got.definition, "{\"v\":2}");
    cr_assert_str_eq(got.description, "d");
    fs_workflow_clear(&got);
    cr_assert_eq(store_workflow_get(T.st, "alpha", 1, &got), 0);
    cr_assert_str_eq(got.definition, "{\"v\":1}");
    cr_assert_eq(got.created_at, 200);
    fs_workflow_clear(&got);
    cr_assert_eq(store_workflow_get(T.st, "alpha", 3, &got), FS_ENOTFOUND);
    cr_assert_eq(store_workflow_get(T.st, "gamma", 0, &got), FS_ENOTFOUND);

    fs_workflow *all;
    size_t n;
    cr_assert_eq(store_workflow_list(T.st, &all, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(all[0].name, "alpha");
    cr_assert_eq(all[0].version, 2);
    cr_assert_str_eq(all[0].definition, "{\"v\":2}");
    cr_assert_eq(all[0].created_at, 300);
    cr_assert_str_eq(all[1].name, "beta");
    fs_workflows_free(all, n);
    fs_workflow_clear(&a1);
    fs_workflow_clear(&a2);
    fs_workflow_clear(&b1);
}

Test(store_workflows, put_again_is_idempotent_other_definition_conflicts)
{
    fs_workflow a = wf("alpha", 1, "{\"v\":1}");
    cr_assert_eq(store_workflow_put(T.st, &a, 100), 0);
    fs_workflow same = wf("alpha", 1, "{\"v\":1}");
    cr_assert_eq(store_workflow_put(T.st, &same, 500), 0);
    cr_assert_eq(same.created_at, 100, "the stored record's time");
    fs_workflow other = wf("alpha", 1, "{\"v\":9}");
    cr_assert_eq(store_workflow_put(T.st, &other, 600), FS_ECONFLICT);
    fs_workflow got;
    cr_assert_eq(store_workflow_get(T.st, "alpha", 1, &got), 0);
    cr_assert_str_eq(got.definition, "{\"v\":1}");
    fs_workflow_clear(&got);
    fs_workflow bad = { .name = "x", .version = 0, .definition = "{}" };
    cr_assert_eq(store_workflow_put(T.st, &bad, 1), FS_EINVAL);
    fs_workflow_clear(&a);
    fs_workflow_clear(&same);
    fs_workflow_clear(&other);
}

Test(store_workflows, commit_new_run_and_read_it_back)
{
    fs_run r = new_run("flow");
    fs_job jobs[2] = { job("a"), job("b") };
    jobs[1].run_at = 9000;
    fs_run_task t[3] = { task(0, -1, 1), task(1, -1, -1), task(2, 0, 0) };
    t[1].output = strdup("{\"o\":1}");
    fs_run_event e[3] = { event("run_started", NULL),
                          event("step_scheduled", "a"),
                          event("step_scheduled", "b") };
    e[2].at = 1234;
    e[2].data = strdup("{\"k\":2}");
    store_run_change c = { .run = &r, .tasks = t, .ntasks = 3, .events = e,
                           .nevents = 3, .jobs = jobs, .njobs = 2 };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1000), 0);
    cr_assert(r.id > 0);
    cr_assert_eq(r.rev, 1);
    cr_assert_eq(r.created_at, 1000);
    cr_assert_eq(r.updated_at, 1000);
    cr_assert(jobs[0].id > 0 && jobs[1].id > jobs[0].id);
    cr_assert_eq(jobs[0].run_id, r.id);
    cr_assert_eq(jobs[0].state, JOB_PENDING);
    cr_assert_eq(jobs[1].state, JOB_SCHEDULED, "run_at after now");
    cr_assert_eq(t[0].job_id, jobs[1].id, "job_ref links the new job");
    cr_assert_eq(t[2].job_id, jobs[0].id);
    cr_assert_eq(t[1].job_id, 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(t[i].run_id, r.id);
        cr_assert_eq(e[i].run_id, r.id);
        cr_assert_eq(e[i].seq, i + 1);
    }

    fs_run got;
    fs_run_task *gt;
    size_t nt;
    cr_assert_eq(store_run_get(T.st, r.id, &got, &gt, &nt), 0);
    cr_assert_str_eq(got.workflow, "flow");
    cr_assert_eq(got.version, 1);
    cr_assert_eq(got.state, RUN_RUNNING);
    cr_assert_str_eq(got.inputs, "{\"x\":1}");
    cr_assert_null(got.error);
    cr_assert_eq(got.rev, 1);
    cr_assert_eq(got.deadline, 0);
    cr_assert_eq(got.finished_at, 0);
    cr_assert_eq(nt, 3);
    cr_assert_eq(gt[0].step, 0);
    cr_assert_eq(gt[0].item, -1);
    cr_assert_eq(gt[0].state, TASK_SCHEDULED);
    cr_assert_eq(gt[0].job_id, jobs[1].id);
    cr_assert_eq(gt[0].job_ref, -1);
    cr_assert_eq(gt[0].items, -1);
    cr_assert_eq(gt[1].step, 1);
    cr_assert_str_eq(gt[1].output, "{\"o\":1}");
    cr_assert_eq(gt[2].item, 0);
    cr_assert_eq(gt[2].job_id, jobs[0].id);
    fs_run_tasks_free(gt, nt);
    fs_run_clear(&got);
    cr_assert_eq(store_run_get(T.st, r.id, &got, NULL, NULL), 0,
                 "tasks are optional");
    fs_run_clear(&got);
    cr_assert_eq(store_run_get(T.st, r.id + 1, &got, NULL, NULL),
                 FS_ENOTFOUND);

    fs_job j;
    cr_assert_eq(store_job_get(T.st, jobs[1].id, &j), 0);
    cr_assert_eq(j.run_id, r.id);
    cr_assert_str_eq(j.payload, "{\"p\":1}");
    fs_job_clear(&j);

    fs_run_event *ev;
    size_t ne;
    cr_assert_eq(store_run_events(T.st, r.id, 0, 100, &ev, &ne), 0);
    cr_assert_eq(ne, 3);
    cr_assert_str_eq(ev[0].type, "run_started");
    cr_assert_null(ev[0].step);
    cr_assert_eq(ev[0].at, 1000, "at 0 takes now");
    cr_assert_eq(ev[0].item, -1);
    cr_assert_str_eq(ev[1].step, "a");
    cr_assert_eq(ev[2].at, 1234);
    cr_assert_str_eq(ev[2].data, "{\"k\":2}");
    cr_assert_eq(ev[2].seq, 3);
    fs_run_events_free(ev, ne);

    fs_run_clear(&r);
    for (int i = 0; i < 2; i++) fs_job_clear(&jobs[i]);
    for (int i = 0; i < 3; i++) {
        fs_run_task_clear(&t[i]);
        fs_run_event_clear(&e[i]);
    }
}

Test(store_workflows, update_bumps_rev_upserts_tasks_and_continues_seq)
{
    fs_run r;
    fs_job jobs[1];
    start_run(&r, 1, 1000, jobs);
    fs_run_task t[2] = { task(0, -1, -1), task(1, -1, -1) };
    t[0].state = TASK_COMPLETED;
    t[0].job_id = jobs[0].id;
    t[0].attempts = 1;
    t[0].output = strdup("{\"done\":true}");
    t[0].finished_at = 1500;
    fs_run_event e = event("step_completed", "s");
    r.state = RUN_COMPLETED;
    r.finished_at = 1500;
    free(r.inputs);
    r.inputs = NULL; /* NULL keeps the stored inputs */
    store_run_change c = { .run = &r, .tasks = t, .ntasks = 2, .events = &e,
                           .nevents = 1 };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1500), 0);
    cr_assert_eq(r.rev, 2);
    cr_assert_eq(r.updated_at, 1500);
    cr_assert_eq(e.seq, 2);

    fs_run got;
    fs_run_task *gt;
    size_t nt;
    cr_assert_eq(store_run_get(T.st, r.id, &got, &gt, &nt), 0);
    cr_assert_eq(got.rev, 2);
    cr_assert_eq(got.state, RUN_COMPLETED);
    cr_assert_eq(got.finished_at, 1500);
    cr_assert_eq(got.created_at, 1000);
    cr_assert_str_eq(got.inputs, "{\"x\":1}");
    cr_assert_eq(nt, 2);
    cr_assert_eq(gt[0].state, TASK_COMPLETED);
    cr_assert_str_eq(gt[0].output, "{\"done\":true}");
    cr_assert_eq(gt[0].job_id, jobs[0].id);
    cr_assert_eq(gt[0].finished_at, 1500);
    cr_assert_eq(gt[1].state, TASK_PENDING);
    fs_run_tasks_free(gt, nt);
    fs_run_clear(&got);
    fs_run_clear(&r);
    fs_job_clear(&jobs[0]);
    fs_run_task_clear(&t[0]);
    fs_run_task_clear(&t[1]);
    fs_run_event_clear(&e);
}

Test(store_workflows, stale_rev_conflicts_and_writes_nothing_of_the_batch)
{
    fs_run a, b;
    fs_job ja[1], jb[1];
    start_run(&a, 1, 1000, ja);
    start_run(&b, 1, 1000, jb);
    fs_run stale = { .id = b.id, .rev = b.rev, .state = RUN_FAILED };
    store_run_change bump = { .run = &stale };
    cr_assert_eq(store_run_commit(T.st, &bump, 1, NULL, 0, 1100), 0);

    /* A valid change to a, a new run, then the stale change to b. */
    fs_run fresh = new_run("other");
    fs_job nj[2] = { job("x"), job("x") };
    nj[1].unique_key = strdup("u1");
    fs_run_task ta = task(5, -1, 0);
    fs_run_event ea = event("step_scheduled", "z");
    store_job_signal *sig;
    size_t ns;
    fs_job *leased;
    size_t nl;
    store_lease l = lease_all(10);
    cr_assert_eq(store_job_lease(T.st, &l, 1200, &leased, &nl), 0);
    cr_assert_eq(nl, 2);
    fs_jobs_free(leased, nl);
    signals(&sig, &ns);
    cr_assert_eq(ns, 2);
    int64_t done[1] = { sig[0].id };
    store_job_signals_free(sig, ns);
    store_run_change c[3] = {
        { .run = &a, .tasks = &ta, .ntasks = 1, .events = &ea, .nevents = 1,
          .jobs = nj, .njobs = 1, .cancel = &ja[0].id, .ncancel = 1 },
        { .run = &fresh, .jobs = &nj[1], .njobs = 1 },
        { .run = &b },
    };
    int64_t a_id = a.id, a_rev = a.rev;
    cr_assert_eq(store_run_commit(T.st, c, 3, done, 1, 1300), FS_ECONFLICT);
    cr_assert_eq(a.id, a_id);
    cr_assert_eq(a.rev, a_rev, "caller's records untouched on error");
    cr_assert_eq(fresh.id, 0);
    cr_assert_eq(nj[0].id, 0);
    cr_assert_eq(ea.seq, 0);

    fs_run got;
    fs_run_task *gt;
    size_t nt;
    cr_assert_eq(store_run_get(T.st, a.id, &got, &gt, &nt), 0);
    cr_assert_eq(got.rev, 1);
    cr_assert_eq(nt, 1, "no task written");
    fs_run_tasks_free(gt, nt);
    fs_run_clear(&got);
    fs_run_event *ev;
    size_t ne;
    cr_assert_eq(store_run_events(T.st, a.id, 0, 100, &ev, &ne), 0);
    cr_assert_eq(ne, 1, "no event written");
    fs_run_events_free(ev, ne);
    fs_run *runs;
    size_t nr;
    store_run_filter f = { .state = -1, .limit = 100 };
    cr_assert_eq(store_run_list(T.st, &f, &runs, &nr), 0);
    cr_assert_eq(nr, 2, "no run inserted");
    fs_runs_free(runs, nr);
    fs_job *all;
    size_t nall;
    store_job_filter jf = { .state = -1, .limit = 100 };
    cr_assert_eq(store_job_list(T.st, &jf, &all, &nall), 0);
    cr_assert_eq(nall, 2, "no job enqueued");
    fs_jobs_free(all, nall);
    fs_job j;
    cr_assert_eq(store_job_get(T.st, ja[0].id, &j), 0);
    cr_assert_eq(j.state, JOB_RUNNING, "not cancelled");
    fs_job_clear(&j);
    signals(&sig, &ns);
    cr_assert_eq(ns, 2, "signals not deleted");
    store_job_signals_free(sig, ns);

    /* The same commit with the fresh rev goes through whole. */
    b.rev = 2;
    cr_assert_eq(store_run_commit(T.st, c, 3, done, 1, 1300), 0);
    cr_assert_eq(a.rev, 2);
    cr_assert_eq(b.rev, 3);
    cr_assert(fresh.id > b.id);
    cr_assert_eq(ta.job_id, nj[0].id);
    cr_assert_eq(nj[1].run_id, fresh.id);
    cr_assert_eq(ea.seq, 2);
    signals(&sig, &ns);
    cr_assert_eq(ns, 2, "one deleted, one added by the cancel");
    cr_assert_eq(sig[1].job.id, ja[0].id);
    cr_assert_eq(sig[1].job.state, JOB_CANCELLED);
    store_job_signals_free(sig, ns);

    fs_run_clear(&a);
    fs_run_clear(&b);
    fs_run_clear(&fresh);
    fs_job_clear(&ja[0]);
    fs_job_clear(&jb[0]);
    fs_job_clear(&nj[0]);
    fs_job_clear(&nj[1]);
    fs_run_task_clear(&ta);
    fs_run_event_clear(&ea);
}

Test(store_workflows, missing_run_conflicts)
{
    fs_run ghost = { .id = 42, .rev = 1 };
    store_run_change c = { .run = &ghost };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1), FS_ECONFLICT);
}

Test(store_workflows, commit_rejects_bad_arguments)
{
    fs_run r = new_run("flow");
    store_run_change c = { .run = &r };
    cr_assert_eq(store_run_commit(T.st, &c, 0, NULL, 0, 1), FS_EINVAL,
                 "nothing to do");
    store_run_change none = { 0 };
    cr_assert_eq(store_run_commit(T.st, &none, 1, NULL, 0, 1), FS_EINVAL);
    fs_run_task t = task(0, -1, 0); /* names a job that is not there */
    c.tasks = &t;
    c.ntasks = 1;
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1), FS_EINVAL);
    c.ntasks = 0;
    fs_run anon = { .state = RUN_RUNNING };
    store_run_change c2 = { .run = &anon };
    cr_assert_eq(store_run_commit(T.st, &c2, 1, NULL, 0, 1), FS_EINVAL);
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 2, 1), FS_EINVAL);
    cr_assert_eq(r.id, 0);
    fs_run_clear(&r);
}

Test(store_workflows, unique_key_in_a_commit_links_the_stored_job)
{
    fs_job plain = job("x");
    plain.unique_key = strdup("k");
    cr_assert_eq(store_job_enqueue(T.st, &plain, 1, 1000, NULL), 0);
    cr_assert_eq(plain.run_id, 0);
    fs_run r = new_run("flow");
    fs_job j = job("y");
    j.unique_key = strdup("k");
    fs_run_task t = task(0, -1, 0);
    store_run_change c = { .run = &r, .tasks = &t, .ntasks = 1, .jobs = &j,
                           .njobs = 1 };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 2000), 0);
    cr_assert_eq(j.id, plain.id, "replaced by the stored job");
    cr_assert_str_eq(j.type, "x");
    cr_assert_eq(t.job_id, plain.id);
    fs_run_clear(&r);
    fs_job_clear(&plain);
    fs_job_clear(&j);
    fs_run_task_clear(&t);
}

Test(store_workflows, every_queue_transition_of_a_run_job_signals)
{
    fs_run r;
    fs_job jobs[3];
    start_run(&r, 3, 1000, jobs);
    fs_job plain = job("step");
    cr_assert_eq(store_job_enqueue(T.st, &plain, 1, 1000, NULL), 0);
    store_job_signal *sig;
    size_t ns;
    signals(&sig, &ns);
    cr_assert_eq(ns, 0, "enqueue is not a change");
    store_job_signals_free(sig, ns);

    /* lease all four (three run jobs and the plain one) */
    fs_job *got;
    size_t n;
    store_lease l = lease_all(10);
    cr_assert_eq(store_job_lease(T.st, &l, 1100, &got, &n), 0);
    cr_assert_eq(n, 4);
    char *tok[3] = { 0 };
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (got[i].id == jobs[k].id) tok[k] = strdup(got[i].lease_token);
    char *ptok = NULL;
    for (size_t i = 0; i < n; i++)
        if (got[i].id == plain.id) ptok = strdup(got[i].lease_token);
    fs_jobs_free(got, n);
    cr_assert(tok[0] && tok[1] && tok[2] && ptok);

    /* complete 0, fail 1 (retry -> scheduled), cancel 2, complete plain */
    store_completion comp[2] = { { .id = jobs[0].id, .lease_token = tok[0],
                                   .result = "{\"r\":7}" },
                                 { .id = plain.id, .lease_token = ptok } };
    cr_assert_eq(store_job_complete(T.st, comp, 2, 1200), 0);
    cr_assert_eq(comp[0].rc, 0);
    fs_backoff bo = { 100, 100, 0 };
    cr_assert_eq(store_job_fail(T.st, jobs[1].id, tok[1], "boom", true, &bo,
                                1300, NULL), 0);
    cr_assert_eq(store_job_cancel(T.st, jobs[2].id, 1400, NULL), 0);

    signals(&sig, &ns);
    cr_assert_eq(ns, 6, "3 leases + complete + fail + cancel, plain none");
    for (size_t i = 0; i < ns; i++) {
        cr_assert_eq(sig[i].run_id, r.id);
        cr_assert_eq(sig[i].job.run_id, r.id);
        cr_assert_neq(sig[i].job.id, plain.id);
        cr_assert_null(sig[i].job.payload, "payload not loaded");
        if (i) cr_assert(sig[i].id > sig[i - 1].id);
    }
    /* each shows the job as it is now, not as it was when signalled */
    cr_assert_eq(sig[3].job.id, jobs[0].id);
    cr_assert_eq(sig[3].job.state, JOB_COMPLETED);
    cr_assert_str_eq(sig[3].job.result, "{\"r\":7}");
    int64_t leased = 0; /* the three leases, in any order */
    for (size_t i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            if (sig[i].job.id == jobs[k].id) leased |= 1 << k;
    cr_assert_eq(leased, 7);
    cr_assert_eq(sig[4].job.id, jobs[1].id);
    cr_assert_eq(sig[4].job.state, JOB_SCHEDULED);
    cr_assert_str_eq(sig[4].job.last_error, "boom");
    cr_assert_eq(sig[5].job.id, jobs[2].id);
    cr_assert_eq(sig[5].job.state, JOB_CANCELLED);
    int64_t last = sig[ns - 1].id;

    /* paging by after_id, and signals_done deletes */
    store_job_signal *page;
    size_t np;
    cr_assert_eq(store_job_signals(T.st, sig[1].id, 2, &page, &np), 0);
    cr_assert_eq(np, 2);
    cr_assert_eq(page[0].id, sig[2].id);
    store_job_signals_free(page, np);
    int64_t done[6];
    for (size_t i = 0; i < ns; i++) done[i] = sig[i].id;
    store_job_signals_free(sig, ns);
    cr_assert_eq(store_run_commit(T.st, NULL, 0, done, 6, 1500), 0,
                 "a commit may only delete signals");
    signals(&sig, &ns);
    cr_assert_eq(ns, 0);
    store_job_signals_free(sig, ns);

    /* promote (scheduled -> pending), lease, rescue (-> failed), retry */
    size_t moved;
    cr_assert_eq(store_job_promote(T.st, 2000, &moved), 0);
    cr_assert_eq(moved, 1);
    cr_assert_eq(store_job_lease(T.st, &l, 2000, &got, &n), 0);
    cr_assert_eq(n, 1);
    fs_jobs_free(got, n);
    cr_assert_eq(store_job_rescue(T.st, 9000, &moved), 0);
    cr_assert_eq(moved, 1);
    cr_assert_eq(store_job_retry(T.st, jobs[1].id, 9100, NULL), 0);
    signals(&sig, &ns);
    cr_assert_eq(ns, 4);
    cr_assert(sig[0].id > last, "ids are never reused");
    for (size_t i = 0; i < ns; i++) cr_assert_eq(sig[i].job.id, jobs[1].id);
    cr_assert_eq(sig[0].job.state, JOB_PENDING, "retried by now");
    cr_assert_str_eq(sig[0].job.last_error, "lease expired");
    store_job_signals_free(sig, ns);

    /* a heartbeat is no state change */
    cr_assert_eq(store_job_lease(T.st, &l, 9200, &got, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(store_job_heartbeat(T.st, got[0].id, got[0].lease_token, 0,
                                     9300, NULL), 0);
    fs_jobs_free(got, n);
    signals(&sig, &ns);
    cr_assert_eq(ns, 5, "only the lease");
    store_job_signals_free(sig, ns);

    for (int k = 0; k < 3; k++) {
        free(tok[k]);
        fs_job_clear(&jobs[k]);
    }
    free(ptok);
    fs_job_clear(&plain);
    fs_run_clear(&r);
}

Test(store_workflows, signal_of_a_pruned_job_has_no_job)
{
    fs_run r;
    fs_job jobs[1];
    start_run(&r, 1, 1000, jobs);
    cr_assert_eq(store_job_cancel(T.st, jobs[0].id, 1100, NULL), 0);
    size_t n;
    cr_assert_eq(store_job_prune(T.st, 5000, &n), 0);
    cr_assert_eq(n, 1);
    store_job_signal *sig;
    size_t ns;
    signals(&sig, &ns);
    cr_assert_eq(ns, 1);
    cr_assert_eq(sig[0].job.id, 0);
    cr_assert_eq(sig[0].run_id, r.id);
    store_job_signals_free(sig, ns);
    fs_job_clear(&jobs[0]);
    fs_run_clear(&r);
}

Test(store_workflows, cancel_list_cancels_only_unfinished_jobs)
{
    fs_run r;
    fs_job jobs[4];
    start_run(&r, 3, 1000, jobs);
    fs_job *got;
    size_t n;
    store_lease l = lease_all(1);
    cr_assert_eq(store_job_lease(T.st, &l, 1100, &got, &n), 0);
    cr_assert_eq(n, 1);
    int64_t running = got[0].id;
    int64_t done_id = jobs[0].id == running ? jobs[1].id : jobs[0].id;
    fs_jobs_free(got, n);
    /* finish done_id by hand: lease it and complete it */
    cr_assert_eq(store_job_lease(T.st, &l, 1200, &got, &n), 0);
    cr_assert_eq(got[0].id, done_id);
    store_completion comp = { .id = done_id,
                              .lease_token = got[0].lease_token };
    cr_assert_eq(store_job_complete(T.st, &comp, 1, 1300), 0);
    fs_jobs_free(got, n);
    int64_t pending = jobs[2].id;

    int64_t cancel[4] = { running, done_id, pending, 999999 };
    fs_run bare = { .id = r.id, .rev = r.rev, .state = RUN_CANCELLED,
                    .finished_at = 1400 };
    store_run_change c = { .run = &bare, .cancel = cancel, .ncancel = 4 };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1400), 0);
    fs_job j;
    cr_assert_eq(store_job_get(T.st, running, &j), 0);
    cr_assert_eq(j.state, JOB_CANCELLED);
    cr_assert_eq(j.finished_at, 1400);
    cr_assert_null(j.lease_token);
    fs_job_clear(&j);
    cr_assert_eq(store_job_get(T.st, pending, &j), 0);
    cr_assert_eq(j.state, JOB_CANCELLED);
    fs_job_clear(&j);
    cr_assert_eq(store_job_get(T.st, done_id, &j), 0);
    cr_assert_eq(j.state, JOB_COMPLETED, "finished jobs untouched");
    cr_assert_eq(j.finished_at, 1300);
    fs_job_clear(&j);
    for (int k = 0; k < 3; k++) fs_job_clear(&jobs[k]);
    fs_run_clear(&r);
}

Test(store_workflows, run_list_filters_and_pages)
{
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        fs_run r = new_run(i % 2 ? "odd" : "even");
        if (i >= 4) r.state = RUN_COMPLETED;
        store_run_change c = { .run = &r };
        cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1000 + i), 0);
        ids[i] = r.id;
        fs_run_clear(&r);
    }
    fs_run *out;
    size_t n;
    store_run_filter f = { .state = -1, .limit = 4 };
    cr_assert_eq(store_run_list(T.st, &f, &out, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(out[0].id, ids[5], "newest first");
    cr_assert_eq(out[3].id, ids[2]);
    f.before_id = out[3].id;
    fs_runs_free(out, n);
    cr_assert_eq(store_run_list(T.st, &f, &out, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, ids[1]);
    cr_assert_eq(out[1].id, ids[0]);
    fs_runs_free(out, n);

    store_run_filter odd = { .workflow = "odd", .state = -1, .limit = 10 };
    cr_assert_eq(store_run_list(T.st, &odd, &out, &n), 0);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) cr_assert_str_eq(out[i].workflow, "odd");
    fs_runs_free(out, n);
    store_run_filter done = { .state = RUN_COMPLETED, .limit = 10 };
    cr_assert_eq(store_run_list(T.st, &done, &out, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, ids[5]);
    fs_runs_free(out, n);
    store_run_filter both = { .workflow = "even", .state = RUN_RUNNING,
                              .before_id = ids[2], .limit = 10 };
    cr_assert_eq(store_run_list(T.st, &both, &out, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].id, ids[0]);
    fs_runs_free(out, n);
    store_run_filter bad = { .state = -1, .limit = 0 };
    cr_assert_eq(store_run_list(T.st, &bad, &out, &n), FS_EINVAL);
}

Test(store_workflows, run_events_page_by_seq)
{
    fs_run r = new_run("flow");
    fs_run_event e[25];
    char name[16];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "e%d", i + 1);
        e[i] = event(name, NULL);
    }
    store_run_change c = { .run = &r, .events = e, .nevents = 10 };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1000), 0);
    c.events = e + 10;
    c.nevents = 15;
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1001), 0);
    cr_assert_eq(e[24].seq, 25);

    int64_t after = 0;
    int seen = 0;
    for (;;) {
        fs_run_event *ev;
        size_t n;
        cr_assert_eq(store_run_events(T.st, r.id, after, 7, &ev, &n), 0);
        if (n == 0) break;
        cr_assert(n <= 7);
        for (size_t i = 0; i < n; i++) {
            seen++;
            cr_assert_eq(ev[i].seq, seen);
            snprintf(name, sizeof name, "e%d", seen);
            cr_assert_str_eq(ev[i].type, name);
        }
        after = ev[n - 1].seq;
        fs_run_events_free(ev, n);
    }
    cr_assert_eq(seen, 25);
    fs_run_event *ev;
    size_t n;
    cr_assert_eq(store_run_events(T.st, r.id, 0, 0, &ev, &n), FS_EINVAL);
    cr_assert_eq(store_run_events(T.st, r.id + 1, 0, 10, &ev, &n), 0);
    cr_assert_eq(n, 0);
    free(ev);
    for (int i = 0; i < 25; i++) fs_run_event_clear(&e[i]);
    fs_run_clear(&r);
}

Test(store_workflows, run_id_survives_reopen_and_plain_enqueue_keeps_it)
{
    fs_job j = job("t");
    j.run_id = 77;
    cr_assert_eq(store_job_enqueue(T.st, &j, 1, 1000, NULL), 0);
    fs_job k = job("t");
    cr_assert_eq(store_job_enqueue(T.st, &k, 1, 1000, NULL), 0);
    tdb_reopen(&T);
    fs_job *all;
    size_t n;
    store_job_filter f = { .state = -1, .limit = 10 };
    cr_assert_eq(store_job_list(T.st, &f, &all, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(all[0].run_id, 0);
    cr_assert_eq(all[1].run_id, 77);
    fs_jobs_free(all, n);
    fs_job_clear(&j);
    fs_job_clear(&k);
}

Test(store_workflows, ten_thousand_jobs_tasks_and_events_in_one_commit)
{
    enum { N = 10000 };
    fs_run r = new_run("big");
    fs_job *jobs = calloc(N, sizeof *jobs);
    fs_run_task *t = calloc(N, sizeof *t);
    fs_run_event *e = calloc(N, sizeof *e);
    for (int i = 0; i < N; i++) {
        jobs[i] = job("step");
        t[i] = task(0, i, i);
        e[i] = event("step_scheduled", "s");
        e[i].item = i;
    }
    store_run_change c = { .run = &r, .tasks = t, .ntasks = N, .events = e,
                           .nevents = N, .jobs = jobs, .njobs = N };
    cr_assert_eq(store_run_commit(T.st, &c, 1, NULL, 0, 1000), 0);
    cr_assert_eq(t[N - 1].job_id, jobs[N - 1].id);
    cr_assert_eq(e[N - 1].seq, N);
    fs_run got;
    fs_run_task *gt;
    size_t nt;
    cr_assert_eq(store_run_get(T.st, r.id, &got, &gt, &nt), 0);
    cr_assert_eq(nt, N);
    for (size_t i = 0; i < nt; i++) {
        cr_assert_eq(gt[i].item, (int)i);
        cr_assert_eq(gt[i].job_id, jobs[i].id);
    }
    fs_run_tasks_free(gt, nt);
    fs_run_clear(&got);
    fs_run_event *ev;
    size_t ne;
    cr_assert_eq(store_run_events(T.st, r.id, N - 5, 10000, &ev, &ne), 0);
    cr_assert_eq(ne, 5);
    fs_run_events_free(ev, ne);
    fs_jobs_free(jobs, N);
    fs_run_tasks_free(t, N);
    fs_run_events_free(e, N);
    fs_run_clear(&r);
}
