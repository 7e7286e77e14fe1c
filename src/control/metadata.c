/*
 * The MMDS's API side: GET, PUT and PATCH /mmds on the store the control
 * surface owns, and its set-up from the command line. The store has its
 * own lock, so the guest's requests never wait for the handler's.
 */
#include "control/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

int ctl_mmds_get(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	char *s = mmds_get(ctl->mmds);

	/* Back to a value for the route's dump: its text keeps the store's key order. */
	*out = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	free(s);
	return *out ? 0 : err_set(err, false, -ENOMEM, "out of memory");
}

int ctl_mmds_put(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	if (a->type == CTL_PATCH_MMDS)
		return mmds_patch(ctl->mmds, a->body, a->len, err);
	return mmds_put(ctl->mmds, a->body, a->len, err);
}

int ctl_mmds_init(struct ctl *ctl, size_t limit, const char *json, size_t len, struct err *err)
{
	struct mmds *m;
	int ret = mmds_new(limit ? limit : CTL_MMDS_DEFAULT_LIMIT, &m);

	if (ret)
		return err_set(err, false, ret, "cannot set up the MMDS: %s", strerror(-ret));
	if (json) {
		ret = mmds_put(m, json, len, err);
		if (ret) {
			mmds_free(m);
			return ret;
		}
	}
	if (ctl->cfg.mmds.on)
		mmds_set_version(m, ctl->cfg.mmds.version, ctl->cfg.mmds.imds_compat);
	mmds_free(ctl->mmds);
	ctl->mmds = m;
	ctl->cfg.mmds_store = m;
	return 0;
}
