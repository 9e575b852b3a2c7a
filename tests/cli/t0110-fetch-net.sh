#!/bin/bash
# dl-fetch over HTTP against tests/http/server.py: manifests, stalls, drops
# and resume, ignored Range, a file that changed, 503 then 200, 404, a
# redirect to file://, mirrors, the cache, --offline, two fetches at once,
# --json, -o -, the progress bar.
. "$(dirname "$0")/lib.sh"
. "$DL_ROOT/tests/http/start.sh"

FETCH=$DL_BIN/dl-fetch
unset DL_FETCH_LOCAL_DIR DL_MIRROR http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_COLOR=1 XDG_CACHE_HOME=$TEST_TMP/cache
# retries wait 0.1 s, 0.2 s, ... instead of 1 s, 2 s, ...
export DL_FETCH_BACKOFF_MS=100

# data CASE NAME BYTES: a random file www/CASE/NAME; prints its sha256
data() {
	mkdir -p "$WWW/$1" && head -c "$3" /dev/urandom >"$WWW/$1/$2" &&
	sha256sum <"$WWW/$1/$2" | cut -c1-64
}

# manifest CASE MODE NAME SHA [more file words]: one dataset "set-CASE"
# with one file, base URL $SRV/MODE/CASE/, written to m
manifest() {
	printf 'dataset set-%s\nurl %s/%s/%s/\nfile %s sha256=%s %s\n' "$1" "$SRV" "$2" "$1" "$3" "$4" "${5:-}" >m
}

test_case 'local HTTP server started' '
	[ -n "$SRV" ] || { cat "$TEST_TMP/http.out"; exit 1; }
'

test_case 'manifest: fetch, --json, and a second run that does nothing' '
	sha=$(data c1 a.bin 300000) && manifest c1 ok a.bin "$sha" "size=300000" &&
	"$FETCH" -f m set-c1 -d out --json >j 2>err &&
	cmp out/a.bin "$WWW/c1/a.bin" && [ "$(ls -A out)" = a.bin ] &&
	grep -q "downloaded 1 file from $SRV/ok/c1/, verified" err &&
	python3 -c "import json,sys; j=json.load(open(\"j\")); f=j[\"files\"][0]; sys.exit(not (j[\"dataset\"]==\"set-c1\" and f[\"how\"]==\"downloaded\" and f[\"bytes\"]==300000 and f[\"attempts\"]==1))" &&
	n=$(requests "/ok/c1/") && stamp=$(stat -c %i.%Y out/a.bin) &&
	"$FETCH" -f m set-c1 -d out --json >j2 2>err2 &&
	[ "$(requests "/ok/c1/")" = "$n" ] && [ "$(stat -c %i.%Y out/a.bin)" = "$stamp" ] &&
	grep -q "1 file already in out, verified" err2 &&
	python3 -c "import json,sys; j=json.load(open(\"j2\")); sys.exit(j[\"files\"][0][\"how\"]!=\"kept\")"
'

test_case 'manifest: md5 only, a file URL of its own, --list -f' '
	data c2 b.bin 5000 >/dev/null && md5=$(md5sum <"$WWW/c2/b.bin" | cut -c1-32) &&
	printf "# mine\ndataset mine\n  summary my data\n  file b.bin md5=%s url=%s/ok/c2/b.bin  # own URL\n" "$md5" "$SRV" >m &&
	"$FETCH" -f m mine -d out 2>err && cmp out/b.bin "$WWW/c2/b.bin" &&
	"$FETCH" -f m --list >l && grep -q "^mine	b.bin	size unknown	$md5	-	-\$" l
'

test_case 'manifest errors: exit 3 naming FILE:LINE' '
	printf "dataset x\nfile a.bin size=12\n" >m1 &&
	test_expect_code 3 "$FETCH" -f m1 x -d out 2>e1 && test_one_line e1 && grep -q "^dl-fetch: m1:2: file needs sha256= or md5=" e1 &&
	printf "dataset x\nfile ../a sha256=%064d\n" 0 >m2 &&
	test_expect_code 3 "$FETCH" -f m2 x -d out 2>e2 && grep -q "m2:2: file: bad or missing file name" e2 &&
	printf "dataset x\nurl ftp://h/\n" >m3 &&
	test_expect_code 3 "$FETCH" -f m3 x -d out 2>e3 && grep -q "m3:2: url: only http" e3 &&
	printf "dataset x\nfile a sha256=12\n" >m4 &&
	test_expect_code 3 "$FETCH" -f m4 x -d out 2>e4 && grep -q "m4:2: sha256: not 64 hex" e4 &&
	printf "file a md5=%032d\n" 0 >m5 &&
	test_expect_code 3 "$FETCH" -f m5 x -d out 2>e5 && grep -q "m5:1: expected .dataset NAME. first" e5 &&
	printf "dataset x\nfile a md5=%032d unpack=rar\n" 0 >m6 &&
	test_expect_code 3 "$FETCH" -f m6 x -d out 2>e6 && grep -q "m6:2: unpack: expected" e6 &&
	test_expect_code 4 "$FETCH" -f nonexistent x -d out 2>e7 && grep -q "nonexistent: cannot open" e7 &&
	printf "dataset x\nfile a md5=%032d\n" 0 >m8 &&
	test_expect_code 2 "$FETCH" -f m8 y -d out 2>e8 && grep -q "unknown dataset .y. (see m8)" e8 &&
	[ ! -e out ]
'

test_case 'checksum mismatch: exit 6, no file, no part left' '
	data c3 a.bin 100000 >/dev/null && manifest c3 ok a.bin "$(printf %064d 0)" &&
	test_expect_code 6 "$FETCH" -f m set-c3 -d out 2>err &&
	test_one_line err && grep -q "$SRV/ok/c3/a.bin: checksum mismatch: content sha256 [0-9a-f]*, expected 0000" err &&
	[ -z "$(ls -A out)" ]
'

test_case 'a stall aborts within the low-speed window (--stall-timeout 2)' '
	sha=$(data c4 a.bin 200000) && manifest c4 stall a.bin "$sha" &&
	start=$(date +%s%N) &&
	test_expect_code 5 "$FETCH" -f m set-c4 -d out --stall-timeout 2 --retries 0 2>err &&
	ms=$(( ($(date +%s%N) - start) / 1000000 )) && echo "took $ms ms" &&
	[ "$ms" -lt 6000 ] && [ "$ms" -ge 1500 ] &&
	test_one_line err && grep -q "$SRV/stall/c4/a.bin: download stalled" err && [ ! -e out/a.bin ]
'

test_case 'a dropped connection is resumed with Range and the result verifies' '
	sha=$(data c5 a.bin 400000) && manifest c5 drop a.bin "$sha" &&
	"$FETCH" -f m set-c5 -d out --json >j 2>err &&
	cmp out/a.bin "$WWW/c5/a.bin" && [ "$(ls -A out)" = a.bin ] &&
	grep "/drop/c5/" "$REQ" >r && cat r && [ "$(wc -l <r)" = 2 ] &&
	sed -n 2p r | grep -q "bytes=200000- 206" &&
	grep -q "download failed.*retrying in 0.1 s (attempt 2 of 6)" err &&
	python3 -c "import json,sys; f=json.load(open(\"j\"))[\"files\"][0]; sys.exit(not (f[\"resumed\"]==1 and f[\"restarted\"]==0))"
'

test_case 'a server that ignores Range: clean restart, the right bytes' '
	sha=$(data c6 a.bin 400000) && manifest c6 norange a.bin "$sha" &&
	"$FETCH" -f m set-c6 -d out --json >j 2>err &&
	cmp out/a.bin "$WWW/c6/a.bin" &&
	grep "/norange/c6/" "$REQ" >r && cat r && sed -n 2p r | grep -q "bytes=200000- 200" &&
	python3 -c "import json,sys; f=json.load(open(\"j\"))[\"files\"][0]; sys.exit(not (f[\"resumed\"]==0 and f[\"restarted\"]==1))"
'

test_case 'a file that changed between attempts (If-Range): whole new file' '
	sha=$(data c7 a.bin 400000) && head -c 400000 /dev/urandom >"$WWW/c7/a.bin.v1" &&
	manifest c7 change a.bin "$sha" &&
	"$FETCH" -f m set-c7 -d out 2>err && cmp out/a.bin "$WWW/c7/a.bin" &&
	grep "/change/c7/" "$REQ" >r && cat r && sed -n 2p r | grep -q "bytes=200000- 200"
'

test_case 'a killed run leaves a part that the next run resumes' '
	sha=$(data c8 a.bin 400000) && manifest c8 drop a.bin "$sha" &&
	test_expect_code 5 "$FETCH" -f m set-c8 -d out --retries 0 2>err &&
	[ "$(stat -c %s out/a.bin.part)" = 200000 ] && [ -s out/a.bin.part.validator ] && [ ! -e out/a.bin ] &&
	manifest c8 ok a.bin "$sha" &&
	"$FETCH" -f m set-c8 -d out 2>err2 && cmp out/a.bin "$WWW/c8/a.bin" &&
	grep -q "GET /ok/c8/a.bin bytes=200000- 206" "$REQ" && [ "$(ls -A out)" = a.bin ]
'

test_case '503 with Retry-After, then 200: success after the wait' '
	sha=$(data c9 a.bin 50000) && manifest c9 busy a.bin "$sha" &&
	start=$(date +%s%N) &&
	DL_FETCH_BACKOFF_MS=0 "$FETCH" -f m set-c9 -d out 2>err &&
	ms=$(( ($(date +%s%N) - start) / 1000000 )) && echo "took $ms ms" && [ "$ms" -ge 900 ] &&
	cmp out/a.bin "$WWW/c9/a.bin" && grep -q "HTTP 503; retrying in 1.0 s" err &&
	[ "$(requests "/busy/c9/")" = 2 ]
'

test_case '404 fails at once: exit 5, one request, nothing left' '
	manifest c10 gone a.bin "$(printf %064d 0)" &&
	test_expect_code 5 "$FETCH" -f m set-c10 -d out 2>err &&
	test_one_line err && grep -q "$SRV/gone/c10/a.bin: HTTP 404" err &&
	[ "$(requests "/gone/c10/")" = 1 ] && [ -z "$(ls -A out)" ]
'

test_case 'a redirect to file:// is refused: exit 5' '
	manifest c11 to-file passwd "$(printf %064d 0)" &&
	test_expect_code 5 "$FETCH" -f m set-c11 -d out 2>err &&
	test_one_line err && grep -q "$SRV/to-file/c11/passwd: download failed" err &&
	[ "$(requests "/to-file/c11/")" = 1 ] && [ -z "$(ls -A out)" ]
'

test_case '--mirror and DL_MIRROR (http and file://) come before the URLs' '
	mkdir -p "$WWW/mirror/set-c12" && sha=$(data c12 a.bin 1000) &&
	cp "$WWW/c12/a.bin" "$WWW/mirror/set-c12/" && manifest c12 gone a.bin "$sha" &&
	"$FETCH" -f m set-c12 -d o1 --mirror "$SRV/ok/mirror" 2>e1 && cmp o1/a.bin "$WWW/c12/a.bin" &&
	DL_MIRROR=$SRV/ok/mirror/ "$FETCH" -f m set-c12 -d o2 2>e2 && cmp o2/a.bin "$WWW/c12/a.bin" &&
	DL_MIRROR=file://$WWW/mirror "$FETCH" -f m set-c12 -d o3 2>e3 && cmp o3/a.bin "$WWW/c12/a.bin" &&
	grep -q "downloaded 1 file from file://$WWW/mirror/set-c12" e3 &&
	[ "$(requests "/gone/c12/")" = 0 ] &&
	test_expect_code 2 "$FETCH" -f m set-c12 -d o4 --mirror ftp://x/ 2>e4
'

test_case 'the cache: default DIR, a source for -d, --offline fails fast without it' '
	sha=$(data c13 a.bin 2000) && manifest c13 ok a.bin "$sha" &&
	DL_FETCH_BACKOFF_MS=5000 test_expect_code 4 "$FETCH" -f m set-c13 --offline 2>e0 &&
	grep -q "offline" e0 && [ ! -e "$XDG_CACHE_HOME/dl-tools/set-c13" ] &&
	"$FETCH" -f m set-c13 2>e1 && cmp "$XDG_CACHE_HOME/dl-tools/set-c13/a.bin" "$WWW/c13/a.bin" &&
	"$FETCH" -f m set-c13 -d out --offline 2>e2 && cmp out/a.bin "$WWW/c13/a.bin" &&
	grep -q "copied 1 file from $XDG_CACHE_HOME/dl-tools/set-c13" e2 &&
	"$FETCH" -f m set-c13 --cache "$PWD/c2" 2>e3 && [ -f c2/set-c13/a.bin ] &&
	[ "$(requests "/ok/c13/")" = 2 ]
'

test_case 'two concurrent fetches of one dataset: one download, both exit 0, one copy' '
	{ sha=$(data c14 a.bin 300000) && manifest c14 slow a.bin "$sha"; } || exit 1
	{ "$FETCH" -f m set-c14 -d out -v 2>e1; echo $? >r1; } &
	{ "$FETCH" -f m set-c14 -d out -v 2>e2; echo $? >r2; } &
	wait
	r1=$(cat r1) && r2=$(cat r2) && echo "exits $r1 $r2" && cat e1 e2 &&
	[ $r1 = 0 ] && [ $r2 = 0 ] &&
	[ "$(requests "GET /slow/c14/")" = 1 ] &&
	cmp out/a.bin "$WWW/c14/a.bin" && [ "$(ls -A out)" = a.bin ] &&
	cat e1 e2 | grep -q "waiting for another dl-fetch" &&
	cat e1 e2 | grep -q "1 file already in out, verified"
'

test_case '-o - streams the verified file to stdout' '
	sha=$(data c15 a.bin 70000) && manifest c15 ok a.bin "$sha" &&
	"$FETCH" -f m set-c15 -o - -q >got 2>err && cmp got "$WWW/c15/a.bin" && [ ! -s err ] &&
	"$FETCH" -f m set-c15 a.bin -o - -q | cmp - "$WWW/c15/a.bin" &&
	test_expect_code 2 "$FETCH" -f m set-c15 nope.bin -o - 2>e2 && grep -q "has no file .nope.bin." e2 &&
	test_expect_code 2 "$FETCH" -f m set-c15 -o - --json 2>e3
'

test_case 'progress bar only on a terminal' '
	sha=$(data c16 a.bin 300000) && manifest c16 slow a.bin "$sha" &&
	"$FETCH" -f m set-c16 -d o1 2>err && test_one_line err && ! grep -q ETA err &&
	script -qec "\"$FETCH\" -f m set-c16 -d o2" /dev/null >tty.out </dev/null &&
	grep -q "a.bin.*kB / 300.0 kB.*ETA" tty.out && cmp o2/a.bin "$WWW/c16/a.bin"
'

test_done
