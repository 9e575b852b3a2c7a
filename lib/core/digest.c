#include "core/digest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

static const EVP_MD *algo_md(dl_digest_algo algo)
{
	switch (algo) {
	case DL_SHA256: return EVP_sha256();
	case DL_MD5: return EVP_md5();
	}
	return NULL;
}

const char *dl_digest_name(dl_digest_algo algo)
{
	switch (algo) {
	case DL_SHA256: return "sha256";
	case DL_MD5: return "md5";
	}
	return "unknown";
}

int dl_digest_hex_equal(const char *a, const char *b)
{
	if (!a || !b)
		return 0;
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	return *a == *b;
}

int dl_digest_init(dl_digest *d, dl_digest_algo algo, dl_err *err)
{
	d->ctx = NULL;
	d->algo = algo;
	const EVP_MD *md = algo_md(algo);
	if (!md)
		return dl_fail(err, DL_EFAIL, "digest: unknown algorithm %d", (int)algo);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return dl_fail(err, DL_EFAIL, "%s: out of memory", dl_digest_name(algo));
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return dl_fail(err, DL_EFAIL, "%s: openssl cannot start the digest", dl_digest_name(algo));
	}
	d->ctx = ctx;
	return 0;
}

int dl_digest_update(dl_digest *d, const void *data, size_t n, dl_err *err)
{
	if (!d->ctx)
		return dl_fail(err, DL_EFAIL, "%s: digest not started", dl_digest_name(d->algo));
	if (n && EVP_DigestUpdate(d->ctx, data, n) != 1)
		return dl_fail(err, DL_EFAIL, "%s: openssl digest update failed", dl_digest_name(d->algo));
	return 0;
}

int dl_digest_final(dl_digest *d, char *hex, dl_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	hex[0] = '\0';
	if (!d->ctx)
		return dl_fail(err, DL_EFAIL, "%s: digest not started", dl_digest_name(d->algo));
	int ok = EVP_DigestFinal_ex(d->ctx, md, &n) == 1 && 2 * (size_t)n < DL_DIGEST_HEX_MAX;
	dl_digest_release(d);
	if (!ok)
		return dl_fail(err, DL_EFAIL, "%s: openssl digest final failed", dl_digest_name(d->algo));
	static const char xd[] = "0123456789abcdef";
	for (unsigned int i = 0; i < n; i++) {
		hex[2 * i] = xd[md[i] >> 4];
		hex[2 * i + 1] = xd[md[i] & 15];
	}
	hex[2 * n] = '\0';
	return 0;
}

void dl_digest_release(dl_digest *d)
{
	if (d->ctx)
		EVP_MD_CTX_free(d->ctx);
	d->ctx = NULL;
}

int dl_digest_file(dl_digest_algo algo, const char *path, char *hex, dl_err *err)
{
	enum { CHUNK = 1 << 16 };
	hex[0] = '\0';
	FILE *f = fopen(path, "rb");
	if (!f)
		return dl_fail_errno(err, DL_EIO, "%s: cannot open", path);
	unsigned char *buf = malloc(CHUNK);
	dl_digest d;
	int rc = buf ? dl_digest_init(&d, algo, err) : dl_fail(err, DL_EFAIL, "out of memory");
	if (rc) {
		free(buf);
		fclose(f);
		return rc;
	}
	size_t n;
	while (!rc && (n = fread(buf, 1, CHUNK, f)) > 0)
		rc = dl_digest_update(&d, buf, n, err);
	if (!rc && ferror(f))
		rc = dl_fail_errno(err, DL_EIO, "%s: read failed", path);
	if (!rc)
		rc = dl_digest_final(&d, hex, err);
	dl_digest_release(&d);
	free(buf);
	fclose(f);
	return rc;
}
