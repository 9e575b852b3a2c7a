#!/bin/bash
# The option tables of every tool (lib/core/opt.h): ranges and choices
# refused in one line that names the option and what it accepts, --help
# listing choices and subcommands, grouped short options, subcommands
# dispatched from the table (dl-prep's sources, dl-eval predict / plot).
# Needs no data: every case stops at the command line.
. "$(dirname "$0")/lib.sh"

B=$DL_BIN
export OMP_WAIT_POLICY=PASSIVE NO_COLOR=1

# refused TOOL-LINE MESSAGE: exit 2, one error line (plus the --help hint)
# that is exactly "TOOL: MESSAGE", nothing on stdout
refused() {
	local msg=$1; shift
	test_expect_code 2 "$@" >out 2>err || return 1
	local tool; tool=$(basename "$1")
	[ ! -s out ] || { echo "stdout not empty:"; cat out; return 1; }
	[ "$(wc -l <err)" -eq 2 ] && [ "$(head -1 err)" = "$tool: $msg" ] &&
		grep -q "^Try '$tool --help'" err ||
		{ echo "expected '$tool: $msg' and the hint, got:"; cat err; return 1; }
}

test_case 'ranges: one line naming the option, its range and the value' '
	refused "--batch must be in [1, 65536] (got 0)" "$B/dl-train" -m mlp --summary --batch 0 &&
	refused "--momentum must be in [0, 1) (got 1)" "$B/dl-train" -m mlp --summary --momentum 1 &&
	refused "--lr must be > 0 (got -0.5)" "$B/dl-train" -m mlp --summary --lr=-0.5 &&
	refused "--epochs must be in [1, 1000000] (got 0)" "$B/dl-train" -m mlp --summary -e0 &&
	refused "--min-accuracy must be in [0, 1] (got 1.5)" "$B/dl-eval" a b --min-accuracy 1.5 &&
	refused "--top-k must be at least 1 (got 0)" "$B/dl-eval" predict ck.st -k 0 x.png &&
	refused "--width must be in [400, 8000] (got 10)" "$B/dl-eval" plot log.jsonl --width 10 -o x.png &&
	refused "--opset must be in [13, 21] (got 22)" "$B/dl-export" ck.st --opset 22 -o x.onnx &&
	refused "--retries must be in [0, 100] (got 101)" "$B/dl-fetch" mnist --retries 101 &&
	refused "--jobs must be in [0, 1024] (got 2000)" "$B/dl-prep" folder d -o x.st -j 2000 &&
	refused "--count must be in [1, 10000] (got 0)" "$B/dl-prep" show d.st -n 0 -o x.png &&
	refused "--limit must be at least 1 (got 0)" "$B/dl-prep" idx a b -o x.st --limit 0 &&
	[ ! -e x.st ] && [ ! -e x.png ]
'

test_case 'choices: one line naming the option, the value and every choice' '
	refused "--optimizer '"'"'rmsprop'"'"': expected sgd, adam or adamw" \
		"$B/dl-train" -m mlp --summary --optimizer rmsprop &&
	refused "--schedule '"'"'linear'"'"': expected constant, step, multistep, cosine or onecycle" \
		"$B/dl-train" -m mlp --summary --schedule linear &&
	refused "--normalize '"'"'zscore'"'"': expected dataset, none or 0-1" \
		"$B/dl-train" -m mlp --summary --normalize zscore &&
	refused "--monitor '"'"'val_f1'"'"': expected val_loss, val_accuracy or val_mae" \
		"$B/dl-train" -m mlp --summary --monitor val_f1 &&
	refused "--fit '"'"'zoom'"'"': expected stretch or crop" "$B/dl-eval" predict ck.st --fit zoom x.png &&
	refused "--format '"'"'tflite'"'"': expected safetensors, onnx or c" "$B/dl-export" ck.st -f tflite -o x &&
	refused "--label '"'"'medium'"'"': expected fine or coarse" "$B/dl-prep" cifar100 d --label medium -o x.st &&
	refused "--split '"'"'test'"'"': expected train or val" "$B/dl-prep" tiny-imagenet d --split test -o x.st &&
	refused "--split '"'"'val'"'"': expected train or test" "$B/dl-prep" gtsrb d --split val -o x.st &&
	refused "--channels '"'"'2'"'"': expected 1 or 3" "$B/dl-prep" folder d --channels 2 -o x.st
'

test_case '--help lists the choices under the option' '
	"$B/dl-train" --help >out &&
	grep -q "^ *NAME: sgd, adam or adamw$" out && grep -q "^ *MODE: dataset, none or 0-1$" out &&
	grep -q "^ *METRIC: val_loss, val_accuracy or val_mae$" out &&
	"$B/dl-prep" cifar100 --help >p && grep -q "^ *LABEL: fine or coarse$" p &&
	grep -q "^ *SPLIT: train or test$" p && grep -q "^ *C: 1 or 3$" p &&
	"$B/dl-export" --help >e && grep -q "^ *FMT: safetensors, onnx or c$" e
'

test_case 'grouped short options: -qm NAME, -qmNAME; an unknown one in a group is named' '
	"$B/dl-train" -qm mlp --summary >a && grep -q "^total params: 118,282$" a &&
	"$B/dl-train" -qmmlp --summary >b && cmp a b &&
	refused "unknown option '"'"'-x'"'"'" "$B/dl-train" -qx &&
	refused "option -m needs a value (MODEL)" "$B/dl-train" -qm
'

test_case 'cifar10 has no --label (CIFAR-100 only), cifar100 has' '
	refused "unknown option '"'"'--label'"'"'" "$B/dl-prep" cifar10 d --label fine -o x.st &&
	"$B/dl-prep" cifar10 --help >h10 && ! grep -q -- "--label" h10 && grep -q -- "--split" h10 &&
	"$B/dl-prep" cifar100 --help >h100 && grep -q -- "--label" h100
'

test_case 'dl-prep: --help lists every command; each command has its own --help' '
	"$B/dl-prep" --help >out &&
	for c in idx cifar10 cifar100 folder list csv gtsrb tiny-imagenet driving show info; do
		grep -q "^  $c " out || { echo "no $c in dl-prep --help"; exit 1; }
		"$B/dl-prep" $c --help >h 2>e && grep -q "^usage: dl-prep $c " h && [ ! -s e ] ||
			{ echo "dl-prep $c --help:"; cat h e; exit 1; }
	done &&
	refused "missing command (idx, cifar10, cifar100, folder, list, csv, gtsrb, tiny-imagenet, driving, show or info)" \
		"$B/dl-prep" &&
	refused "unknown command '"'"'frob'"'"' (see dl-prep --help)" "$B/dl-prep" frob
'

test_case 'dl-eval: predict and plot are commands of its table' '
	"$B/dl-eval" --help >out && grep -q "^commands:" out &&
	grep -q "^  predict " out && grep -q "^  plot " out &&
	grep -q "^       dl-eval predict CHECKPOINT" out && grep -q "^       dl-eval plot LOG" out &&
	"$B/dl-eval" predict --help >p && grep -q "^usage: dl-eval predict CHECKPOINT" p &&
	"$B/dl-eval" plot --help >q && grep -q "^usage: dl-eval plot LOG" q &&
	"$B/dl-eval" predict --version >v && grep -q "^dl-eval (dl-tools) " v
'

test_done
