/* The tools' logger (stderr) and their error tail; see log.h. */
#include "core/log.h"

/* "prog: note: msg", "prog: warning: msg", "prog: msg" (an error). */
static void to_stderr(const dl_logger *lg, dl_log_level level, const char *msg)
{
	const char *prog = lg->prog ? lg->prog : "dl-tools";
	const char *tag = level == DL_LOG_NOTE ? "note: " : level == DL_LOG_WARN ? "warning: " : "";
	fprintf(stderr, "%s: %s%s\n", prog, tag, msg);
}

dl_logger dl_logger_stderr(const char *prog)
{
	return (dl_logger){ .fn = to_stderr, .ctx = NULL, .prog = prog };
}

int dl_tool_fail(const char *prog, const dl_err *err)
{
	int code = err->code ? err->code : DL_EFAIL;
	dl_logger lg = dl_logger_stderr(prog);
	dl_logf(&lg, DL_LOG_ERROR, "%s", err->msg[0] ? err->msg : dl_code_name(code));
	if (code == DL_EUSAGE)
		fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return code;
}
