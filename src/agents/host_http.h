/*
 * host_http.h - the agent host over the HTTP API, for agents in another
 * process than the server (`flowstate worker --url`).
 */
#ifndef AGENTS_HOST_HTTP_H
#define AGENTS_HOST_HTTP_H
#include "agents/runtime.h"

/* url, admin_key, admin_key_file: as the CLI resolves them (client.h; any
 * may be NULL).  The admin key registers the agent; the agent's own token
 * does the rest, so each agent needs a host of its own.  Close with
 * agent_host_close. */
agent_host *host_http_open(const char *url, const char *admin_key,
                           const char *admin_key_file);

#endif
