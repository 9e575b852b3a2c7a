#!/bin/bash
# dl-eval metrics beyond loss/accuracy, gates, plots and predict:
#   --per-class / --json: top-k, per-class precision/recall/F1 and the
#     confusion matrix, checked against numpy on the model's own logits;
#   gates --max-loss / --max-mae and exit 7 with the failing figure;
#   --plot (confusion heat map) and `dl-eval plot` (training curves): PNGs
#     of the right size with real content (PIL);
#   predict: PNG (RGB, 56x56) and JPEG (gray, 84x84) files made from t10k
#     images get the classes dl-eval gives the 28x28 tensors of the same
#     images; paths on stdin; -k; --json; unreadable files exit 3.
# Needs dataset-fashion-mnist, python3-numpy, python3-pil.
. "$(dirname "$0")/lib.sh"

EVAL=$DL_BIN/dl-eval
PY=/usr/bin/python3
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
FIX=$TEST_TMP/fix
CK=$FIX/lenet/model.safetensors TE=$FIX/test.st
mkdir -p "$FIX/img"
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
{
	"$DL_BIN/dl-prep" idx "$FM/train-images-idx3-ubyte.gz" "$FM/train-labels-idx1-ubyte.gz" --limit 512 \
		--classes fashion-mnist -o "$FIX/train.st" --val-fraction 0.25 --val-out "$FIX/val.st" &&
	"$DL_BIN/dl-prep" idx "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" --limit 200 \
		--classes fashion-mnist -o "$TE" &&
	"$DL_BIN/dl-train" -m lenet --train "$FIX/train.st" --val "$FIX/val.st" -o "$FIX/lenet" --epochs 3 \
		--seed 1 -j 2 -q --optimizer adam --lr 1e-3 &&
	"$EVAL" "$CK" "$TE" --logits "$FIX/logits.st" >/dev/null &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
from PIL import Image
im = stio.load_dataset(\"$TE\")[0]
for i in range(48):
    a = Image.fromarray(im[i, :, :, 0])
    a.convert(\"RGB\").resize((56, 56), Image.NEAREST).save(\"$FIX/img/%03d.png\" % i)
    a.resize((84, 84), Image.NEAREST).save(\"$FIX/img/%03d.jpg\" % i, quality=95)"
} >"$FIX/setup.log" 2>&1

# same_classes TSV: the classes in TSV (column 2, names) equal the argmax of
# dl-eval's logits for images 0..N-1 in file-name order
same_classes() {
	"$PY" -c "
import sys, json; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
z = stio.load(\"$FIX/logits.st\")[0][\"logits\"]
names = json.loads(stio.load(\"$CK\")[1][\"dl.classes\"])
rows = [l.rstrip(\"\n\").split(\"\t\") for l in open(\"$1\")]
idx = [int(r[0].rsplit(\"/\", 1)[1][:3]) for r in rows]
got = [names.index(r[1]) for r in rows]
want = [int(z[i].argmax()) for i in idx]
assert len(rows) == 48, len(rows)
bad = [(i, g, w) for i, g, w in zip(idx, got, want) if g != w]
print(\"same class on\", len(rows) - len(bad), \"of\", len(rows))
assert not bad, bad"
}

test_case 'fixtures: lenet trained 3 epochs with validation, PNG and JPEG files (see setup.log)' '
	[ -s "$CK" ] && [ -s "$FIX/logits.st" ] && [ -s "$FIX/img/047.jpg" ] || { cat "$FIX/setup.log"; false; }
'

test_case '--json: confusion, per-class P/R/F1 and top-k agree with numpy on the logits' '
	"$EVAL" "$CK" "$TE" --json -k 3 >out.json &&
	"$PY" -c "
import sys, json, numpy as np; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio
d = json.load(open(\"out.json\"))
z = stio.load(\"$FIX/logits.st\")[0][\"logits\"].astype(np.float64)
y = stio.load_dataset(\"$TE\")[1]
p = z.argmax(1); k = z.shape[1]
cm = np.zeros((k, k), int)
for a, b in zip(y, p): cm[a, b] += 1
assert d[\"confusion\"] == cm.tolist(), d[\"confusion\"]
tp = np.diag(cm); pred = cm.sum(0); sup = cm.sum(1)
prec = np.where(pred > 0, tp / np.maximum(pred, 1), 0); rec = np.where(sup > 0, tp / np.maximum(sup, 1), 0)
f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-300), 0)
for c in d[\"per_class\"]:
    i = c[\"class\"]
    assert abs(c[\"precision\"] - prec[i]) < 1e-6 and abs(c[\"recall\"] - rec[i]) < 1e-6, (c, prec[i], rec[i])
    assert abs(c[\"f1\"] - f1[i]) < 1e-6 and c[\"support\"] == sup[i], c
assert abs(d[\"macro_f1\"] - f1.mean()) < 1e-6
top3 = np.mean([y[i] in np.argsort(-z[i], kind=\"stable\")[:3] for i in range(len(y))])
assert d[\"top_k\"] == 3 and abs(d[\"top_k_accuracy\"] - top3) < 1e-6, (d[\"top_k_accuracy\"], top3)
m = z.max(1, keepdims=True); ls = np.log(np.exp(z - m).sum(1)) + m[:, 0] - z[np.arange(len(y)), y]
assert abs(d[\"loss\"] - ls.mean()) < 1e-5 and abs(d[\"accuracy\"] - (p == y).mean()) < 1e-9
print(\"ok\", d[\"accuracy\"], d[\"top_k_accuracy\"])"
'

test_case '--per-class: summary line, per-class table and a 10x10 confusion matrix' '
	"$EVAL" "$CK" "$TE" --per-class >out &&
	head -1 out | grep -Eq "^lenet on .*: 200 samples, loss [0-9.]+, accuracy [0-9.]+$" &&
	grep -q "^top-5 accuracy" out && [ "$(grep -cE "^ +[0-9] +[01]\.[0-9]{4}" out)" -eq 10 ] &&
	[ "$(sed -n "/^confusion/,\$p" out | tail -n +2 | awk "{ s += NF; for (i = 1; i <= NF; i++) t += \$i } END { print s, t }")" = "100 200" ]
'

test_case 'top-k: -k 1 equals accuracy, -k 10 is 1' '
	"$EVAL" "$CK" "$TE" --json -k 1 >a && "$EVAL" "$CK" "$TE" --json -k 10 >b &&
	"$PY" -c "import json; a = json.load(open(\"a\")); b = json.load(open(\"b\"))
assert a[\"top_k_accuracy\"] == a[\"accuracy\"] and b[\"top_k_accuracy\"] == 1.0, (a, b)"
'

test_case 'gates: --max-loss 0 exits 7 naming the loss; generous gates exit 0' '
	test_expect_code 7 "$EVAL" "$CK" "$TE" --max-loss 0 >out 2>err && test_one_line err &&
	grep -q "^dl-eval: gate failed: loss [0-9.]* > --max-loss 0.0000" err && test_one_line out &&
	test_expect_code 0 "$EVAL" "$CK" "$TE" --max-loss 100 --min-accuracy 0.1 >out 2>err && [ ! -s err ]
'

test_case 'gates: --max-mae on a classifier and --max-loss < 0 are usage errors (exit 2)' '
	test_expect_code 2 "$EVAL" "$CK" "$TE" --max-mae 1 2>err && grep -q "classifier" err &&
	test_expect_code 2 "$EVAL" "$CK" "$TE" --max-loss -1 2>err
'

test_case '--plot: confusion heat map PNG with content' '
	"$EVAL" "$CK" "$TE" --plot conf.png >/dev/null && "$PY" -c "
from PIL import Image
im = Image.open(\"conf.png\").convert(\"RGB\"); w, h = im.size
assert 400 <= w <= 2000 and 400 <= h <= 2000, im.size
px = list(im.getdata()); nonwhite = sum(p != (255, 255, 255) for p in px) / len(px)
assert len(set(px)) > 10 and 0.05 < nonwhite < 0.9, (len(set(px)), nonwhite)
print(im.size, len(set(px)), nonwhite)"
'

test_case 'plot: training curves PNG, 1200x500, train and val lines drawn' '
	"$EVAL" plot "$FIX/lenet/log.jsonl" -o curves.png && "$PY" -c "
from PIL import Image
im = Image.open(\"curves.png\").convert(\"RGB\"); assert im.size == (1200, 500), im.size
px = list(im.getdata())
train = sum(p == (31, 119, 180) for p in px); val = sum(p == (255, 127, 14) for p in px)
assert train > 300 and val > 300, (train, val)
print(\"train px\", train, \"val px\", val)" && ! compgen -G "curves.png.tmp.*" >/dev/null
'

test_case 'plot: a log that is not JSON lines exits 3 naming the line; no -o exits 2' '
	printf "{\"event\": \"epoch\", \"epoch\": 1, \"loss\": 1}\nnot json\n" >bad.jsonl &&
	test_expect_code 3 "$EVAL" plot bad.jsonl -o c.png 2>err && test_one_line err &&
	grep -q "bad.jsonl" err && grep -q "line 2" err && [ ! -e c.png ] &&
	test_expect_code 2 "$EVAL" plot "$FIX/lenet/log.jsonl" 2>err &&
	printf "{\"event\": \"done\"}\n" >empty.jsonl && test_expect_code 3 "$EVAL" plot empty.jsonl -o c.png 2>err
'

test_case 'predict: PNG (RGB 56x56) files get the classes dl-eval gives the 28x28 tensors' '
	"$EVAL" predict "$CK" "$FIX"/img/*.png >png.tsv 2>err && [ ! -s err ] && same_classes png.tsv
'

test_case 'predict: JPEG (84x84, quality 95) files, paths on stdin, same classes' '
	ls "$FIX"/img/*.jpg | "$EVAL" predict "$CK" -b 7 >jpg.tsv 2>err && [ ! -s err ] && same_classes jpg.tsv
'

test_case 'predict -k 3: 7 TSV fields, probabilities descending in (0, 1]' '
	"$EVAL" predict "$CK" -k 3 "$FIX"/img/00[0-4].png >out && [ "$(wc -l <out)" -eq 5 ] &&
	awk -F "\t" "NF != 7 || !(\$3 >= \$5 && \$5 >= \$7 && \$3 <= 1 && \$7 > 0) { bad = 1 } END { exit bad }" out
'

test_case 'predict --json: one object per image, probabilities sum below 1' '
	"$EVAL" predict "$CK" --json -k 10 "$FIX"/img/000.png "$FIX"/img/001.jpg >out && "$PY" -c "
import json
rows = [json.loads(l) for l in open(\"out\")]
assert len(rows) == 2 and rows[1][\"path\"].endswith(\"001.jpg\"), rows
for r in rows:
    s = sum(t[\"probability\"] for t in r[\"top\"]); assert abs(s - 1) < 1e-4 and len(r[\"top\"]) == 10, s
assert rows[0][\"top\"][0][\"name\"] is not None"
'

test_case 'predict: a corrupt and a missing file are reported, the rest printed, exit 3' '
	head -c 100 "$FIX/img/000.png" >cut.png &&
	test_expect_code 3 "$EVAL" predict "$CK" "$FIX/img/001.png" cut.png nosuch.jpg "$FIX/img/002.png" >out 2>err &&
	[ "$(wc -l <out)" -eq 2 ] && grep -q "cut.png" err && grep -q "nosuch.jpg" err &&
	grep -q "2 image files could not be read" err
'

test_case 'predict: usage errors exit 2 (no checkpoint, bad --fit, -k 0)' '
	test_expect_code 2 "$EVAL" predict 2>err &&
	test_expect_code 2 "$EVAL" predict "$CK" --fit zoom x.png 2>err && grep -q "fit" err &&
	test_expect_code 2 "$EVAL" predict "$CK" -k 0 x.png 2>err
'

test_done
