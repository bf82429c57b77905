/* chat_batch.c: group commit of chat posts (see chat.h). A post queues
 * itself; a thread whose post is queued becomes a leader when fewer than
 * CHAT_BATCH_LEADERS batches are in flight: it takes up to CHAT_BATCH_MAX
 * queued posts (its own or others'), stores them in one statement, marks
 * them done and wakes the waiters. Alone on a quiet server a post is
 * stored at once (a batch of one); under load the posts that came during
 * a round trip share the next one. */
#include <pthread.h>
#include <stdlib.h>

#include "chat.h"

typedef struct chat_item {
    chat_post *p;
    cx_status s;
    bool done;
    struct chat_item *next;
} chat_item;

struct chat_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chat_item *head, *tail; /* queued, not yet taken */
    int leaders;            /* batches in flight */
};

cx_status chat_batch_create(chat_batch **out)
{
    chat_batch *b = calloc(1, sizeof *b);
    if (!b)
        return CX_ERR_NOMEM;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    *out = b;
    return CX_OK;
}

void chat_batch_destroy(chat_batch *b)
{
    if (!b)
        return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* Stores the k taken items: together, or one by one when the batch failed
 * (so that one bad post fails alone). Called without b->mu. */
static void _store(cx_pg_pool *pg, chat_item **it, int k)
{
    chat_post v[CHAT_BATCH_MAX];
    for (int i = 0; i < k; i++)
        v[i] = *it[i]->p;
    cx_status s = chat_store_post(pg, v, k);
    for (int i = 0; i < k; i++)
        it[i]->s = s;
    if (s == CX_OK || k == 1)
        return;
    for (int i = 0; i < k; i++)
        it[i]->s = chat_store_post(pg, it[i]->p, 1);
}

cx_status chat_batch_post(chat_batch *b, cx_pg_pool *pg, chat_post *p)
{
    if (!b)
        return chat_store_post(pg, p, 1);
    /* on the heap: the queue is shared, and the waiter frees it when done */
    chat_item *me = calloc(1, sizeof *me);
    if (!me)
        return CX_ERR_NOMEM;
    me->p = p;
    me->s = CX_ERR_INTERNAL;
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = me;
    else
        b->head = me;
    b->tail = me;
    while (!me->done) {
        if (b->leaders >= CHAT_BATCH_LEADERS || !b->head) {
            pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        chat_item *take[CHAT_BATCH_MAX];
        int k = 0;
        while (b->head && k < CHAT_BATCH_MAX) {
            take[k++] = b->head;
            b->head = b->head->next;
        }
        if (!b->head)
            b->tail = NULL;
        b->leaders++;
        pthread_mutex_unlock(&b->mu);
        _store(pg, take, k);
        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < k; i++)
            take[i]->done = true; /* the waiter owns it again once it sees this */
        b->leaders--;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    cx_status s = me->s;
    free(me);
    return s;
}
