/* pwhash_time.c: what one Argon2id password hash costs on this box, the
 * bound of POST /auth/login by design.
 *
 *   pwhash_time [HASHES_PER_THREAD=6] [THREADS=1] [OPSLIMIT=2] [MEMLIMIT=67108864]
 *
 * Runs crypto_pwhash_str (Argon2id, libsodium's interactive limits by
 * default, the cx-auth defaults) HASHES_PER_THREAD times in each of THREADS
 * threads at once and prints one line:
 *
 *   pwhash threads=T hashes=N ms_per_hash=M rate_per_s=R
 *
 * ms_per_hash is the mean wall time of one hash in one thread; rate_per_s
 * the hashes per second of all threads together. Exit 0 when it ran. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

typedef struct pw_job {
    int hashes;
    unsigned long long ops;
    size_t mem;
    int failed;
} pw_job;

static double _now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *_work(void *arg)
{
    pw_job *j = arg;
    char out[crypto_pwhash_STRBYTES];
    static const char pw[] = "correct horse battery staple";
    for (int i = 0; i < j->hashes; i++) {
        if (crypto_pwhash_str_alg(out, pw, sizeof pw - 1, j->ops, j->mem,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0)
            j->failed = 1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int hashes = argc > 1 ? atoi(argv[1]) : 6;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    pw_job job = {.hashes = hashes,
                  .ops = argc > 3 ? strtoull(argv[3], NULL, 10)
                                  : crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
                  .mem = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10)
                                  : crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
    if (hashes < 1 || threads < 1 || threads > 64 || sodium_init() < 0) {
        fprintf(stderr, "usage: %s [HASHES_PER_THREAD] [THREADS] [OPSLIMIT] [MEMLIMIT]\n",
                argv[0]);
        return 2;
    }
    pthread_t tid[64];
    pw_job jobs[64];
    double t0 = _now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i] = job;
        if (pthread_create(&tid[i], NULL, _work, &jobs[i]) != 0)
            return 1;
    }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        failed |= jobs[i].failed;
    }
    double secs = _now_s() - t0;
    if (failed) {
        fprintf(stderr, "pwhash_time: crypto_pwhash_str failed (out of memory?)\n");
        return 1;
    }
    printf("pwhash threads=%d hashes=%d ms_per_hash=%.1f rate_per_s=%.1f\n", threads,
           hashes * threads, secs * 1000.0 / hashes, hashes * threads / secs);
    return 0;
}
