/* Checking one file against its registry entry. */
#ifndef DL_FETCH_VERIFY_H
#define DL_FETCH_VERIFY_H

#include "core/error.h"
#include "registry.h"

/* Reads path once.  The file is accepted when its md5 is the upstream md5
 * (the exact published bytes), otherwise when the sha256 of its content
 * (gunzipped for .gz entries, at most content_bytes of it) is the
 * registry's.  An entry with only an md5 is decided by the md5.  `shown` names the file in messages (the source, not a temp
 * name).  *by_md5 (may be NULL) tells which check accepted it.
 * Errors: DL_ECHECKSUM (wrong content, not gzip, truncated), DL_EIO. */
int fetch_verify(const fetch_file *ff, const char *path, const char *shown,
		 int *by_md5, dl_err *err);

/* Most bytes a file of this entry may have, as read from a source: the
 * published size when a checksum of the file decides, a little over the
 * content size for a .gz checked by content (gzip never grows data by more
 * than a little), else unknown_cap. */
long long fetch_max_bytes(const fetch_file *ff, long long unknown_cap);

#endif
