/* floor: the least an HTTP client can do, as the benchmark's floor row.
 *
 *   floor HOST PORT J LIST [OUTDIR]
 *
 * J threads, each with one keep-alive connection, take the paths of LIST (one per line, e.g.
 * /small/f0.bin) in turn, send a bare GET, read the headers and Content-Length bytes of body,
 * and either discard the body or write it to OUTDIR/<last path segment>. No retries, no
 * validation, no temporaries, no rename: nothing a real downloader must do. Exit 1 on any
 * error, so a floor that did not fetch everything is never timed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char **paths;
static size_t npaths;
static atomic_size_t next_path;
static const char *host, *outdir;
static int port;

static void die(const char *what) { perror(what); exit(1); }

static void *worker(void *arg) {
    (void)arg;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static __thread char buf[1 << 16];
    size_t have = 0; /* bytes in buf not yet consumed */
    for (;;) {
        size_t i = atomic_fetch_add(&next_path, 1);
        if (i >= npaths) break;
        char req[4096];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", paths[i], host, port);
        if (write(s, req, n) != n) die("write request");
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            ssize_t r = read(s, buf + have, sizeof buf - have);
            if (r <= 0) die("read headers");
            have += r;
        }
        *end = 0;
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || !cl) { fprintf(stderr, "bad reply for %s\n", paths[i]); exit(1); }
        long long left = atoll(cl + 17);
        size_t head = end + 4 - buf;
        int fd = -1;
        if (outdir) {
            char out[4096];
            const char *name = strrchr(paths[i], '/');
            snprintf(out, sizeof out, "%s/%s", outdir, name ? name + 1 : paths[i]);
            fd = open(out, O_CREAT | O_WRONLY | O_TRUNC, 0644);
            if (fd < 0) die(out);
        }
        size_t body = have - head < (size_t)left ? have - head : (size_t)left;
        for (;;) {
            if (fd >= 0 && body && write(fd, buf + head, body) != (ssize_t)body) die("write file");
            left -= body;
            memmove(buf, buf + head + body, have - head - body);
            have -= head + body;
            head = 0;
            if (left == 0) break;
            ssize_t r = read(s, buf, sizeof buf);
            if (r <= 0) die("read body");
            have = r;
            body = (size_t)r < (size_t)left ? (size_t)r : (size_t)left;
        }
        if (fd >= 0) close(fd);
    }
    close(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: floor HOST PORT J LIST [OUTDIR]\n"); return 2; }
    host = argv[1]; port = atoi(argv[2]);
    int j = atoi(argv[3]);
    outdir = argc > 5 ? argv[5] : NULL;
    FILE *f = fopen(argv[4], "r");
    if (!f) die(argv[4]);
    char line[4096];
    size_t cap = 1024;
    paths = malloc(cap * sizeof *paths);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (npaths == cap) paths = realloc(paths, (cap *= 2) * sizeof *paths);
        paths[npaths++] = strdup(line);
    }
    pthread_t t[256];
    if (j < 1 || j > 256) j = 8;
    for (int k = 0; k < j; k++) pthread_create(&t[k], NULL, worker, NULL);
    for (int k = 0; k < j; k++) pthread_join(t[k], NULL);
    return 0;
}
