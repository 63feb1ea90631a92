// loadgen: the benchmarks' closed-loop load generator (one thread, epoll).
//
// Every client slot sends one request, waits for the whole reply, checks it
// byte for byte and sends the next: requests/s is what the server sustains
// with CONNS requests outstanding. Each request carries a serial number in
// its first bytes, so a reply from another request (a stale, crossed or
// repeated one) is a mismatch, not a success.
//
//   persist  SIZE-byte lines on CONNS long-lived stream connections (TCP, or
//            Unix with -u); reads and writes at once, so 64 KiB lines do not
//            deadlock against an echo that answers chunk by chunk. With -n N
//            each connection carries N requests, then the client closes it
//            and connects again (a restart's load: no request is ever resent).
//   connect  a new connection per request: connect, send the line, read
//            until the server closes; the latency includes the connect.
//   udp      CONNS datagram sockets (UDP, or Unix datagrams with -u), each
//            connected to the server; a reply lost for 200 ms is counted in
//            "lost" and the request sent again; a late reply to an earlier
//            request is counted in "late" and ignored.
//   idle     opens CONNS connections, at most 100 connecting at once, has
//            one line echoed on each, prints its JSON (with "held") and
//            holds them until it is killed (SIGTERM/SIGINT).
//
// A failed request (in "errors") is one sent, or about to be, that got no
// full reply; "refused", "reset" and "eof" say how (a refused connect, a
// reset, EOF before the reply was complete), "other" is any other error.
//
// -w SECONDS of warm-up run first and are not counted. With -P PID, the
// server's CPU time over the measured window (user + system of PID and all
// its descendants, all threads, from /proc/PID/stat) is reported as
// server_cpu_s and cpu_us_per_req, taken at the same instants as the counts.
//
// Build: cc -O2 -o loadgen loadgen.c     (deno task bench:build does it)
// Prints one JSON line; run it without arguments for the flags.
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { M_PERSIST, M_CONNECT, M_DGRAM, M_IDLE };
enum { S_CLOSED, S_CONNECTING, S_ACTIVE, S_HELD };

#define STAMP 16              /* serial-number digits at the start of a request */
#define LOSS_NS 200000000ull  /* a datagram unanswered this long is lost */
#define RETRY_NS 1000000ull   /* back-off before reconnecting after a failure */
#define IDLE_INFLIGHT 100     /* idle mode: connections being opened at once */

typedef struct {
  int fd, state;
  int unsent;         /* a datagram the socket refused (EAGAIN): send on EPOLLOUT */
  size_t sent, got;   /* bytes of the current request written, reply read */
  int done;           /* requests answered on this connection (-n) */
  uint64_t t0;        /* when the current request started, ns */
  uint64_t retry_at;  /* S_CLOSED: reopen from then on */
  unsigned char *out, *exp, *in;
  char path[108];     /* Unix datagram client's own address */
} slot_t;

/* Latency histogram: exact microseconds below 2^SUB_BITS, then 2^SUB_BITS
 * buckets per power of two (under 1 % apart). */
#define SUB_BITS 7
#define SUB (1u << SUB_BITS)
#define BUCKETS ((int)(SUB + 40 * SUB))
static uint64_t hist[BUCKETS];

static int bucket_of(uint64_t us) {
  if (us < SUB) return (int)us;
  int k = 63 - __builtin_clzll(us); /* us in [2^k, 2^(k+1)) */
  int shift = k - SUB_BITS;
  int b = SUB + shift * SUB + (int)((us >> shift) - SUB);
  return b < BUCKETS ? b : BUCKETS - 1;
}

static uint64_t bucket_value(int b) { /* the middle of the bucket */
  if (b < (int)SUB) return (uint64_t)b;
  int shift = (b - SUB) / SUB, sub = (b - SUB) % SUB;
  uint64_t lo = (uint64_t)(SUB + sub) << shift;
  return lo + ((1ull << shift) >> 1);
}

static const char *host = "127.0.0.1", *port = "9999", *upath = NULL;
static int nconns = 50, mode = M_PERSIST, upper = 0, per_conn = 0;
static size_t size = 64;
static double seconds = 5, warmup = 0;
static pid_t server_pid = 0;
static int callgrind = 0;   /* -G: toggle the server's callgrind instrumentation at the window's edges */

static int ep, family;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static slot_t *slots;
static uint64_t serial = 0;
static int closed = 0;  /* slots waiting to reopen */
static volatile sig_atomic_t stop = 0;

static struct {
  uint64_t requests, errors, mismatches, lost, late, busy, lat_sum_us, max_us;
  uint64_t refused, reset, eof, other; /* errors by cause */
} st;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(uint64_t t0, uint64_t t) {
  uint64_t us = (t - t0) / 1000;
  hist[bucket_of(us)]++;
  st.requests++;
  st.lat_sum_us += us;
  if (us > st.max_us) st.max_us = us;
}

/* The next request for slot s: a fresh serial number in its first bytes;
 * `exp` is the reply it must get (upper-cased with -U). */
static void stamp(slot_t *s) {
  uint64_t n = ++serial;
  size_t k = size - 1 < STAMP ? size - 1 : STAMP;
  for (size_t i = k; i-- > 0; n /= 10) {
    int d = (int)(n % 10);
    s->out[i] = upper ? (unsigned char)('a' + d) : (unsigned char)('0' + d);
    s->exp[i] = upper ? (unsigned char)('A' + d) : s->out[i];
  }
  s->sent = s->got = 0;
}

static void fill(slot_t *s) {
  static const char *letters = "abcdefghijklmnopqrstuvwxyz";
  s->out = malloc(size);
  s->exp = malloc(size);
  s->in = malloc(size + 1);
  if (!s->out || !s->exp || !s->in) { perror("malloc"); exit(1); }
  for (size_t i = 0; i + 1 < size; i++) {
    s->out[i] = upper ? (unsigned char)letters[i % 26] : (unsigned char)('0' + i % 10);
    s->exp[i] = upper ? (unsigned char)toupper(s->out[i]) : s->out[i];
  }
  s->out[size - 1] = s->exp[size - 1] = '\n';
}

/* A reply of the right shape whose serial number is not this request's. */
static int stale(const slot_t *s, size_t n) {
  size_t k = size - 1 < STAMP ? size - 1 : STAMP;
  return n == size && memcmp(s->in + k, s->exp + k, size - k) == 0;
}

enum { F_NONE, F_ERRNO, F_EOF };

/* Closes the slot's connection; `failed` says whether its request failed,
 * and how: F_ERRNO reads the cause from errno, F_EOF is an early EOF. */
static void drop(slot_t *s, int failed, uint64_t t) {
  int err = errno;
  if (s->fd >= 0) close(s->fd); /* closing removes it from the epoll set */
  s->fd = -1;
  s->state = S_CLOSED;
  s->retry_at = failed ? t + RETRY_NS : t;
  if (failed) {
    st.errors++;
    if (failed == F_EOF) st.eof++;
    else if (err == ECONNREFUSED) st.refused++;
    else if (err == ECONNRESET || err == EPIPE) st.reset++;
    else st.other++;
  }
  closed++;
}

static int open_slot(slot_t *s, uint64_t t);

/* Stream slots: write what is left of the request, read what has come. */
static void pump_stream(slot_t *s, uint32_t events) {
  uint64_t t;
  if (s->state == S_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { errno = err; drop(s, F_ERRNO, now_ns()); return; }
    if (!(events & (EPOLLOUT | EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    s->state = S_ACTIVE;
  }
  for (;;) {
    while (s->sent < size) {
      ssize_t n = send(s->fd, s->out + s->sent, size - s->sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        drop(s, F_ERRNO, now_ns());
        return;
      }
      s->sent += (size_t)n;
    }
    /* persist: never read past this reply; connect: one byte more shows a
     * reply that is too long. */
    size_t room = (mode == M_PERSIST || mode == M_IDLE ? size : size + 1) - s->got;
    if (room == 0) { st.mismatches++; drop(s, F_NONE, now_ns()); return; }
    ssize_t n = read(s->fd, s->in + s->got, room);
    if (n < 0) {
      if (errno == EAGAIN) return; /* edge-triggered: the next edge resumes */
      drop(s, F_ERRNO, now_ns());
      return;
    }
    t = now_ns();
    if (n == 0) {
      if (mode == M_CONNECT && s->got > 0) {
        if (s->got == size && memcmp(s->in, s->exp, size) == 0) record(s->t0, t);
        else st.mismatches++;
        drop(s, F_NONE, t);
        open_slot(s, t); /* closed loop: the next request at once */
      } else {
        drop(s, F_EOF, t); /* EOF before (or in the middle of) the reply */
      }
      return;
    }
    s->got += (size_t)n;
    if ((mode == M_PERSIST || mode == M_IDLE) && s->got == size) {
      if (memcmp(s->in, s->exp, size) == 0) record(s->t0, t);
      else st.mismatches++;
      if (mode == M_IDLE) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        s->state = S_HELD;
        return;
      }
      if (per_conn && ++s->done == per_conn) {
        drop(s, F_NONE, t); /* the client closes: a reply is never pending */
        open_slot(s, t);
        return;
      }
      stamp(s);
      s->t0 = t;
    }
  }
}

/* Sends the slot's datagram; a full queue (a Unix datagram server's holds
 * only net.unix.max_dgram_qlen) keeps it for the next EPOLLOUT. */
static void push_dgram(slot_t *s) {
  ssize_t n = send(s->fd, s->out, size, 0);
  s->unsent = n < 0 && errno == EAGAIN;
  if (n < 0 && !s->unsent) st.errors++; /* the server is gone: the loss timer retries */
}

static void send_dgram(slot_t *s, uint64_t t) {
  stamp(s);
  s->t0 = t;
  push_dgram(s);
}

static void pump_dgram(slot_t *s) {
  if (s->unsent) push_dgram(s);
  for (;;) {
    ssize_t n = recv(s->fd, s->in, size + 1, 0);
    if (n < 0) {
      if (errno == EAGAIN) return;
      st.errors++; /* ECONNREFUSED: the server's port or path is gone */
      return;
    }
    uint64_t t = now_ns();
    if ((size_t)n == size && memcmp(s->in, s->exp, size) == 0) record(s->t0, t);
    else if (stale(s, (size_t)n)) { st.late++; continue; }
    else st.mismatches++;
    send_dgram(s, t);
  }
}

static int open_slot(slot_t *s, uint64_t t) {
  int type = (mode == M_DGRAM ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  closed--; /* it leaves S_CLOSED; every failure below drops it back */
  int fd = socket(family, type, 0);
  s->fd = fd;
  s->done = 0;
  if (fd < 0) { drop(s, F_ERRNO, t); return -1; }
  if (mode == M_DGRAM && family == AF_UNIX) {
    /* a Unix datagram client needs an address of its own for the reply */
    struct sockaddr_un me = {.sun_family = AF_UNIX};
    snprintf(me.sun_path, sizeof me.sun_path, "%s", s->path);
    unlink(s->path);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) { drop(s, F_ERRNO, t); return -1; }
  }
  if (mode != M_DGRAM && family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  stamp(s);
  s->t0 = t;
  int r = connect(fd, (struct sockaddr *)&addr, addrlen);
  if (r < 0 && errno == EAGAIN && family == AF_UNIX && mode != M_DGRAM) {
    /* the Unix listener's backlog is full: try again shortly */
    st.busy++;
    close(fd);
    s->fd = -1;
    s->state = S_CLOSED;
    s->retry_at = t + RETRY_NS;
    closed++;
    return -1;
  }
  if (r < 0 && errno != EINPROGRESS) { drop(s, F_ERRNO, t); return -1; }
  if (mode == M_DGRAM) {
    s->state = S_ACTIVE;
    send_dgram(s, t);
  } else if (r == 0) {
    s->state = S_ACTIVE;
    pump_stream(s, EPOLLOUT);
  } else {
    s->state = S_CONNECTING; /* the connection's first edge goes on */
  }
  return 0;
}

/* CPU seconds (user + system, reaped children included) of `root` and
 * every process descending from it. */
static double tree_cpu(pid_t root) {
  typedef struct { pid_t pid, ppid; unsigned long long ticks; } proc_t;
  size_t cap = 256, n = 0;
  proc_t *ps = malloc(cap * sizeof *ps);
  DIR *d = opendir("/proc");
  if (!d || !ps) { free(ps); if (d) closedir(d); return -1; }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    char path[300], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) continue;
    buf[len] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) continue;
    char state;
    int ppid;
    unsigned long long ut, stime, cut, cst;
    /* fields 3 (state), 4 (ppid), 14-17 (utime, stime, cutime, cstime) */
    if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
               &state, &ppid, &ut, &stime, &cut, &cst) != 6) continue;
    if (n == cap) {
      proc_t *grown = realloc(ps, (cap *= 2) * sizeof *ps);
      if (!grown) break;
      ps = grown;
    }
    ps[n++] = (proc_t){atoi(e->d_name), ppid, ut + stime + cut + cst};
  }
  closedir(d);
  /* mark root, then whatever has a marked parent, until nothing changes */
  char *in = calloc(n ? n : 1, 1);
  unsigned long long ticks = 0;
  for (int changed = 1; changed && in;) {
    changed = 0;
    for (size_t i = 0; i < n; i++) {
      if (in[i]) continue;
      int mine = ps[i].pid == root;
      for (size_t j = 0; j < n && !mine; j++) mine = in[j] && ps[j].pid == ps[i].ppid;
      if (mine) in[i] = 1, changed = 1, ticks += ps[i].ticks;
    }
  }
  free(in);
  free(ps);
  return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void on_signal(int sig) { (void)sig; stop = 1; }

static int usage(void) {
  fprintf(stderr,
          "usage: loadgen [-h HOST] [-p PORT | -u PATH] [-m persist|connect|udp|idle]\n"
          "               [-c CONNS] [-s SIZE] [-d SECONDS] [-w SECONDS] [-n REQUESTS] [-U] [-P PID]\n"
          "  defaults: -h 127.0.0.1 -p 9999 -m persist -c 50 -s 64 -d 5 -w 0 -n 0\n"
          "  persist: CONNS connections each send a SIZE-byte line and wait for it back;\n"
          "           with -n, each connection closes after REQUESTS replies and reconnects\n"
          "  connect: a new connection per request: send the line, read until the server closes\n"
          "  udp:     CONNS datagram sockets (Unix datagrams with -u) each send and wait\n"
          "  idle:    open CONNS connections, one echoed line each, print, hold until killed\n"
          "  -d: measured seconds (idle: the time allowed to open them)  -w: warm-up seconds\n"
          "  -U: the reply must come back upper-cased (the seed's handler)\n"
          "  -P: the server's pid: report its CPU time (and its children's) per request\n"
          "  -G: with -P, a server under valgrind --tool=callgrind --instr-atstart=no: count its\n"
          "      instructions over the window only (callgrind_control at its edges; bench/callgrind.ts)\n");
  return 2;
}

/* Runs callgrind_control on the server and waits for it: the replies that
 * come meanwhile are read after, so a window's count and its requests agree
 * within the requests in flight at its edges. */
static void instrument(const char *what) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "callgrind_control %s %d > /dev/null", what, (int)server_pid);
  if (system(cmd) != 0) fprintf(stderr, "loadgen: %s failed\n", cmd);
}

int main(int argc, char **argv) {
  if (argc == 1) return usage();
  int opt;
  while ((opt = getopt(argc, argv, "h:p:u:m:c:s:d:w:n:UP:G")) != -1) {
    switch (opt) {
      case 'h': host = optarg; break;
      case 'p': port = optarg; break;
      case 'u': upath = optarg; break;
      case 'c': nconns = atoi(optarg); break;
      case 's': size = (size_t)atol(optarg); break;
      case 'd': seconds = atof(optarg); break;
      case 'w': warmup = atof(optarg); break;
      case 'n': per_conn = atoi(optarg); break;
      case 'U': upper = 1; break;
      case 'P': server_pid = (pid_t)atoi(optarg); break;
      case 'G': callgrind = 1; break;
      case 'm':
        if (!strcmp(optarg, "persist")) mode = M_PERSIST;
        else if (!strcmp(optarg, "connect")) mode = M_CONNECT;
        else if (!strcmp(optarg, "udp")) mode = M_DGRAM;
        else if (!strcmp(optarg, "idle")) mode = M_IDLE;
        else { fprintf(stderr, "unknown mode \"%s\": use persist, connect, udp or idle\n", optarg); return 2; }
        break;
      default: return usage();
    }
  }
  if (nconns < 1 || size < 2 || seconds <= 0 || warmup < 0 || per_conn < 0) {
    fprintf(stderr, "need -c >= 1, -s >= 2, -d > 0, -w >= 0 and -n >= 0\n");
    return 2;
  }
  if (callgrind && !server_pid) {
    fprintf(stderr, "-G needs -P: the server's pid\n");
    return 2;
  }
  if (per_conn && mode != M_PERSIST) {
    fprintf(stderr, "-n needs -m persist: connect mode makes one request per connection\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct rlimit rl; /* idle mode holds thousands of sockets */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  memset(&addr, 0, sizeof addr);
  if (upath) {
    struct sockaddr_un *un = (struct sockaddr_un *)&addr;
    un->sun_family = AF_UNIX;
    if (strlen(upath) >= sizeof un->sun_path) { fprintf(stderr, "socket path too long: %s\n", upath); return 2; }
    strcpy(un->sun_path, upath);
    addrlen = sizeof *un;
  } else {
    struct addrinfo hints = {.ai_socktype = mode == M_DGRAM ? SOCK_DGRAM : SOCK_STREAM}, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0) { fprintf(stderr, "cannot resolve %s:%s\n", host, port); return 2; }
    memcpy(&addr, res->ai_addr, res->ai_addrlen);
    addrlen = res->ai_addrlen;
    freeaddrinfo(res);
  }
  family = addr.ss_family;

  ep = epoll_create1(EPOLL_CLOEXEC);
  slots = calloc((size_t)nconns, sizeof *slots);
  int maxev = nconns < 1024 ? nconns : 1024;
  struct epoll_event *evs = malloc(sizeof *evs * (size_t)maxev);
  if (!slots || !evs) { perror("calloc"); return 1; }
  for (int i = 0; i < nconns; i++) {
    slots[i].fd = -1;
    slots[i].state = S_CLOSED;
    snprintf(slots[i].path, sizeof slots[i].path, "/tmp/loadgen-%d-%d.sock", (int)getpid(), i);
    fill(&slots[i]);
  }
  closed = nconns;

  uint64_t start = now_ns();
  if (mode == M_IDLE) {
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    int next = 0, held = 0, done = 0;
    while (!stop && done < nconns && now_ns() < deadline) {
      while (next < nconns && next - done < IDLE_INFLIGHT) {
        open_slot(&slots[next++], now_ns()); /* a failure is not retried */
      }
      int n = epoll_wait(ep, evs, maxev, 10);
      for (int i = 0; i < n; i++) pump_stream(evs[i].data.ptr, evs[i].events);
      held = done = 0;
      for (int i = 0; i < next; i++) {
        if (slots[i].state == S_HELD) held++, done++;
        else if (slots[i].state == S_CLOSED) done++; /* failed: not retried */
      }
    }
    double el = (now_ns() - start) / 1e9;
    printf("{\"mode\":\"idle\",\"held\":%d,\"conns\":%d,\"size\":%zu,\"seconds\":%.2f,"
           "\"errors\":%llu,\"mismatches\":%llu,\"busy\":%llu}\n",
           held, nconns, size, el, (unsigned long long)(nconns - held),
           (unsigned long long)st.mismatches, (unsigned long long)st.busy);
    fflush(stdout);
    sigset_t quit; /* waited for with the signals blocked: none is missed */
    sigemptyset(&quit);
    sigaddset(&quit, SIGTERM);
    sigaddset(&quit, SIGINT);
    sigprocmask(SIG_BLOCK, &quit, NULL);
    int sig;
    if (!stop) sigwait(&quit, &sig);
    return 0;
  }

  uint64_t t = start;
  for (int i = 0; i < nconns; i++) open_slot(&slots[i], t);
  uint64_t window = start + (uint64_t)(warmup * 1e9);
  uint64_t end = window + (uint64_t)(seconds * 1e9);
  int measuring = 0;
  double cpu0 = 0, self0 = 0;
  uint64_t last_scan = start;
  for (;;) {
    t = now_ns();
    if (!measuring && t >= window) {
      if (callgrind) instrument("-i on");
      /* the window opens: forget the warm-up, read the CPU clocks */
      cpu0 = server_pid ? tree_cpu(server_pid) : 0;
      self0 = self_cpu();
      memset(&st, 0, sizeof st);
      memset(hist, 0, sizeof hist);
      t = now_ns();
      window = t;
      end = t + (uint64_t)(seconds * 1e9);
      measuring = 1;
    }
    if (t >= end || stop) break;
    uint64_t until = measuring ? end : window;
    int timeout = (int)((until - t) / 1000000ull) + 1;
    if (closed > 0 && timeout > 1) timeout = 1;
    if (mode == M_DGRAM && timeout > 10) timeout = 10;
    int n = epoll_wait(ep, evs, maxev, timeout);
    for (int i = 0; i < n; i++) {
      slot_t *s = evs[i].data.ptr;
      if (s->fd < 0) continue;
      if (mode == M_DGRAM) pump_dgram(s);
      else pump_stream(s, evs[i].events);
    }
    t = now_ns();
    if (closed > 0 || (mode == M_DGRAM && t - last_scan >= 10000000ull)) {
      last_scan = t;
      for (int i = 0; i < nconns; i++) {
        slot_t *s = &slots[i];
        if (s->state == S_CLOSED && t >= s->retry_at) open_slot(s, t);
        else if (mode == M_DGRAM && s->state == S_ACTIVE && t - s->t0 > LOSS_NS) {
          st.lost++;
          send_dgram(s, t);
        }
      }
    }
  }
  /* the window closes: counts and clocks at the same instant */
  if (callgrind) instrument("-i off");
  uint64_t stop_t = now_ns();
  double server_cpu = server_pid ? tree_cpu(server_pid) - cpu0 : 0;
  double client_cpu = self_cpu() - self0;
  double el = measuring ? (stop_t - window) / 1e9 : 0;
  for (int i = 0; i < nconns; i++) {
    if (slots[i].fd >= 0) close(slots[i].fd);
    if (mode == M_DGRAM && family == AF_UNIX) unlink(slots[i].path);
  }
  uint64_t acc = 0, p50 = 0, p99 = 0;
  int got50 = 0;
  for (int b = 0; b < BUCKETS && st.requests; b++) {
    acc += hist[b];
    if (!got50 && acc * 2 >= st.requests) p50 = bucket_value(b), got50 = 1;
    if (acc * 100 >= st.requests * 99) { p99 = bucket_value(b); break; }
  }
  if (p99 > st.max_us) p99 = st.max_us;
  if (p50 > st.max_us) p50 = st.max_us;
  const char *names[] = {"persist", "connect", "udp", "idle"};
  printf("{\"mode\":\"%s\",\"transport\":\"%s\",\"conns\":%d,\"size\":%zu,\"seconds\":%.3f,"
         "\"requests\":%llu,\"rps\":%.0f,\"mbps\":%.2f,\"p50_us\":%llu,\"p99_us\":%llu,"
         "\"max_us\":%llu,\"mean_us\":%.1f,\"errors\":%llu,\"mismatches\":%llu,\"lost\":%llu,"
         "\"late\":%llu,\"busy\":%llu,\"refused\":%llu,\"reset\":%llu,\"eof\":%llu,"
         "\"other\":%llu,\"per_conn\":%d,\"client_cpu_s\":%.3f",
         names[mode], upath ? (mode == M_DGRAM ? "unixdgram" : "unix") : (mode == M_DGRAM ? "udp" : "tcp"),
         nconns, size, el, (unsigned long long)st.requests, el > 0 ? st.requests / el : 0,
         el > 0 ? st.requests * size * 2 / el / 1e6 : 0, (unsigned long long)p50,
         (unsigned long long)p99, (unsigned long long)st.max_us,
         st.requests ? (double)st.lat_sum_us / st.requests : 0, (unsigned long long)st.errors,
         (unsigned long long)st.mismatches, (unsigned long long)st.lost,
         (unsigned long long)st.late, (unsigned long long)st.busy,
         (unsigned long long)st.refused, (unsigned long long)st.reset,
         (unsigned long long)st.eof, (unsigned long long)st.other, per_conn, client_cpu);
  if (server_pid)
    printf(",\"server_cpu_s\":%.3f,\"cpu_us_per_req\":%.2f", server_cpu,
           st.requests ? server_cpu * 1e6 / st.requests : 0);
  printf("}\n");
  return 0;
}
