// File I/O the tuner overlaps with its compute (formats/dqt-tune.md §2.2): the journal's
// fdatasync on a helper thread while the next chunk of rows is computed, and a writeback hint
// for model pages already written so the commit's msync finds most of them on disk.
#define _GNU_SOURCE
#include "dqt_train.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

int dqtt_start_writeback(int fd, int64_t offset, int64_t count) {
#if defined(__linux__)
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
#else
    (void)fd; (void)offset; (void)count;
    return 0;
#endif
}

struct dqtt_syncer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd, pending, result, stop;
};

static int datasync(int fd) {
#if defined(__APPLE__)
    return fsync(fd) == 0 ? 0 : errno;
#else
    return fdatasync(fd) == 0 ? 0 : errno;
#endif
}

static void *syncer_main(void *arg) {
    dqtt_syncer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->pending && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->pending) break;   // stop, nothing asked
        const int fd = s->fd;
        pthread_mutex_unlock(&s->mu);
        const int r = datasync(fd);
        pthread_mutex_lock(&s->mu);
        s->result = r;
        s->pending = 0;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

dqtt_syncer *dqtt_syncer_create(void) {
    dqtt_syncer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, syncer_main, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    return s;
}

void dqtt_syncer_start(dqtt_syncer *s, int fd) {
    pthread_mutex_lock(&s->mu);
    while (s->pending) pthread_cond_wait(&s->cv, &s->mu);   // one request at a time
    s->fd = fd;
    s->result = 0;
    s->pending = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int dqtt_syncer_wait(dqtt_syncer *s) {
    pthread_mutex_lock(&s->mu);
    while (s->pending) pthread_cond_wait(&s->cv, &s->mu);
    const int r = s->result;
    s->result = 0;
    pthread_mutex_unlock(&s->mu);
    return r;
}

void dqtt_syncer_destroy(dqtt_syncer *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;   // a pending request still runs first
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
