/* JPEG decoding with libjpeg-turbo.
 *
 * Settings (the library's defaults, which PIL also uses, so the two agree
 * pixel for pixel when linked to the same libjpeg-turbo): JDCT_ISLOW
 * integer IDCT, fancy (smooth) chroma upsampling, no scaling.
 *   grayscale      -> c = 1
 *   YCbCr, RGB     -> c = 3 (libjpeg's YCbCr -> RGB conversion)
 *   CMYK, YCCK     -> refused: DL_EDATA "... CMYK/YCCK JPEG is not supported"
 * Baseline and progressive files are read.  Strict: libjpeg's warnings
 * (premature end of data, corrupt entropy data) are errors, so a truncated
 * file is DL_EDATA rather than a half-gray image.  Progressive files with
 * more than DL_JPEG_MAX_SCANS scans are refused (a known CPU bomb).
 *
 * Error handling: libjpeg calls error_exit (and emit_message for
 * warnings); ours format the message and longjmp back, never exit().
 * State that changes after setjmp lives in struct jpeg_job, reached
 * through a pointer; the caller releases it on either path. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image/codec.h"

#define DL_JPEG_MAX_SCANS 1000

struct jpeg_job {
	struct jpeg_error_mgr jerr;     /* first: libjpeg's err pointer is cast back */
	struct jpeg_progress_mgr prog;
	jmp_buf jmp;
	struct jpeg_decompress_struct cinfo;
	int created;
	const unsigned char *data;
	size_t len;
	const char *name;
	const dl_image_limits *lim;
	dl_image *out;
	dl_err *err;
	int rc;
	char msg[JMSG_LENGTH_MAX + 32];
};

static void on_error_exit(j_common_ptr cinfo)
{
	struct jpeg_job *j = (struct jpeg_job *)cinfo->err;
	(*cinfo->err->format_message)(cinfo, j->msg);
	longjmp(j->jmp, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
	if (level < 0)   /* a warning: corrupt or truncated data */
		on_error_exit(cinfo);
	/* trace messages (level >= 1) are not shown */
}

static void on_progress(j_common_ptr cinfo)
{
	struct jpeg_job *j = (struct jpeg_job *)cinfo->err;
	if (j->cinfo.input_scan_number > DL_JPEG_MAX_SCANS) {
		snprintf(j->msg, sizeof j->msg, "more than %d scans", DL_JPEG_MAX_SCANS);
		longjmp(j->jmp, 1);
	}
}

static void run(struct jpeg_job *j)
{
	struct jpeg_decompress_struct *ci = &j->cinfo;
	if (setjmp(j->jmp)) {
		if (!j->rc)
			j->rc = dl_fail(j->err, DL_EDATA, "%s: bad JPEG: %s", j->name, j->msg);
		return;
	}
	j->created = 1;   /* destroying a zeroed struct is safe */
	jpeg_create_decompress(ci);
	ci->progress = &j->prog;
	jpeg_mem_src(ci, j->data, (unsigned long)j->len);
	jpeg_read_header(ci, TRUE);
	if (dl_image_check_dims(j->name, "JPEG", ci->image_width, ci->image_height, j->lim,
				j->err)) {
		j->rc = DL_EDATA;
		return;
	}
	int c;
	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
		ci->out_color_space = JCS_GRAYSCALE;
		c = 1;
		break;
	case JCS_YCbCr:
	case JCS_RGB:
		ci->out_color_space = JCS_RGB;
		c = 3;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		j->rc = dl_fail(j->err, DL_EDATA, "%s: CMYK/YCCK JPEG is not supported", j->name);
		return;
	default:
		j->rc = dl_fail(j->err, DL_EDATA, "%s: JPEG color space %d is not supported",
				j->name, (int)ci->jpeg_color_space);
		return;
	}
	ci->dct_method = JDCT_ISLOW;
	ci->do_fancy_upsampling = TRUE;
	jpeg_start_decompress(ci);
	if (ci->output_components != c || ci->output_width != ci->image_width ||
	    ci->output_height != ci->image_height) {
		j->rc = dl_fail(j->err, DL_EDATA, "%s: unexpected JPEG output layout", j->name);
		return;
	}
	if (dl_image_alloc(j->out, (int)ci->output_width, (int)ci->output_height, c, j->err)) {
		j->rc = DL_EFAIL;
		return;
	}
	size_t stride = (size_t)ci->output_width * (size_t)c;
	while (ci->output_scanline < ci->output_height) {
		JSAMPROW row = j->out->px + (size_t)ci->output_scanline * stride;
		if (jpeg_read_scanlines(ci, &row, 1) != 1) {
			j->rc = dl_fail(j->err, DL_EDATA, "%s: bad JPEG: no scanline %u", j->name,
					ci->output_scanline);
			return;
		}
	}
	jpeg_finish_decompress(ci);
}

int dl_image_decode_jpeg(const void *data, size_t len, const char *name,
			 const dl_image_limits *lim, dl_image *out, dl_err *err)
{
	struct jpeg_job *j = calloc(1, sizeof *j);
	memset(out, 0, sizeof *out);
	if (!j)
		return dl_fail(err, DL_EFAIL, "%s: out of memory", name);
	j->data = data;
	j->len = len;
	j->name = name;
	j->lim = lim;
	j->out = out;
	j->err = err;
	j->cinfo.err = jpeg_std_error(&j->jerr);
	j->jerr.error_exit = on_error_exit;
	j->jerr.emit_message = on_message;
	j->prog.progress_monitor = on_progress;
	run(j);
	if (j->created)
		jpeg_destroy_decompress(&j->cinfo);
	int rc = j->rc;
	free(j);
	if (rc)
		dl_image_free(out);
	return rc;
}
