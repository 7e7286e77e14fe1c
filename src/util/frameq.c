/* frameq.h: a singly linked list, one allocation a frame. */
#include "util/frameq.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct frameq_item {
	struct frameq_item *next;
	size_t len;
	uint8_t data[];
};

void frameq_init(struct frameq *q, size_t cap)
{
	*q = (struct frameq){ .cap = cap };
}

void frameq_clear(struct frameq *q)
{
	while (q->head) {
		struct frameq_item *it = q->head;

		q->head = it->next;
		free(it);
	}
	q->tail = NULL;
	q->held = 0;
	q->count = 0;
}

int frameq_push(struct frameq *q, const void *frame, size_t len)
{
	struct frameq_item *it;
	size_t cost = len + FRAMEQ_OVERHEAD;

	if (cost < len || q->held + cost > q->cap || q->held + cost < q->held)
		return -ENOBUFS;
	it = malloc(sizeof(*it) + len);
	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->len = len;
	memcpy(it->data, frame, len);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->held += cost;
	q->count++;
	return 0;
}

ssize_t frameq_pop(struct frameq *q, void *buf, size_t len)
{
	struct frameq_item *it = q->head;
	ssize_t ret;

	if (!it)
		return -EAGAIN;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->held -= it->len + FRAMEQ_OVERHEAD;
	q->count--;
	if (it->len > len) {
		ret = -EMSGSIZE;
	} else {
		memcpy(buf, it->data, it->len);
		ret = (ssize_t)it->len;
	}
	free(it);
	return ret;
}
