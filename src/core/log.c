/* log.c - text or JSON log lines on stderr (see log.h). */
#include "core/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

static struct {
    log_level level;
    bool json;
    pthread_mutex_t lock;
} L = { LOG_INFO, false, PTHREAD_MUTEX_INITIALIZER };

static const char *names[] = { "debug", "info", "warn", "error", "off" };
static _Thread_local char current_req[32];

void log_set_request(const char *id)
{
    snprintf(current_req, sizeof current_req, "%s", id ? id : "");
}

void log_setup(log_level level, bool json)
{
    L.level = level;
    L.json = json;
}

bool log_level_parse(const char *s, log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (log_level)i;
            return true;
        }
    return false;
}

bool log_enabled(log_level level) { return level >= L.level && level < LOG_OFF; }

static void emit_json(const char *ts, log_level level, const char *req_id,
                      int64_t job_id, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "time", ts, "level", names[level],
                          "msg", msg);
    if (req_id) json_object_set_new(o, "request_id", json_string(req_id));
    if (job_id) json_object_set_new(o, "job_id", json_integer(job_id));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line) return; /* invalid UTF-8 in msg: drop rather than corrupt */
    pthread_mutex_lock(&L.lock);
    fprintf(stderr, "%s\n", line);
    pthread_mutex_unlock(&L.lock);
    free(line);
}

void log_event(log_level level, const char *req_id, int64_t job_id,
               const char *fmt, ...)
{
    if (!log_enabled(level)) return;
    if (!req_id && current_req[0]) req_id = current_req;
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fs_time_format(fs_now(&fs_clock_real), ts, sizeof ts);
    if (L.json) {
        emit_json(ts, level, req_id, job_id, msg);
        return;
    }
    /* One event, one line: messages may quote client input (job types,
     * targets), whose control characters could forge or hide lines. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    char ids[96] = "";
    int n = 0;
    if (req_id) n += snprintf(ids + n, sizeof ids - (size_t)n, " req=%s", req_id);
    if (job_id) snprintf(ids + n, sizeof ids - (size_t)n, " job=%lld", (long long)job_id);
    pthread_mutex_lock(&L.lock);
    fprintf(stderr, "%s %-5s%s %s\n", ts, names[level], ids, msg);
    pthread_mutex_unlock(&L.lock);
}
