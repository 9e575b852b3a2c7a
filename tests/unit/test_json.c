/* The strict JSON reader and the dl_buf JSON string writer. */
#include "test.h"

#include "core/buf.h"
#include "core/json.h"

#include <stdlib.h>

/* Parses a NUL-terminated string (length from strlen); 0 or the error code. */
static int parse(const char *s, dl_json **out, dl_err *err)
{
	return dl_json_parse(s, strlen(s), "t", out, err);
}

/* 1 if text is rejected with DL_EDATA and a message naming the byte. */
static int rejects(const char *s, size_t len)
{
	dl_json *j = (dl_json *)1;
	dl_err err = { 0, "" };
	int rc = dl_json_parse(s, len, "t", &j, &err);
	int ok = rc == DL_EDATA && j == NULL && strstr(err.msg, "t: bad json at byte ");
	if (!ok)
		dl_json_free(rc ? NULL : j);
	return ok;
}

#define REJECTS(s) rejects((s), sizeof(s) - 1)

TEST(json_scalars)
{
	dl_json *j;
	dl_err err;
	CHECK_INT(parse(" true ", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_BOOL && j->boolean == 1);
	dl_json_free(j);
	CHECK_INT(parse("false", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_BOOL && j->boolean == 0);
	dl_json_free(j);
	CHECK_INT(parse("null", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_NULL);
	dl_json_free(j);
	CHECK_INT(parse("-12.5e2", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_NUMBER);
	CHECK_NEAR(j ? j->number : 0, -1250.0, 0);
	dl_json_free(j);
	CHECK_INT(parse("0", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_NUMBER && j->number == 0);
	dl_json_free(j);
	CHECK_INT(parse("1E-400", &j, &err), 0);   /* underflow to 0 is finite */
	CHECK(j && j->type == DL_JSON_NUMBER && j->number == 0);
	dl_json_free(j);
}

TEST(json_object_and_array)
{
	const char *s = "{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null}, \"n\": 4294967296}";
	dl_json *j;
	dl_err err;
	CHECK_INT(parse(s, &j, &err), 0);
	if (!j)
		return;
	CHECK(j->type == DL_JSON_OBJECT);
	CHECK_INT(j->len, 3);
	const dl_json *a = dl_json_get(j, "a");
	CHECK(a && a->type == DL_JSON_ARRAY && a->len == 3);
	if (a && a->len == 3) {
		CHECK_NEAR(a->items[1].number, 2.5, 0);
		CHECK(a->items[2].type == DL_JSON_STRING && !strcmp(a->items[2].str, "x"));
	}
	const dl_json *c = dl_json_get(dl_json_get(j, "b"), "c");
	CHECK(c && c->type == DL_JSON_NULL);
	CHECK(dl_json_get(j, "zz") == NULL);
	CHECK(dl_json_get(a, "a") == NULL);   /* not an object */
	long long v = 0;
	CHECK_INT(dl_json_int(dl_json_get(j, "n"), 0, 1LL << 40, &v), 0);
	CHECK_INT(v, 4294967296LL);
	CHECK_INT(dl_json_int(dl_json_get(j, "n"), 0, 100, &v), -1);    /* above hi */
	CHECK_INT(dl_json_int(&a->items[1], 0, 100, &v), -1);           /* 2.5 */
	CHECK_INT(dl_json_int(&a->items[2], 0, 100, &v), -1);           /* string */
	CHECK_INT(dl_json_int(&a->items[0], 2, 100, &v), -1);           /* below lo */
	CHECK_INT(dl_json_int(&a->items[0], 1, 1, &v), 0);
	CHECK_INT(v, 1);
	dl_json_free(j);

	CHECK_INT(parse("[]", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_ARRAY && j->len == 0);
	dl_json_free(j);
	CHECK_INT(parse("{ }", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_OBJECT && j->len == 0);
	dl_json_free(j);
}

TEST(json_int_limits)
{
	dl_json *j;
	dl_err err;
	long long v = 7;
	/* 2^53 + 1 cannot be told from 2^53 as a double: refused */
	CHECK_INT(parse("9007199254740993", &j, &err), 0);
	CHECK_INT(dl_json_int(j, 0, 1LL << 62, &v), -1);
	CHECK_INT(v, 7);
	dl_json_free(j);
	CHECK_INT(parse("-9007199254740991", &j, &err), 0);
	CHECK_INT(dl_json_int(j, -(1LL << 62), 0, &v), 0);
	CHECK_INT(v, -9007199254740991LL);
	dl_json_free(j);
	CHECK_INT(parse("1e300", &j, &err), 0);
	CHECK_INT(dl_json_int(j, 0, 0x7fffffffffffffffLL, &v), -1);
	dl_json_free(j);
}

TEST(json_strings_and_escapes)
{
	dl_json *j;
	dl_err err;
	CHECK_INT(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_STRING && !strcmp(j->str, "a\"b\\c/d\b\f\n\r\t"));
	CHECK_INT(j ? j->len : 0, 12);
	dl_json_free(j);
	/* \u escapes: 1, 2, 3 bytes and a surrogate pair (U+1F600) */
	CHECK_INT(parse("\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", &j, &err), 0);
	CHECK(j && !strcmp(j->str, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	CHECK_INT(j ? j->len : 0, 10);
	dl_json_free(j);
	/* raw UTF-8 passes through */
	CHECK_INT(parse("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", &j, &err), 0);
	CHECK(j && !strcmp(j->str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	dl_json_free(j);
}

TEST(json_rejects_malformed)
{
	CHECK(REJECTS(""));
	CHECK(REJECTS("   "));
	CHECK(REJECTS("tru"));
	CHECK(REJECTS("nul"));
	CHECK(REJECTS("True"));
	CHECK(REJECTS("[1,]"));
	CHECK(REJECTS("[1 2]"));
	CHECK(REJECTS("{\"a\":1,}"));
	CHECK(REJECTS("{\"a\" 1}"));
	CHECK(REJECTS("{a:1}"));
	CHECK(REJECTS("{\"a\":1"));
	CHECK(REJECTS("[1"));
	CHECK(REJECTS("\"abc"));
	CHECK(REJECTS("\"abc\\\""));
	CHECK(REJECTS("'a'"));
	CHECK(REJECTS("{} x"));          /* trailing garbage */
	CHECK(REJECTS("1 2"));
	CHECK(REJECTS("[]]"));
}

TEST(json_rejects_bad_numbers)
{
	CHECK(REJECTS("01"));
	CHECK(REJECTS("-01"));
	CHECK(REJECTS("00"));
	CHECK(REJECTS("+1"));
	CHECK(REJECTS("1."));
	CHECK(REJECTS(".5"));
	CHECK(REJECTS("1e"));
	CHECK(REJECTS("1e+"));
	CHECK(REJECTS("-"));
	CHECK(REJECTS("0x10"));
	CHECK(REJECTS("NaN"));
	CHECK(REJECTS("Infinity"));
	CHECK(REJECTS("-Infinity"));
	CHECK(REJECTS("1e400"));         /* overflows to inf */
	CHECK(REJECTS("-1e999"));
}

TEST(json_rejects_bad_strings)
{
	CHECK(REJECTS("\"\\u0000\""));           /* embedded NUL */
	CHECK(REJECTS("\"\\ud800\""));           /* lone high surrogate */
	CHECK(REJECTS("\"\\ud800x\""));
	CHECK(REJECTS("\"\\ud800\\u0041\""));    /* high + non-low */
	CHECK(REJECTS("\"\\udc00\""));           /* lone low surrogate */
	CHECK(REJECTS("\"\\u12\""));
	CHECK(REJECTS("\"\\u12g4\""));
	CHECK(REJECTS("\"\\x41\""));
	CHECK(REJECTS("\"a\nb\""));              /* raw control character */
	CHECK(REJECTS("\"a\tb\""));
	CHECK(REJECTS("\"\x80\""));              /* stray continuation byte */
	CHECK(REJECTS("\"\xc3\""));              /* truncated sequence */
	CHECK(REJECTS("\"\xc0\xaf\""));          /* overlong '/' */
	CHECK(REJECTS("\"\xe0\x80\xaf\""));      /* overlong 3-byte */
	CHECK(REJECTS("\"\xed\xa0\x80\""));      /* UTF-8 encoded surrogate */
	CHECK(REJECTS("\"\xf4\x90\x80\x80\""));  /* above U+10FFFF */
	CHECK(REJECTS("\"\xff\""));
	CHECK(REJECTS("\"a\0b\""));              /* raw NUL */
}

TEST(json_rejects_duplicate_keys)
{
	CHECK(REJECTS("{\"a\":1,\"a\":2}"));
	CHECK(REJECTS("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
		      "\"i\":9,\"j\":10,\"e\":11}"));   /* the sorted path */
	/* same key after unescaping */
	CHECK(REJECTS("{\"a\":1,\"\\u0061\":2}"));
	/* the same key in different objects is fine */
	dl_json *j;
	dl_err err;
	CHECK_INT(parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}", &j, &err), 0);
	dl_json_free(j);
	CHECK_INT(parse("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
			"\"i\":9,\"j\":10,\"k\":11}", &j, &err), 0);
	CHECK_INT(j ? j->len : 0, 11);
	dl_json_free(j);
}

static char *nested(int depth)
{
	char *s = malloc(2 * (size_t)depth + 1);
	memset(s, '[', (size_t)depth);
	memset(s + depth, ']', (size_t)depth);
	s[2 * depth] = '\0';
	return s;
}

TEST(json_depth_limit)
{
	dl_json *j;
	dl_err err;
	char *ok = nested(64), *deep = nested(65), *huge = nested(100000);
	CHECK_INT(parse(ok, &j, &err), 0);
	dl_json_free(j);
	CHECK_INT(parse(deep, &j, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "nesting");
	CHECK_INT(parse(huge, &j, &err), DL_EDATA);
	free(ok);
	free(deep);
	free(huge);
	CHECK(REJECTS("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
		      "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
		      "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
		      "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
		      "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
		      "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{"
		      "\"a\":{\"a\":{\"a\":{\"a\":{\"a\":[]}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}"
		      "}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}"));
}

TEST(json_no_read_past_len)
{
	/* the text is a prefix of a longer buffer: only len bytes count */
	dl_json *j;
	dl_err err;
	const char *s = "[1,2]garbage";
	CHECK_INT(dl_json_parse(s, 5, "t", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_ARRAY && j->len == 2);
	dl_json_free(j);
	CHECK_INT(dl_json_parse("truex", 4, "t", &j, &err), 0);
	dl_json_free(j);
	CHECK(rejects("true", 3));
	CHECK(rejects("\"ab\"", 3));
	CHECK(rejects("\"\\u0041\"", 6));
	CHECK(rejects("12345", 0));
	/* a number cut at len is the shorter number */
	CHECK_INT(dl_json_parse("12345", 2, "t", &j, &err), 0);
	CHECK(j && j->number == 12);
	dl_json_free(j);
	/* exact-size heap copies, so ASan sees any overread */
	const char *cases[] = { "[1,2", "{\"a\":", "\"\\ud83d\\ude0", "-", "1e", "\"\xe2\x82", "nul" };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t n = strlen(cases[i]);
		char *h = malloc(n);
		memcpy(h, cases[i], n);
		CHECK(rejects(h, n));
		free(h);
	}
}

TEST(json_error_message_position)
{
	dl_json *j;
	dl_err err;
	CHECK_INT(parse("[1, 2, x]", &j, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "t: bad json at byte 7:");
	CHECK_INT(parse("{\"k\":1,\"k\":2}", &j, &err), DL_EDATA);
	CHECK_STR_HAS(err.msg, "duplicate key");
}

TEST(json_buf_string_round_trip)
{
	dl_buf b;
	dl_buf_init(&b);
	const char *s = "q\"b\\s\x01\n\x1f\xc3\xa9 end";
	dl_buf_json_string(&b, s);
	CHECK(!b.oom);
	CHECK(b.p && !strcmp(b.p, "\"q\\\"b\\\\s\\u0001\\u000a\\u001f\xc3\xa9 end\""));
	dl_json *j;
	dl_err err;
	CHECK_INT(dl_json_parse(b.p, b.len, "t", &j, &err), 0);
	CHECK(j && j->type == DL_JSON_STRING && !strcmp(j->str, s));
	dl_json_free(j);
	dl_buf_release(&b);
	CHECK(b.p == NULL && b.len == 0);
}

TEST(json_buf_append_printf)
{
	dl_buf b;
	dl_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		dl_buf_printf(&b, "%d,", i);
	CHECK(!b.oom);
	CHECK_INT(strlen(b.p), b.len);
	CHECK(!strncmp(b.p, "0,1,2,", 6));
	CHECK(!strcmp(b.p + b.len - 4, "999,"));
	dl_buf_append(&b, "xy", 0);
	CHECK_INT(b.p[b.len], 0);
	dl_buf_puts(&b, "end");
	CHECK(!strcmp(b.p + b.len - 7, "999,end"));
	dl_buf_release(&b);
	dl_buf_init(&b);
	dl_buf_append(&b, "", 0);
	CHECK(b.p && b.p[0] == '\0' && b.len == 0);
	dl_buf_release(&b);
}
