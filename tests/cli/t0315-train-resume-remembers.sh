#!/bin/bash
# dl-train --resume RUN remembers the run's options (tools/dl-train/remember.c):
#   --resume RUN alone continues with the recorded options, bit-identical to
#   the uninterrupted run; a longer --epochs/--steps extends a finished run;
#   a conflicting option names itself and both values (exit 2); logging and
#   budget options may change;
#   the log holds each epoch once after resumes (a partial epoch line is
#   replaced by the full one; the CSV log likewise);
#   a run folder with no checkpoint yet: --resume with -m/--train starts the
#   run, without them it says what to do (exit 2); no folder: exit 4.
# Needs dataset-fashion-mnist.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
D=$TEST_TMP/d.st
TRAIN="$DL_BIN/dl-train"
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1
"$DL_BIN/dl-prep" idx "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" --limit 256 \
	--classes fashion-mnist -o "$D" >/dev/null 2>&1
# 256 samples, batch 64: 4 steps per epoch
ARGS="-m lenet --train $D --batch 64 -j 1 --optimizer sgd --momentum 0.9 --lr 0.02 --augment crop=2,flip --seed 7"

epochs() {  # the epoch numbers of LOG's epoch lines, one line
	"$PY" -c "
import json, sys
print(' '.join(str(r['epoch']) + ('p' if r.get('partial') else '') for r in map(json.loads, open(sys.argv[1]))
               if r.get('event') == 'epoch'))" "$1"
}

test_case '--resume RUN alone continues with the recorded options, bit-identical' '
	"$TRAIN" $ARGS --epochs 3 -o full -q &&
	"$TRAIN" $ARGS --epochs 3 -o part -q --time-limit 0.000001 2>err; cat err &&
	"$TRAIN" --resume part -j 1 -q &&
	cmp full/model.safetensors part/model.safetensors
'

test_case 'a longer --epochs extends a finished run (same bytes as a run that long from the start)' '
	"$TRAIN" $ARGS --epochs 1 -o run -q &&
	"$TRAIN" --resume run --epochs 3 -j 1 -q &&
	"$TRAIN" $ARGS --epochs 3 -o ref -q &&
	cmp run/model.safetensors ref/model.safetensors &&
	"$PY" -c "
import sys; sys.path.insert(0, \"$DL_ROOT/bench\"); import stio, json
r = json.loads(stio.load(\"run/model.safetensors\")[1][\"dl.run\"]); assert r[\"epochs\"] == 3, r"
'

test_case 'a conflicting option names itself and both values (exit 2); shorter --epochs too' '
	"$TRAIN" $ARGS --epochs 1 -o run -q &&
	test_expect_code 2 "$TRAIN" --resume run --lr 0.5 2>e1 &&
	grep -q -- "--lr 0.5 differs from the run.s 0.02" e1 && test_one_line <(grep -v "^Try" e1) &&
	test_expect_code 2 "$TRAIN" --resume run --optimizer adam 2>e2 && grep -q -- "--optimizer adam differs from the run.s sgd" e2 &&
	test_expect_code 2 "$TRAIN" --resume run --augment flip 2>e3 && grep -q -- "--augment flip differs from the run.s crop=2,flip" e3 &&
	"$TRAIN" --resume run --epochs 2 -j 1 -q &&
	test_expect_code 2 "$TRAIN" --resume run --epochs 1 2>e4 && grep -q -- "--epochs 1 differs from the run.s 2" e4 &&
	"$TRAIN" $ARGS --epochs 3 --resume run --time-limit 3600 --checkpoint-every 2 --csv-log c.csv -q
'

test_case 'the log holds each epoch once: a partial epoch line is replaced after --resume' '
	"$TRAIN" $ARGS --steps 6 -o run -q --csv-log run.csv &&
	[ "$(epochs run/log.jsonl)" = "1 2p" ] &&
	"$TRAIN" --resume run --steps 14 -j 1 -q --csv-log run.csv &&
	epochs run/log.jsonl >got && cat got && [ "$(cat got)" = "1 2 3 4p" ] &&
	cut -d, -f1 run.csv | tr "\n" " " >csv && cat csv && [ "$(cat csv)" = "epoch 1 2 3 4 " ]
'

test_case 'no checkpoint yet: --resume with -m/--train starts the run; alone it says what to do' '
	mkdir early && echo "{\"event\": \"epoch\", \"epoch\": 1}" >early/log.jsonl &&
	test_expect_code 2 "$TRAIN" --resume early 2>e1 && grep -q "no checkpoint yet" e1 &&
	grep -q -- "-m MODEL --train FILE" e1 &&
	"$TRAIN" $ARGS --epochs 1 --resume early 2>e2 && grep -q "starting the run" e2 &&
	[ -s early/model.safetensors ] && [ "$(epochs early/log.jsonl)" = "1" ] &&
	test_expect_code 4 "$TRAIN" $ARGS --resume nosuchdir 2>e3 && grep -q "nosuchdir" e3
'

test_done
