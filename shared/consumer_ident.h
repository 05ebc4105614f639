/* consumer_ident.h - who a queue consumer is, and when a predecessor is surely dead.
 *
 * A consumer's name keys its processing list and its heartbeat, so it must
 * differ for every process incarnation: a process restarted under the name of
 * its crashed predecessor keeps that heartbeat fresh, so the lease reaper never
 * returns the predecessor's in-flight ids, and the new process never looks at
 * them. A container restarted by its restart policy has the same hostname and,
 * under an init, the same pid: "<hostname>-<pid>" was not enough. The name is
 *
 *   <base>-<pid>-<boot>-<pidns>-<nonce>
 *
 * base   CONSUMER_NAME when set, else the hostname
 * pid    the process id, as seen in its own pid namespace
 * boot   8 hex digits: a hash of the kernel's boot id (shared by the host and
 *        its containers, different on another machine or after a reboot)
 * pidns  8 hex digits: the inode of the process's pid namespace, unique among
 *        the namespaces alive on that kernel
 * nonce  8 random hex digits: this incarnation
 *
 * boot and pidns are 0 where /proc does not tell; then nothing is presumed dead
 * and the lease reaper alone returns a dead consumer's work. */
#ifndef IMGCAP_CONSUMER_IDENT_H
#define IMGCAP_CONSUMER_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define CONSUMER_BASE_MAX 128 /* with the NUL; CONSUMER_NAME's config size */
/* base, '-', a pid, and three "-%08x" fields, with the NUL. */
#define CONSUMER_NAME_MAX (CONSUMER_BASE_MAX + 1 + 20 + 3 * 9)

typedef struct consumer_ident {
    char base[CONSUMER_BASE_MAX];
    long pid;
    uint32_t boot, pidns, nonce;
} consumer_ident_t;

/* Writes the name of id into out (at least CONSUMER_NAME_MAX bytes). Returns 0,
 * or -1 when out is too small or base is empty. */
int consumer_ident_format(const consumer_ident_t *id, char *out, size_t outlen);

/* Parses a name written by consumer_ident_format(). Returns 0, or -1 when name
 * is not one (a name of an older version, or anything else): such a consumer
 * is left to the lease reaper. */
int consumer_ident_parse(const char *name, consumer_ident_t *out);

/* True when `name` is a consumer name of exactly `base` (not of a longer base
 * that starts with it): what `--check` looks for. */
int consumer_ident_has_base(const char *name, const char *base);

/* Whether the consumer `other` is a dead predecessor of `self`, so that self
 * may return its in-flight ids at once instead of after the lease:
 *
 * - it must have our base (our hostname or our CONSUMER_NAME) and another
 *   incarnation (it is not us), and have run on this kernel (same boot);
 * - in our own pid namespace, its pid tells exactly: our own pid (then it is a
 *   finished incarnation whose pid we now hold) or a pid no longer running
 *   (pid_running(pid, arg) == 0) means dead; pid reuse by an unrelated process
 *   only makes us wait for the lease;
 * - in another pid namespace we cannot look at its processes. When the base is
 *   our hostname (no CONSUMER_NAME) and it had our pid, it is the previous
 *   incarnation of this container: a container's hostname is its id, unique
 *   among the live containers of a machine, and the restart policy starts it
 *   again only after it stopped. With a CONSUMER_NAME, several live containers
 *   of one machine may share the base and the pid, so the lease decides.
 *
 * hostname is this process's hostname. Returns why other is surely dead (a
 * constant string, for the log), or NULL when it may be alive. */
const char *consumer_ident_predecessor_dead(const consumer_ident_t *self, const char *hostname,
                                            const consumer_ident_t *other,
                                            int (*pid_running)(long pid, void *arg), void *arg);

/* FNV-1a (32 bits), for the boot id. */
uint32_t consumer_ident_hash(const char *s);

#endif
