# Helpers for the pipeline tests (t0620, t0640), sourced after lib.sh.
# same_run A B: the same model, exports and figures in run folders A and B
same_run() {
	cmp "$1/model.safetensors" "$2/model.safetensors" &&
	cmp "$1/model-torch.safetensors" "$2/model-torch.safetensors" &&
	cmp "$1/model.onnx" "$2/model.onnx" &&
	cmp <(sed "s|$1|RUN|g" "$1/eval.json") <(sed "s|$2|RUN|g" "$2/eval.json")
}
# nothing_published RUN: no finished training and none of its outputs
nothing_published() {
	for f in train.done eval.json eval-failed.json model-torch.safetensors model.onnx summary.json; do
		[ ! -e "$1/$f" ] || { echo "published too early: $1/$f"; return 1; }
	done
}
# no_temp DIR: no temporary file left in DIR
no_temp() { ! ls -a "$1" | grep -q "tmp" || { echo "temp files in $1:"; ls -a "$1"; return 1; }; }
# ckpt_step CKPT: the training step a checkpoint holds
ckpt_step() { grep -ao "\"step\\\\\": [0-9]*" "$1" 2>/dev/null | head -1 | grep -o "[0-9]*$"; }
# term_in_training RUN COMMAND...: start COMMAND (a make into RUN) in its own
# process group, SIGTERM the group once RUN's checkpoint is at step 20, and
# check that make failed, the training stopped with exit 8 (the run folder
# stays locked until then) and nothing was published
term_in_training() {
	local run=$1 pid rc; shift
	setsid "$@" >term.out 2>term.err & pid=$!
	while kill -0 $pid 2>/dev/null && [ "$(ckpt_step "$run/model.safetensors" || echo 0)" -lt 20 ]; do
		sleep 0.05; done
	kill -TERM -- -$pid; wait $pid; rc=$?
	[ $rc -ne 0 ] || { echo "make finished before the signal"; return 1; }
	flock "$run/.lock" true
	grep -q " end train: exit 8 " "$run/run.log" || { cat "$run/run.log" term.err; return 1; }
	[ -s "$run/model.safetensors" ] && nothing_published "$run" && no_temp "$run"
}
