/* PNG encoding with libpng: 8-bit gray or RGB, non-interlaced, default
 * zlib level, no ancillary chunks (the same pixels give the same bytes). */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "core/afile.h"
#include "image/codec.h"

struct enc_job {
	const dl_image *im;
	png_structp png;
	png_infop info;
	png_bytep *rows;
	uint8_t *buf;
	size_t len, cap;
	int oom;
	char msg[200];
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct enc_job *j = png_get_error_ptr(png);
	snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : "unknown error");
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void on_write(png_structp png, png_bytep data, size_t n)
{
	struct enc_job *j = png_get_io_ptr(png);
	if (n > j->cap - j->len) {
		size_t cap = j->cap ? j->cap : 4096;
		while (cap - j->len < n) {
			if (cap > SIZE_MAX / 2) {
				j->oom = 1;
				png_error(png, "output too large");
			}
			cap *= 2;
		}
		uint8_t *b = realloc(j->buf, cap);
		if (!b) {
			j->oom = 1;
			png_error(png, "out of memory");
		}
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, data, n);
	j->len += n;
}

static void on_flush(png_structp png)
{
	(void)png;
}

/* Returns 0, or 1 after a libpng error (message in j->msg). */
static int run(struct enc_job *j)
{
	const dl_image *im = j->im;
	if (setjmp(png_jmpbuf(j->png)))
		return 1;
	png_set_write_fn(j->png, j, on_write, on_flush);
	png_set_IHDR(j->png, j->info, (png_uint_32)im->w, (png_uint_32)im->h, 8,
		     im->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(j->png, j->info);
	png_write_image(j->png, j->rows);
	png_write_end(j->png, NULL);
	return 0;
}

int dl_image_encode_png(const dl_image *im, uint8_t **data, size_t *len, dl_err *err)
{
	*data = NULL;
	*len = 0;
	if (!im || !im->px || im->w < 1 || im->h < 1 || (im->c != 1 && im->c != 3))
		return dl_fail(err, DL_EFAIL, "png encode: bad image");
	struct enc_job j;
	memset(&j, 0, sizeof j);
	j.im = im;
	j.rows = malloc(sizeof *j.rows * (size_t)im->h);
	if (!j.rows)
		return dl_fail(err, DL_EFAIL, "png encode: out of memory");
	for (int y = 0; y < im->h; y++)
		j.rows[y] = im->px + (size_t)y * im->w * im->c;
	j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
	j.info = j.png ? png_create_info_struct(j.png) : NULL;
	int rc = 0;
	if (!j.info)
		rc = dl_fail(err, DL_EFAIL, "png encode: cannot start libpng");
	else if (run(&j))
		rc = dl_fail(err, DL_EFAIL, "png encode: %s", j.msg);
	png_destroy_write_struct(&j.png, &j.info);
	free(j.rows);
	if (rc) {
		free(j.buf);
		return rc;
	}
	*data = j.buf;
	*len = j.len;
	return 0;
}

int dl_image_save_png(const char *path, const dl_image *im, dl_err *err)
{
	uint8_t *buf;
	size_t len;
	int rc = dl_image_encode_png(im, &buf, &len, err);
	if (rc)
		return rc;
	dl_afile a;
	rc = dl_afile_open(&a, path, err);
	if (!rc) {
		if (fwrite(buf, 1, len, a.f) != len) {
			rc = dl_fail_errno(err, DL_EIO, "%s: write failed", path);
			dl_afile_abort(&a);
		} else {
			rc = dl_afile_commit(&a, err);
		}
	}
	free(buf);
	return rc;
}
