#include "vmm/logger.h"

int vm_logger_level(enum vm_log_level l)
{
	switch (l) {
	case VM_LOG_OFF:
		return LOG_FILE_OFF;
	case VM_LOG_ERROR:
		return LOG_ERR;
	case VM_LOG_WARNING:
		return LOG_WARN;
	case VM_LOG_INFO:
		return LOG_INFO;
	case VM_LOG_DEBUG:
	case VM_LOG_TRACE:
		break;
	}
	return LOG_DEBUG;
}

int vm_logger_apply(const struct vm_logger *l, struct err *err)
{
	if (!l->log_path) {
		log_set_file_options(vm_logger_level(l->level), l->show_level, l->show_log_origin);
		return 0;
	}
	return log_open_file(l->log_path, vm_logger_level(l->level), l->show_level,
			     l->show_log_origin, err);
}
