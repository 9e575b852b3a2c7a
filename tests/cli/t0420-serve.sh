#!/bin/bash
# dl-eval serve (tools/dl-eval/serve*.c): an HTTP prediction service.
#   every endpoint (/healthz, /metadata, /metrics, /predict with a PNG,
#     JPEG, PPM body, multipart and a safetensors U8 batch) and the access log;
#   1,000 requests from 16 concurrent clients, each answer equal to
#     `dl-eval predict` on the same image (classes, names; probabilities to
#     2e-6: the batch size changes float summation order);
#   200 hostile requests (garbage, truncated PNG, 100k x 100k PNG header,
#     slow body, oversized body, wrong method and path, ...): every one 4xx,
#     the server alive and right afterwards;
#   hot reload under load: the checkpoint replaced by rename while clients
#     run: no request fails, answers switch to the new model; a broken file
#     keeps the old model; SIGHUP loads again;
#   SIGTERM answers the requests in flight and exits 0;
#   and `dl-eval predict` streams: in a pipe each path is answered before
#   stdin closes.
# Clients: tests/fixtures/serve_client.py (python3 standard library).
# Needs dataset-fashion-mnist, python3-numpy, python3-pil, curl.
. "$(dirname "$0")/lib.sh"

EVAL=$DL_BIN/dl-eval
PY=/usr/bin/python3
CLIENT="$PY $DL_ROOT/tests/fixtures/serve_client.py"
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
FIX=$TEST_TMP/fix
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
mkdir -p "$FIX/img" "$FIX/sq"
{
	"$DL_BIN/dl-prep" idx "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" --limit 256 \
		--classes fashion-mnist -o "$FIX/train.st" &&
	"$DL_BIN/dl-train" -m lenet --train "$FIX/train.st" -o "$FIX/a" --seed 1 -j 1 -q --batch 64 &&
	"$DL_BIN/dl-train" -m lenet --train "$FIX/train.st" -o "$FIX/b" --seed 2 -j 1 -q --batch 64 --epochs 2 &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
from PIL import Image
im = stio.load_dataset(\"$FIX/train.st\")[0]
for i in range(64):   # sizes 20..83, gray and RGB: resizing and conversion are exercised
    a = Image.fromarray(im[i, :, :, 0]); s = 20 + i
    (a.convert(\"RGB\") if i % 2 else a).resize((s, s)).save(\"$FIX/img/%02d.png\" % i)
for i in range(8):
    Image.fromarray(im[i, :, :, 0]).save(\"$FIX/sq/%d.png\" % i)
Image.fromarray(im[0, :, :, 0]).convert(\"RGB\").save(\"$FIX/x.jpg\", quality=90)
Image.fromarray(im[1, :, :, 0]).convert(\"RGB\").resize((40, 30)).save(\"$FIX/x.ppm\")
stio.save(\"$FIX/batch.st\", {\"images\": im[:8]})" &&
	(cd "$FIX/img" && ls ./*.png | "$EVAL" predict "$FIX/a/model.safetensors" -k 3 --json -j 1 >"$FIX/a.jsonl") &&
	(cd "$FIX/img" && ls ./*.png | "$EVAL" predict "$FIX/b/model.safetensors" -k 3 --json -j 1 >"$FIX/b.jsonl") &&
	cp "$FIX/a/model.safetensors" "$FIX/model.st"
} >"$FIX/setup.log" 2>&1
SHA_A=$(sha256sum "$FIX/a/model.safetensors" | cut -d' ' -f1)
SHA_B=$(sha256sum "$FIX/b/model.safetensors" | cut -d' ' -f1)
IMGS=$(ls "$FIX"/img/*.png)

# start_server LOG ARGS...: starts dl-eval serve on an ephemeral loopback
# port; sets SRV (its pid) and PORT from its first stdout line; its exit
# status lands in LOG.rc (wait_server LOG reads it: test cases are subshells).
start_server() {
	local log=$1; shift
	rm -f "$log.rc" "$log.out"
	( "$EVAL" serve "$@" --listen 127.0.0.1:0 -j 1 >"$log.out" 2>"$log" & echo $! >"$log.pid"
	  wait $!; echo $? >"$log.rc" ) &
	for _ in $(seq 600); do
		[ -s "$log.out" ] || [ -e "$log.rc" ] && break
		sleep 0.1
	done
	SRV=$(cat "$log.pid")
	PORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$log.out")
	[ -n "$PORT" ] || { echo "server did not start:"; cat "$log"; return 1; }
}
URL() { echo "http://127.0.0.1:$PORT$1"; }
wait_server() {
	for _ in $(seq 300); do [ -s "$1.rc" ] && break; sleep 0.1; done
	echo "server exit status: $(cat "$1.rc")"; [ "$(cat "$1.rc")" = 0 ]
}

test_case 'fixtures: two lenets, 64 PNGs of many sizes, JPEG, PPM, a U8 batch (see setup.log)' '
	[ -s "$FIX/model.st" ] && [ -s "$FIX/b/model.safetensors" ] && [ "$(wc -l <"$FIX/a.jsonl")" = 64 ] &&
	[ -s "$FIX/batch.st" ] && [ "$SHA_A" != "$SHA_B" ] || { cat "$FIX/setup.log"; false; }
'

test_case 'serve --help, bad options exit 2, a missing checkpoint exits 4' '
	"$EVAL" serve --help >help && grep -q "POST /predict" help &&
	test_expect_code 2 "$EVAL" serve "$FIX/model.st" --listen nohost 2>e1 && grep -q "ADDR:PORT" e1 &&
	test_expect_code 2 "$EVAL" serve "$FIX/model.st" --max-batch 0 2>e2 &&
	test_expect_code 2 "$EVAL" serve 2>e3 &&
	test_expect_code 4 "$EVAL" serve "$FIX/none.st" --listen 127.0.0.1:0 2>e4 && grep -q none.st e4
'

test_case 'dl-eval predict in a pipe answers each line before stdin closes (-b 64)' '
	coproc PRED { "$EVAL" predict "$FIX/a/model.safetensors" -b 64 -j 1 --json 2>pred.err; }
	pp=$PRED_PID
	echo "$FIX/img/00.png" >&"${PRED[1]}" &&
	read -r -t 20 l1 <&"${PRED[0]}" && echo "$l1" | grep -q "img/00.png" &&
	printf "%s\n%s\n" "$FIX/img/01.png" "$FIX/img/02.png" >&"${PRED[1]}" &&
	read -r -t 20 l2 <&"${PRED[0]}" && read -r -t 20 l3 <&"${PRED[0]}" &&
	echo "$l2$l3" | grep -q "img/01.png.*img/02.png" &&
	eval "exec ${PRED[1]}>&-" && wait "$pp" &&
	echo "$l1" >l1 && "$PY" -c "
import json, sys; sys.path.insert(0, \"$DL_ROOT/tests/fixtures\"); from serve_client import same
a = json.load(open(\"l1\")); b = json.loads(open(\"$FIX/a.jsonl\").readline())
assert same(a[\"top\"], b[\"top\"][:1]), (a, b)"
'

start_server "$FIX/srv.log" "$FIX/model.st" --max-batch 16 --max-delay-ms 2 --timeout 2 \
	--max-body 1000000 --poll-ms 100 || true

test_case 'GET /healthz, /metadata (model, input shape, classes, sha256, load time)' '
	curl -sS -f "$(URL /healthz)" >h && grep -q "\"status\": \"ok\"" h &&
	curl -sS -f "$(URL /metadata)" >m &&
	"$PY" -c "
import json; m = json.load(open(\"m\"))
assert m[\"model\"] == \"lenet\" and m[\"input\"] == {\"h\": 28, \"w\": 28, \"c\": 1}, m
assert len(m[\"classes\"]) == 10 and m[\"classes\"][9] == \"Ankle boot\", m
assert m[\"sha256\"] == \"$SHA_A\" and m[\"load_seconds\"] > 0 and m[\"loaded_at\"].endswith(\"Z\"), m
assert m[\"generation\"] == 1 and m[\"max_batch\"] == 16, m"
'

test_case 'POST /predict: PNG, JPEG and PPM bodies answer as dl-eval predict does' '
	for f in "$FIX/img/05.png" "$FIX/x.jpg" "$FIX/x.ppm"; do
		curl -sS -f --data-binary @"$f" "$(URL "/predict?k=3")" >>got || return 1
	done &&
	"$EVAL" predict "$FIX/model.st" "$FIX/img/05.png" "$FIX/x.jpg" "$FIX/x.ppm" -k 3 --json -j 1 >want &&
	"$PY" -c "
import json, sys; sys.path.insert(0, \"$DL_ROOT/tests/fixtures\"); from serve_client import same
g = [json.loads(l) for l in open(\"got\")]; w = [json.loads(l) for l in open(\"want\")]
assert len(g) == 3 and all(same(a[\"top\"], b[\"top\"]) for a, b in zip(g, w)), (g, w)
assert all(a[\"sha256\"] == \"$SHA_A\" and len(a[\"top\"]) == 3 for a in g)"
'

test_case 'POST /predict: a multipart batch and a safetensors U8 batch, one answer per image' '
	curl -sS -f -F a=@"$FIX/img/01.png" -F b=@"$FIX/x.jpg" -F c=@"$FIX/img/40.png" "$(URL /predict)" >mp &&
	"$EVAL" predict "$FIX/model.st" "$FIX/img/01.png" "$FIX/x.jpg" "$FIX/img/40.png" --json -j 1 >mpw &&
	curl -sS -f -H "Content-Type: application/x-safetensors" --data-binary @"$FIX/batch.st" \
		"$(URL "/predict?k=2")" >st &&
	"$EVAL" predict "$FIX/model.st" "$FIX"/sq/[0-7].png -k 2 --json -j 1 >stw &&
	"$PY" -c "
import json, sys; sys.path.insert(0, \"$DL_ROOT/tests/fixtures\"); from serve_client import same
for got, want, n in ((\"mp\", \"mpw\", 3), (\"st\", \"stw\", 8)):
    g = json.load(open(got))[\"predictions\"]; w = [json.loads(l) for l in open(want)]
    assert len(g) == n == len(w), (g, w)
    assert all(same(a[\"top\"], b[\"top\"]) for a, b in zip(g, w)), (g, w)
assert [p[\"name\"] for p in json.load(open(\"mp\"))[\"predictions\"]] == [\"01.png\", \"x.jpg\", \"40.png\"]"
'

test_case '1,000 requests from 16 concurrent clients: every answer equal to dl-eval predict' '
	$CLIENT load "$PORT" 1000 16 "$FIX/a.jsonl" $IMGS
'

test_case '200 hostile requests: every one answered 4xx, the server alive and right afterwards' '
	$CLIENT hostile "$PORT" "$FIX/img/00.png" &&
	kill -0 "$SRV" && curl -sS -f "$(URL /healthz)" >/dev/null &&
	$CLIENT load "$PORT" 64 4 "$FIX/a.jsonl" $IMGS
'

test_case 'GET /metrics: Prometheus text with requests, errors, latency and batch histograms' '
	curl -sS -f "$(URL /metrics)" >met &&
	"$PY" -c "
import re
m = {}
for l in open(\"met\"):
    if not l.startswith(\"#\"):
        k, v = l.rsplit(\" \", 1); m[k] = float(v)
assert m[\"dl_serve_requests_total{code=\\\"200\\\"}\"] >= 1064, m
assert m[\"dl_serve_requests_total{code=\\\"413\\\"}\"] >= 30 and m[\"dl_serve_requests_total{code=\\\"408\\\"}\"] >= 6
assert m[\"dl_serve_request_errors_total\"] >= 200
assert m[\"dl_serve_request_duration_seconds_count\"] == m[\"dl_serve_request_duration_seconds_bucket{le=\\\"+Inf\\\"}\"] >= 1264
assert m[\"dl_serve_batch_size_sum\"] == m[\"dl_serve_images_total\"] >= 1064
assert m[\"dl_serve_batch_size_count\"] < m[\"dl_serve_batch_size_sum\"], \"no batching happened\"
print(\"batches:\", m[\"dl_serve_batch_size_count\"], \"images:\", m[\"dl_serve_batch_size_sum\"])"
'

test_case 'access log: one line per request with address, method, path, status, time' '
	grep -c "127.0.0.1 \"POST /predict\" 200 " "$FIX/srv.log" >n && [ "$(cat n)" -ge 1064 ] &&
	grep -q "\"DELETE /predict\" 405 " "$FIX/srv.log" && grep -q "\"POST /predict\" 408 " "$FIX/srv.log"
'

test_case 'hot reload under load: checkpoint renamed over, no request fails, answers switch' '
	$CLIENT reload "$PORT" 8 40 "$SHA_A" "$FIX/a.jsonl" "$SHA_B" "$FIX/b.jsonl" $IMGS >out &
	c=$!
	sleep 1
	cp "$FIX/b/model.safetensors" "$FIX/model.st.tmp" && mv "$FIX/model.st.tmp" "$FIX/model.st" &&
	wait $c && cat out &&
	curl -sS -f "$(URL /metadata)" | grep -q "\"sha256\": \"$SHA_B\", *\"checkpoint\"\|\"sha256\": \"$SHA_B\"" &&
	grep -q "reloaded .*generation 2" "$FIX/srv.log"
'

gen() { curl -sS "$(URL /metadata)" | sed -n 's/.*"generation": \([0-9]*\).*/\1/p'; }
test_case 'a broken replacement keeps the old model (and says why); SIGHUP loads again' '
	head -c 3000 "$FIX/a/model.safetensors" >"$FIX/bad.tmp" && mv "$FIX/bad.tmp" "$FIX/model.st" &&
	for _ in $(seq 300); do grep -q "reload failed" "$FIX/srv.log" && break; sleep 0.1; done &&
	grep "reload failed, keeping the model loaded before: .*model.st" "$FIX/srv.log" &&
	curl -sS -f "$(URL /metadata)" | grep -q "$SHA_B" &&
	$CLIENT load "$PORT" 64 4 "$FIX/b.jsonl" $IMGS &&
	curl -sS "$(URL /metrics)" | grep -q "^dl_serve_reload_failures_total [1-9]" &&
	cp "$FIX/a/model.safetensors" "$FIX/ok.tmp" && mv "$FIX/ok.tmp" "$FIX/model.st" &&
	for _ in $(seq 300); do curl -sS "$(URL /metadata)" | grep -q "$SHA_A" && break; sleep 0.1; done &&
	curl -sS "$(URL /metadata)" | grep -q "$SHA_A" && g=$(gen) && echo "generation $g" &&
	kill -HUP "$SRV" &&
	for _ in $(seq 300); do [ "$(gen)" = $((g + 1)) ] && break; sleep 0.1; done &&
	[ "$(gen)" = $((g + 1)) ] && grep -q "SIGHUP: loading .*model.st again" "$FIX/srv.log"
'

test_case 'SIGTERM: drains (in-flight requests answered 200) and exits 0' '
	kill -TERM "$SRV" && wait_server "$FIX/srv.log" && grep -q "stopped" "$FIX/srv.log" &&
	start_server "$FIX/srv2.log" "$FIX/model.st" --max-batch 64 --max-delay-ms 3000 &&
	for i in 1 2 3 4; do
		curl -sS -o r$i -w "%{http_code}\n" --data-binary @"$FIX/img/0$i.png" "$(URL /predict)" >c$i &
	done &&
	for _ in $(seq 100); do curl -sS "$(URL /metrics)" | grep -q "^dl_serve_queued_images 4$" && break; sleep 0.05; done &&
	curl -sS "$(URL /metrics)" | grep -q "^dl_serve_queued_images 4$" &&
	kill -TERM "$SRV" && wait_server "$FIX/srv2.log" && wait &&
	cat c1 c2 c3 c4 | grep -c "^200$" | grep -qx 4 && grep -q "\"top\"" r4
'

test_case 'a busy --listen port exits 4 with a one-line error' '
	"$PY" -c "
import socket, subprocess, sys
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(1)
r = subprocess.run([\"$EVAL\", \"serve\", \"$FIX/model.st\", \"--listen\", \"127.0.0.1:%d\" % s.getsockname()[1]],
                   capture_output=True, text=True)
print(r.returncode, r.stderr)
assert r.returncode == 4 and \"cannot listen on\" in r.stderr and r.stderr.count(\"\\n\") == 1"
'

kill "$SRV" 2>/dev/null
test_done
