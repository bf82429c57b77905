/* mhd_ceiling.c: the HTTP ceiling of this box, a bare libmicrohttpd server
 * answering every request with a fixed JSON body.
 *
 *   mhd_ceiling PORT [THREADS]      (THREADS default: online cores)
 *
 * Same libmicrohttpd setup a well-tuned gateway would use: internal polling
 * thread pool of THREADS epoll loops, keep-alive. The answer is queued from
 * the second call of the access handler (the first only marks the request):
 * libmicrohttpd 0.9.75 drops keep-alive when a response is queued from the
 * very first call (see shared/NOTES.md). Runs until SIGINT/SIGTERM, then
 * exits 0. Prints "listening PORT" on stdout once ready. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

static const char _body[] = "{\"status\":\"ok\"}";
static volatile sig_atomic_t _stop;

static void _on_signal(int sig)
{
    (void)sig;
    _stop = 1;
}

static enum MHD_Result _answer(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    static int marker;
    struct MHD_Response *resp = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {
        *req_cls = &marker; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* discard any body */
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10)
                                : (unsigned)(cores > 0 ? cores : 1);
    if (port == 0 || port > 65535 || threads == 0 || threads > 256) {
        fprintf(stderr, "mhd_ceiling: bad port or thread count\n");
        return 2;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof _body - 1, (void *)_body,
                                                                MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return 1;
    MHD_add_response_header(resp, "Content-Type", "application/json");

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, _answer,
        resp, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd_ceiling: cannot listen on 127.0.0.1:%u\n", port);
        MHD_destroy_response(resp);
        return 1;
    }
    struct sigaction act = {.sa_handler = _on_signal};
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    printf("listening %u threads %u\n", port, threads);
    fflush(stdout);
    while (!_stop)
        pause();
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    return 0;
}
