#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dl_fail(dl_err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
		dl_err_oneline(e->msg);   /* names read from files may hold a newline */
		e->code = code;
	}
	return code;
}

int dl_fail_errno(dl_err *e, int code, const char *fmt, ...)
{
	int saved = errno;
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof e->msg)
			snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
		dl_err_oneline(e->msg);
		e->code = code;
	}
	return code;
}

void dl_err_clear(dl_err *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}

char *dl_err_oneline(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

const char *dl_code_name(int code)
{
	switch (code) {
	case DL_OK: return "ok";
	case DL_EFAIL: return "failure";
	case DL_EUSAGE: return "usage error";
	case DL_EDATA: return "bad input data";
	case DL_EIO: return "i/o error";
	case DL_ENET: return "network error";
	case DL_ECHECKSUM: return "checksum mismatch";
	case DL_EGATE: return "quality gate failed";
	case DL_EINTR: return "interrupted";
	case DL_EDIVERGED: return "training diverged";
	}
	return "unknown";
}
