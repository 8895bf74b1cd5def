/*
 * proxy-floor: a containerd proxy snapshotter that does no work, for bench/snapshotter-ops.sh.
 *
 * It speaks just enough HTTP/2 on a unix socket to answer gRPC calls, and answers every call
 * with the same message at once: one overlay Mount whose lowerdir option names DEPTH layers under
 * ROOT, which is the answer a Prepare, View or Mounts of a DEPTH-deep chain gets from a real
 * snapshotter (Commit and Remove ignore the field). It reads nothing, stores nothing and never
 * looks at the request, so timing ctr through containerd with this as the snapshotter gives the
 * cost of the proxy hop alone: containerd's gRPC client, the socket, the wake-ups. A real
 * snapshotter behind the proxy cannot be faster than this. Walk (List) gets the same bytes,
 * which containerd cannot parse: containerd's garbage collector logs an error for this
 * snapshotter, nothing else.
 *
 * Build: cc -O2 -o proxy-floor proxy-floor.c
 * Usage: proxy-floor SOCKET ROOT DEPTH
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { FRAME_DATA = 0, FRAME_HEADERS = 1, FRAME_SETTINGS = 4, FRAME_PING = 6, FRAME_GOAWAY = 7,
       FRAME_WINDOW_UPDATE = 8 };
enum { FLAG_ACK = 0x1, FLAG_END_STREAM = 0x1, FLAG_END_HEADERS = 0x4 };
enum { MAX_CONNS = 16, PREFACE_LEN = 24, FRAME_HEADER_LEN = 9 };

static unsigned char answer_body[1 << 20];
static size_t answer_body_len;

static size_t put_varint(unsigned char *p, size_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7) p[n++] = (unsigned char)((v & 0x7f) | 0x80);
  p[n++] = (unsigned char)v;
  return n;
}

/* a length-delimited protobuf field */
static size_t put_field(unsigned char *p, int tag, const void *data, size_t len) {
  size_t n = 0;
  p[n++] = (unsigned char)((tag << 3) | 2);
  n += put_varint(p + n, len);
  memcpy(p + n, data, len);
  return n + len;
}

/* the gRPC message: MountsResponse{mounts: [Mount{type, source, options}]}, length-prefixed */
static void build_answer(const char *root, int depth) {
  static char lower[1 << 19];
  static unsigned char mount[1 << 19], msg[1 << 19];
  size_t l = (size_t)snprintf(lower, sizeof lower, "lowerdir=");
  for (int i = depth; i >= 1 && l < sizeof lower - 4096; i--)
    l += (size_t)snprintf(lower + l, sizeof lower - l, "%s%s/snapshots/%d/fs", i == depth ? "" : ":", root, i);
  size_t m = 0;
  m += put_field(mount + m, 1, "overlay", 7);
  m += put_field(mount + m, 2, "overlay", 7);
  m += put_field(mount + m, 4, "index=off", 9);
  m += put_field(mount + m, 4, lower, l);
  size_t k = put_field(msg, 1, mount, m);
  answer_body[0] = 0; /* not compressed */
  answer_body[1] = (unsigned char)(k >> 24);
  answer_body[2] = (unsigned char)(k >> 16);
  answer_body[3] = (unsigned char)(k >> 8);
  answer_body[4] = (unsigned char)k;
  memcpy(answer_body + 5, msg, k);
  answer_body_len = 5 + k;
}

static void put_frame_header(unsigned char *p, size_t len, int type, int flags, uint32_t stream) {
  p[0] = (unsigned char)(len >> 16); p[1] = (unsigned char)(len >> 8); p[2] = (unsigned char)len;
  p[3] = (unsigned char)type; p[4] = (unsigned char)flags;
  p[5] = (unsigned char)(stream >> 24); p[6] = (unsigned char)(stream >> 16);
  p[7] = (unsigned char)(stream >> 8); p[8] = (unsigned char)stream;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* HEADERS (:status 200, content-type), DATA (the message), trailers (grpc-status 0) in one write */
static int answer(int fd, uint32_t stream) {
  /* HPACK: indexed :status 200; content-type (static name 31) literal, not indexed */
  static const unsigned char headers[] = {0x88, 0x0f, 0x10, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't',
                                          'i', 'o', 'n', '/', 'g', 'r', 'p', 'c'};
  /* HPACK: literal grpc-status: 0, new name, not indexed */
  static const unsigned char trailers[] = {0x00, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u', 's', 1, '0'};
  static unsigned char out[sizeof answer_body + 64];
  size_t o = 0;
  put_frame_header(out + o, sizeof headers, FRAME_HEADERS, FLAG_END_HEADERS, stream);
  o += FRAME_HEADER_LEN;
  memcpy(out + o, headers, sizeof headers);
  o += sizeof headers;
  put_frame_header(out + o, answer_body_len, FRAME_DATA, 0, stream);
  o += FRAME_HEADER_LEN;
  memcpy(out + o, answer_body, answer_body_len);
  o += answer_body_len;
  put_frame_header(out + o, sizeof trailers, FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, stream);
  o += FRAME_HEADER_LEN;
  memcpy(out + o, trailers, sizeof trailers);
  o += sizeof trailers;
  return write_all(fd, out, o);
}

struct conn {
  int fd;
  int seen_preface;
  size_t n;
  unsigned char buf[1 << 17];
};

/* handles the whole frames in c->buf; -1 closes the connection */
static int handle(struct conn *c) {
  size_t off = 0;
  unsigned char out[32];
  if (!c->seen_preface) {
    if (c->n < PREFACE_LEN) return 0;
    off = PREFACE_LEN;
    c->seen_preface = 1;
    put_frame_header(out, 0, FRAME_SETTINGS, 0, 0); /* our settings: the defaults */
    if (write_all(c->fd, out, FRAME_HEADER_LEN)) return -1;
  }
  while (c->n - off >= FRAME_HEADER_LEN) {
    const unsigned char *f = c->buf + off;
    size_t len = ((size_t)f[0] << 16) | ((size_t)f[1] << 8) | f[2];
    int type = f[3], flags = f[4];
    uint32_t stream = ((uint32_t)(f[5] & 0x7f) << 24) | ((uint32_t)f[6] << 16) | ((uint32_t)f[7] << 8) | f[8];
    if (len > sizeof c->buf - FRAME_HEADER_LEN) return -1;
    if (c->n - off < FRAME_HEADER_LEN + len) break;
    if (type == FRAME_SETTINGS && !(flags & FLAG_ACK)) {
      put_frame_header(out, 0, FRAME_SETTINGS, FLAG_ACK, 0);
      if (write_all(c->fd, out, FRAME_HEADER_LEN)) return -1;
    } else if (type == FRAME_PING && !(flags & FLAG_ACK) && len == 8) {
      put_frame_header(out, 8, FRAME_PING, FLAG_ACK, 0);
      memcpy(out + FRAME_HEADER_LEN, f + FRAME_HEADER_LEN, 8);
      if (write_all(c->fd, out, FRAME_HEADER_LEN + 8)) return -1;
    } else if (type == FRAME_DATA) {
      if (len > 0) { /* give the connection window back, or the client stalls after 64 KiB */
        put_frame_header(out, 4, FRAME_WINDOW_UPDATE, 0, 0);
        out[9] = (unsigned char)(len >> 24); out[10] = (unsigned char)(len >> 16);
        out[11] = (unsigned char)(len >> 8); out[12] = (unsigned char)len;
        if (write_all(c->fd, out, FRAME_HEADER_LEN + 4)) return -1;
      }
      if ((flags & FLAG_END_STREAM) && answer(c->fd, stream)) return -1;
    } else if (type == FRAME_HEADERS && (flags & FLAG_END_STREAM)) {
      if (answer(c->fd, stream)) return -1;
    } else if (type == FRAME_GOAWAY) {
      return -1;
    }
    off += FRAME_HEADER_LEN + len;
  }
  memmove(c->buf, c->buf + off, c->n - off);
  c->n -= off;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SOCKET ROOT DEPTH\n", argv[0]);
    return 2;
  }
  build_answer(argv[2], atoi(argv[3]));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    fprintf(stderr, "%s: socket path too long\n", argv[1]);
    return 1;
  }
  strcpy(addr.sun_path, argv[1]);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(argv[1]);
  if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, MAX_CONNS)) {
    perror(argv[1]);
    return 1;
  }
  static struct conn conns[MAX_CONNS];
  int nconns = 0;
  struct pollfd fds[MAX_CONNS + 1];
  for (;;) {
    fds[0] = (struct pollfd){.fd = listener, .events = POLLIN};
    for (int i = 0; i < nconns; i++) fds[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
    if (poll(fds, (nfds_t)nconns + 1, -1) < 0) {
      if (errno == EINTR) continue;
      perror("poll");
      return 1;
    }
    for (int i = nconns - 1; i >= 0; i--) {
      if (!fds[i + 1].revents) continue;
      struct conn *c = &conns[i];
      ssize_t r = read(c->fd, c->buf + c->n, sizeof c->buf - c->n);
      if (r > 0) c->n += (size_t)r;
      if (r <= 0 || handle(c) < 0) {
        close(c->fd);
        conns[i] = conns[--nconns];
      }
    }
    if ((fds[0].revents & POLLIN) && nconns < MAX_CONNS) {
      int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0) {
        conns[nconns].fd = fd;
        conns[nconns].seen_preface = 0;
        conns[nconns].n = 0;
        nconns++;
      }
    }
  }
}
