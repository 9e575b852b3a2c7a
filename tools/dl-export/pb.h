/* A minimal protocol-buffers writer: just the wire encoding ONNX needs
 * (varint, fixed32 and length-delimited fields).  Messages are built
 * bottom-up: a sub-message is encoded into its own dl_buf, then appended to
 * its parent as a length-delimited field.  Allocation failure is sticky in
 * the dl_buf (check b->oom once at the end). */
#ifndef DL_EXPORT_PB_H
#define DL_EXPORT_PB_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

void pb_varint(dl_buf *b, uint64_t v);
/* field with wire type 0 (int32/int64/enum; negative values as 10 bytes) */
void pb_int(dl_buf *b, int field, int64_t v);
/* field with wire type 5 (float) */
void pb_float(dl_buf *b, int field, float v);
/* field with wire type 2: bytes, a string, or an encoded sub-message */
void pb_bytes(dl_buf *b, int field, const void *data, size_t n);
void pb_str(dl_buf *b, int field, const char *s);
void pb_msg(dl_buf *b, int field, const dl_buf *sub);
/* a packed repeated int64 field (proto3's default for repeated scalars) */
void pb_packed_ints(dl_buf *b, int field, const int64_t *v, int n);

#endif
