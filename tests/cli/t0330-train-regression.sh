#!/bin/bash
# Steering regression end to end: a driving log (official layout, written by
# tests/fixtures/mkdatasets.py) -> dl-prep driving -> dl-train pilotnet (MSE)
# -> dl-eval regression metrics and the --max-mae gate.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export OMP_WAIT_POLICY=PASSIVE
FIX=$TEST_TMP/fix
mkdir -p "$FIX"
D=$FIX/drv.st

test_case 'dl-prep driving: 3 cameras, steering correction, resized to pilotnet 66x200' '
	"$PY" "$DL_ROOT/tests/fixtures/mkdatasets.py" driving "$FIX/fx" >/dev/null &&
	"$DL_BIN/dl-prep" driving "$FIX/fx/sim.tar.gz" --cameras center,left,right --targets steering \
		--steer-correction 0.2 --size 66x200 -o "$D" 2>err &&
	grep -q "66x200x3, 1 targets" err
'

test_case 'dl-train pilotnet (loss kind=mse) trains on the targets and lowers the loss' '
	"$DL_BIN/dl-train" -m pilotnet --train "$D" -o "$FIX/run" --epochs 6 --batch 3 --lr 1e-3 --seed 1 \
		-j 2 -q --device cpu &&
	"$PY" -c "
import json
ep = [json.loads(l) for l in open(\"$FIX/run/log.jsonl\") if \"\\\"epoch\\\"\" in l]
ep = [e for e in ep if e.get(\"event\") == \"epoch\"]
assert len(ep) == 6, len(ep)
assert \"mae\" in ep[-1] and \"accuracy\" not in ep[-1], ep[-1]
assert ep[-1][\"loss\"] < ep[0][\"loss\"], (ep[0][\"loss\"], ep[-1][\"loss\"])
print(\"loss\", ep[0][\"loss\"], \"->\", ep[-1][\"loss\"])"
'

test_case 'dl-eval: mse, mae, r2 in JSON; --max-mae passes above the MAE, exits 7 below it' '
	"$DL_BIN/dl-eval" "$FIX/run/model.safetensors" "$D" --json >e.json &&
	mae=$("$PY" -c "import json; d = json.load(open(\"e.json\")); assert {\"mse\", \"mae\", \"r2\"} <= set(d), d; print(d[\"mae\"])") &&
	"$DL_BIN/dl-eval" "$FIX/run/model.safetensors" "$D" --max-mae 100 >/dev/null &&
	test_expect_code 7 "$DL_BIN/dl-eval" "$FIX/run/model.safetensors" "$D" --max-mae 0.000001 2>err &&
	grep -q "mae" err
'

test_done
