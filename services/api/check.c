/* check.c - GET /health over a plain socket (see check.h). */
#include "check.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeutil.h"

/* Waits until fd is ready for events or the deadline passes. 1 ready, 0 late. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = time_mono_ms();
        if (now >= deadline) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0) return 1;
        if (n < 0 && errno != EINTR) return 0;
    }
}

int api_check_health(const config_t *cfg, int timeout_ms, char *body, size_t bodylen)
{
    uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
    const char *host = cfg->api_host;
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->api_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(body, bodylen, "%s:%s: %s", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(body, bodylen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int cerr = connect(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : errno;
    freeaddrinfo(res);
    if (cerr == EINPROGRESS) {
        socklen_t sl = sizeof cerr;
        if (!wait_fd(fd, POLLOUT, deadline))
            cerr = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &cerr, &sl) != 0)
            cerr = errno;
    }
    if (cerr != 0) {
        snprintf(body, bodylen, "connect %s:%s: %s", host, port, strerror(cerr));
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET /health HTTP/1.0\r\nHost: %s:%s\r\n\r\n", host, port);
    if (!wait_fd(fd, POLLOUT, deadline) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(body, bodylen, "send: %s", strerror(errno ? errno : ETIMEDOUT));
        close(fd);
        return -1;
    }
    char resp[8192];
    size_t len = 0;
    while (len < sizeof resp - 1 && wait_fd(fd, POLLIN, deadline)) {
        ssize_t got = recv(fd, resp + len, sizeof resp - 1 - len, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    resp[len] = '\0';
    /* "HTTP/1.x NNN ..." */
    if (len < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ' || resp[9] < '1' ||
        resp[9] > '5' || resp[10] < '0' || resp[10] > '9' || resp[11] < '0' || resp[11] > '9') {
        snprintf(body, bodylen, "no HTTP answer from %s:%s", host, port);
        return -1;
    }
    int status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, bodylen, "%s", b != NULL ? b + 4 : "");
    return status;
}
