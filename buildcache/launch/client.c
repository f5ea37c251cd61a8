/* buildcache's launch client: what cargo runs as `rustc-wrapper`, once per rustc call.
 *
 * Starting Python costs ~9 ms before any of buildcache runs, and importing the hot
 * path ~6 ms more: more than a whole hit. This client hands the call to a resident
 * server (launch/server.py) that has everything imported and forks a child per call.
 * It sends its argv, environment, umask, rlimits, niceness, working directory and
 * every descriptor it holds (stdio, cargo's jobserver), and the child becomes this
 * call in all of them before it runs the ordinary Python wrapper.
 *
 * The client decides nothing about caching. It does exactly one of:
 *   - exit with the child's exit code (a hit, or a miss the child compiled);
 *   - exec what the child hands back (the compiler itself, when the cache stays
 *     out of the way: rustc then runs as cargo's own child, as without us);
 *   - exec the Python launcher (no server yet, a server that cannot serve this
 *     call exactly, or anything unexpected): the call runs as it did before the
 *     server existed, and that Python asks for a server for the next calls.
 * Ctrl-C and other termination signals are forwarded to the child's process group.
 *
 * launch/build.py compiles this with the install's interpreter, boot code and
 * socket name (launch_config.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "launch_config.h" /* LAUNCH_PYTHON, LAUNCH_BOOT, LAUNCH_SOCKET_STEM */

/* Found by launcher.py in an installed client, to tell it from pip's script. */
const char launch_marker[] = "buildcache launch client; python=" LAUNCH_PYTHON;

#define MAX_FDS 240          /* under the kernel's 253 per SCM_RIGHTS message */
/* How long the server has to fork this call's child. A stopped or wedged server (SIGSTOP,
 * a hung file system) must not hang the build: past this the call runs the ordinary way. */
#define ANSWER_SECONDS 5
#define MAX_REQUEST (64u << 20)

extern char **environ;

static volatile sig_atomic_t child_group = 0;
/* The last termination signal this call received, forwarded or not. */
static volatile sig_atomic_t received_signal = 0;

static void forward(int sig) {
    int saved = errno;
    received_signal = sig;
    if (child_group > 0)
        kill(-child_group, sig);
    errno = saved;
}

/* Ctrl-Z: the child and its compiler are in the server's session, out of the
 * terminal's job control, so they stop with this call and go on when it does (a
 * suspended build must not go on writing into the target dir). */
static void suspend(int sig) {
    (void)sig;
    int saved = errno;
    if (child_group > 0)
        kill(-child_group, SIGSTOP);
    raise(SIGSTOP); /* returns once this call is continued (fg, bg, kill -CONT) */
    if (child_group > 0)
        kill(-child_group, SIGCONT);
    errno = saved;
}

/* A termination signal ends this call as it ends the compiler and cargo: the call
 * is never run again after one (cargo may be gone by then, and a compile that
 * outlived it would write into the target dir after a later build has). */
static void die_of_received(void) {
    if (received_signal) {
        /* (restore_signals ran first: only a signal that was not ignored is received) */
        signal(received_signal, SIG_DFL);
        raise(received_signal);
        _exit(128 + received_signal);
    }
}

/* The signals this client handles, and their dispositions as cargo left them: an
 * ignored one (nohup) stays ignored here, in the child and in what either runs. */
static const int HANDLED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define NHANDLED (sizeof HANDLED / sizeof HANDLED[0])
static struct sigaction original[NHANDLED];

static void restore_signals(void) {
    for (size_t i = 0; i < NHANDLED; i++)
        sigaction(HANDLED[i], &original[i], NULL);
}

static void save_signals(void) {
    for (size_t i = 0; i < NHANDLED; i++)
        sigaction(HANDLED[i], NULL, &original[i]);
}

static void handle_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < NHANDLED; i++) {
        if (original[i].sa_handler == SIG_IGN)
            continue;
        action.sa_handler = HANDLED[i] == SIGTSTP ? suspend : forward;
        sigaction(HANDLED[i], &action, NULL);
    }
}

/* Bit n-1 set for each signal n: the blocked ones, and the ignored ones. */
static void signal_state(unsigned long long *blocked, unsigned long long *ignored) {
    sigset_t mask;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    *blocked = *ignored = 0;
    for (int sig = 1; sig <= 64 && sig < NSIG; sig++) {
        if (sigismember(&mask, sig) == 1)
            *blocked |= 1ull << (sig - 1);
        struct sigaction action;
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &action) == 0 &&
            action.sa_handler == SIG_IGN)
            *ignored |= 1ull << (sig - 1);
    }
}

/* The call as it ran before the server existed: `python -IS -c BOOT ARGS`. With a
 * socket path, that Python starts a server on it for the calls after this one. */
static void fallback(int argc, char **argv, const char *start_socket) {
    restore_signals();
    die_of_received();
    if (start_socket)
        setenv("BUILDCACHE_LAUNCH_SOCKET", start_socket, 1);
    char **args = calloc((size_t)argc + 4, sizeof(char *));
    if (args) {
        args[0] = LAUNCH_PYTHON;
        args[1] = "-IS";
        args[2] = "-c";
        args[3] = LAUNCH_BOOT;
        for (int i = 1; i < argc; i++)
            args[i + 3] = argv[i];
        execv(LAUNCH_PYTHON, args);
    }
    /* The interpreter is gone: never fail a build, run the compiler uncached. */
    unsetenv("BUILDCACHE_LAUNCH_SOCKET");
    if (argc > 1) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "buildcache: cannot run %s: %s\n", argv[1], strerror(errno));
    } else {
        fprintf(stderr, "buildcache: cannot run %s: %s\n", LAUNCH_PYTHON, strerror(errno));
    }
    _exit(127);
}

static const int LIMITS[] = {RLIMIT_CPU,   RLIMIT_FSIZE,   RLIMIT_DATA,  RLIMIT_STACK,
                             RLIMIT_CORE,  RLIMIT_NOFILE,  RLIMIT_AS,    RLIMIT_NPROC,
                             RLIMIT_MEMLOCK, RLIMIT_LOCKS, RLIMIT_SIGPENDING,
                             RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_RTPRIO};
#define NLIMITS ((int)(sizeof LIMITS / sizeof LIMITS[0]))

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static unsigned long long fnv(unsigned long long hash, const void *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hash ^= ((const unsigned char *)data)[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

/* A small /proc file's bytes (up to size-1), NUL-terminated; 0 when unreadable. */
static size_t read_small(const char *path, char *out, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        out[0] = '\0';
        return 0;
    }
    size_t done = 0;
    while (done + 1 < size) {
        ssize_t n = read(fd, out + done, size - 1 - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    out[done] = '\0';
    return done;
}

/* The lines of /proc/self/status that say what confines this process. */
static const char *const STATUS_FIELDS[] = {"Gid:",     "Groups:",  "CapInh:", "CapPrm:",
                                            "CapEff:",  "CapBnd:",  "CapAmb:", "NoNewPrivs:",
                                            "Seccomp:", "Seccomp_filters:", "Cpus_allowed_list:",
                                            "Mems_allowed_list:"};

/* What a server's children take from the server rather than from their caller, and
 * what the server cannot change for one of them: the cgroup, capabilities, seccomp,
 * CPU and memory sets, groups, OOM score, scheduling policy, niceness, I/O priority
 * and hard rlimits (FNV-1a over all of them). A server serves callers alike in all of
 * these only, so each such context gets its own server: a shared one would run an
 * editor's `cargo check` in a terminal's cgroup, an `ionice -c3` build at full I/O
 * priority or a build under dropped capabilities with the server's (the child's
 * checks, child.py, stay as the guard). */
static unsigned long long context_digest(void) {
    static char text[16384];
    unsigned long long hash = FNV_OFFSET;
    size_t n = read_small("/proc/self/cgroup", text, sizeof text);
    hash = fnv(hash, text, n);
    n = read_small("/proc/self/oom_score_adj", text, sizeof text);
    hash = fnv(hash, text, n);
    read_small("/proc/self/status", text, sizeof text);
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        for (size_t i = 0; i < sizeof STATUS_FIELDS / sizeof STATUS_FIELDS[0]; i++) {
            size_t prefix = strlen(STATUS_FIELDS[i]);
            if (length >= prefix && memcmp(line, STATUS_FIELDS[i], prefix) == 0) {
                hash = fnv(hash, line, length + 1);
                break;
            }
        }
        line = end ? end + 1 : NULL;
    }
    long numbers[4 + NLIMITS];
    errno = 0;
    numbers[0] = getpriority(PRIO_PROCESS, 0);
    numbers[1] = sched_getscheduler(0);
#ifdef SYS_ioprio_get
    numbers[2] = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
#else
    numbers[2] = -1;
#endif
    numbers[3] = (long)getgid();
    for (int i = 0; i < NLIMITS; i++) {
        struct rlimit limit;
        numbers[4 + i] = getrlimit(LIMITS[i], &limit) == 0 ? (long)limit.rlim_max : -1;
    }
    return fnv(hash, numbers, sizeof numbers);
}

/* The socket in the runtime directory runtime_dir.py names: 0 when the directory is
 * private to this user, 1 when it does not exist yet (the server creates it), -1 when
 * it is not ours or can be opened by others, or the path is too long. Its name ends
 * in the caller's context_digest: one server per user, install and context. */
static int socket_path(char *out, size_t size) {
    char dir[4096];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat info;
    if (xdg && xdg[0] == '/' && stat(xdg, &info) == 0 && S_ISDIR(info.st_mode))
        snprintf(dir, sizeof dir, "%s/buildcache", xdg);
    else
        snprintf(dir, sizeof dir, "/tmp/buildcache-%u", (unsigned)getuid());
    int n = snprintf(out, size, "%s/%s-%012llx.sock", dir, LAUNCH_SOCKET_STEM,
                     context_digest() & 0xffffffffffffull);
    if (n <= 0 || (size_t)n >= size)
        return -1;
    if (lstat(dir, &info) != 0)
        return errno == ENOENT ? 1 : -1;
    /* Someone else's directory could hold their socket, answering with their files. */
    if (!S_ISDIR(info.st_mode) || info.st_uid != getuid() || (info.st_mode & 077))
        return -1;
    return 0;
}

struct buffer {
    char *data;
    size_t length, capacity;
};

static int put(struct buffer *b, const char *text, size_t n) {
    if (b->length + n + 1 > MAX_REQUEST)
        return -1;
    if (b->length + n + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 65536;
        while (capacity < b->length + n + 1)
            capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (!grown)
            return -1;
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, text, n);
    b->data[b->length + n] = '\0';
    b->length += n + 1;
    return 0;
}

static int put_string(struct buffer *b, const char *text) { return put(b, text, strlen(text)); }

static int put_number(struct buffer *b, long long value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    return put_string(b, text);
}

static int put_unsigned(struct buffer *b, unsigned long long value) {
    char text[32];
    snprintf(text, sizeof text, "%llu", value);
    return put_string(b, text);
}

/* Every descriptor this process holds but the two it opened itself: listed, not
 * guessed up to a limit. -1 when there are more than one message can carry. */
static int open_fds(int *fds, int skip_a, int skip_b) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int count = 0, own = dirfd(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
            continue;
        int fd = atoi(entry->d_name);
        if (fd == own || fd == skip_a || fd == skip_b)
            continue;
        if (count == MAX_FDS) {
            closedir(dir);
            return -1;
        }
        fds[count++] = fd;
    }
    closedir(dir);
    return count;
}

/* The request: NUL-terminated fields (see launch/request.py, which reads them). */
static int build_request(struct buffer *b, int argc, char **argv, const int *fds, int nfds,
                         unsigned long long blocked, unsigned long long ignored) {
    mode_t mask = umask(0);
    umask(mask);
    errno = 0;
    int nice_value = getpriority(PRIO_PROCESS, 0);
    if (errno)
        return -1;
    gid_t groups[1024];
    int ngroups = getgroups(1024, groups);
    if (ngroups < 0)
        return -1;
    if (put_string(b, "buildcache-launch-1") || put_number(b, getppid()) ||
        put_number(b, (long long)mask) || put_number(b, nice_value) ||
        put_unsigned(b, blocked) || put_unsigned(b, ignored) || put_number(b, ngroups))
        return -1;
    for (int i = 0; i < ngroups; i++)
        if (put_number(b, (long long)groups[i]))
            return -1;
    int nlimits = NLIMITS;
    if (put_number(b, nlimits))
        return -1;
    for (int i = 0; i < nlimits; i++) {
        struct rlimit limit;
        if (getrlimit(LIMITS[i], &limit))
            return -1;
        if (put_number(b, LIMITS[i]) || put_unsigned(b, (unsigned long long)limit.rlim_cur) ||
            put_unsigned(b, (unsigned long long)limit.rlim_max))
            return -1;
    }
    if (put_number(b, nfds))
        return -1;
    for (int i = 0; i < nfds; i++)
        if (put_number(b, fds[i]))
            return -1;
    if (put_number(b, argc))
        return -1;
    for (int i = 0; i < argc; i++)
        if (put_string(b, argv[i]))
            return -1;
    int nenv = 0;
    while (environ[nenv])
        nenv++;
    if (put_number(b, nenv))
        return -1;
    for (int i = 0; i < nenv; i++)
        if (put_string(b, environ[i]))
            return -1;
    return 0;
}

/* The request's length, then its fields; the descriptors ride on the first bytes,
 * the working directory's first of them. */
static int send_request(int sock, struct buffer *b, int cwd, const int *fds, int nfds) {
    uint32_t length = (uint32_t)b->length;
    unsigned char header[4] = {length & 0xff, (length >> 8) & 0xff, (length >> 16) & 0xff,
                               (length >> 24) & 0xff};
    int all[MAX_FDS + 1];
    all[0] = cwd;
    memcpy(all + 1, fds, sizeof(int) * (size_t)nfds);
    size_t fd_bytes = sizeof(int) * (size_t)(nfds + 1);
    char control[CMSG_SPACE(sizeof(int) * (MAX_FDS + 1))];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = header, .iov_len = sizeof header};
    struct msghdr message = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = CMSG_SPACE(fd_bytes)};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(fd_bytes);
    memcpy(CMSG_DATA(cmsg), all, fd_bytes);
    ssize_t sent;
    do
        sent = sendmsg(sock, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)sizeof header)
        return -1;
    size_t done = 0;
    while (done < b->length) {
        ssize_t n = send(sock, b->data + done, b->length - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static int read_exact(int sock, void *out, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t got = read(sock, (char *)out + done, n - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        done += (size_t)got;
    }
    return 0;
}

/* Whether sock has something to read (or was closed) within seconds. */
static int readable_within(int sock, int seconds) {
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += seconds;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = (long)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
        if (left <= 0)
            return 0;
        struct pollfd wait_for = {.fd = sock, .events = POLLIN};
        int n = poll(&wait_for, 1, (int)left);
        if (n > 0 || (n < 0 && errno != EINTR))
            return 1; /* the read that follows says what it is */
        if (n < 0) { /* a signal: after a Ctrl-Z the time stopped does not count */
            clock_gettime(CLOCK_MONOTONIC, &end);
            end.tv_sec += seconds;
        }
    }
}

/* Whether this process may look at the child as it looks at itself: its mount
 * namespace, read through /proc, which needs ptrace read access. A sandbox the
 * child cannot see from outside (Landlock, which neither /proc/self/status nor the
 * security label shows) denies that for a process outside it: a call from inside
 * one must not run outside it (child.py checks the rest from its side). */
static int can_see(long pid) {
    char theirs[PATH_MAX], ours[PATH_MAX], link[64];
    snprintf(link, sizeof link, "/proc/%ld/ns/mnt", pid);
    ssize_t a = readlink(link, theirs, sizeof theirs - 1);
    ssize_t b = readlink("/proc/self/ns/mnt", ours, sizeof ours - 1);
    return a > 0 && a == b && memcmp(theirs, ours, (size_t)a) == 0;
}

/* A pidfd of the child (close-on-exec), or -1 where the kernel has none. */
static int open_pidfd(long pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

/* Wait for the child's answer; 1 when the child exited without one. The connection's
 * end alone cannot say so: the server keeps a copy of it (watch.py), and a server
 * that is itself stopped or stuck would keep this call waiting. */
static int died_without_answer(int sock, int pidfd) {
    if (pidfd < 0)
        return 0; /* the read says it, by the connection's end */
    for (;;) {
        struct pollfd wait_for[2] = {{.fd = sock, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int n = poll(wait_for, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || wait_for[0].revents)
            return 0; /* an answer to read, or the end */
        if (wait_for[1].revents) {
            /* It exited: an answer it wrote before that is readable by now. */
            struct pollfd answer = {.fd = sock, .events = POLLIN};
            return poll(&answer, 1, 0) == 0;
        }
    }
}

/* One reply: a kind byte, a 4-byte little-endian length, then that many bytes. */
static int read_reply(int sock, char *kind, char **payload, uint32_t *length) {
    unsigned char header[5];
    if (read_exact(sock, header, sizeof header))
        return -1;
    *kind = (char)header[0];
    *length = header[1] | (header[2] << 8) | (header[3] << 16) | ((uint32_t)header[4] << 24);
    if (*length > MAX_REQUEST)
        return -1;
    *payload = malloc(*length + 1);
    if (!*payload || read_exact(sock, *payload, *length))
        return -1;
    (*payload)[*length] = '\0';
    return 0;
}

/* What a Python started for this call would have exported before running the
 * compiler (PEP 538: a C or POSIX locale is coerced to C.UTF-8, and the compiler
 * inherits LC_CTYPE), so a handed-back compiler sees what the Python launcher's
 * would (child.py does the same for the calls it runs). */
static void coerce_c_locale(void) {
    const char *all = getenv("LC_ALL");
    if (all && *all)
        return;
    const char *effective = getenv("LC_CTYPE");
    if (!effective || !*effective)
        effective = getenv("LANG");
    if (!effective || !*effective || strcmp(effective, "C") == 0 || strcmp(effective, "POSIX") == 0)
        setenv("LC_CTYPE", "C.UTF-8", 1);
}

/* The child hands back a command (NUL-separated argv): run it as this process. */
static void exec_handed_back(char *payload, uint32_t length) {
    int count = 0;
    for (uint32_t i = 0; i < length; i++)
        count += payload[i] == '\0';
    char **args = calloc((size_t)count + 1, sizeof(char *));
    if (!args || count == 0)
        _exit(127);
    char *at = payload;
    for (int i = 0; i < count; i++) {
        args[i] = at;
        at += strlen(at) + 1;
    }
    execvp(args[0], args);
    fprintf(stderr, "buildcache: warning: cannot run %s: %s\n", args[0], strerror(errno));
    _exit(127);
}

/* BUILDCACHE_LAUNCH_SERVER: the words config.py's parse_bool reads as off (the
 * wrapper's config check names the variable when the value is no such word). */
static int switched_off(const char *value) {
    static const char *const OFF[] = {"0", "false", "no", "off"};
    if (!value)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t length = strlen(value);
    while (length && (value[length - 1] == ' ' || value[length - 1] == '\t'))
        length--;
    for (size_t i = 0; i < sizeof OFF / sizeof OFF[0]; i++)
        if (length == strlen(OFF[i]) && strncasecmp(value, OFF[i], length) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv) {
    save_signals(); /* first: every way out restores them */
    if (switched_off(getenv("BUILDCACHE_LAUNCH_SERVER")))
        fallback(argc, argv, NULL);
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int where = socket_path(path, sizeof path);
    if (where < 0)
        fallback(argc, argv, NULL);
    if (where > 0)
        fallback(argc, argv, path);

    unsigned long long blocked, ignored;
    signal_state(&blocked, &ignored); /* before our own handlers change it */
    handle_signals();

    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        fallback(argc, argv, NULL);
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0) {
        close(sock);
        fallback(argc, argv, NULL);
    }
    int fds[MAX_FDS];
    int nfds = open_fds(fds, sock, cwd);
    struct buffer request = {0};
    if (nfds < 0 || build_request(&request, argc, argv, fds, nfds, blocked, ignored)) {
        close(sock);
        close(cwd);
        fallback(argc, argv, NULL);
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, path, strlen(path) + 1);
    if (connect(sock, (struct sockaddr *)&address, sizeof address) != 0) {
        close(sock);
        close(cwd);
        fallback(argc, argv, path); /* no server listening: start one for what follows */
    }

    /* The request, and with it cargo's descriptors, goes only to a child that exists:
     * descriptors in flight to a server that never accepts (stopped, stuck on a hung
     * file system) would hold cargo's pipes open, and cargo waits for them to close.
     * The child announces itself with P; a server that does not fork one within
     * ANSWER_SECONDS is left behind: its socket is removed (the calls after this one
     * start a new server, not wait too) and this call runs the ordinary way. A child
     * forked late finds the connection closed and runs nothing. */
    char kind = 0;
    char *payload = NULL;
    uint32_t length = 0;
    if (!readable_within(sock, ANSWER_SECONDS)) {
        unlink(path);
        close(sock);
        close(cwd);
        fallback(argc, argv, NULL);
    }
    if (read_reply(sock, &kind, &payload, &length) || kind != 'P') {
        /* F: a retiring server (an upgrade) that says to start a new one */
        int retired = kind == 'F';
        close(sock);
        close(cwd);
        fallback(argc, argv, retired ? path : NULL);
    }
    long pid = strtol(payload, NULL, 10);
    free(payload);
    if (pid <= 1 || !can_see(pid)) {
        close(sock);
        close(cwd);
        fallback(argc, argv, NULL);
    }
    child_group = (sig_atomic_t)pid; /* it leads its own process group */
    if (received_signal) {
        close(sock); /* the child ends at the request's absence */
        close(cwd);
        fallback(argc, argv, NULL); /* which ends this call of the signal */
    }
    if (send_request(sock, &request, cwd, fds, nfds)) {
        /* The child is gone before it read the request: it ran nothing. */
        close(sock);
        close(cwd);
        fallback(argc, argv, NULL);
    }
    close(cwd);
    free(request.data);
    int pidfd = open_pidfd(pid);

    for (;;) {
        if (died_without_answer(sock, pidfd) || read_reply(sock, &kind, &payload, &length)) {
            /* The child died without an answer: of a signal this call forwarded
             * (fallback then ends this call of it too), or of something else (the
             * OOM killer): nothing of its call may still be running when the call
             * runs again the ordinary way. */
            kill(-child_group, SIGKILL);
            close(sock);
            fallback(argc, argv, NULL);
        }
        /* Answered: nothing more goes to the child's group, where a miss's store may
         * now run (detached_store.py), out of reach of this build's signals. */
        child_group = 0;
        switch (kind) {
        case 'X': /* done: the call's exit code */
            exit((int)strtol(payload, NULL, 10) & 0xff);
        case 'E': /* run this command in our place */
            close(sock);
            restore_signals();
            die_of_received();
            coerce_c_locale();
            exec_handed_back(payload, length);
            break;
        case 'F': /* the server cannot serve this call: the ordinary way */
            close(sock);
            fallback(argc, argv, path);
            break;
        default:
            close(sock);
            fallback(argc, argv, NULL);
        }
        free(payload);
    }
}
