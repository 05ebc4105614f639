/* log.c - service log: LOG_DIR/<service>.log and stderr, crash backtraces.
 *
 * Each line is formatted into a stack buffer and written with one write(2) per
 * destination, so concurrent threads never interleave within a line and the
 * crash handler can use the same file descriptor without locks. */
#include "log.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "timeutil.h"

#define LOG_LINE_MAX 4096

static char log_service[32] = "imgcap";
/* Read once by log_open(): a system call per line saved (0 before it). */
static _Atomic int log_pid;
static char log_path[PATH_MAX];
/* Set once by log_open(); SIGHUP swaps the file behind the descriptor with
 * dup3(), so a thread that loaded it never writes to a closed or reused fd.
 * Lock-free atomics: the signal handlers may touch them (C11 7.14.1.1). */
static _Atomic int log_fd = -1;
static _Atomic int log_reopen_pending;
static _Atomic int log_stderr_copy = 1; /* log_set_stderr_copy() */
static int log_min_level = LOG_INFO;
static __thread char log_thread_name[32] = "main";

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int log_level_parse(const char *s)
{
    if (!strcasecmp(s, "debug")) return LOG_DEBUG;
    if (!strcasecmp(s, "info")) return LOG_INFO;
    if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning")) return LOG_WARN;
    if (!strcasecmp(s, "error")) return LOG_ERROR;
    return -1;
}

void log_set_thread_name(const char *name)
{
    snprintf(log_thread_name, sizeof log_thread_name, "%s", name);
}

int log_enabled(log_level_t level) { return (int)level >= log_min_level; }

void log_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

static int open_log_file(void)
{
    return open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* SIGHUP: reopen on the next line, from a normal thread (open is not
 * async-signal-safe in spirit with our state). */
static void reopen_if_asked(void)
{
    if (log_path[0] == '\0' || !atomic_exchange(&log_reopen_pending, 0)) return;
    int fd = open_log_file();
    if (fd < 0) return;
    int cur = atomic_load(&log_fd);
    if (cur < 0) {
        atomic_store(&log_fd, fd);
        return;
    }
    dup3(fd, cur, O_CLOEXEC); /* atomic: writers see the old file or the new one */
    close(fd);
}

size_t log_escape(char *out, size_t room, const char *in, size_t inlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f || c == '\\') {
            if (o + 4 >= room) break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            if (o + 1 >= room) break;
            out[o++] = (char)c;
        }
    }
    return o;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if ((int)level < log_min_level) return;
    reopen_if_asked();

    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t msglen = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;

    char line[LOG_LINE_MAX + 256];
    char ts[32];
    time_format_rfc3339_ms(time_now_ms(), ts, sizeof ts);
    int pid = atomic_load(&log_pid);
    int h = snprintf(line, sizeof line, "%s %s %s[%d] %s: ", ts, level_names[level], log_service,
                     pid ? pid : (int)getpid(), log_thread_name);
    size_t len = (size_t)h;
    len += log_escape(line + len, sizeof line - len - 1, msg, msglen);
    line[len++] = '\n';

    int fd = atomic_load(&log_fd);
    if (fd >= 0) log_write_all(fd, line, len);
    if (fd < 0 || atomic_load(&log_stderr_copy)) log_write_all(STDERR_FILENO, line, len);
}

void log_set_stderr_copy(int on) { atomic_store(&log_stderr_copy, on ? 1 : 0); }

static void on_sighup(int sig)
{
    (void)sig;
    atomic_store(&log_reopen_pending, 1);
}

/* Crash handler: only async-signal-safe calls (write, backtrace_symbols_fd;
 * backtrace() is primed in log_open so it does not allocate here). */
static void on_crash(int sig)
{
    static const char head[] = " FATAL crash: signal ";
    char buf[64];
    int fd = atomic_load(&log_fd);
    void *frames[64];
    int n = backtrace(frames, 64);
    int targets[2] = {fd, fd < 0 || atomic_load(&log_stderr_copy) ? STDERR_FILENO : -1};
    for (int t = 0; t < 2; t++) {
        int out = targets[t];
        if (out < 0) continue;
        log_write_all(out, log_service, strlen(log_service));
        log_write_all(out, head, sizeof head - 1);
        int len = 0;
        int s = sig;
        char digits[8];
        do {
            digits[len++] = (char)('0' + s % 10);
            s /= 10;
        } while (s && len < 8);
        for (int i = 0; i < len; i++) buf[i] = digits[len - 1 - i];
        buf[len++] = ' ';
        log_write_all(out, buf, (size_t)len);
        const char *name = strsignal(sig); /* glibc: a static table, no allocation */
        if (name != NULL) log_write_all(out, name, strlen(name));
        log_write_all(out, ", backtrace:\n", 13);
        backtrace_symbols_fd(frames, n, out);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int log_open(const char *service, const char *dir, log_level_t level)
{
    snprintf(log_service, sizeof log_service, "%s", service);
    log_min_level = level;
    atomic_store(&log_pid, (int)getpid());

    void *prime[1];
    backtrace(prime, 1); /* loads libgcc now, not inside the crash handler */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        sigaction(crash_signals[i], &sa, NULL);
    sa.sa_handler = on_sighup;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);

    if (dir == NULL || !*dir) return 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        log_error("cannot create log directory %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(log_path, sizeof log_path, "%s/%s.log", dir, service);
    int fd = open_log_file();
    if (fd < 0) {
        log_error("cannot open log file %s: %s", log_path, strerror(errno));
        log_path[0] = '\0';
        return -1;
    }
    atomic_store(&log_fd, fd);
    return 0;
}

void log_close(void)
{
    int fd = atomic_load(&log_fd);
    atomic_store(&log_fd, -1);
    if (fd >= 0) close(fd);
}
