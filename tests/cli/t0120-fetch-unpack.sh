#!/bin/bash
# dl-fetch unpacking (lib/io/unpack.c): tar, tar.gz, zip and gz archives
# unpack right; hostile archives (.., absolute paths, a symlink escape and a
# write through it, hardlink escape, device node, setuid, bombs, too many
# entries) are refused with nothing written outside and no partial tree.
# Archives are made here with Python's tarfile/zipfile; the bombs are
# concatenated gzip members, so they are small on disk.
. "$(dirname "$0")/lib.sh"

FETCH=$DL_BIN/dl-fetch
unset DL_FETCH_LOCAL_DIR DL_MIRROR
export NO_COLOR=1 XDG_CACHE_HOME=$TEST_TMP/cache

# fetch_archive FILE [dl-fetch options]: fetches FILE (in the case folder)
# as dataset "a" of a manifest, from --from src, into out
fetch_archive() {
	local f=$1; shift
	mkdir -p src && cp "$f" src/ &&
	printf 'dataset a\nfile %s sha256=%s unpack=yes\n' "$f" "$(sha256sum <"$f" | cut -c1-64)" >m &&
	"$FETCH" -f m a --from src -d out "$@"
}

# clean_refusal STEM: out holds the archive and nothing else (no tree, no temp)
clean_refusal() {
	[ ! -e "out/$1" ] || { echo "out/$1 exists"; return 1; }
	if ls -A out | grep -v "^$2\$"; then echo "left in out:"; ls -la out; return 1; fi
}

# a small tree, and the same tree as tar, tar.gz, zip
TEST_TMP=$TEST_TMP python3 - <<'EOF'
import gzip, io, os, tarfile, zipfile, random
os.chdir(os.environ["TEST_TMP"])
random.seed(1)
os.makedirs("tree/d/e", exist_ok=True)
files = {"a.txt": b"hello\n", "d/b.bin": bytes(random.getrandbits(8) for _ in range(70000)),
         "d/e/c.txt": b"deep\n" * 100, "empty": b""}
for n, b in files.items():
    open("tree/" + n, "wb").write(b)
os.chmod("tree/a.txt", 0o755)
os.symlink("d/e/c.txt", "tree/link")
for name, mode in (("t.tar", "w"), ("t.tar.gz", "w:gz")):
    with tarfile.open(name, mode) as t:
        for n in sorted(os.listdir("tree")):
            t.add("tree/" + n, arcname=n)
with zipfile.ZipFile("t.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, fs in os.walk("tree"):
        for f in fs:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                z.write(p, os.path.relpath(p, "tree"))
open("one.gz", "wb").write(gzip.compress(files["d/b.bin"]))

def tar_with(name, entries):
    """entries: (name, type, data/linkname, mode)"""
    with tarfile.open(name, "w:gz") as t:
        for n, typ, data, mode in entries:
            ti = tarfile.TarInfo(n)
            ti.type, ti.mode = typ, mode
            if typ in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = data
                t.addfile(ti)
            elif typ == tarfile.REGTYPE:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)

R, S, L, C = tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE
tar_with("dotdot.tar.gz", [("ok.txt", R, b"fine", 0o644), ("../x", R, b"escaped", 0o644)])
tar_with("abs.tar.gz", [("ok.txt", R, b"fine", 0o644), (os.environ["TEST_TMP"] + "/abs-x", R, b"escaped", 0o644)])
tar_with("symesc.tar.gz", [("ok.txt", R, b"fine", 0o644), ("evil", S, "../../..", 0o777),
                           ("evil/pwned", R, b"escaped", 0o644)])
tar_with("symabs.tar.gz", [("evil", S, os.environ["TEST_TMP"], 0o777), ("evil/pwned", R, b"escaped", 0o644)])
tar_with("symin.tar.gz", [("d/f.txt", R, b"inside", 0o644), ("d/l", S, ".", 0o777), ("d/l/g.txt", R, b"through", 0o644)])
tar_with("hardesc.tar.gz", [("ok.txt", R, b"fine", 0o644), ("h", L, "../../../etc/passwd", 0o644)])
tar_with("dev.tar.gz", [("ok.txt", R, b"fine", 0o644), ("null", C, b"", 0o666)])
tar_with("suid.tar.gz", [("ok.txt", R, b"fine", 0o644), ("su", R, b"#!/bin/sh\n", 0o4755)])
tar_with("many.tar.gz", [("f%d" % i, R, b"x", 0o644) for i in range(5)])
with zipfile.ZipFile("dotdot.zip", "w") as z:
    z.writestr("ok.txt", b"fine")
    z.writestr("../zx", b"escaped")

# bombs: 1 GiB of zeros as 1024 gzip members of 1 MiB each (about 1 MB on disk)
zeros = gzip.compress(bytes(1 << 20), 9)
hdr = tarfile.TarInfo("zeros")
hdr.size = 1 << 30
with open("bomb.tar.gz", "wb") as f:
    f.write(gzip.compress(hdr.tobuf(format=tarfile.GNU_FORMAT)))
    for _ in range(1024):
        f.write(zeros)
with open("bomb.gz", "wb") as f:
    for _ in range(1024):
        f.write(zeros)
EOF

test_case 'tar, tar.gz: the tree unpacks right (files, modes, symlink)' '
	for t in t.tar t.tar.gz; do
		cp "$TEST_TMP/$t" . && rm -rf out src &&
		fetch_archive $t --json >j 2>err &&
		diff -r --no-dereference "$TEST_TMP/tree" out/t &&
		[ "$(readlink out/t/link)" = d/e/c.txt ] && [ -x out/t/a.txt ] &&
		grep -q "unpacked 1 archive" err &&
		python3 -c "import json,sys; f=json.load(open(\"j\"))[\"files\"][0]; sys.exit(not (f[\"entries\"]>=6 and f[\"unpacked_bytes\"]==70000+6+500))" &&
		[ "$(ls -A out | sort | tr "\n" " ")" = "t $t " ] || exit 1
	done
'

test_case 'zip and gz unpack right' '
	cp "$TEST_TMP/t.zip" "$TEST_TMP/one.gz" . &&
	fetch_archive t.zip 2>err && cmp out/t/d/b.bin "$TEST_TMP/tree/d/b.bin" &&
	cmp out/t/d/e/c.txt "$TEST_TMP/tree/d/e/c.txt" && [ -f out/t/empty ] && [ ! -s out/t/empty ] &&
	rm -rf src out && fetch_archive one.gz 2>err2 && cmp out/one "$TEST_TMP/tree/d/b.bin"
'

test_case 'a second run keeps the unpacked tree; --no-unpack leaves it packed' '
	cp "$TEST_TMP/t.tar.gz" . && fetch_archive t.tar.gz 2>/dev/null &&
	before=$(stat -c %i.%Y out/t out/t/d/b.bin) && sleep 0.05 &&
	"$FETCH" -f m a -d out --offline 2>err && [ "$(stat -c %i.%Y out/t out/t/d/b.bin)" = "$before" ] &&
	! grep -q unpacked err &&
	rm -rf out && "$FETCH" -f m a --from src -d out --no-unpack 2>/dev/null && [ ! -e out/t ] && [ -f out/t.tar.gz ]
'

test_case 'checksum mismatch of an archive: exit 6, nothing unpacked or left' '
	cp "$TEST_TMP/t.tar.gz" . && mkdir src && cp t.tar.gz src/ &&
	printf "dataset a\nfile t.tar.gz sha256=%064d unpack=yes\n" 0 >m &&
	test_expect_code 6 "$FETCH" -f m a --from src -d out 2>err && test_one_line err &&
	[ -z "$(ls -A out)" ]
'

test_case 'hostile: ../x is refused (exit 3), nothing outside, no partial tree' '
	cp "$TEST_TMP/dotdot.tar.gz" . &&
	test_expect_code 3 fetch_archive dotdot.tar.gz 2>err && test_one_line err &&
	grep -q "dotdot.tar.gz: entry .../x.: refused: absolute path or .\.\.. component" err &&
	[ ! -e x ] && [ ! -e out/x ] && clean_refusal dotdot dotdot.tar.gz
'

test_case 'hostile: ../ in a zip is refused' '
	cp "$TEST_TMP/dotdot.zip" . &&
	test_expect_code 3 fetch_archive dotdot.zip 2>err && grep -q "entry .../zx.: refused" err &&
	[ ! -e zx ] && clean_refusal dotdot dotdot.zip
'

test_case 'hostile: an absolute path is refused' '
	cp "$TEST_TMP/abs.tar.gz" . &&
	test_expect_code 3 fetch_archive abs.tar.gz 2>err && grep -q "refused: absolute path" err &&
	[ ! -e "$TEST_TMP/abs-x" ] && clean_refusal abs abs.tar.gz
'

test_case 'hostile: a symlink escape, then a write through it, is refused' '
	cp "$TEST_TMP/symesc.tar.gz" "$TEST_TMP/symabs.tar.gz" . &&
	test_expect_code 3 fetch_archive symesc.tar.gz 2>err && grep -q "entry .evil.: refused: symlink points outside" err &&
	[ ! -e "$TEST_TMP/pwned" ] && [ ! -e pwned ] && clean_refusal symesc symesc.tar.gz &&
	rm -rf out src && test_expect_code 3 fetch_archive symabs.tar.gz 2>err2 && grep -q "refused: symlink points outside" err2 &&
	[ ! -e "$TEST_TMP/pwned" ] && clean_refusal symabs symabs.tar.gz
'

test_case 'a write through an inside symlink is refused too (links are never followed)' '
	cp "$TEST_TMP/symin.tar.gz" . &&
	test_expect_code 3 fetch_archive symin.tar.gz 2>err && grep -q "entry .d/l/g.txt.: refused: path goes through a symlink" err &&
	clean_refusal symin symin.tar.gz
'

test_case 'hostile: hardlink out, device node, setuid file are refused' '
	for a in hardesc dev suid; do
		rm -rf out src && cp "$TEST_TMP/$a.tar.gz" . &&
		test_expect_code 3 fetch_archive $a.tar.gz 2>err && clean_refusal $a $a.tar.gz || exit 1
	done &&
	grep -q "refused: setuid/setgid file" err
'

test_case 'a tar.gz declaring 1 GiB is refused by the byte cap, quickly' '
	cp "$TEST_TMP/bomb.tar.gz" . && [ "$(stat -c %s bomb.tar.gz)" -lt 2000000 ] &&
	test_expect_code 3 fetch_archive bomb.tar.gz --max-unpack 1000000 2>err &&
	grep -q "entry .zeros.: refused: declares 1073741824 bytes, over the cap of 1000000" err &&
	clean_refusal bomb bomb.tar.gz
'

test_case 'a .gz of 1 GiB of zeros stops at the byte cap while writing' '
	cp "$TEST_TMP/bomb.gz" . &&
	test_expect_code 3 fetch_archive bomb.gz --max-unpack 1000000 2>err &&
	grep -q "refused: unpacked content over the cap of 1000000 bytes" err &&
	clean_refusal bomb bomb.gz
'

test_case 'more entries than --max-entries is refused' '
	cp "$TEST_TMP/many.tar.gz" . &&
	test_expect_code 3 fetch_archive many.tar.gz --max-entries 3 2>err && grep -q "refused: more than 3 entries" err &&
	clean_refusal many many.tar.gz &&
	rm -rf out src && fetch_archive many.tar.gz --max-entries 5 2>/dev/null && [ -f out/many/f4 ]
'

test_case 'a corrupt archive: exit 3, no tree' '
	head -c 20000 "$TEST_TMP/t.tar.gz" >cut.tar.gz &&
	test_expect_code 3 fetch_archive cut.tar.gz 2>err && test_one_line err && clean_refusal cut cut.tar.gz
'

test_done
