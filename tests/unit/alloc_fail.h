/* alloc_fail.h - allocations that fail on purpose in the unit tests.
 *
 * The unit-test binary is linked with --wrap for malloc, calloc, realloc,
 * strdup and strndup (alloc_fail.c): every allocation the project's own code
 * makes goes through a counter, and a test can make the n-th one from now
 * fail. Allocations inside shared libraries (jansson, FreeType, libjpeg,
 * glibc's own) are not counted: their failure paths are theirs to test.
 *
 * The loop of SQLite's malloc tests: run an operation with its first
 * allocation failing, then its second, and so on, until a run in which none
 * failed. Each failed run must report an error and leak nothing (make
 * test-sanitize and make test-valgrind see the leaks), the last must succeed:
 *
 *     for (fx_alloc_loop_start(); fx_alloc_loop_next();) {
 *         x = make_x(...);
 *         if (fx_alloc_failed()) ck_assert_ptr_null(x); else check x;
 *         free_x(x);
 *     }
 *
 * fx_alloc_failed() comes first after the operation: it ends the armed
 * window, so the assertions' own allocations never fail.
 *
 * Inputs are prepared before the loop: an allocation of the test's own inside
 * it would be the one that fails. */
#ifndef IMGCAP_TESTS_ALLOC_FAIL_H
#define IMGCAP_TESTS_ALLOC_FAIL_H

/* The (n+1)-th counted allocation from now fails, and only that one; n < 0:
 * none fails. Clears fx_alloc_failed(). */
void fx_alloc_fail_after(long n);

/* Whether the chosen allocation was attempted (and so failed) since
 * fx_alloc_fail_after(). Also disarms: check is linked into the test binary
 * and allocates in its assertions, so a test calls this right after the
 * operation under test, before any ck_assert. */
int fx_alloc_failed(void);

/* The loop above: _start resets it; _next returns 1 while another run is due
 * (the first, or one after a run whose chosen allocation failed), arming the
 * next allocation to fail, and 0 (disarmed) after a run where none failed. */
void fx_alloc_loop_start(void);
int fx_alloc_loop_next(void);

/* How many runs the loop made so far (at least 1 after it ends). */
long fx_alloc_loop_runs(void);

#endif
