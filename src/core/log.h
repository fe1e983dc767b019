/*
 * log.h - one line per event on stderr, as text or JSON.
 *
 * A line carries the time, the level, an optional request id and job id, and
 * a message.  Lines are written whole under a lock, so threads never
 * interleave; in text lines, control characters of the message show as '?'
 * so an event is always one line.  Callers must never pass a secret (key, token) in a message:
 * there is no scrubbing here by design, only the rule.
 */
#ifndef LOG_H
#define LOG_H
#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

/* Not thread-safe: call once at start. json picks the JSON line format. */
void log_setup(log_level level, bool json);
/* Parses "debug|info|warn|error|off"; false when unknown. */
bool log_level_parse(const char *s, log_level *out);
bool log_enabled(log_level level);

/* Names the request this thread is serving (NULL: none).  Lines logged
 * without an explicit req_id carry it, so a job's state changes can be
 * traced to the request that caused them.  id is copied. */
void log_set_request(const char *id);

/* req_id may be NULL (the thread's current request, if any); job_id 0
 * means none. */
void log_event(log_level level, const char *req_id, int64_t job_id,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_event(LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define log_info(...) log_event(LOG_INFO, NULL, 0, __VA_ARGS__)
#define log_warn(...) log_event(LOG_WARN, NULL, 0, __VA_ARGS__)
#define log_error(...) log_event(LOG_ERROR, NULL, 0, __VA_ARGS__)

#endif
