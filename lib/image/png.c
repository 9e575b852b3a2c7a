/* PNG decoding with libpng.
 *
 * Reduction to 8-bit gray or RGB (what PIL's Image.open(f).convert('L' or
 * 'RGB') gives for the same file, so PIL can check us pixel for pixel):
 *   palette        -> RGB (the palette entries; tRNS ignored)
 *   gray 1/2/4 bit -> 8 bit, scaled (1 -> 255)
 *   16 bit         -> the high byte of each sample (png_set_strip_16)
 *   alpha, tRNS    -> dropped, no compositing
 *   gAMA/iCCP/sRGB -> ignored: samples are returned as stored
 * Gray (with or without alpha) gives c = 1; RGB, RGBA, palette c = 3.
 * Interlaced (Adam7) images are deinterlaced.  libpng checks every CRC and
 * the zlib stream; a truncated file, a bad CRC on a critical chunk or
 * missing IEND is DL_EDATA.
 *
 * Error handling: libpng reports errors by longjmp to png_jmpbuf.  Every
 * value that changes after setjmp lives in the struct png_job reached
 * through a pointer, so nothing is lost on the jump (no volatile locals
 * needed), and the caller frees what the job holds either way. */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "image/codec.h"

struct png_job {
	const unsigned char *data;
	size_t len, pos;
	const char *name;
	const dl_image_limits *lim;
	png_structp png;
	png_infop info;
	png_bytep *rows;
	dl_image *out;
	dl_err *err;
	int rc;                 /* set before a deliberate png_error */
	char msg[200];          /* libpng's error text */
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct png_job *j = png_get_error_ptr(png);
	snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : "unknown error");
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;   /* benign (e.g. an iCCP profile libpng dislikes) */
}

static void on_read(png_structp png, png_bytep buf, size_t n)
{
	struct png_job *j = png_get_io_ptr(png);
	if (n > j->len - j->pos)
		png_error(png, "truncated file (unexpected end of data)");
	memcpy(buf, j->data + j->pos, n);
	j->pos += n;
}

/* Ancillary chunks are claims: a 44-byte file whose iCCP or text chunk
 * declares 2 GB once took 2.1 GB (this libpng has no default chunk
 * limits).  The chunks we never use (text, ICC profiles, sPLT, eXIf,
 * unknown ones) are skipped unread (libpng reads past them in small
 * blocks), and any chunk libpng does buffer, or decompress, is capped at
 * the file's size and 8 MiB, whichever is larger: what we keep (PLTE,
 * tRNS, ...) is a few bytes, and IDAT is streamed, never buffered whole. */
static void set_chunk_limits(png_structp png, size_t len)
{
	static const png_byte skip[] = "iCCP\0tEXt\0zTXt\0iTXt\0sPLT\0eXIf\0";
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, 6);
	png_alloc_size_t cap = (png_alloc_size_t)8 << 20;
	png_set_chunk_malloc_max(png, len > cap ? (png_alloc_size_t)len : cap);
	png_set_chunk_cache_max(png, 128);
}

static void run(struct png_job *j)
{
	png_structp png = j->png;
	png_infop info = j->info;
	if (setjmp(png_jmpbuf(png))) {
		if (!j->rc)
			j->rc = dl_fail(j->err, DL_EDATA, "%s: bad PNG: %s", j->name, j->msg);
		return;
	}
	png_set_read_fn(png, j, on_read);
	png_read_info(png, info);
	png_uint_32 w, h;
	int depth, ctype, interlace;
	png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	if (dl_image_check_dims(j->name, "PNG", w, h, j->lim, j->err)) {
		j->rc = DL_EDATA;
		return;
	}
	if (ctype == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
		png_set_strip_16(png);
	png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	int c = png_get_channels(png, info);
	if ((c != 1 && c != 3) || png_get_bit_depth(png, info) != 8) {
		j->rc = dl_fail(j->err, DL_EDATA, "%s: PNG color type %d depth %d not reduced to 8-bit gray/RGB",
				j->name, ctype, depth);
		return;
	}
	if (png_get_rowbytes(png, info) != (size_t)w * (size_t)c) {
		j->rc = dl_fail(j->err, DL_EDATA, "%s: unexpected PNG row size", j->name);
		return;
	}
	if (dl_image_alloc(j->out, (int)w, (int)h, c, j->err)) {
		j->rc = DL_EFAIL;
		return;
	}
	j->rows = malloc(sizeof *j->rows * h);
	if (!j->rows) {
		j->rc = dl_fail(j->err, DL_EFAIL, "%s: out of memory", j->name);
		return;
	}
	for (png_uint_32 y = 0; y < h; y++)
		j->rows[y] = j->out->px + (size_t)y * w * (size_t)c;
	png_read_image(png, j->rows);
	png_read_end(png, NULL);   /* checks the chunks after the image, up to IEND */
}

int dl_image_decode_png(const void *data, size_t len, const char *name,
			const dl_image_limits *lim, dl_image *out, dl_err *err)
{
	struct png_job j;
	memset(&j, 0, sizeof j);
	memset(out, 0, sizeof *out);
	j.data = data;
	j.len = len;
	j.name = name;
	j.lim = lim;
	j.out = out;
	j.err = err;
	j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
	if (!j.png)
		return dl_fail(err, DL_EFAIL, "%s: cannot start libpng", name);
	j.info = png_create_info_struct(j.png);
	if (!j.info) {
		png_destroy_read_struct(&j.png, NULL, NULL);
		return dl_fail(err, DL_EFAIL, "%s: cannot start libpng", name);
	}
	/* libpng's own per-side limit (default 1e6) stays in force; ours is
	 * checked on the header before any pixel memory is taken. */
	set_chunk_limits(j.png, len);
	run(&j);
	png_destroy_read_struct(&j.png, &j.info, NULL);
	free(j.rows);
	if (j.rc)
		dl_image_free(out);
	return j.rc;
}
