/* Protocol-buffers wire encoding (see pb.h): tag = field << 3 | wire type. */
#include "pb.h"

#include <string.h>

void pb_varint(dl_buf *b, uint64_t v)
{
	uint8_t t[10];
	int n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	dl_buf_append(b, t, (size_t)n);
}

static void tag(dl_buf *b, int field, int wire)
{
	pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void pb_int(dl_buf *b, int field, int64_t v)
{
	tag(b, field, 0);
	pb_varint(b, (uint64_t)v);
}

void pb_float(dl_buf *b, int field, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	uint8_t t[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
	tag(b, field, 5);
	dl_buf_append(b, t, 4);
}

void pb_bytes(dl_buf *b, int field, const void *data, size_t n)
{
	tag(b, field, 2);
	pb_varint(b, n);
	if (n)
		dl_buf_append(b, data, n);
}

void pb_str(dl_buf *b, int field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

void pb_msg(dl_buf *b, int field, const dl_buf *sub)
{
	if (sub->oom)
		b->oom = 1;
	pb_bytes(b, field, sub->p, sub->len);
}

void pb_packed_ints(dl_buf *b, int field, const int64_t *v, int n)
{
	dl_buf t;
	dl_buf_init(&t);
	for (int i = 0; i < n; i++)
		pb_varint(&t, (uint64_t)v[i]);
	pb_msg(b, field, &t);
	dl_buf_release(&t);
}
