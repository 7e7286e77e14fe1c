/*
 * Between a template (host/fork.c) and its zygote (zygote/zygote.c),
 * on the SOCK_SEQPACKET pair made when the template started with
 * --fork-dir. One request: a struct fork_msg and three sealed memfds
 * (the PUT /fork body, the state file, the memory file). One answer: a
 * struct fork_msg with the same seq, then the zygote's JSON answer (kind
 * FORK_OK) or its refusal's one line (FORK_USAGE, FORK_FAILED).
 */
#ifndef HEARTH_HOST_FORK_PROTO_H
#define HEARTH_HOST_FORK_PROTO_H

#include <stdint.h>

#define FORK_MAGIC 0x4b524f46u      /* "FORK" */
#define FORK_ANSWER_MAX (256u << 10)

enum fork_kind { FORK_REQUEST = 1, FORK_OK, FORK_USAGE, FORK_FAILED };

struct fork_msg {
	uint32_t magic;
	uint32_t kind;
	uint64_t seq;
};

#endif
