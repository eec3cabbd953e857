/*
 * The terminal's data path, in C. Output: read a chunk from the pty, send it at once as
 * a websocket binary frame to every attached socket that has nothing waiting, then hand
 * the chunk back to Python (labsteps/pump.py), which feeds the screen and the shell
 * marks and queues what a socket did not take. Input: wait for a websocket's next bytes
 * and write the keys of whole, short binary frames to the pty at once; everything else
 * (control messages, pings, closes, fragments, what breaks the protocol) goes back to
 * Python's frame reader (web/wsframe.py) untouched.
 *
 * Why C: a keystroke's round trip through Python's threads cost nslab a few hundredths
 * of a millisecond more than a relay in C (README, Measured). Python calls in through
 * ctypes, which releases the GIL, so the waits, reads, writes and sends run without it.
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
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_SINKS 16     /* viewers of one terminal the pump sends to; more go Python's way */
#define STREAMING 4000   /* a read this big found the pty's buffer full: there is more */
#define STREAM_GAP 0.002 /* output this soon after a chunk of 1 KiB or more is streaming */
#define STREAM_WAIT_NS 250000 /* how long streaming output waits for more before it goes */
#define STREAM_MAX 0.001 /* and at most this long in all: an echo in a trickle must not wait */

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
    pthread_mutex_t mu;    /* the sinks */
    pthread_mutex_t fds;   /* around each use of pty and wake after a wait, and closed */
    int64_t closed;        /* the terminal closes the fds: their numbers may be reused */
};

#define ABI 1 /* pump.py refuses a library built from another version of this file */

int64_t nslab_abi(void) { return ABI; }
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
    p->closed = 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->fds, NULL);
}

/* From now on neither the reader nor an inlet uses the pty (nor the reader its wake-up
 * pipe): call it before closing them. */
void nslab_pump_close(struct pump *p)
{
    pthread_mutex_lock(&p->fds);
    p->closed = 1;
    pthread_mutex_unlock(&p->fds);
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

static void drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* > 0 bytes read, 0 nothing just now, -1 every process closed the pty (or the terminal
 * closed it), -2 other error. */
static ssize_t read_pty(struct pump *p, char *buf, size_t n)
{
    for (;;) {
        pthread_mutex_lock(&p->fds);
        ssize_t r = p->closed ? 0 : read(p->pty, buf, n);
        int e = errno, gone = p->closed;
        pthread_mutex_unlock(&p->fds);
        if (gone)
            return -1;
        if (r > 0)
            return r;
        if (r == 0 || e == EIO)
            return -1;
        if (e == EAGAIN)
            return 0;
        if (e != EINTR)
            return -2;
    }
}

/* Is there more output within ns nanoseconds? */
static int more_within(int fd, long ns)
{
    struct pollfd q = {fd, POLLIN, 0};
    struct timespec t = {0, ns};
    return ppoll(&q, 1, &t, NULL) > 0;
}

/* Up to cap bytes; the pty hands out at most 4 KiB per read, and refills while it is
 * read. While output streams (the last chunk had 1 KiB or more, moments ago), the chunk
 * grows while more comes within STREAM_WAIT, for STREAM_MAX at most: every frame costs a
 * send, a wake-up of the browser and an ack, and a flood of short lines (yes) would
 * otherwise go out a few hundred bytes a frame. A keystroke's echo follows no such chunk
 * and goes at once; in a trickle of output it waits STREAM_MAX at most. */
static ssize_t read_chunk(struct pump *p, char *buf, size_t cap)
{
    double start = now();
    int streaming = p->last_size >= 1024 && start - p->last_at < STREAM_GAP;
    size_t size = 0;
    for (;;) {
        ssize_t r = read_pty(p, buf + size, cap - size);
        if (r < 0) {
            if (size)
                break;
            return r;
        }
        size += r;
        if (size >= cap)
            break;
        if (r < STREAMING && !(streaming && now() - start < STREAM_MAX &&
                               more_within(p->pty, STREAM_WAIT_NS)))
            break;
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
        pthread_mutex_lock(&p->fds);
        if (!p->closed)
            drain(p->wake);
        pthread_mutex_unlock(&p->fds);
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

/* -- input ------------------------------------------------------------------------- */

#define WOKEN 0x10000 /* in events: the wake-up pipe fired (beside the socket's revents) */

struct inlet_result {
    int64_t events;     /* the socket's poll revents, | WOKEN */
    int64_t received;   /* bytes received into buf; 0 the peer closed; -1 none; -2 error */
    int64_t consumed;   /* of those, bytes of whole frames handled here; Python reads on */
    int64_t ack;        /* the largest acknowledgement among them, 0 if none */
    int64_t write_off;  /* a key frame's payload the pty did not take all of: what is */
    int64_t write_len;  /*   left of it, in buf, for Python to write as it can */
    int64_t gone;       /* the pty is closed: the shell has exited or was closed */
};

/* Write keys to the pty as far as it takes them now: bytes written, or -1: gone. */
static ssize_t write_keys(struct pump *p, const unsigned char *data, size_t n)
{
    size_t done = 0;
    pthread_mutex_lock(&p->fds);
    if (p->closed) {
        pthread_mutex_unlock(&p->fds);
        return -1;
    }
    while (done < n) {
        ssize_t w = write(p->pty, data + done, n - done);
        if (w >= 0) {
            done += w;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            pthread_mutex_unlock(&p->fds);
            return -1;
        }
    }
    pthread_mutex_unlock(&p->fds);
    return done;
}

/* {"type":"ack","bytes":N} as browsers and json.dumps write it (with or without the
 * spaces); N, or -1 when the text is anything else (Python reads it then). */
static int64_t ack_of(const unsigned char *t, size_t n)
{
    static const char *forms[] = {"{\"type\":\"ack\",\"bytes\":", "{\"type\": \"ack\", \"bytes\": "};
    for (int f = 0; f < 2; f++) {
        size_t k = strlen(forms[f]);
        if (n < k + 2 || memcmp(t, forms[f], k) != 0 || t[n - 1] != '}' || n - 1 - k > 18)
            continue;
        int64_t v = 0;
        for (size_t i = k; i < n - 1; i++) {
            if (t[i] < '0' || t[i] > '9')
                return -1;
            v = v * 10 + (t[i] - '0');
        }
        return v;
    }
    return -1;
}

/* Handle the whole, masked, final text and binary frames at the start of buf[0:n]:
 * write binary payloads (keys) to the pty unless keys is 0, note acks. Stops at the
 * first frame it leaves to Python, or at a key frame the pty did not take all of. */
static void take_frames(struct pump *p, unsigned char *buf, size_t n, int keys,
                        size_t max_frame, struct inlet_result *r)
{
    size_t pos = 0;
    while (pos + 6 <= n) {
        unsigned char b0 = buf[pos], b1 = buf[pos + 1];
        if ((b0 != 0x81 && b0 != 0x82) || !(b1 & 0x80))
            break;
        size_t len = b1 & 0x7f, head = 6;
        if (len == 127)
            break;
        if (len == 126) {
            if (pos + 8 > n)
                break;
            len = (size_t)buf[pos + 2] << 8 | buf[pos + 3];
            head = 8;
        }
        if (len > max_frame || pos + head + len > n)
            break;
        unsigned char *mask = buf + pos + head - 4, *payload = buf + pos + head;
        if (b0 == 0x81) {
            unsigned char text[64];
            if (len > sizeof text)
                break;
            for (size_t i = 0; i < len; i++)
                text[i] = payload[i] ^ mask[i & 3];
            int64_t ack = ack_of(text, len);
            if (ack < 0)
                break;
            if (ack > r->ack)
                r->ack = ack;
            pos += head + len;
            continue;
        }
        pos += head + len;
        r->consumed = pos;
        if (!keys || len == 0)
            continue;
        for (size_t i = 0; i < len; i++)
            payload[i] ^= mask[i & 3];
        ssize_t w = write_keys(p, payload, len);
        if (w < 0) {
            r->gone = 1;
            return;
        }
        if ((size_t)w < len) {
            r->write_off = payload + w - buf;
            r->write_len = len - w;
            return;
        }
    }
    r->consumed = pos;
}

/* Wait up to timeout_ms for the socket (readable, or writable if want_out) or the
 * wake-up pipe; read what came, and when fast (Python's frame reader holds nothing
 * unfinished) handle the frames at its start. See struct inlet_result. */
void nslab_inlet_wait(struct pump *p, int sock, int wake, int timeout_ms, int want_out,
                      int fast, int keys, int64_t max_frame, char *buf, int64_t cap,
                      struct inlet_result *r)
{
    struct pollfd fds[2] = {{sock, POLLIN | (want_out ? POLLOUT : 0), 0}, {wake, POLLIN, 0}};
    memset(r, 0, sizeof *r);
    r->received = -1;
    if (poll(fds, 2, timeout_ms) < 0)
        return;
    r->events = fds[0].revents;
    if (fds[1].revents) {
        drain(wake);
        r->events |= WOKEN;
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    ssize_t n;
    do
        n = recv(sock, buf, cap, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        r->received = errno == EAGAIN ? -1 : -2;
        return;
    }
    r->received = n;
    if (fast && n > 0)
        take_frames(p, (unsigned char *)buf, n, keys, max_frame, r);
}
