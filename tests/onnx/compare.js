// Runs an ONNX export in onnxruntime (onnxruntime-node) on the images of a
// dl-tools dataset and compares its "logits" with ours (dl-eval --logits).
//
//   node compare.js MODEL.onnx DATASET.safetensors LOGITS.safetensors INPUT_JSON [TOL]
//
// INPUT_JSON is the model's dl.input metadata (h, w, c, scale, mean, std):
// the test reads it from the ONNX file's metadata_props with python3-onnx,
// so the preprocessing travels with the model.  Pass: every |ort - ours| <=
// TOL * max(1, max|ours|) (TOL default 1e-4) and the same argmax per row.
// Prints one summary line; exit 0 pass, 1 mismatch, 2 usage/error.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg, code) {
  process.stderr.write('compare.js: ' + msg + '\n');
  process.exit(code);
}

// safetensors: u64 LE header length, JSON header, data
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 8) fail(file + ': too short', 2);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const get = (name) => {
    const t = header[name];
    if (!t) fail(file + ': no tensor ' + name, 2);
    const [a, b] = t.data_offsets;
    return { dtype: t.dtype, shape: t.shape, bytes: buf.subarray(base + a, base + b) };
  };
  return { header, get };
}

async function main() {
  const [modelPath, dataPath, logitsPath, inputJson, tolArg] = process.argv.slice(2);
  if (!inputJson) fail('usage: compare.js MODEL.onnx DATASET LOGITS INPUT_JSON [TOL]', 2);
  const tol = tolArg ? Number(tolArg) : 1e-4;
  const ort = require(path.join(process.env.ORT_NODE_DIR || 'node_modules', 'onnxruntime-node'));
  const inp = JSON.parse(inputJson);
  const ds = readSafetensors(dataPath);
  const images = ds.get('images');
  const [n, h, w, c] = images.shape;
  if (h !== inp.h || w !== inp.w || c !== inp.c) fail('dataset is ' + [h, w, c] + ', model wants ' + [inp.h, inp.w, inp.c], 2);
  const ours = readSafetensors(logitsPath).get('logits');
  const k = ours.shape[1];
  const ref = new Float32Array(ours.bytes.buffer.slice(ours.bytes.byteOffset, ours.bytes.byteOffset + ours.bytes.length));
  // NHWC u8 -> NCHW float32, x = (u8 * scale - mean[c]) / std[c], in float32 as ours
  const x = new Float32Array(n * c * h * w);
  const f = Math.fround;
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) {
          const u = images.bytes[((i * h + y) * w + xx) * c + ch];
          x[((i * c + ch) * h + y) * w + xx] = f(f(f(u * f(inp.scale)) - f(inp.mean[ch])) / f(inp.std[ch]));
        }
  const session = await ort.InferenceSession.create(modelPath);
  const res = await session.run({ input: new ort.Tensor('float32', x, [n, c, h, w]) });
  const got = res.logits;
  if (!got || got.dims[0] !== n || got.dims[1] !== k) fail('logits shape ' + (got && got.dims) + ', expected ' + [n, k], 1);
  let maxAbs = 0, maxDiff = 0, argmaxSame = 0;
  for (let i = 0; i < n * k; i++) maxAbs = Math.max(maxAbs, Math.abs(ref[i]));
  for (let i = 0; i < n; i++) {
    let a = 0, b = 0;
    for (let j = 0; j < k; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(got.data[i * k + j] - ref[i * k + j]));
      if (got.data[i * k + j] > got.data[i * k + a]) a = j;
      if (ref[i * k + j] > ref[i * k + b]) b = j;
    }
    if (a === b) argmaxSame++;
  }
  // probabilities, when present, must be the softmax of logits
  let probErr = 0;
  if (res.probabilities)
    for (let i = 0; i < n; i++) {
      let m = -Infinity, s = 0;
      for (let j = 0; j < k; j++) m = Math.max(m, got.data[i * k + j]);
      for (let j = 0; j < k; j++) s += Math.exp(got.data[i * k + j] - m);
      for (let j = 0; j < k; j++)
        probErr = Math.max(probErr, Math.abs(res.probabilities.data[i * k + j] - Math.exp(got.data[i * k + j] - m) / s));
    }
  const bound = tol * Math.max(1, maxAbs);
  const ok = maxDiff <= bound && argmaxSame === n && probErr <= 1e-5;
  console.log((ok ? 'ok' : 'MISMATCH') + ': ' + n + ' samples x ' + k + ' outputs, max |ort - ours| = ' +
    maxDiff.toExponential(3) + ' (bound ' + bound.toExponential(3) + '), argmax equal ' + argmaxSame + '/' + n +
    ', probabilities err ' + probErr.toExponential(3) + ', onnxruntime-node ' + (ort.env.versions ? ort.env.versions.common : '?'));
  process.exit(ok ? 0 : 1);
}

main().catch((e) => fail(String(e && e.stack || e), 2));
