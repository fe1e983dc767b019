/*
 * cli_agent.c - `flowstate agent list|show` (see cli.h).
 *
 * Design: the same three steps as cli_job.c (check input locally, open a
 * client, request and print).  `agent show ID --state` makes a second
 * request for the agent's latest persistent state, unless its state_version
 * says it has none yet; "no state yet" (also a 404 there, should the state
 * vanish in between) is shown as such and is not an error.  With --json,
 * `show --state` prints one document {"agent": <agent>, "state": <state or
 * null>}, so a script still reads one JSON value.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/clifmt.h"
#include "cli/cliopt.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/xmem.h"

static const char *status_colour(const char *status)
{
    if (!strcmp(status, "online")) return "32";
    if (!strcmp(status, "stale")) return "33";
    if (!strcmp(status, "offline")) return "31";
    return NULL;
}

enum {
    COL_ID,
    COL_NAME,
    COL_TYPE,
    COL_STATUS,
    COL_HEARTBEAT,
    COL_TYPES,
    NCOLS
};

static void print_agents(const json_t *agents)
{
    static const char *const headers[NCOLS] = {
        "ID", "NAME", "TYPE", "STATUS", "LAST HEARTBEAT", "JOB TYPES",
    };
    table *t = table_new(NCOLS, headers);
    table_set_colour(t, COL_STATUS, status_colour);
    table_set_max(t, COL_NAME, 32);
    table_set_max(t, COL_TYPE, 32);
    table_set_max(t, COL_TYPES, 48);
    int64_t now = fs_now(&fs_clock_real);
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a)
    {
        char beat[CLIFMT_CELL];
        char *types = clifmt_value(json_object_get(a, "job_types"));
        clifmt_age(json_object_get(a, "last_heartbeat"), now, beat,
                   sizeof beat);
        const char *row[NCOLS] = {
            clifmt_str(a, "id"),
            clifmt_str(a, "name"),
            clifmt_str(a, "type"),
            clifmt_str(a, "status"),
            beat,
            types,
        };
        table_add(t, row);
        free(types);
    }
    table_print(t, stdout, table_style_for(stdout));
    table_free(t);
}

static int agent_list(const cliopt_ctx *ctx, int argc, char **argv)
{
    return cliopt_show_list(ctx, argc, argv, "/v1/agents", "agents",
                            "no agents", print_agents);
}

static void print_agent(const json_t *agent)
{
    static const struct {
        const char *key;
        bool time;
    } fields[] = {
        {"id"},
        {"name"},
        {"type"},
        {"status"},
        {"job_types"},
        {"created_at", true},
        {"last_heartbeat", true},
        {"state_version"},
    };
    table *t = table_new(2, NULL);
    int64_t now = fs_now(&fs_clock_real);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        json_t *v = json_object_get(agent, fields[i].key);
        char *val = clifmt_value(v), age[CLIFMT_CELL];
        if (fields[i].time && json_is_string(v)) {
            char *with_age =
                xasprintf("%s (%s)", val, clifmt_age(v, now, age, sizeof age));
            free(val);
            val = with_age;
        }
        table_add(t, (const char *[]){fields[i].key, val});
        free(val);
    }
    table_print(t, stdout, (table_style){0});
    table_free(t);
    json_t *meta = json_object_get(agent, "metadata");
    if (meta && !json_is_null(meta)) {
        printf("metadata:\n");
        clifmt_json_block(stdout, meta, 2);
    }
}

static void print_state(const json_t *state)
{
    if (!state) {
        printf("state: none yet\n");
        return;
    }
    json_t *v = json_object_get(state, "version");
    json_t *when = json_object_get(state, "updated_at");
    char age[CLIFMT_CELL];
    printf("state (version %" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_string(when))
        printf(", written %s",
               clifmt_age(when, fs_now(&fs_clock_real), age, sizeof age));
    printf("):\n");
    clifmt_json_block(stdout, json_object_get(state, "state"), 2);
}

/*
 * GET /v1/agents/ID/state.  Returns the exit code; OUT: *state, the state
 * document, or NULL when the agent has none yet (404, not an error).
 */
static int fetch_state(client *c, const char *esc_id, json_t **state)
{
    char *path = xasprintf("/v1/agents/%s/state", esc_id);
    client_resp r;
    int code = CLI_EXIT_UNREACHABLE;
    *state = NULL;
    if (client_request(c, "GET", path, NULL, &r) != 0) goto free_path;
    if (r.status == 404) {
        code = CLI_EXIT_OK;
    } else if ((code = client_report(&r)) == CLI_EXIT_OK) {
        if (json_is_object(r.json)) {
            *state = json_incref(r.json);
        } else {
            fprintf(stderr, "flowstate: the server's answer is not an agent "
                            "state\n");
            code = CLI_EXIT_UNREACHABLE;
        }
    }
    client_resp_clear(&r);
free_path:
    free(path);
    return code;
}

static int agent_show(const cliopt_ctx *ctx, int argc, char **argv)
{
    cliopt_common common = {0};
    const char *id;
    bool with_state = false;
    const cliopt opts[] = {
        {"state", CLIOPT_FLAG, &with_state},
        {NULL},
    };
    int code;
    if (!cliopt_parse(ctx, opts, argc, argv, &common, &id, &code)) return code;
    if (!*id) return cliopt_fail(ctx, "the agent ID is empty");
    client *c;
    if (client_open(&c, &common.conn) != 0) return CLI_EXIT_USAGE;
    char *esc = client_escape(id);
    char *path = xasprintf("/v1/agents/%s", esc);
    json_t *agent, *state = NULL;
    code = client_call(c, "GET", path, NULL, &agent);
    if (code != CLI_EXIT_OK) goto free_path;
    /* state_version 0: nothing written yet, no need to ask. */
    if (with_state &&
        json_integer_value(json_object_get(agent, "state_version")))
        code = fetch_state(c, esc, &state);
    if (code != CLI_EXIT_OK) goto free_agent;
    if (common.json && with_state) {
        json_t *doc = json_pack("{s:O,s:O?}", "agent", agent, "state", state);
        clifmt_json(stdout, doc);
        json_decref(doc);
    } else if (common.json) {
        clifmt_json(stdout, agent);
    } else {
        print_agent(agent);
        if (with_state) print_state(state);
    }
free_agent:
    json_decref(state);
    json_decref(agent);
free_path:
    free(path);
    free(esc);
    client_close(c);
    return code;
}

static const cliopt_cmd agent_cmds[] = {
    {"list", agent_list, "[--json]",
     "List registered agents with their status (online, stale, offline),\n"
     "last heartbeat and the job types they accept.\n",
     NULL},
    {"show", agent_show, "ID [--state] [--json]",
     "Show one agent.\n"
     "\n"
     "options:\n"
     "  --state    also show the agent's latest persistent state; with\n"
     "             --json the output is {\"agent\": ..., \"state\": ...}\n",
     "ID"},
};

int cli_agent_main(int argc, char **argv)
{
    return cliopt_dispatch("agent",
                           "List and show the agents registered "
                           "with a flowstate server.",
                           agent_cmds, sizeof agent_cmds / sizeof *agent_cmds,
                           argc, argv);
}
