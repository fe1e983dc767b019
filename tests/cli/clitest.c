/*
 * clitest.c - capture and canned-responder helpers of the client-command
 * tests (see clitest.h).
 *
 * The responder is one thread serving n exchanges in order, one
 * connection each (the client's keep-alive connection is closed by every
 * answer's "Connection: close", so each request opens a new one).  It
 * reads a request's headers and Content-Length bytes, records them, and
 * writes the canned answer, or, for a NULL answer, says nothing until the
 * client gives up (a silent server).
 */
#include "cli/clitest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"

capture CAP;
responder RESP;

/* ---- capturing stdout and stderr of a command ------------------------ */

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = malloc((size_t)n + 1);
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    return s;
}

void capture_begin(void)
{
    fflush(stdout);
    fflush(stderr);
    CAP.out = tmpfile();
    CAP.err = tmpfile();
    cr_assert(CAP.out && CAP.err);
    CAP.saved_out = dup(1);
    CAP.saved_err = dup(2);
    dup2(fileno(CAP.out), 1);
    dup2(fileno(CAP.err), 2);
}

void capture_end(void)
{
    fflush(stdout);
    fflush(stderr);
    dup2(CAP.saved_out, 1);
    dup2(CAP.saved_err, 2);
    close(CAP.saved_out);
    close(CAP.saved_err);
    /* The fds shared the files' offsets: seek to the end to measure. */
    fseek(CAP.out, 0, SEEK_END);
    fseek(CAP.err, 0, SEEK_END);
    free(CAP.out_text);
    free(CAP.err_text);
    CAP.out_text = slurp(CAP.out);
    CAP.err_text = slurp(CAP.err);
    fclose(CAP.out);
    fclose(CAP.err);
}

int run(char **argv)
{
    static const struct {
        const char *name;
        int (*main)(int, char **);
    } cmds[] = {
        {"job", cli_job_main},       {"agent", cli_agent_main},
        {"queue", cli_queue_main},   {"memory", cli_memory_main},
        {"search", cli_search_main}, {"import", cli_import_main},
        {"schedule", cli_schedule_main},
    };
    int argc = 0;
    while (argv[argc])
        argc++;
    int code = -1;
    capture_begin();
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[0], cmds[i].name)) code = cmds[i].main(argc, argv);
    capture_end();
    return code;
}

void setup(void)
{
    /* No settings leak in from the environment running the tests. */
    unsetenv("FLOWSTATE_URL");
    unsetenv("FLOWSTATE_API_KEY");
    unsetenv("FLOWSTATE_KEY_FILE");
    unsetenv("FLOWSTATE_DB");
    setenv("NO_COLOR", "1", 1);
}

void teardown(void)
{
    free(CAP.out_text);
    free(CAP.err_text);
    CAP.out_text = CAP.err_text = NULL;
    for (size_t i = 0; i < MAX_EXCHANGES; i++) {
        free(RESP.requests[i]);
        RESP.requests[i] = NULL;
    }
}

/* ---- a canned HTTP responder on loopback ------------------------------ */

/* Reads one request (headers, then Content-Length bytes) into buf. */
static void read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end = NULL;
    while (len + 1 < cap) {
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got <= 0) break;
        len += (size_t)got;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) end += 4;
        if (end) {
            char *cl = strcasestr(buf, "content-length:");
            size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= (size_t)(end - buf) + want) break;
        }
    }
    buf[len] = '\0';
}

static void *responder_run(void *arg)
{
    responder *r = arg;
    for (size_t i = 0; i < r->n; i++) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) return NULL;
        read_request(c, r->requests[i], REQUEST_CAP);
        if (!r->answers[i]) {
            char b; /* say nothing until the client gives up and closes */
            while (read(c, &b, 1) > 0) {
            }
        } else {
            ssize_t w = write(c, r->answers[i], strlen(r->answers[i]));
            (void)w;
        }
        close(c);
    }
    return NULL;
}

char *answer(int status, const char *body)
{
    char *s;
    cr_assert(asprintf(&s,
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                       status, strlen(body), body) > 0);
    return s;
}

void responder_start(size_t n, char **answers)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert_leq(n, MAX_EXCHANGES);
    RESP.fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(RESP.fd >= 0);
    cr_assert_eq(bind(RESP.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(RESP.fd, 8), 0);
    getsockname(RESP.fd, (struct sockaddr *)&sa, &sl);
    RESP.port = ntohs(sa.sin_port);
    RESP.n = n;
    for (size_t i = 0; i < n; i++) {
        RESP.answers[i] = answers[i];
        if (!RESP.requests[i]) RESP.requests[i] = malloc(REQUEST_CAP);
        RESP.requests[i][0] = '\0';
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", RESP.port);
    setenv("FLOWSTATE_URL", url, 1);
    cr_assert_eq(pthread_create(&RESP.thread, NULL, responder_run, &RESP), 0);
}

void responder_stop(void)
{
    pthread_join(RESP.thread, NULL);
    close(RESP.fd);
    for (size_t i = 0; i < RESP.n; i++)
        free((char *)RESP.answers[i]);
}
