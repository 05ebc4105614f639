/* log.h - one log file per service plus stderr (shared/README.md, Logging).
 *
 * Line: "2026-11-28T12:34:56.789Z ERROR render[41] worker-2: message".
 * Control characters in the formatted message are escaped as \xNN so user text
 * cannot forge log lines. Thread-safe: one write(2) per line under O_APPEND. */
#ifndef IMGCAP_LOG_H
#define IMGCAP_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/* Parses "debug", "info", "warn"/"warning", "error". Returns the level, or -1
 * when s is none of them. */
int log_level_parse(const char *s);

/* Opens LOG_DIR/<service>.log (creating the directory) and installs the crash
 * handler (backtrace to the log on SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT) and
 * the SIGHUP handler that reopens the file. dir may be NULL or "" for stderr
 * only. Returns 0, or -1 (logged) when the directory or the file cannot be
 * opened; stderr still works. */
int log_open(const char *service, const char *dir, log_level_t level);
void log_close(void);

/* Whether each line also goes to stderr while the log file is open (default
 * yes: a container's stderr is what `docker compose logs` shows). With 0, stderr
 * gets only what cannot reach the file (before log_open(), or when it failed),
 * so a supervisor that keeps stderr beside the log files holds no second copy. */
void log_set_stderr_copy(int on);

/* Names the calling thread in log lines ("main", "worker-2"); copied. */
void log_set_thread_name(const char *name);

void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

int log_enabled(log_level_t level);

/* Writes all of buf to fd, again after EINTR. An error drops the rest:
 * logging never fails its caller. */
void log_write_all(int fd, const char *buf, size_t len);

/* Copies in[0..inlen) into out (room bytes, not terminated) with control
 * characters, DEL and the backslash escaped as \xNN, so that user-supplied text
 * cannot start a log line of its own, drive a terminal, or pass a literal
 * "\x0a" off as an escaped newline. Stops before an escape that does not fit.
 * Returns the bytes written. Used by log_write() and the api's access log. */
size_t log_escape(char *out, size_t room, const char *in, size_t inlen);

#endif
