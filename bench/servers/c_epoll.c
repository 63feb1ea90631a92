// The practical limit: the benchmark's servers written in C, one thread.
//
//     c_epoll <mode> [unix-socket-path]
//
// Modes: tcp-echo and unix-echo (epoll, level-triggered: one read into a
// shared buffer per readiness, written straight back; only what the socket
// did not take is kept per connection), tcp-oneshot (the seed's handler: one
// read of at most 1024 bytes, stripped, upper-cased, a newline put back,
// then close), udp-echo and unixdgram-echo (a blocking recvfrom/sendto loop:
// two system calls per datagram, nothing can do fewer without batching).
// Prints `READY {"port":N,"pid":P}` (or "path") once it listens.
//
// Build: cc -O2 -o c_epoll c_epoll.c     (deno task bench:build does it)
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *pending; /* bytes the socket has not taken yet */
  size_t len, off;
} conn_t;

static char buf[65536];
static int ep;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int listen_on(int stream, const char *path, int *port) {
  int type = stream ? SOCK_STREAM | SOCK_NONBLOCK : SOCK_DGRAM;
  int fd;
  if (path) {
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    unlink(path);
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) < 0) die("bind");
  } else {
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) < 0) die("bind");
    socklen_t len = sizeof in;
    getsockname(fd, (struct sockaddr *)&in, &len);
    *port = ntohs(in.sin_port);
  }
  if (stream && listen(fd, SOMAXCONN) < 0) die("listen");
  return fd;
}

static void ready(const char *path, int port) {
  if (path) printf("READY {\"path\":\"%s\",\"pid\":%d}\n", path, (int)getpid());
  else printf("READY {\"port\":%d,\"pid\":%d}\n", port, (int)getpid());
  fflush(stdout);
}

static void finish(conn_t *c) {
  close(c->fd); /* closing removes it from the epoll set */
  free(c->pending);
  free(c);
}

/* The seed's handler: data.strip().upper() + "\n", then close. */
static void shout(conn_t *c) {
  ssize_t n = read(c->fd, buf, 1024);
  if (n < 0 && errno == EAGAIN) return;
  size_t a = 0, b = n > 0 ? (size_t)n : 0;
  while (a < b && isspace((unsigned char)buf[a])) a++;
  while (b > a && isspace((unsigned char)buf[b - 1])) b--;
  for (size_t i = a; i < b; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
  buf[b++] = '\n';
  if (n > 0) (void)!write(c->fd, buf + a, b - a);
  finish(c);
}

/* Echo: what was read goes straight back; what the socket refuses waits for
 * EPOLLOUT, and reading stops until it has gone. */
static void echo(conn_t *c, uint32_t events) {
  if (c->pending) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    ssize_t n = write(c->fd, c->pending + c->off, c->len - c->off);
    if (n < 0) {
      if (errno != EAGAIN) finish(c);
      return;
    }
    c->off += (size_t)n;
    if (c->off < c->len) return;
    free(c->pending);
    c->pending = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return;
  }
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return;
    finish(c);
    return;
  }
  ssize_t w = write(c->fd, buf, (size_t)n);
  if (w < 0) {
    if (errno != EAGAIN) { finish(c); return; }
    w = 0;
  }
  if (w == n) return;
  c->len = (size_t)(n - w);
  c->off = 0;
  c->pending = malloc(c->len);
  if (!c->pending) die("malloc");
  memcpy(c->pending, buf + w, c->len);
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void serve_stream(int lfd, int oneshot, int tcp) {
  ep = epoll_create1(EPOLL_CLOEXEC);
  static conn_t listener;
  listener.fd = lfd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c != &listener) {
        if (oneshot) shout(c);
        else echo(c, evs[i].events);
        continue;
      }
      for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break; /* EAGAIN, or EMFILE: the backlog keeps it */
        if (tcp) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        conn_t *nc = calloc(1, sizeof *nc);
        if (!nc) die("calloc");
        nc->fd = fd;
        struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
      }
    }
  }
}

static void serve_datagrams(int fd) {
  for (;;) {
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    if (n < 0) continue;
    (void)!sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const char *path = argc > 2 && argv[2][0] ? argv[2] : NULL;
  int port = 0;
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(mode, "tcp-echo") || !strcmp(mode, "tcp-oneshot")) {
    int fd = listen_on(1, NULL, &port);
    ready(NULL, port);
    serve_stream(fd, !strcmp(mode, "tcp-oneshot"), 1);
  } else if (!strcmp(mode, "unix-echo") && path) {
    int fd = listen_on(1, path, &port);
    ready(path, 0);
    serve_stream(fd, 0, 0);
  } else if (!strcmp(mode, "udp-echo")) {
    int fd = listen_on(0, NULL, &port);
    ready(NULL, port);
    serve_datagrams(fd);
  } else if (!strcmp(mode, "unixdgram-echo") && path) {
    int fd = listen_on(0, path, &port);
    ready(path, 0);
    serve_datagrams(fd);
  }
  fprintf(stderr,
          "Unknown mode \"%s\" (or no socket path): use tcp-echo, tcp-oneshot, udp-echo, "
          "unix-echo PATH or unixdgram-echo PATH\n",
          mode);
  return 2;
}
