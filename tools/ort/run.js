#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU execution
// provider) and prints the results as one JSON object on stdout.
//
//   node run.js request.json        (or the request on stdin: node run.js -)
//
// A request is {"model": "path.onnx", "mode": "run" | "decode", ...}.
//
// mode "run": {"inputs": {name: {"type": "float32"|"float64"|"int64", "dims": [...], "data": [...]}}}
//   prints {"ort": version, "outputs": {name: {"type", "dims", "data"}}}.
//
// mode "decode" drives the NanoMamba-Edge decode-step graph (edge/onnx):
//   {"prompt": [token ids], "steps": n, "states": [{"input", "output", "dims"}, ...]}
//   Every state starts as zeros of its dims (KV caches with 0 positions);
//   each prompt token is fed with its position, each step's state outputs
//   become the next step's inputs, and after the prompt the next token is
//   the first largest logit, until n tokens were generated (the last one is
//   not fed). Prints {"ort": version, "tokens": [generated ids],
//   "logits": [[...] one row per step fed]}.
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

function fail(msg) {
  process.stderr.write('run.js: ' + msg + '\n');
  process.exit(2);
}

function toTensor(spec, name) {
  const dims = spec.dims || [];
  const n = dims.reduce((a, b) => a * b, 1);
  const data = spec.data || new Array(n).fill(0);
  if (data.length !== n) fail(`input ${name}: ${data.length} values for dims ${JSON.stringify(dims)}`);
  switch (spec.type || 'float32') {
    case 'float32': return new ort.Tensor('float32', Float32Array.from(data), dims);
    case 'float64': return new ort.Tensor('float64', Float64Array.from(data), dims);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from(data.map((v) => BigInt(v))), dims);
    default: fail(`input ${name}: unsupported type ${spec.type}`);
  }
}

function fromTensor(t) {
  const data = t.type === 'int64' ? Array.from(t.data, (v) => Number(v)) : Array.from(t.data);
  return { type: t.type, dims: Array.from(t.dims), data };
}

function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

async function main() {
  const arg = process.argv[2];
  if (!arg) fail('usage: node run.js request.json (or - for stdin)');
  let req;
  try {
    req = JSON.parse(fs.readFileSync(arg === '-' ? 0 : arg, 'utf8'));
  } catch (e) {
    fail('reading the request: ' + e.message);
  }
  const session = await ort.InferenceSession.create(req.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const version = ort.env.versions ? ort.env.versions.node : 'unknown';
  if ((req.mode || 'run') === 'run') {
    const feeds = {};
    for (const [name, spec] of Object.entries(req.inputs || {})) feeds[name] = toTensor(spec, name);
    const out = await session.run(feeds);
    const outputs = {};
    for (const [name, t] of Object.entries(out)) outputs[name] = fromTensor(t);
    process.stdout.write(JSON.stringify({ ort: version, outputs }) + '\n');
    return;
  }
  if (req.mode !== 'decode') fail(`unknown mode ${req.mode}`);
  const prompt = req.prompt || [];
  const steps = req.steps || 0;
  if (prompt.length === 0) fail('decode needs a prompt of at least one token');
  const feeds = {};
  for (const s of req.states || []) feeds[s.input] = toTensor({ type: 'float32', dims: s.dims }, s.input);
  const seq = prompt.slice();
  const gen = [];
  const logits = [];
  for (let pos = 0; pos < seq.length; pos++) {
    feeds.token = new ort.Tensor('int64', BigInt64Array.from([BigInt(seq[pos])]), [1]);
    feeds.position = new ort.Tensor('int64', BigInt64Array.from([BigInt(pos)]), [1]);
    const out = await session.run(feeds);
    for (const s of req.states || []) feeds[s.input] = out[s.output];
    const row = Array.from(out.logits.data);
    logits.push(row);
    if (pos === seq.length - 1 && gen.length < steps) {
      const next = argmax(row);
      gen.push(next);
      if (gen.length < steps) seq.push(next);
    }
  }
  process.stdout.write(JSON.stringify({ ort: version, tokens: gen, logits }) + '\n');
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
