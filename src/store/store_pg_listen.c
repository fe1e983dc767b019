/*
 * store_pg_listen.c - the jobs_wait op of the PostgreSQL backend (see
 * store.h): a connection of its own, opened on first use, LISTENs on
 * channel flowstate_jobs, which a statement trigger on jobs notifies once
 * per INSERT statement (pg_conn.c, migration 9; PostgreSQL folds a
 * transaction's identical notifications into one).  A wait drains every
 * notification that arrived, so a burst of enqueues is one wake-up.
 *
 * The position (*mark) counts the notifications seen.  A lost connection
 * is dropped and opened again by the next wait; since notifications sent
 * meanwhile are lost, the first wait after a reconnect reports a wake-up
 * (the caller looks at the queue once more, which costs little).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/xmem.h"
#include "store/pg_conn.h"

struct pgs_listener {
    char *url;
    pthread_mutex_t lock; /* one waiter at a time */
    PGconn *conn;
    int64_t seen;         /* notifications, and reconnects, counted */
};

pgs_listener *pgs_listener_new(const char *url)
{
    pgs_listener *l = xcalloc(1, sizeof *l);
    l->url = xstrdup(url);
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void pgs_listener_free(pgs_listener *l)
{
    if (!l) return;
    if (l->conn) PQfinish(l->conn);
    pthread_mutex_destroy(&l->lock);
    free(l->url);
    free(l);
}

static void drop(pgs_listener *l, const char *why)
{
    log_warn("store: the job notification connection %s: %.*s", why,
             (int)strcspn(PQerrorMessage(l->conn), "\n"), PQerrorMessage(l->conn));
    PQfinish(l->conn);
    l->conn = NULL;
}

/* Opens the connection and LISTENs.  Counts as a wake-up (see the top). */
static int connect_listen(pgs_listener *l)
{
    static const char *const keys[] = { "connect_timeout", "application_name",
                                        "keepalives_idle", "keepalives_interval",
                                        "keepalives_count", "dbname", NULL };
    const char *values[] = { "10", "flowstate-listen", "30", "10", "3", l->url,
                             NULL };
    l->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        drop(l, "cannot open");
        return FS_EIO;
    }
    PGresult *r = PQexec(l->conn, "LISTEN flowstate_jobs");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        drop(l, "cannot LISTEN");
        return FS_EIO;
    }
    l->seen++;
    return 0;
}

/* Reads what arrived and counts the notifications.  OUT: *got. */
static int drain(pgs_listener *l, int64_t *got)
{
    if (!PQconsumeInput(l->conn)) {
        drop(l, "was lost");
        return FS_EIO;
    }
    PGnotify *n;
    while ((n = PQnotifies(l->conn))) {
        (*got)++;
        PQfreemem(n);
    }
    return 0;
}

/* Waits for the socket to be readable until the monotonic deadline. */
static void wait_readable(pgs_listener *l, int64_t until)
{
    int fd = PQsocket(l->conn);
    int64_t left = until - fs_mono_ms();
    if (fd < 0 || left <= 0) return;
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    struct timeval tv = { left / 1000, (left % 1000) * 1000 };
    if (select(fd + 1, &set, NULL, NULL, &tv) < 0 && errno != EINTR)
        log_warn("store: waiting for job notifications: %s", strerror(errno));
}

static int wait_locked(pgs_listener *l, int64_t until)
{
    int rc = l->conn ? 0 : connect_listen(l);
    int64_t got = 0;
    if (!rc) rc = drain(l, &got);
    while (!rc && !got && fs_mono_ms() < until) {
        wait_readable(l, until);
        rc = drain(l, &got);
    }
    l->seen += got;
    return rc;
}

int pgs_listener_wait(pgs_listener *l, int64_t *mark, int timeout_ms, bool *woke)
{
    *woke = false;
    if (timeout_ms < 1 || timeout_ms > 10000) return FS_EINVAL;
    int64_t until = fs_mono_ms() + timeout_ms;
    pthread_mutex_lock(&l->lock);
    bool first = *mark == 0;
    int rc = wait_locked(l, first ? fs_mono_ms() : until);
    if (rc) {
        pthread_mutex_unlock(&l->lock);
        int64_t left = until - fs_mono_ms(); /* no busy loop when it is down */
        if (left > 0) {
            struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
        return rc;
    }
    *woke = !first && l->seen != *mark;
    *mark = l->seen;
    pthread_mutex_unlock(&l->lock);
    return 0;
}
