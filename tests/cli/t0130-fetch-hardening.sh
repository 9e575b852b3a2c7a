#!/bin/bash
# dl-fetch hardening: a kept FILE.part meeting a server that ignores Range
# restarts and succeeds even when the manifest gives the size (the size cap
# once counted the kept bytes twice: exit 6 "larger than any valid copy");
# an unpacked folder gets the umask's mode, like mkdir (it was 0700).
. "$(dirname "$0")/lib.sh"
. "$DL_ROOT/tests/http/start.sh"

FETCH=$DL_BIN/dl-fetch
unset DL_FETCH_LOCAL_DIR DL_MIRROR http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_COLOR=1 XDG_CACHE_HOME=$TEST_TMP/cache DL_FETCH_BACKOFF_MS=100

data() {
	mkdir -p "$WWW/$1" && head -c "$3" /dev/urandom >"$WWW/$1/$2" &&
	sha256sum <"$WWW/$1/$2" | cut -c1-64
}

test_case 'local HTTP server started' '
	[ -n "$SRV" ] || { cat "$TEST_TMP/http.out"; exit 1; }
'

test_case 'ignored Range with size= known: the part restarts, the download succeeds' '
	sha=$(data h1 a.bin 400000) &&
	printf "dataset h1\nurl %s/norange/h1/\nfile a.bin sha256=%s size=400000\n" "$SRV" "$sha" >m &&
	"$FETCH" -f m h1 -d out --json >j 2>err || { cat err; exit 1; }
	cmp out/a.bin "$WWW/h1/a.bin" && [ "$(ls -A out)" = a.bin ] &&
	grep "/norange/h1/" "$REQ" | sed -n 2p | grep -q "bytes=200000- 200"
'

test_case 'a .part kept by an earlier run, then a server ignoring Range: restart, exit 0' '
	sha=$(data h2 a.bin 400000) &&
	printf "dataset h2\nurl %s/norange/h2/\nfile a.bin sha256=%s size=400000\n" "$SRV" "$sha" >m &&
	test_expect_code 5 "$FETCH" -f m h2 -d out --retries 0 2>err1 &&
	[ -s out/a.bin.part ] && [ ! -e out/a.bin ] &&
	test_expect_code 0 "$FETCH" -f m h2 -d out 2>err2 &&
	cmp out/a.bin "$WWW/h2/a.bin" && [ ! -e out/a.bin.part ] &&
	grep "/norange/h2/" "$REQ" | sed -n 2p | grep -q "bytes=200000- 200"
'

test_case 'the unpacked top folder has the umask mode (022 -> 755, 077 -> 700, 002 -> 775)' '
	mkdir -p src/t && echo a >src/t/a && tar -C src -czf src/t.tar.gz t &&
	printf "dataset u\nfile t.tar.gz sha256=%s unpack=yes\n" "$(sha256sum <src/t.tar.gz | cut -c1-64)" >m &&
	for um in 022 077 002; do
		rm -rf out && (umask $um && "$FETCH" -f m u --from src -d out -q) || exit 1
		mode=$(stat -c %a out/t) && echo "umask $um: $mode" &&
		[ "$mode" = "$(printf %o $((0777 & ~0$um)))" ] || exit 1
	done
'

test_done
