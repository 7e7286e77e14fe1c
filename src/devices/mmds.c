/* Stubs until the store lands: the interface in mmds.h is what the network path codes against. */
#include "devices/mmds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mmds {
	size_t limit;
	enum mmds_version version;
};

int mmds_new(size_t size_limit, struct mmds **out)
{
	struct mmds *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->limit = size_limit;
	m->version = MMDS_V1;
	*out = m;
	return 0;
}

void mmds_free(struct mmds *m)
{
	free(m);
}

void mmds_set_version(struct mmds *m, enum mmds_version v, bool imds_compat)
{
	m->version = v;
}

enum mmds_version mmds_get_version(struct mmds *m)
{
	return m->version;
}

int mmds_put(struct mmds *m, const char *json, size_t len, struct err *err)
{
	return err_set(err, false, -ENOSYS, "MMDS is not implemented yet");
}

int mmds_patch(struct mmds *m, const char *json, size_t len, struct err *err)
{
	return err_set(err, false, -ENOSYS, "MMDS is not implemented yet");
}

char *mmds_get(struct mmds *m)
{
	return strdup("{}");
}

void mmds_respond(struct mmds *m, const struct mmds_request *req, uint64_t now_ns,
		  struct mmds_response *resp)
{
	resp->status = 404;
	resp->content_type = "text/plain";
	resp->body = NULL;
	resp->body_len = 0;
}
