// The peer of `dl-eval serve` in make bench-serve: a minimal node http
// server running the ONNX export of the same checkpoint in onnxruntime-node.
//
//   node serve-ort.js MODEL.onnx PORT
//
// POST /predict with a binary PGM (P5, maxval 255) of exactly the model's
// input size (no resizing: this peer does less than ours, which decodes any
// PNG/JPEG/PPM and resizes), normalised with the model's dl.input metadata
// (read from the ONNX file's metadata_props by a tiny protobuf scan would be
// overkill: the bench passes it in DL_INPUT as JSON); answers
// {"class": C, "probability": P}.  One request, one session.run (no batching),
// one compute thread (as dl-eval serve -j 1 in the bench).
'use strict';
const http = require('http');
const path = require('path');

async function main() {
  const [modelPath, portArg] = process.argv.slice(2);
  const ort = require(path.join(process.env.ORT_NODE_DIR || 'node_modules', 'onnxruntime-node'));
  const inp = JSON.parse(process.env.DL_INPUT);
  const { h, w, c } = inp;
  if (c !== 1) throw new Error('serve-ort.js reads gray PGM only');
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const f = Math.fround;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const head = body.subarray(0, 32).toString('latin1').match(/^P5\s+(\d+)\s+(\d+)\s+255\s/);
      if (req.method !== 'POST' || req.url !== '/predict' || !head || +head[1] !== w || +head[2] !== h ||
          body.length !== head[0].length + h * w) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end('{"error": "want a ' + w + 'x' + h + ' P5 PGM"}\n');
        return;
      }
      const px = body.subarray(head[0].length);
      const x = new Float32Array(h * w);
      for (let i = 0; i < h * w; i++) x[i] = f(f(f(px[i] * f(inp.scale)) - f(inp.mean[0])) / f(inp.std[0]));
      const out = await session.run({ input: new ort.Tensor('float32', x, [1, c, h, w]) });
      const z = out[session.outputNames[0]].data;
      let best = 0, mx = -Infinity, s = 0;
      for (let j = 0; j < z.length; j++) if (z[j] > mx) { mx = z[j]; best = j; }
      for (let j = 0; j < z.length; j++) s += Math.exp(z[j] - mx);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"class": ' + best + ', "probability": ' + (1 / s).toFixed(6) + '}\n');
    });
  });
  server.listen(+portArg, '127.0.0.1', () => {
    process.stdout.write('listening on http://127.0.0.1:' + server.address().port + '\n');
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
main().catch((e) => { process.stderr.write('serve-ort.js: ' + e.message + '\n'); process.exit(1); });
