/*
 * The terminal's output path, in C: read a chunk from the pty, send it at once as a
 * websocket binary frame to every attached socket that has nothing waiting, then hand
 * the chunk back to Python (labsteps/pump.py), which feeds the screen and the shell
 * marks and queues what a socket did not take.
 *
 * Why C: a keystroke's echo crossing Python's reader thread cost nslab about 0.03 ms
 * more than a relay in C (README, Measured). Python calls nslab_pump_read through
 * ctypes, which releases the GIL, so the read, the wait and the sends run without it.
 *
 * Each socket's sink has a mutex that the websocket bridge in Python also holds around
 * its own sends and its queue, so frames from both never interleave. Lock order: a
 * pump's mutex, then a sink's. Python never takes a pump's mutex while holding a sink's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_SINKS 16     /* viewers of one terminal the pump sends to; more go Python's way */
#define STREAMING 4000   /* a read this big found the pty's buffer full: there is more */
#define SMALL 4096       /* a frame below this costs about what a full one does */
#define STREAM_GAP 0.002 /* output this soon after a chunk of 1 KiB or more is streaming */
#define STREAM_PAUSE_US 250 /* how long a small chunk of streaming output waits for more */

/* Layouts mirrored by ctypes in pump.py: 64-bit fields first, the mutex last. */
struct sink {
    int64_t fd;
    int64_t clear;   /* set by Python on every unlock: nothing waits, the pump may send */
    int64_t partial; /* the pump sent part of a frame: its rest must go out first */
    int64_t sent;    /* of the last chunk: -1 not sent, -2 socket error, else bytes sent */
    pthread_mutex_t mu;
    char spare[64 - sizeof(pthread_mutex_t)];
};

struct pump {
    int64_t pty, wake;
    int64_t last_size;
    double last_at;
    int64_t nsinks;
    struct sink *sinks[MAX_SINKS];
    pthread_mutex_t mu;
    char spare[64 - sizeof(pthread_mutex_t)];
};

int64_t nslab_sink_size(void) { return sizeof(struct sink); }
int64_t nslab_pump_size(void) { return sizeof(struct pump); }

void nslab_sink_init(struct sink *s, int fd)
{
    s->fd = fd;
    s->clear = 0;
    s->partial = 0;
    s->sent = -1;
    pthread_mutex_init(&s->mu, NULL);
}

void nslab_lock(struct sink *s) { pthread_mutex_lock(&s->mu); }
void nslab_unlock(struct sink *s) { pthread_mutex_unlock(&s->mu); }

void nslab_pump_init(struct pump *p, int pty, int wake)
{
    p->pty = pty;
    p->wake = wake;
    p->last_size = 0;
    p->last_at = 0;
    p->nsinks = 0;
    pthread_mutex_init(&p->mu, NULL);
}

/* 0, or -1 when the pump already sends to MAX_SINKS sockets (Python sends to this one). */
int nslab_pump_add(struct pump *p, struct sink *s)
{
    int ok = -1;
    pthread_mutex_lock(&p->mu);
    if (p->nsinks < MAX_SINKS) {
        p->sinks[p->nsinks++] = s;
        ok = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* After this returns the pump no longer touches s. */
void nslab_pump_remove(struct pump *p, struct sink *s)
{
    pthread_mutex_lock(&p->mu);
    for (int64_t i = 0; i < p->nsinks; i++)
        if (p->sinks[i] == s) {
            p->sinks[i] = p->sinks[--p->nsinks];
            break;
        }
    pthread_mutex_unlock(&p->mu);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* > 0 bytes read, 0 nothing just now, -1 every process closed the pty, -2 other error. */
static ssize_t read_pty(int fd, char *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r > 0)
            return r;
        if (r == 0 || errno == EIO)
            return -1;
        if (errno == EAGAIN)
            return 0;
        if (errno != EINTR)
            return -2;
    }
}

/* Up to cap bytes; the pty hands out at most 4 KiB per read. While output streams (the
 * last chunk had 1 KiB or more, moments ago), a chunk still smaller than SMALL waits
 * STREAM_PAUSE once for more: a flood of short lines (yes) would otherwise go out a few
 * hundred bytes a frame. A keystroke's echo follows no such chunk and goes at once. */
static ssize_t read_chunk(struct pump *p, char *buf, size_t cap)
{
    int streaming = p->last_size >= 1024 && now() - p->last_at < STREAM_GAP;
    size_t size = 0;
    int waited = 0;
    for (;;) {
        ssize_t r = read_pty(p->pty, buf + size, cap - size);
        if (r < 0) {
            if (size)
                break;
            return r;
        }
        size += r;
        if (size >= cap)
            break;
        if (r < STREAMING) {
            if (!streaming || size >= SMALL || waited)
                break;
            waited = 1;
            usleep(STREAM_PAUSE_US);
        }
    }
    p->last_size = size;
    p->last_at = now();
    return size;
}

static size_t frame_header(unsigned char *h, size_t size)
{
    h[0] = 0x82; /* FIN, binary */
    if (size < 126) {
        h[1] = size;
        return 2;
    }
    if (size < 65536) {
        h[1] = 126;
        h[2] = size >> 8;
        h[3] = size & 0xff;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint64_t)size >> (56 - 8 * i);
    return 10;
}

static void send_to(struct sink *s, unsigned char *head, size_t hlen, char *buf, size_t size)
{
    pthread_mutex_lock(&s->mu);
    if (!s->clear) {
        s->sent = -1;
    } else {
        struct iovec iov[2] = {{head, hlen}, {buf, size}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n;
        do
            n = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            s->sent = -2;
            s->clear = 0;
        } else {
            s->sent = n < 0 ? 0 : n;
            if ((size_t)s->sent < hlen + size) {
                s->partial = 1;
                s->clear = 0;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Wait for output (or only for the wake-up pipe when watch_pty is 0), read a chunk into
 * buf and send it to the sinks that have nothing waiting. Returns the chunk's size; 0
 * when woken or nothing came; -1 when the shell is gone; -2 on another error (errno). */
int64_t nslab_pump_read(struct pump *p, int watch_pty, char *buf, int64_t cap)
{
    struct pollfd fds[2] = {{(int)p->wake, POLLIN, 0}, {watch_pty ? (int)p->pty : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0)
        return errno == EINTR ? 0 : -2;
    if (fds[0].revents) {
        char drain[256];
        while (read(p->wake, drain, sizeof drain) > 0)
            ;
    }
    if (!fds[1].revents)
        return 0;
    ssize_t size = read_chunk(p, buf, cap);
    if (size <= 0)
        return size;
    unsigned char head[10];
    size_t hlen = frame_header(head, size);
    pthread_mutex_lock(&p->mu);
    for (int64_t i = 0; i < p->nsinks; i++)
        send_to(p->sinks[i], head, hlen, buf, size);
    pthread_mutex_unlock(&p->mu);
    return size;
}
