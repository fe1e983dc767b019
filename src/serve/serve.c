/*
 * serve.c - `flowstate serve`: flags and environment in, services up in
 * order, a signal wait, services down in reverse.
 *
 *   serve_main
 *     parse flags (usage error -> exit 2)
 *     store_open -> space_resolve -> space_embedder_open -> memory_open
 *       -> queue_open (ticker) -> sched_open (scheduler) -> registry_open
 *       -> workflow_open -> evolution_open (settings applied) -> agents
 *       -> auth_open
 *       -> http_start -> print URL and key location -> write --port-file
 *     sigwait(SIGTERM | SIGINT)          (blocked in every thread, so the
 *                                         main thread is the one that wakes)
 *     app.stopping = true                new requests get 503
 *     queue_shutdown                     long-polls return at once
 *     http_stop                          in-flight requests finish
 *     agents stop -> evolution_close -> workflow_close -> sched_close -> queue_close -> auth_close ->
 *     registry_close -> memory_close ->
 *     embed_close ->
 *     store_close -> exit 0
 *
 * serve_direct_main (`flowstate worker --db`) opens the same services but
 * the scheduler, the admin key and HTTP: built-in agents on the store.
 *
 * Leases held by workers are left to expire (or to be completed by the
 * worker after a restart, while the lease still holds); nothing is lost
 * because every acknowledged write is already durable.
 */
#include "serve/app.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/xmem.h"
#include "memory/embed.h"
#include "memory/memory.h"
#include "evolution/evolution.h"
#include "queue/sched.h"
#include "workflow/workflow.h"
#include "agents/builtin.h"
#include "agents/host_local.h"
#include "agents/llm.h"
#include "http/api.h"
#include "http/auth.h"
#include "http/server.h"

typedef struct serve_opts {
    const char *db, *host, *port_file, *key_file;
    int port;
    bool sync_normal, log_json;
    log_level level;
    size_t body_limit;
    unsigned max_long_polls;
    int64_t lease_default_ms;
    int64_t retention_ms; /* -1 = the queue's default */
    space_request space;  /* --dims, --metric, --embedder */
    const char *agents;   /* --agents: "all", "none" or names */
    int agent_concurrency;
    double evo_margin;    /* --evolution-margin, -1 = the default */
    bool evo_manual;      /* --evolution manual */
    bool direct;          /* `worker --db`: agents only (no scheduler,
                             no admin key, no HTTP) */
} serve_opts;

static void usage(FILE *out)
{
    fprintf(out,
        "usage: flowstate serve [options]\n"
        "\n"
        "Runs the HTTP/JSON API server.\n"
        "\n"
        "options:\n"
        "  --db PATH|URL        database (env FLOWSTATE_DB; ./flowstate.db)\n"
        "  --host HOST          address to listen on (127.0.0.1)\n"
        "  --port PORT          port (8080; 0 = any free port)\n"
        "  --port-file PATH     write the bound port there once listening\n"
        "  --sync full|normal   SQLite durability (full; normal may lose the\n"
        "                       last transactions on power loss)\n"
        "  --log-format text|json   log line format on stderr (text)\n"
        "  --log-level debug|info|warn|error   (info)\n"
        "  --key-file PATH      admin key file (env FLOWSTATE_KEY_FILE;\n"
        "                       flowstate.key beside the database)\n"
        "  --body-limit BYTES   largest request body (1048576)\n"
        "  --lease-default SECONDS  lease of jobs without timeout_ms (30)\n"
        "  --retention HOURS    keep completed/cancelled jobs (168; 0 = prune\n"
        "                       at the next tick)\n"
        "  --max-long-polls N   leases waiting at once; more get 429 (512)\n"
        "  --dims N             vector dimensions of a new database (1536)\n"
        "  --metric cosine|l2|ip   vector distance of a new database (cosine)\n"
        "  --embedder local|openai embedder of a new database (local)\n"
        "                       (a later start with other values is refused)\n"
        "  --agents all|none|NAME,...  built-in agents to run as threads of\n"
        "                       the server (all)\n"
        "  --agent-concurrency N   worker threads per built-in agent (2)\n"
        "  --evolution auto|manual  apply a validated change by itself when\n"
        "                       it clears the margin, or always wait for an\n"
        "                       approval (auto)\n"
        "  --evolution-margin X lift a change must show to apply by itself\n"
        "                       (0.01)\n"
        "  --help               this text\n"
        "\n"
        "environment: FLOWSTATE_API_KEY fixes the admin key;\n"
        "FLOWSTATE_LLM_URL, FLOWSTATE_LLM_MODEL, FLOWSTATE_LLM_KEY give the\n"
        "agents a language model (any OpenAI-compatible API; off by default).\n");
}

/* Strict decimal in [lo, hi]. */
static bool parse_num(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

enum {
    OPT_DB = 256, OPT_HOST, OPT_PORT, OPT_PORT_FILE, OPT_SYNC, OPT_LOG_FORMAT,
    OPT_LOG_LEVEL, OPT_KEY_FILE, OPT_BODY_LIMIT, OPT_LEASE, OPT_RETENTION,
    OPT_LONG_POLLS, OPT_DIMS, OPT_METRIC, OPT_EMBEDDER, OPT_AGENTS,
    OPT_AGENT_CONC, OPT_EVO, OPT_EVO_MARGIN, OPT_HELP,
};

/* Applies option c (long name `name`); false with a message on a bad
 * value. */
static bool apply_opt(serve_opts *o, int c, const char *name, const char *arg)
{
    int64_t v;
    switch (c) {
    case OPT_DB: o->db = arg; return true;
    case OPT_AGENTS: {
        char why[256];
        if (builtin_check(arg, why, sizeof why)) {
            fprintf(stderr, "flowstate serve: --agents: %s\n", why);
            return false;
        }
        o->agents = arg;
        return true;
    }
    case OPT_AGENT_CONC:
        if (!parse_num(arg, 1, 64, &v)) break;
        o->agent_concurrency = (int)v;
        return true;
    case OPT_EVO:
        if (strcmp(arg, "auto") && strcmp(arg, "manual")) break;
        o->evo_manual = strcmp(arg, "manual") == 0;
        return true;
    case OPT_EVO_MARGIN: {
        char *end;
        double m = strtod(arg, &end);
        if (!*arg || *end || !(m >= 0 && m <= 1)) break;
        o->evo_margin = m;
        return true;
    }
    case OPT_HOST: o->host = arg; return true;
    case OPT_PORT_FILE: o->port_file = arg; return true;
    case OPT_KEY_FILE: o->key_file = arg; return true;
    case OPT_PORT:
        if (!parse_num(arg, 0, 65535, &v)) break;
        o->port = (int)v;
        return true;
    case OPT_SYNC:
        if (strcmp(arg, "full") && strcmp(arg, "normal")) break;
        o->sync_normal = strcmp(arg, "normal") == 0;
        return true;
    case OPT_LOG_FORMAT:
        if (strcmp(arg, "text") && strcmp(arg, "json")) break;
        o->log_json = strcmp(arg, "json") == 0;
        return true;
    case OPT_LOG_LEVEL:
        if (!log_level_parse(arg, &o->level)) break;
        return true;
    case OPT_BODY_LIMIT:
        if (!parse_num(arg, 1024, 1LL << 30, &v)) break;
        o->body_limit = (size_t)v;
        return true;
    case OPT_LEASE:
        if (!parse_num(arg, 1, QUEUE_MAX_LEASE_MS / 1000, &v)) break;
        o->lease_default_ms = v * 1000;
        return true;
    case OPT_LONG_POLLS:
        if (!parse_num(arg, 1, 100000, &v)) break;
        o->max_long_polls = (unsigned)v;
        return true;
    case OPT_RETENTION:
        if (!parse_num(arg, 0, 24 * 365 * 100, &v)) break;
        o->retention_ms = v * 3600 * 1000;
        return true;
    case OPT_DIMS:
        if (!parse_num(arg, 1, SPACE_MAX_DIMS, &v)) break;
        o->space.dims = (size_t)v;
        return true;
    case OPT_METRIC:
        if (strcmp(arg, "cosine") && strcmp(arg, "l2") && strcmp(arg, "ip"))
            break;
        o->space.metric = arg;
        return true;
    case OPT_EMBEDDER:
        if (strcmp(arg, "local") && strcmp(arg, "openai")) break;
        o->space.embedder = arg;
        return true;
    }
    fprintf(stderr, "flowstate serve: bad value '%s' for --%s\n", arg, name);
    return false;
}

static void opts_default(serve_opts *o)
{
    const char *env_db = getenv("FLOWSTATE_DB");
    const char *env_key_file = getenv("FLOWSTATE_KEY_FILE");
    *o = (serve_opts){
        .db = env_db && *env_db ? env_db : "./flowstate.db",
        .host = "127.0.0.1", .port = 8080, .level = LOG_INFO,
        .key_file = env_key_file && *env_key_file ? env_key_file : NULL,
        .body_limit = 1 << 20, .retention_ms = -1, .agents = "all",
        .agent_concurrency = 2, .evo_margin = -1,
    };
}

/*
 * Parses argv (argv[0] = "serve").  Returns -1 to go on, or the exit code
 * (0 after --help, 2 on a usage error).
 */
static int parse_args(int argc, char **argv, serve_opts *o)
{
    static const struct option longs[] = {
        { "db", required_argument, NULL, OPT_DB },
        { "host", required_argument, NULL, OPT_HOST },
        { "port", required_argument, NULL, OPT_PORT },
        { "port-file", required_argument, NULL, OPT_PORT_FILE },
        { "sync", required_argument, NULL, OPT_SYNC },
        { "log-format", required_argument, NULL, OPT_LOG_FORMAT },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "key-file", required_argument, NULL, OPT_KEY_FILE },
        { "body-limit", required_argument, NULL, OPT_BODY_LIMIT },
        { "lease-default", required_argument, NULL, OPT_LEASE },
        { "retention", required_argument, NULL, OPT_RETENTION },
        { "max-long-polls", required_argument, NULL, OPT_LONG_POLLS },
        { "dims", required_argument, NULL, OPT_DIMS },
        { "metric", required_argument, NULL, OPT_METRIC },
        { "embedder", required_argument, NULL, OPT_EMBEDDER },
        { "agents", required_argument, NULL, OPT_AGENTS },
        { "agent-concurrency", required_argument, NULL, OPT_AGENT_CONC },
        { "evolution", required_argument, NULL, OPT_EVO },
        { "evolution-margin", required_argument, NULL, OPT_EVO_MARGIN },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    opts_default(o);
    optind = 1;
    int c, idx = 0;
    while ((c = getopt_long(argc, argv, "h", longs, &idx)) != -1) {
        if (c == OPT_HELP || c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == '?' || c == ':' ||
            !apply_opt(o, c, longs[idx].name, optarg))
            goto bad;
    }
    if (optind < argc) {
        fprintf(stderr, "flowstate serve: unexpected argument '%s'\n",
                argv[optind]);
        goto bad;
    }
    return -1;
bad:
    fprintf(stderr, "try 'flowstate serve --help'\n");
    return 2;
}

/* flowstate.key in the directory of the SQLite file named by db. */
static char *default_key_file(const char *db)
{
    const char *path = db;
    if (strncmp(path, "sqlite:", 7) == 0) path += 7;
    else if (strncmp(path, "file:", 5) == 0) path += 5;
    else if (strstr(path, "://")) return xstrdup("flowstate.key");
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup("flowstate.key");
    return xasprintf("%.*s/flowstate.key", (int)(slash - path), path);
}

/* Writes the port to path atomically (temp file + rename). */
static int write_port_file(const char *path, int port)
{
    char *tmp = xasprintf("%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "flowstate serve: cannot write port file %s: %s\n",
                path, strerror(errno));
        rc = FS_EIO;
    }
    free(tmp);
    return rc;
}

static void print_banner(const serve_opts *o, int port, const char *key_file,
                         auth_key_source src)
{
    bool v6 = strchr(o->host, ':') != NULL;
    printf("flowstate listening on http://%s%s%s:%d\n", v6 ? "[" : "", o->host,
           v6 ? "]" : "", port);
    switch (src) {
    case AUTH_KEY_ENV: printf("admin key: from FLOWSTATE_API_KEY\n"); break;
    case AUTH_KEY_CREATED: printf("admin key written to %s\n", key_file); break;
    case AUTH_KEY_EXISTING:
        printf("admin key: in %s (created earlier)\n", key_file);
        break;
    case AUTH_KEY_ADOPTED:
        printf("admin key: in %s (existing file)\n", key_file);
        break;
    }
    fflush(stdout);
}

/* Blocks SIGINT/SIGTERM in this thread and every thread started later;
 * SIGPIPE is ignored (a client hanging up must not kill the server). */
static void signals_block(sigset_t *set)
{
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* The vector index file beside a SQLite database: "<path>.vidx"; NULL for
 * a server database (each process builds its index at start). */
static char *index_path(const char *db)
{
    if (!strncmp(db, "sqlite:", 7)) db += 7;
    else if (!strncmp(db, "file:", 5)) db += 5;
    else if (strstr(db, "://")) return NULL; /* shared: built from the store */
    return xasprintf("%s.vidx", db);
}

/* The settings the evolution log may change in this process (evolution.h
 * on_change / check): memory.ef_search is the vector index's beam. */
#define SETTINGS_REFRESH_MS 2000
#define MEMORY_SYNC_MS 500

static int setting_check(void *ctx, const char *component, const json_t *v,
                         char *why, size_t len)
{
    (void)ctx;
    if (strcmp(component, "memory.ef_search")) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 1 &&
        json_integer_value(v) <= MEMORY_MAX_EF)
        return 0;
    snprintf(why, len, "ef_search must be an integer in 1..%d", MEMORY_MAX_EF);
    return FS_EINVAL;
}

static void setting_changed(void *ctx, const char *component, const json_t *v)
{
    fs_app *app = ctx;
    if (strcmp(component, "memory.ef_search")) return;
    int ef = v ? (int)json_integer_value(v) : app->default_ef;
    int rc = memory_set_ef(app->mem, ef);
    if (rc) log_error("evolution: cannot set ef_search %d: %s", ef, fs_strerror(rc));
    else log_info("evolution: ef_search is %d", ef);
}

/* Opens the evolution log and applies what it says is set now; a change
 * another process makes reaches this one within SETTINGS_REFRESH_MS. */
static int evolution_start(fs_app *app, const serve_opts *o)
{
    evolution_config ec = evolution_config_default();
    if (o->evo_margin >= 0) ec.policy.margin = o->evo_margin;
    ec.manual = o->evo_manual;
    ec.on_change = setting_changed;
    ec.check = setting_check;
    ec.ctx = app;
    ec.refresh_ms = SETTINGS_REFRESH_MS;
    app->default_ef = memory_ef(app->mem);
    int rc = evolution_open(&app->evo, app->st, &app->clk, &ec);
    if (!rc) rc = evolution_apply_all(app->evo);
    if (rc)
        fprintf(stderr, "flowstate serve: cannot open the evolution log: %s\n",
                fs_strerror(rc));
    return rc;
}

/* Opens every service in order; on failure closes what was opened. */
static int services_open(fs_app *app, const serve_opts *o,
                         const char *key_file, auth_key_source *src)
{
    store_options so = { .sync_normal = o->sync_normal };
    int rc = store_open(&app->st, o->db, &so);
    if (rc) {
        fprintf(stderr, "flowstate serve: cannot open database %s: %s\n",
                o->db, fs_strerror(rc));
        return rc;
    }
    char msg[512];
    if ((rc = space_resolve(app->st, &o->space, &app->space, msg,
                            sizeof msg))) {
        fprintf(stderr, "flowstate serve: %s\n", msg);
        goto close_store;
    }
    if ((rc = space_embedder_open(&app->emb, &app->space, app->st, msg,
                                  sizeof msg))) {
        fprintf(stderr, "flowstate serve: %s\n", msg);
        goto close_store;
    }
    char *vidx = index_path(o->db);
    /* other processes' documents are searchable here within about 0.5 s */
    memory_config mc = { .index_path = vidx, .sync_ms = MEMORY_SYNC_MS };
    rc = memory_open(&app->mem, app->st, app->emb, &app->space, &mc);
    app->index_path = vidx;
    if (rc) {
        fprintf(stderr, "flowstate serve: cannot load the memory: %s\n",
                fs_strerror(rc));
        goto close_embedder;
    }
    queue_config qc = queue_config_default();
    qc.ticker = true;
    qc.watch = true; /* jobs other processes add wake this one's leases */
    if (o->lease_default_ms) qc.default_lease_ms = o->lease_default_ms;
    if (o->retention_ms >= 0) qc.retention_ms = o->retention_ms;
    if ((rc = queue_open(&app->q, app->st, &app->clk, &qc))) {
        fprintf(stderr, "flowstate serve: cannot start the queue: %s\n",
                fs_strerror(rc));
        goto close_memory;
    }
    if (!o->direct &&
        (rc = sched_open(&app->sched, app->st, app->q, &app->clk, NULL))) {
        fprintf(stderr, "flowstate serve: cannot start the scheduler: %s\n",
                fs_strerror(rc));
        goto close_queue;
    }
    if ((rc = registry_open(&app->reg, app->st, &app->clk, NULL))) {
        fprintf(stderr, "flowstate serve: cannot start the registry: %s\n",
                fs_strerror(rc));
        goto close_sched;
    }
    if ((rc = workflow_open(&app->wf, app->st, app->q, &app->clk, NULL))) {
        fprintf(stderr, "flowstate serve: cannot start the workflow engine: %s\n",
                fs_strerror(rc));
        goto close_registry;
    }
    int added = workflow_install_templates(app->wf);
    if (added > 0) log_info("workflow: %d template(s) registered", added);
    if ((rc = evolution_start(app, o))) goto close_workflow;
    size_t nsched = 0;
    if (!o->direct &&
        (rc = builtin_schedules(app->st, o->agents, fs_now(&app->clk), &nsched))) {
        fprintf(stderr, "flowstate serve: cannot store the agents' schedules: %s\n",
                fs_strerror(rc));
        goto close_workflow;
    }
    if (nsched) {
        log_info("sched: %zu default schedule(s) of the built-in agents stored", nsched);
        sched_changed(app->sched);
    }
    app->agent_host = host_local_open(app->q, app->reg, app->mem, app->wf,
                                      app->evo);
    if ((rc = llm_from_env(&app->llm, msg, sizeof msg)) ||
        (rc = builtin_start(&app->agents, app->agent_host, o->agents,
                            o->agent_concurrency, app->llm, msg, sizeof msg))) {
        fprintf(stderr, "flowstate serve: %s\n", msg);
        goto close_agents;
    }
    if (o->direct) return 0;
    const char *env_key = getenv("FLOWSTATE_API_KEY");
    auth_config ac = { .env_key = env_key && *env_key ? env_key : NULL,
                       .key_file = key_file };
    if ((rc = auth_open(&app->auth, app->st, app->reg, &ac, src))) {
        fprintf(stderr, "flowstate serve: cannot set up the admin key: %s\n",
                fs_strerror(rc));
        goto close_agents;
    }
    return 0;
close_agents:
    builtin_stop(app->agents);
    llm_close(app->llm);
    agent_host_close(app->agent_host);
close_workflow:
    evolution_close(app->evo);
    workflow_close(app->wf);
close_registry:
    registry_close(app->reg);
close_sched:
    sched_close(app->sched);
close_queue:
    queue_close(app->q);
close_memory:
    memory_close(app->mem);
close_embedder:
    free(app->index_path);
    embed_close(app->emb);
close_store:
    store_close(app->st);
    return rc;
}

static void services_close(fs_app *app)
{
    builtin_stop(app->agents); /* handlers finish or hand their jobs back */
    llm_close(app->llm);
    agent_host_close(app->agent_host);
    evolution_close(app->evo);
    workflow_close(app->wf); /* before the queue: it listens to it */
    sched_close(app->sched); /* before the queue: it enqueues */
    queue_close(app->q);
    auth_close(app->auth);
    registry_close(app->reg);
    memory_close(app->mem); /* saves the vector index file */
    free(app->index_path);
    embed_close(app->emb);
    store_close(app->st);
}

int serve_main(int argc, char **argv)
{
    serve_opts o;
    sigset_t set;
    int code = parse_args(argc, argv, &o);
    if (code >= 0) return code;
    signals_block(&set);
    log_setup(o.level, o.log_json);
    char *key_file = o.key_file ? xstrdup(o.key_file) : default_key_file(o.db);
    fs_app app = { .clk = fs_clock_real, .body_limit = o.body_limit };
    atomic_init(&app.stopping, false);
    app.started_at = fs_now(&app.clk);
    auth_key_source src;
    code = 1;
    if (services_open(&app, &o, key_file, &src)) goto out;
    http_config hc = { .host = o.host, .port = o.port, .routes = api_routes,
                       .nroutes = api_nroutes,
                       .max_longpolls = o.max_long_polls };
    http_server *http;
    if (http_start(&http, &app, &hc)) {
        fprintf(stderr, "flowstate serve: cannot listen on %s:%d\n", o.host,
                o.port);
        goto close;
    }
    /* The port file says "listening" to scripts: the banner comes first. */
    print_banner(&o, http_port(http), key_file, src);
    if (o.port_file && write_port_file(o.port_file, http_port(http)))
        goto stop;
    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: shutting down", sig);
    code = 0;
stop:
    atomic_store(&app.stopping, true);
    queue_shutdown(app.q);
    http_stop(http);
    app.http = NULL;
close:
    services_close(&app);
    if (code == 0) log_info("stopped cleanly");
out:
    free(key_file);
    return code;
}

int serve_direct_main(const char *db, const char *agents, int concurrency,
                      log_level level)
{
    serve_opts o;
    sigset_t set;
    opts_default(&o);
    o.db = db;
    o.agents = agents;
    o.agent_concurrency = concurrency;
    o.level = level;
    o.direct = true;
    signals_block(&set);
    log_setup(o.level, false);
    fs_app app = { .clk = fs_clock_real };
    atomic_init(&app.stopping, false);
    app.started_at = fs_now(&app.clk);
    if (services_open(&app, &o, NULL, NULL)) return 1;
    printf("flowstate worker: agents %s working on %s\n", agents, db);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: stopping the agents", sig);
    services_close(&app);
    return 0;
}
