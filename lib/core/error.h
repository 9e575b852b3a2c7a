/* Errors: returned, never exited on.
 *
 * Every fallible library function takes a `dl_err *` last, returns 0 on
 * success or one of the DL_E* codes below on failure, and on failure has
 * filled the error with a one-line, lowercase message that names the file
 * (or thing) and what is wrong with it.  Only a tool's main() turns the
 * code into an exit status.  The codes ARE the exit-code table of every
 * tool; keep man/dl-tools.7 and README in step with this list.
 */
#ifndef DL_CORE_ERROR_H
#define DL_CORE_ERROR_H

enum {
	DL_OK = 0,
	DL_EFAIL = 1,      /* other failure (out of memory, internal) */
	DL_EUSAGE = 2,     /* bad command line */
	DL_EDATA = 3,      /* bad input data (malformed file, wrong model) */
	DL_EIO = 4,        /* I/O: cannot open, read, write, rename */
	DL_ENET = 5,       /* network */
	DL_ECHECKSUM = 6,  /* checksum mismatch */
	DL_EGATE = 7,      /* quality gate failed (--min-accuracy ...) */
	DL_EINTR = 8,      /* interrupted; resumable checkpoint written */
	DL_EDIVERGED = 9,  /* training diverged (NaN/Inf loss) */
};

typedef struct dl_err {
	int code;
	char msg[1024];
} dl_err;

/* Sets the error (overwriting any earlier one) and returns `code`.  The
 * message is made one line (dl_err_oneline): a file or entry name quoted in
 * it may hold a newline or an escape. */
int dl_fail(dl_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errno)" (errno read on entry). */
int dl_fail_errno(dl_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dl_err_clear(dl_err *e);
/* Makes text read from a file fit to be quoted in a one-line message, in
 * place: control bytes (newline, tab, escape, DEL) become '?'.  Returns s. */
char *dl_err_oneline(char *s);
/* Short name of a code, e.g. "bad input data". */
const char *dl_code_name(int code);

#endif
