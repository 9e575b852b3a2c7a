#!/bin/bash
# dl-fetch: registry, sources (Debian copy, --from, HTTP), verification,
# atomicity, exit codes.  Needs Debian's dataset-fashion-mnist (make deps):
# without it the cases FAIL, they do not skip.
. "$(dirname "$0")/lib.sh"

FETCH=$DL_BIN/dl-fetch
DEB=/usr/share/datasets/fashion-mnist
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
declare -A SHA=(
	[train-images-idx3-ubyte.gz]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
	[train-labels-idx1-ubyte.gz]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
	[t10k-images-idx3-ubyte.gz]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
	[t10k-labels-idx1-ubyte.gz]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)
# The tests choose every source themselves: no inherited override, no proxy
# between the tool and the local HTTP server.
unset DL_FETCH_LOCAL_DIR DL_MIRROR http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_COLOR=1
# the cache is the test's own (a dataset fetched without -d lands there)
export XDG_CACHE_HOME=$TEST_TMP/cache
# Nothing listens on port 9 (discard): a fetch that should not touch the
# network fails loudly if it tries.
NONET=http://127.0.0.1:9/

# check_files DIR: the four files, each with the right gunzipped sha256
check_files() {
	local f got
	for f in $FILES; do
		[ -f "$1/$f" ] || { echo "missing $1/$f"; return 1; }
		got=$(gzip -dc "$1/$f" | sha256sum | cut -c1-64)
		[ "$got" = "${SHA[$f]}" ] || { echo "$1/$f: content sha256 $got, expected ${SHA[$f]}"; return 1; }
	done
}

# no_files DIR: DIR is absent or empty (no data, no temp files)
no_files() {
	if [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then echo "left in $1:"; ls -la "$1"; return 1; fi
}

# only_verified DIR: no temp or part file in DIR, and every file there verifies
only_verified() {
	local f got
	[ -d "$1" ] || return 0
	if ls -A "$1" | grep -E '\.tmp\.|\.part' ; then echo "temp files left in $1"; return 1; fi
	for f in $(ls -A "$1"); do
		got=$(gzip -dc "$1/$f" | sha256sum | cut -c1-64)
		[ "$got" = "${SHA[$f]}" ] || { echo "$1/$f does not verify"; return 1; }
	done
}

# usage_error FILE: a one-line "dl-fetch: ..." error plus the standard hint
usage_error() {
	local n; n=$(grep -c '^dl-fetch: ' "$1")
	if [ "$n" -ne 1 ] || ! grep -q "^Try 'dl-fetch --help'" "$1" || [ "$(wc -l <"$1")" -ne 2 ]; then
		echo "expected one error line and the hint in $1:"; cat "$1"; return 1
	fi
}

# stamp DIR: inode and mtime (ns) of each file, to prove nothing was rewritten
stamp() { (cd "$1" && stat -c '%n %i %y' $FILES); }

# ---- a local HTTP server (tests/http/server.py): www/ok holds the Debian
# copies, www/bad a tampered train-labels file, www/big an oversized one;
# /ok/ serves them, /gone/ answers 404, /to-ok/ and /to-file/ redirect
WWW=$TEST_TMP/www
mkdir -p "$WWW/ok" "$WWW/empty" "$WWW/bad" "$WWW/big"
if [ -d "$DEB" ]; then
	cp "$DEB"/*.gz "$WWW/ok/" && cp "$DEB"/*.gz "$WWW/bad/" && cp "$DEB"/*.gz "$WWW/big/"
	gzip -dc "$DEB/train-labels-idx1-ubyte.gz" >"$TEST_TMP/labels.idx"
	printf '\x09' | dd of="$TEST_TMP/labels.idx" bs=1 seek=100 conv=notrunc status=none
	TAMPERED_SHA=$(sha256sum <"$TEST_TMP/labels.idx" | cut -c1-64)
	gzip -nc "$TEST_TMP/labels.idx" >"$WWW/bad/train-labels-idx1-ubyte.gz"
	head -c 3000000 /dev/zero >"$WWW/big/train-labels-idx1-ubyte.gz"
fi
PORT=
/usr/bin/python3 "$DL_ROOT/tests/http/server.py" "$WWW" "$TEST_TMP/requests.log" >"$TEST_TMP/http.log" 2>&1 &
HTTP_PID=$!
trap 'kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
for _ in $(seq 100); do
	PORT=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$TEST_TMP/http.log" | head -1)
	[ -n "$PORT" ] && break
	sleep 0.1
done
SRV=http://127.0.0.1:${PORT:-1}
URL=$SRV/ok

test_case 'Debian dataset-fashion-mnist is installed (make deps)' '
	for f in $FILES; do [ -s "$DEB/$f" ] || { echo "missing $DEB/$f: run make deps"; exit 1; }; done
'

test_case 'local HTTP server started' '
	[ -n "$PORT" ] || { cat "$TEST_TMP/http.log"; exit 1; }
'

test_case '--help exits 0, on stdout, and answers the questions' '
	"$FETCH" --help >out 2>err &&
	[ ! -s err ] &&
	grep -q "^usage: dl-fetch" out &&
	grep -q "fashion-mnist" out &&
	grep -q -- "--from SRCDIR" out &&
	grep -q "$DEB" out &&
	grep -q "DL_FETCH_LOCAL_DIR" out &&
	grep -q "^exit codes: 0 ok" out &&
	grep -q "6 checksum mismatch" out
'

test_case '--version' '
	"$FETCH" --version >out && grep -q "^dl-fetch (dl-tools) [0-9]" out
'

test_case 'unknown option exits 2 with one error line' '
	test_expect_code 2 "$FETCH" fashion-mnist -d d --bogus 2>err &&
	usage_error err && grep -q "unknown option .--bogus." err && no_files d
'

test_case 'unknown dataset exits 2 with one error line' '
	test_expect_code 2 "$FETCH" no-such-set -d d 2>err &&
	usage_error err && grep -q "unknown dataset .no-such-set." err && no_files d
'

test_case 'extra arguments, conflicting options exit 2' '
	test_expect_code 2 "$FETCH" fashion-mnist -o - 2>err1 && usage_error err1 && grep -q "has 4 files" err1 &&
	test_expect_code 2 "$FETCH" fashion-mnist extra -d d 2>err2 && usage_error err2 &&
	test_expect_code 2 "$FETCH" fashion-mnist a b -d d 2>err6 && usage_error err6 &&
	test_expect_code 2 "$FETCH" fashion-mnist -d d --retries -1 2>err7 && usage_error err7 &&
	test_expect_code 2 "$FETCH" fashion-mnist -d d -o out.gz 2>err8 && usage_error err8 &&
	test_expect_code 2 "$FETCH" -d d 2>err3 && usage_error err3 &&
	test_expect_code 2 "$FETCH" fashion-mnist -d d --from x --url "$URL/ok/" 2>err4 && usage_error err4 &&
	test_expect_code 2 "$FETCH" fashion-mnist -d d --url ftp://example.org/ 2>err5 && usage_error err5 &&
	no_files d
'

test_case '--list prints the registry as TSV on stdout' '
	"$FETCH" --list >out 2>err &&
	[ ! -s err ] &&
	[ "$(wc -l <out)" -eq 14 ] &&
	for f in $FILES; do
		grep -q "^fashion-mnist	$f	[0-9]*	[0-9a-f]*	gunzipped:${SHA[$f]}	-\$" out || { echo "no line for $f"; cat out; exit 1; }
	done &&
	grep -q "^mnist	train-images-idx3-ubyte.gz	9912422	f68b3c2dcbeaaa9fbdd348bbdeb94873	-	-\$" out &&
	grep -q "^mnist	t10k-labels-idx1-ubyte.gz	4542	ec29112dd5afa0611ce80d1b7f02629c	-	-\$" out &&
	grep -q "^cifar-10	cifar-10-binary.tar.gz	170052171	-	c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd	tar\$" out &&
	grep -q "^cifar-100	cifar-100-binary.tar.gz	168513733	-	58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec	tar\$" out &&
	grep -q "^gtsrb	GTSRB-Training_fixed.zip	size unknown	513f3c79a4c5141765e10e952eaa2478	-	zip\$" out &&
	grep -q "^gtsrb	GTSRB_Final_Test_Images.zip	size unknown	c7e4e6327067d32654124b0fe9e82185	-	zip\$" out &&
	grep -q "^gtsrb	GTSRB_Final_Test_GT.zip	size unknown	fe31e9c9270bbcd7b84b7f21a9d9d9e5	-	zip\$" out &&
	grep -q "^tiny-imagenet	tiny-imagenet-200.zip	size unknown	90528d7ca1a48142e341f4ef8d21d0de	-	zip\$" out &&
	"$FETCH" --list fashion-mnist >out2 && grep "^fashion-mnist	" out | cmp - out2 &&
	test_expect_code 2 "$FETCH" --list nope 2>/dev/null
'

test_case 'fetch from the Debian copy into a fresh directory' '
	"$FETCH" fashion-mnist -d a/b/raw --url "$NONET" >out 2>err &&
	[ ! -s out ] &&
	test_one_line err &&
	grep -q "^dl-fetch: fashion-mnist: copied 4 files from $DEB, verified" err &&
	check_files a/b/raw &&
	[ "$(ls -A a/b/raw | wc -l)" -eq 4 ]
'

test_case 'second run exits 0 and rewrites nothing' '
	"$FETCH" fashion-mnist -d raw --url "$NONET" 2>/dev/null &&
	stamp raw >before && sleep 0.05 &&
	"$FETCH" fashion-mnist -d raw --url "$NONET" >out 2>err &&
	stamp raw >after && cmp before after &&
	[ ! -s out ] && test_one_line err && grep -q "4 files already in raw, verified" err &&
	DL_FETCH_LOCAL_DIR=/nonexistent "$FETCH" fashion-mnist -d raw --offline -q 2>err2 && [ ! -s err2 ]
'

test_case 'a bad file in DIR is replaced, good ones kept' '
	"$FETCH" fashion-mnist -d raw --url "$NONET" 2>/dev/null &&
	stamp raw | grep -v t10k-labels >before &&
	echo junk >raw/t10k-labels-idx1-ubyte.gz &&
	"$FETCH" fashion-mnist -d raw --url "$NONET" 2>err &&
	grep -q "copied 1 file from $DEB (replacing 1 that failed verification), 3 files already in raw" err &&
	stamp raw | grep -v t10k-labels >after && cmp before after &&
	check_files raw && [ "$(ls -A raw | wc -l)" -eq 4 ]
'

test_case '--from a directory with a tampered file: exit 6, no bad or temp file left' '
	mkdir src && cp "$DEB"/*.gz src/ &&
	cp "$WWW/bad/train-labels-idx1-ubyte.gz" src/ &&
	test_expect_code 6 "$FETCH" fashion-mnist -d raw --from src 2>err &&
	test_one_line err &&
	grep -q "^dl-fetch: src/train-labels-idx1-ubyte.gz: checksum mismatch" err &&
	grep -q "${SHA[train-labels-idx1-ubyte.gz]}" err &&
	grep -q "$TAMPERED_SHA" err &&
	[ ! -e raw/train-labels-idx1-ubyte.gz ] && only_verified raw
'

test_case '--from a directory with a file that is not gzip: exit 6' '
	mkdir src && cp "$DEB"/*.gz src/ &&
	head -c 5000 /dev/urandom >src/t10k-images-idx3-ubyte.gz &&
	test_expect_code 6 "$FETCH" fashion-mnist -d raw --from src 2>err &&
	test_one_line err && grep -q "t10k-images-idx3-ubyte.gz: checksum mismatch" err &&
	[ ! -e raw/t10k-images-idx3-ubyte.gz ] && only_verified raw
'

test_case '--from a directory missing a file: exit 4, names it, no temp file left' '
	mkdir src && cp "$DEB"/*.gz src/ && rm src/t10k-labels-idx1-ubyte.gz &&
	test_expect_code 4 "$FETCH" fashion-mnist -d raw --from src 2>err &&
	test_one_line err && grep -q "src/t10k-labels-idx1-ubyte.gz: no such file" err &&
	[ ! -e raw/t10k-labels-idx1-ubyte.gz ] && only_verified raw
'

test_case '--from a good directory copies only from there' '
	mkdir src && cp "$DEB"/*.gz src/ &&
	DL_FETCH_LOCAL_DIR=/nonexistent "$FETCH" fashion-mnist -d raw --from src 2>err &&
	grep -q "copied 4 files from src, verified" err && check_files raw
'

test_case 'download from a local HTTP server (local copy disabled by env)' '
	DL_FETCH_LOCAL_DIR= "$FETCH" fashion-mnist -d raw --url "$URL/ok/" >out 2>err &&
	[ ! -s out ] && test_one_line err &&
	grep -q "downloaded 4 files from $URL/ok/, verified" err &&
	check_files raw && [ "$(ls -A raw | wc -l)" -eq 4 ]
'

test_case 'download with --no-local, base URL without a trailing slash' '
	"$FETCH" fashion-mnist -d raw --no-local --url "$URL/ok" 2>err &&
	grep -q "downloaded 4 files from $URL/ok, verified" err && check_files raw
'

test_case 'HTTP 404: exit 5, one-line error, nothing left' '
	DL_FETCH_LOCAL_DIR= test_expect_code 5 "$FETCH" fashion-mnist -d raw --url "$SRV/gone/x/" 2>err &&
	test_one_line err && grep -q "$SRV/gone/x/train-images-idx3-ubyte.gz: HTTP 404" err &&
	no_files raw
'

test_case 'connection refused: exit 5' '
	test_expect_code 5 "$FETCH" fashion-mnist -d raw --no-local --url "$NONET" 2>err &&
	test_one_line err && no_files raw
'

test_case 'tampered download: exit 6, the bad file not kept' '
	test_expect_code 6 "$FETCH" fashion-mnist -d raw --no-local --url "$URL/bad/" 2>err &&
	test_one_line err && grep -q "$URL/bad/train-labels-idx1-ubyte.gz: checksum mismatch" err &&
	grep -q "$TAMPERED_SHA" err && [ ! -e raw/train-labels-idx1-ubyte.gz ] && only_verified raw
'

test_case 'oversized download is cut off at the cap: exit 6' '
	test_expect_code 6 "$FETCH" fashion-mnist -d raw --no-local --url "$URL/big/" 2>err &&
	test_one_line err && grep -q "$URL/big/train-labels-idx1-ubyte.gz: checksum mismatch: larger than any valid copy" err &&
	[ ! -e raw/train-labels-idx1-ubyte.gz ] && only_verified raw
'

test_case 'HTTP redirects are followed' '
	"$FETCH" fashion-mnist -d raw --no-local --url "$SRV/to-ok/ok/" 2>err &&
	grep -q "downloaded 4 files from $SRV/to-ok/ok/, verified" err && check_files raw
'

test_case 'a redirect to file:// is refused: exit 5' '
	test_expect_code 5 "$FETCH" fashion-mnist -d raw --no-local --url "$SRV/to-file/x/" 2>err &&
	test_one_line err && grep -q "$SRV/to-file/x/train-images-idx3-ubyte.gz: download failed" err &&
	no_files raw
'

test_case '--offline with no local copy fails fast, creates nothing' '
	start=$(date +%s) &&
	DL_FETCH_LOCAL_DIR=/nonexistent test_expect_code 4 "$FETCH" fashion-mnist -d raw --offline 2>err &&
	[ $(( $(date +%s) - start )) -le 5 ] &&
	test_one_line err && grep -q "offline" err && grep -q "/nonexistent" err &&
	[ ! -e raw ]
'

test_case '--offline with a partial local copy: exit 4 naming the file' '
	mkdir loc && cp "$DEB"/train-*.gz loc/ &&
	DL_FETCH_LOCAL_DIR=$PWD/loc test_expect_code 4 "$FETCH" fashion-mnist -d raw --offline 2>err &&
	test_one_line err && grep -q "t10k-images-idx3-ubyte.gz: no such file in the local copy, and --offline" err &&
	[ ! -e raw/t10k-images-idx3-ubyte.gz ] && only_verified raw
'

test_case 'a partial local copy is completed from the network' '
	mkdir loc && cp "$DEB"/train-*.gz loc/ &&
	DL_FETCH_LOCAL_DIR=$PWD/loc "$FETCH" fashion-mnist -d raw --url "$URL/ok/" 2>err &&
	grep -q "copied 2 files from $PWD/loc, downloaded 2 files from $URL/ok/, verified" err &&
	check_files raw
'

test_case '--offline uses the Debian copy' '
	"$FETCH" fashion-mnist -d raw --offline -q >out 2>err &&
	[ ! -s out ] && [ ! -s err ] && check_files raw
'

test_done
