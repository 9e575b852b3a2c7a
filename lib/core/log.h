/* Diagnostics: the one hook through which the library speaks to a person.
 *
 * Library code never writes to stderr.  What it has to say outside an
 * error return (a note that --device auto fell back to the CPU, a retried
 * download, a device error nobody read before release) goes to a
 * dl_logger that the tool's main() made and passed down: in the backend
 * open options (kept in dl_backend.log for the backend's life), in
 * dl_http_opts.log.  The tool owns the sink and its prefix: the tools use
 * dl_logger_stderr(prog), which writes "prog: note: msg", "prog: warning:
 * msg" or, for errors, "prog: msg" (the form of dl_tool_fail) on stderr.
 * A zeroed logger, or a NULL pointer to one, is silent (library tests,
 * callers that want no chatter).  There is no global logger.
 *
 * dl_logf is inline so that libdl-cuda.so, which does not link this
 * library, logs through the same hook (and the same sink) as the tools.
 */
#ifndef DL_CORE_LOG_H
#define DL_CORE_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include "core/error.h"

typedef enum { DL_LOG_NOTE = 0, DL_LOG_WARN, DL_LOG_ERROR } dl_log_level;

typedef struct dl_logger dl_logger;
/* Writes one message (no trailing newline in msg). */
typedef void (*dl_logger_fn)(const dl_logger *lg, dl_log_level level, const char *msg);

struct dl_logger {
	dl_logger_fn fn;      /* NULL: silent */
	void *ctx;            /* the sink's own state (NULL for stderr) */
	const char *prog;     /* the tool's name, the sink's prefix ("dl-train") */
};

/* Formats one message (at most 1023 bytes; longer ones are cut) and hands
 * it to lg; nothing when lg or lg->fn is NULL. */
static inline void dl_logf(const dl_logger *lg, dl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void dl_logf(const dl_logger *lg, dl_log_level level, const char *fmt, ...)
{
	if (!lg || !lg->fn)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lg->fn(lg, level, msg);
}

/* The tools' logger: one line per message on stderr, prefixed with prog
 * (which must outlive the logger: a string literal or argv[0]). */
dl_logger dl_logger_stderr(const char *prog);

/* The common tail of a tool's main(): prints err as an error through
 * dl_logger_stderr(prog) ("prog: msg", and a hint to --help for usage
 * errors) and returns the code to exit with. */
int dl_tool_fail(const char *prog, const dl_err *err);

#endif
