/*
 * A FIFO of frames held in this process, bounded by the memory it holds:
 * for a backend that lives on the same thread as its device (user-mode
 * networking), where a socket between the two would cost two system calls
 * a frame. One thread pushes and pops; there is no lock.
 */
#ifndef HEARTH_UTIL_FRAMEQ_H
#define HEARTH_UTIL_FRAMEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What a frame costs against the cap beyond its bytes (its allocation). */
#define FRAMEQ_OVERHEAD 64u

struct frameq_item;

struct frameq {
	struct frameq_item *head, *tail;
	size_t held;   /* bytes charged: each frame's length plus FRAMEQ_OVERHEAD */
	size_t cap;
	unsigned int count;
};

void frameq_init(struct frameq *q, size_t cap);
/* Frees every frame still queued. */
void frameq_clear(struct frameq *q);
/* 0, -ENOBUFS (the cap would be passed: nothing queued) or -ENOMEM. */
int frameq_push(struct frameq *q, const void *frame, size_t len);
/*
 * The oldest frame into buf: its length, -EAGAIN when empty, or -EMSGSIZE
 * when it is longer than len (it is dropped, the next one stays).
 */
ssize_t frameq_pop(struct frameq *q, void *buf, size_t len);

static inline bool frameq_empty(const struct frameq *q)
{
	return !q->head;
}

#endif
