#!/bin/bash
# --precision fp32|tf32|bf16 on dl-train and dl-eval: fp32 everywhere
# (recorded in the checkpoint's dl.run, the log's done event and dl-eval
# --json); tf32 only on a GPU: the CPU (asked for, or auto's fallback)
# refuses it with one line, exit 2, before any run dir exists (bf16 on the
# CPU where it has AVX512-BF16: t0350).
. "$(dirname "$0")/lib.sh"
TRAIN=$DL_BIN/dl-train
EVAL=$DL_BIN/dl-eval
FIX=$TEST_TMP/fix
tiny_idx_dataset "$FIX"
has_gpu "$FIX"

test_case 'default fp32: recorded in dl.run, the log, the start line and dl-eval --json' '
	test_expect_code 0 "$TRAIN" -m mlp --train "$D" -o run --device cpu 2>err &&
	grep -q "precision fp32" err &&
	head -c 8192 run/model.safetensors | grep -a -q "precision.\": .\"fp32" &&
	grep -q "\"event\": \"done\".*\"precision\": \"fp32\"" run/log.jsonl &&
	"$EVAL" --json --device cpu run/model.safetensors "$D" >ev &&
	grep -q "\"device\": \"cpu\", \"precision\": \"fp32\"" ev
'

test_case 'tf32 on the CPU: one line, exit 2, no run dir (bf16 on the CPU: t0350)' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --device cpu --precision tf32 2>err &&
	grep -q "^dl-train: --precision tf32: TF32 is a GPU tensor-core format" err &&
	[ "$(grep -c "^dl-train: " err)" -eq 1 ] && [ ! -e run ] &&
	test_expect_code 2 "$EVAL" --device cpu --precision tf32 x.st "$D" 2>err &&
	grep -q "TF32 is a GPU" err
'

test_case 'an unknown precision: exit 2 naming the choices' '
	test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --precision fp8 2>err &&
	grep -q "unknown precision .fp8. (expected fp32, tf32 or bf16)" err && [ ! -e run ]
'

if [ "$GPU" = 0 ]; then
	test_case 'no GPU: auto with tf32 refuses rather than training in fp32' '
		test_expect_code 2 "$TRAIN" -m mlp --train "$D" -o run --precision tf32 2>err &&
		grep -q "precision tf32 needs a GPU, and --device auto found none usable" err &&
		[ ! -e run ]
	'
fi

test_case 'resuming with another precision is refused (the run recorded fp32)' '
	"$TRAIN" -q -m mlp --train "$D" -o run --device cpu --epochs 1 &&
	test_expect_code 2 "$TRAIN" --resume run -m mlp --train "$D" --epochs 2 --precision tf32 \
		--device cpu 2>err && grep -q "precision" err
'

test_done
