/*
 * test_longpoll.c - a long-polling worker that goes away must not take
 * work with it: when its client disconnects mid-wait, the server stops
 * waiting for it instead of leasing the next job to a closed socket (which
 * would strand that job until its lease expired).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integration/it.h"

/* Sends a long-poll lease on a raw socket and returns the socket. */
static int raw_longpoll(th_server *s, const char *token)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)s->port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *body = "{\"max\":1,\"lease_seconds\":60,\"wait_ms\":20000}";
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /v1/jobs/lease HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     token, strlen(body), body);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    return fd;
}

Test(integration_longpoll, a_gone_client_does_not_lease_the_next_job,
     .timeout = 60)
{
    th_server s;
    th_server_start(&s, NULL);
    it_agent gone, live;
    it_register(&s, "gone", "w", "t", &gone);
    it_register(&s, "live", "w", "t", &live);
    int fd = raw_longpoll(&s, gone.token);
    it_sleep_ms(300); /* the server is now waiting for work on its behalf */
    close(fd);
    it_sleep_ms(300);
    json_decref(it_call(&s, "POST", "/v1/jobs",
                        "{\"type\":\"t\",\"target_agent\":\"w\"}", s.key, 201));
    json_t *l = it_call(&s, "POST", "/v1/jobs/lease",
                        "{\"max\":1,\"lease_seconds\":60,\"wait_ms\":5000}",
                        live.token, 200);
    json_t *jobs = json_object_get(l, "jobs");
    cr_assert_eq(json_array_size(jobs), 1,
                 "the live worker gets the job, not the closed socket");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(jobs, 0), "lease_owner")),
                     live.id);
    json_decref(l);
    th_server_cleanup(&s);
}
