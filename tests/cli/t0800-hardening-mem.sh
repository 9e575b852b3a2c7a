#!/bin/bash
# Issue 12, memory safety and resource bounds: hostile geometry in a spec
# or checkpoint, memory sized from claims (PNG chunks, archive and gzip
# bombs, --batch beyond the dataset, huge specs), zero IDX dimensions,
# overflowing steering targets, FIFOs named in list files.  Each bomb case
# measures the child's peak RSS (getrusage through python3) under a bound
# stated in the case.
. "$(dirname "$0")/lib.sh"

PREP=$DL_BIN/dl-prep
TRAIN=$DL_BIN/dl-train
EVAL=$DL_BIN/dl-eval
export NO_COLOR=1 OMP_WAIT_POLICY=PASSIVE
SAN=0
case "$DL_BIN" in *build-san*) SAN=1 ;; esac

# peak_rss OUTFILE CMD...: runs CMD; OUTFILE gets "EXIT MAXRSS_KB"
peak_rss() {
	local out=$1; shift
	python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write("%d %d\n" % (rc, kb))
' "$out" "$@"
}

# rss_below FILE MB: the measured peak is under MB
rss_below() {
	local kb; kb=$(cut -d" " -f2 "$1")
	echo "peak RSS ${kb} KB (bound $2 MB)"
	[ "$kb" -lt $(($2 * 1024)) ]
}

exit_is() { [ "$(cut -d" " -f1 "$1")" = "$2" ] || { echo "exit $(cut -d" " -f1 "$1"), expected $2"; return 1; }; }

# one_error FILE WORD: exactly one line naming WORD
one_error() {
	test_one_line "$1" || return 1
	grep -qF -- "$2" "$1" || { echo "message does not name '$2':"; cat "$1"; return 1; }
}

# A tiny dataset: 40 images 8x8x1, labels 0/1 (IDX written by python).
FIX=$TEST_TMP/fix
mkdir -p "$FIX"
python3 - "$FIX" <<'EOF'
import struct, sys, os
d = sys.argv[1]
n = 40
img = bytes((i * 37 + j * 11) % 256 for i in range(n) for j in range(64))
open(os.path.join(d, "img.idx"), "wb").write(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 8, 8) + img)
open(os.path.join(d, "lab.idx"), "wb").write(struct.pack(">BBBBI", 0, 0, 8, 1, n) + bytes(i % 2 for i in range(n)))
EOF
"$PREP" idx "$FIX/img.idx" "$FIX/lab.idx" -o "$FIX/ds.st" 2>"$FIX/prep.err"
# pad larger than the kernel, 1 and 16 channels (im2col_plain overflowed)
cat >"$FIX/pad.spec" <<'EOF'
input h=8 w=8 c=1
conv2d filters=16 size=3 pad=4
relu
conv2d filters=16 size=1 pad=2
relu
gap
dense units=2
EOF

test_case 'fixture: a 40-sample 8x8 dataset' '
	[ -s "$FIX/ds.st" ] || { cat "$FIX/prep.err"; exit 1; }
'

# ---- geometry: pad > kernel runs everywhere (train, eval, predict)
test_case 'conv pad > kernel (3x3 pad 4, 1x1 pad 2, 16 ch): train, eval, predict under every DL_CONV' '
	for mode in im2col dnnl auto; do
		DL_CONV=$mode "$TRAIN" -m "$FIX/pad.spec" --train "$FIX/ds.st" -o run-$mode --batch 8 \
			--epochs 1 --device cpu -q 2>err-$mode || {
			grep -q "built without oneDNN" err-$mode && continue; cat err-$mode; exit 1; }
		DL_CONV=$mode test_expect_code 0 "$EVAL" run-$mode/model.safetensors "$FIX/ds.st" \
			--device cpu --json >ev.json || exit 1
		grep -q "\"accuracy\"" ev.json || exit 1
	done
	python3 -c "
import zlib, struct
raw = b\"\".join(b\"\\0\" + bytes(range(i * 8, i * 8 + 8)) for i in range(8))
c = lambda t, d: struct.pack(\">I\", len(d)) + t + d + struct.pack(\">I\", zlib.crc32(t + d))
open(\"a.png\", \"wb\").write(b\"\\x89PNG\\r\\n\\x1a\\n\" + c(b\"IHDR\", struct.pack(\">IIBBBBB\", 8, 8, 8, 0, 0, 0, 0)) + c(b\"IDAT\", zlib.compress(raw)) + c(b\"IEND\", b\"\"))"
	DL_CONV=im2col test_expect_code 0 "$EVAL" predict run-im2col/model.safetensors a.png \
		--device cpu >pred.tsv && [ -s pred.tsv ]
'

# ---- memory from claims
test_case '--batch 65536 on 40 samples plans 40 (dl-train; --max-memory 0.01 GiB would refuse 65536)' '
	peak_rss r "$TRAIN" -m "$FIX/pad.spec" --train "$FIX/ds.st" -o run --batch 65536 \
		--max-memory 0.01 --epochs 1 --device cpu -q 2>err &&
	{ exit_is r 0 || { cat err; exit 1; }; } && rss_below r 400 && [ -s run/model.safetensors ]
'

test_case 'dl-eval: default batch 256 and --batch 65536 on 40 samples plan 40' '
	"$TRAIN" -m "$FIX/pad.spec" --train "$FIX/ds.st" -o run --batch 8 --epochs 1 --device cpu -q &&
	test_expect_code 0 "$EVAL" run/model.safetensors "$FIX/ds.st" --device cpu --max-memory 0.01 >o1 &&
	peak_rss r "$EVAL" run/model.safetensors "$FIX/ds.st" --device cpu --batch 65536 \
		--max-memory 0.01 &&
	exit_is r 0 && rss_below r 400
'

test_case 'a plan over --max-memory is refused before allocating (exit 1, one line)' '
	test_expect_code 1 "$TRAIN" -m "$FIX/pad.spec" --train "$FIX/ds.st" -o run --batch 40 \
		--max-memory 0.0001 --device cpu -q 2>err &&
	one_error err "raise --max-memory" && [ ! -e run/model.safetensors ]
'

test_case 'a checkpoint whose spec declares 1e9 parameters in a 3 KB file: refused before allocating' '
	python3 - "$DL_ROOT/tests/fuzz/corpus/checkpoint/pad-sgd.safetensors" big.st <<-PY &&
	import json, struct, sys
	b = open(sys.argv[1], "rb").read()
	n = struct.unpack("<Q", b[:8])[0]
	h = json.loads(b[8:8 + n])
	h["__metadata__"]["dl.model"] = "input h=8 w=8 c=1\nflatten\ndense units=16000000\n"
	hb = json.dumps(h).encode()
	open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
	PY
	peak_rss r "$EVAL" big.st "$FIX/ds.st" --device cpu 2>err &&
	exit_is r 3 && one_error err "big.st" && grep -q "parameters but the file holds" err &&
	rss_below r 200
'

test_case 'a spec of 10,000 relu lines is refused at load (exit 3, file:line), small RSS' '
	{ echo "input h=28 w=28 c=1"; for i in $(seq 10000); do echo relu; done; echo flatten;
	  echo "dense units=10"; } >huge.spec &&
	peak_rss r "$TRAIN" -m huge.spec --train "$FIX/ds.st" -o run --device cpu 2>err &&
	exit_is r 3 && one_error err "huge.spec:4099:" && grep -q "more than 4096 layers" err &&
	rss_below r 300
'

test_case 'PNG whose iCCP / tEXt chunk declares 2 GB: exit 3, no 2 GB allocation' '
	python3 -c "
import struct, zlib
c = lambda t, d: struct.pack(\">I\", len(d)) + t + d + struct.pack(\">I\", zlib.crc32(t + d))
hdr = b\"\\x89PNG\\r\\n\\x1a\\n\" + c(b\"IHDR\", struct.pack(\">IIBBBBB\", 4, 4, 8, 0, 0, 0, 0))
for t in (b\"iCCP\", b\"tEXt\", b\"zTXt\"):
    open(t.decode() + \".png\", \"wb\").write(hdr + struct.pack(\">I\", 0x7ffffff0) + t + b\"abc\")" &&
	[ "$(stat -c %s iCCP.png)" -eq 44 ] && mkdir -p r && cp *.png r/ &&
	for t in iCCP tEXt zTXt; do
		echo "$t.png 0" >list-$t &&
		if [ $SAN = 0 ]; then
			# 1 GiB of address space: a 2 GB chunk buffer cannot even be tried
			(ulimit -v 1048576; "$PREP" list r list-$t -o o.st 2>err-$t); rc=$?
		else
			"$PREP" list r list-$t -o o.st 2>err-$t; rc=$?
		fi
		[ $rc = 3 ] || { echo "$t: exit $rc"; cat err-$t; exit 1; }
		one_error err-$t "$t.png" && grep -q "truncated" err-$t || exit 1
		[ ! -e o.st ] || exit 1
	done
'

# under ASan freed buffers stay in its quarantine: the bound is doubled
ZIP_MB=$((SAN ? 320 : 150))
test_case "zip of 200 MB of zeros (about 900 KB): refused by --archive-max-ratio, peak RSS < $ZIP_MB MB" '
	python3 -c "
import zipfile
with zipfile.ZipFile(\"bomb.zip\", \"w\", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
    with z.open(\"d/a.png\", \"w\", force_zip64=True) as f:
        block = bytes(1 << 20)
        for i in range(200):
            f.write(block)" &&
	echo "a.png 0" >list &&
	peak_rss r "$PREP" list bomb.zip list -o o.st 2>err &&
	exit_is r 3 && one_error err "bomb.zip" && grep -q "archive-max-ratio" err &&
	rss_below r $ZIP_MB && [ ! -e o.st ] &&
	test_expect_code 2 "$PREP" list bomb.zip list -o o.st --archive-max-ratio -1 2>/dev/null
'

test_case 'IDX gzip bomb (150 MB of zeros in 700 KB behind a 150 MB header): refused before allocating, < 100 MB' '
	python3 -c "
import gzip, struct
with gzip.open(\"bomb.idx.gz\", \"wb\", compresslevel=1) as f:
    f.write(struct.pack(\">BBBBIII\", 0, 0, 8, 3, 150, 1000, 1000))
    block = bytes(1 << 20)
    for i in range(150):
        f.write(block)
open(\"lab.idx\", \"wb\").write(struct.pack(\">BBBBI\", 0, 0, 8, 1, 150) + bytes(150))" &&
	peak_rss r "$PREP" idx bomb.idx.gz lab.idx -o o.st 2>err &&
	exit_is r 3 && one_error err "bomb.idx.gz" && grep -q "idx-max-ratio" err &&
	rss_below r 100 && [ ! -e o.st ]
'

# ---- bad values
test_case 'IDX with a zero dimension [2,0,28]: exit 3 naming the file, no output' '
	python3 -c "
import struct
open(\"z.idx\", \"wb\").write(struct.pack(\">BBBBIII\", 0, 0, 8, 3, 2, 0, 28))
open(\"l.idx\", \"wb\").write(struct.pack(\">BBBBI\", 0, 0, 8, 1, 2) + bytes(2))" &&
	test_expect_code 3 "$PREP" idx z.idx l.idx -o o.st 2>err &&
	one_error err "z.idx" && grep -q "is 0" err && [ ! -e o.st ]
'

test_case 'steering + --steer-correction overflowing a float: exit 3 naming file:line, no inf targets' '
	mkdir -p drv/IMG &&
	python3 -c "
import zlib, struct
raw = b\"\".join(b\"\\0\" + bytes(4) for i in range(4))
c = lambda t, d: struct.pack(\">I\", len(d)) + t + d + struct.pack(\">I\", zlib.crc32(t + d))
png = b\"\\x89PNG\\r\\n\\x1a\\n\" + c(b\"IHDR\", struct.pack(\">IIBBBBB\", 4, 4, 8, 0, 0, 0, 0)) + c(b\"IDAT\", zlib.compress(raw)) + c(b\"IEND\", b\"\")
for n in (\"c\", \"l\", \"r\"):
    open(\"drv/IMG/\" + n + \".png\", \"wb\").write(png)" &&
	printf "IMG/c.png,IMG/l.png,IMG/r.png,0.1,0,0,0\nIMG/c.png,IMG/l.png,IMG/r.png,3e38,0,0,0\n" \
		>drv/driving_log.csv &&
	test_expect_code 3 "$PREP" driving drv --cameras center,left,right --steer-correction 3e38 \
		-o o.st 2>err &&
	one_error err "driving_log.csv:2" && grep -q "not a finite float" err && [ ! -e o.st ] &&
	test_expect_code 0 "$PREP" driving drv --cameras center,left,right --steer-correction 0.2 \
		-o ok.st 2>/dev/null
'

test_case 'a FIFO named in a list file, or as the list, is refused at once (exit 3), no hang' '
	mkdir -p r && mkfifo r/f.png && echo "f.png 0" >list && mkfifo fifo.list &&
	timeout 20 "$PREP" list r list -o o.st 2>err; rc=$?
	[ $rc = 3 ] || { echo "exit $rc"; cat err; exit 1; }
	one_error err "f.png" && grep -q "not a regular file (a FIFO)" err && [ ! -e o.st ] &&
	timeout 20 "$PREP" list r fifo.list -o o.st 2>err2; rc=$?
	[ $rc = 3 ] || { echo "exit $rc"; cat err2; exit 1; }
	one_error err2 "fifo.list" && [ ! -e o.st ] &&
	printf "path,label\nf.png,0\n" >l.csv &&
	timeout 20 "$PREP" csv r l.csv --header -o o.st 2>err3; rc=$?
	[ $rc = 3 ] || { echo "exit $rc"; cat err3; exit 1; }
	one_error err3 "f.png"
'

# prep_add_class grew the names one slot per realloc: O(n^2) copying for a
# label of 1000000 (over 5 minutes under ASan, found by fuzz_prep_text)
test_case 'csv label 1000000: 1000001 classes "0".."1000000" within 60 s; 1000001 is refused' '
	mkdir -p many && printf "P5\n2 2\n255\n\001\002\003\004" >many/a.pgm &&
	printf "a.pgm,1000000\n" >many.csv && printf "a.pgm,1000001\n" >many2.csv &&
	timeout 60 "$PREP" csv many many.csv -o many.st 2>err &&
	python3 -c "
import json, struct, sys
f = open(sys.argv[1], \"rb\")
n = struct.unpack(\"<Q\", f.read(8))[0]
c = json.loads(json.loads(f.read(n))[\"__metadata__\"][\"dl.classes\"])
sys.exit(not (len(c) == 1000001 and c[0] == \"0\" and c[-1] == \"1000000\"))" many.st &&
	test_expect_code 3 "$PREP" csv many many2.csv -o many2.st 2>err2 &&
	one_error err2 "many2.csv:1" && [ ! -e many2.st ]
'

test_done
