#include "api/controller.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int api_ctl_check_id(const char *id, struct err *err)
{
	size_t n = strlen(id);

	if (n < 1 || n > API_INSTANCE_ID_MAX)
		return err_set(err, true, -EINVAL, "--id '%.80s': want 1 to %d characters", id,
			       API_INSTANCE_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return err_set(err, true, -EINVAL, "--id '%s': only letters, digits and "
				       "'-' are allowed", id);
	}
	return 0;
}

int api_ctl_init(struct api_ctl *ctl, const char *id, struct vm_config *cfg,
		 const struct api_vm_ops *ops, void *ops_ctx)
{
	int ret;

	memset(ctl, 0, sizeof(*ctl));
	ret = pthread_mutex_init(&ctl->lock, NULL);
	if (ret)
		return -ret;
	if (cfg) {
		ctl->cfg = *cfg;
		memset(cfg, 0, sizeof(*cfg));
	} else {
		vm_config_init(&ctl->cfg);
		vm_config_set_entropy(&ctl->cfg, false);
	}
	snprintf(ctl->id, sizeof(ctl->id), "%s", id ? id : "anonymous-instance");
	ctl->state = API_NOT_STARTED;
	ctl->ops = ops;
	ctl->ops_ctx = ops_ctx;
	return 0;
}

void api_ctl_destroy(struct api_ctl *ctl)
{
	vm_config_release(&ctl->cfg);
	pthread_mutex_destroy(&ctl->lock);
}

const char *api_state_name(enum api_state s)
{
	switch (s) {
	case API_NOT_STARTED:
		return "Not started";
	case API_RUNNING:
		return "Running";
	case API_PAUSED:
		return "Paused";
	}
	return "?";
}

int api_ctl_start(struct api_ctl *ctl, struct err *err)
{
	int ret;

	if (ctl->state != API_NOT_STARTED)
		return err_set(err, true, -EINVAL, "InstanceStart is not allowed after boot: the "
			       "microVM already started");
	ret = vm_config_check_bootable(&ctl->cfg, err);
	if (ret)
		return ret;
	err->msg[0] = '\0';
	ret = ctl->ops->start(ctl->ops_ctx, &ctl->cfg, err);
	if (ret)
		return err->msg[0] ? ret : err_set(err, false, ret, "%s", strerror(-ret));
	ctl->state = API_RUNNING;
	return 0;
}

int api_ctl_ctrl_alt_del(struct api_ctl *ctl, struct err *err)
{
	int ret;

	if (ctl->state == API_NOT_STARTED)
		return err_set(err, true, -EINVAL, "SendCtrlAltDel is not allowed before boot: the "
			       "microVM has not been started (InstanceStart)");
	ret = ctl->ops->ctrl_alt_del(ctl->ops_ctx);
	if (ret == -ENOSPC)
		err_set(err, false, ret, "SendCtrlAltDel: the guest is not reading its keyboard "
			"(the i8042's queue is full); is i8042/atkbd in the guest kernel?");
	else if (ret)
		err_set(err, false, ret, "SendCtrlAltDel failed: %s", strerror(-ret));
	return ret;
}
