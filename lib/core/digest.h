/* Streaming message digests (OpenSSL EVP) as lowercase hex.
 *
 * A dl_digest owns its EVP context from dl_digest_init until
 * dl_digest_final or dl_digest_release, whichever comes first; both are
 * safe on a zeroed or already released dl_digest.
 *
 *   dl_digest d;
 *   dl_digest_init(&d, DL_SHA256, err);
 *   dl_digest_update(&d, buf, n, err);   ... as often as needed
 *   dl_digest_final(&d, hex, err);       hex is 64 chars + NUL
 */
#ifndef DL_CORE_DIGEST_H
#define DL_CORE_DIGEST_H

#include <stddef.h>
#include "core/error.h"

typedef enum dl_digest_algo {
	DL_SHA256,
	DL_MD5,
} dl_digest_algo;

/* Room for the longest hex digest plus NUL (sha512 later). */
#define DL_DIGEST_HEX_MAX 129

typedef struct dl_digest {
	void *ctx;              /* EVP_MD_CTX *, NULL when released */
	dl_digest_algo algo;
} dl_digest;

int dl_digest_init(dl_digest *d, dl_digest_algo algo, dl_err *err);
int dl_digest_update(dl_digest *d, const void *data, size_t n, dl_err *err);
/* Writes the hex digest to hex[DL_DIGEST_HEX_MAX] and releases d. */
int dl_digest_final(dl_digest *d, char *hex, dl_err *err);
void dl_digest_release(dl_digest *d);

/* "sha256", "md5" */
const char *dl_digest_name(dl_digest_algo algo);
/* 1 when a and b are the same hex digest (case-insensitive), else 0. */
int dl_digest_hex_equal(const char *a, const char *b);

/* Digest of a whole file, read in chunks (dl-eval serve's /metadata). */
int dl_digest_file(dl_digest_algo algo, const char *path, char *hex, dl_err *err);

#endif
