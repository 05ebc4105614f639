/* coverage_flush.c - linked into the coverage build only (make coverage, with
 * -Wl,--wrap=raise): a service's crash handler (shared/log.c) ends by raising
 * the signal again, and a process that dies of a signal never writes its gcov
 * counters. Writing them just before a crash signal is raised lets the report
 * count the handler's lines, which the crash tests do run. Other signals pass
 * through untouched: __gcov_dump writes once per process, so a process that
 * lives on would lose everything it counted afterwards. */
#include <signal.h>

void __gcov_dump(void);
int __real_raise(int sig);
int __wrap_raise(int sig);

int __wrap_raise(int sig)
{
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT)
        __gcov_dump();
    return __real_raise(sig);
}
