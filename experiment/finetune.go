package experiment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/rng"
	"github.com/nanomamba-edge/harness/train"
)

// LoRA fine-tuning (METHODS §9.5): a fine-tune is a training-kind run whose
// config carries a lora section naming the base run's hash and the
// instruction data's fingerprint. The base loads through LoadTrained (its
// final checkpoint, sha256-verified) with the quantization state of the
// end of its schedule and stays frozen; only the adapters train. The
// adapters are saved in PEFT's layout and recorded as artifacts.

// Alpaca is one instruction record.
type Alpaca struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
}

// AlpacaPrompt is the Stanford Alpaca prompt template (with or without an
// input) up to and including "### Response:\n".
func AlpacaPrompt(instruction, input string) string {
	if strings.TrimSpace(input) == "" {
		return "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
			"### Instruction:\n" + instruction + "\n\n### Response:\n"
	}
	return "Below is an instruction that describes a task, paired with an input that provides further context. " +
		"Write a response that appropriately completes the request.\n\n" +
		"### Instruction:\n" + instruction + "\n\n### Input:\n" + input + "\n\n### Response:\n"
}

// LoadAlpaca reads instruction records: a JSON array of
// {"instruction", "input", "output"} objects, or one object per line.
func LoadAlpaca(path string) ([]Alpaca, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("instruction data: %w", err)
	}
	var out []Alpaca
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("instruction data %s: not a JSON array of {instruction, input, output} records: %w", path, err)
		}
	} else {
		for i, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var a Alpaca
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&a); err != nil {
				return nil, fmt.Errorf("instruction data %s:%d: %w", path, i+1, err)
			}
			out = append(out, a)
		}
	}
	for i, a := range out {
		// An empty output stays: its response is EOS alone (2 of the
		// shipped 5,000 records).
		if strings.TrimSpace(a.Instruction) == "" {
			return nil, fmt.Errorf("instruction data %s: record %d has an empty instruction", path, i)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("instruction data %s: no records", path)
	}
	return out, nil
}

// encodeExample lays one record into a window of W tokens: the separator
// token, the prompt and the response with EOS; targets are −1 except on
// response tokens (and EOS), so the loss covers the response only. A record
// longer than the window keeps the end of its prompt (at least half the
// window when the response is long) and the start of its response.
func encodeExample(tok *data.Tokenizer, a Alpaca, W int) (tokens, targets []int32) {
	sep := tok.BOS()
	if sep < 0 {
		sep = tok.EOS()
	}
	prompt := append([]int32{sep}, tok.Encode(AlpacaPrompt(a.Instruction, a.Input))...)
	resp := append(tok.Encode(a.Output), tok.EOS())
	keepP := min(len(prompt), max(W+1-len(resp), (W+1)/2))
	keepR := min(len(resp), W+1-keepP)
	seq := append(append([]int32(nil), prompt[len(prompt)-keepP:]...), resp[:keepR]...)
	tokens = make([]int32, W)
	targets = make([]int32, W)
	for i := range tokens {
		tokens[i], targets[i] = tok.EOS(), -1
	}
	copy(tokens, seq[:len(seq)-1])
	for i := keepP; i < len(seq); i++ { // seq[i] is a response token, predicted at i−1
		targets[i-1] = seq[i]
	}
	return tokens, targets
}

// FinetuneResult is the outcome of a fine-tune, stored as the run's summary.
type FinetuneResult struct {
	RunID  int64  `json:"run_id"`
	Hash   string `json:"hash"`
	Base   string `json:"base"`
	Steps  int64  `json:"steps"`
	Tokens int64  `json:"tokens"`
	// Held-out loss (nats per response token) of (a) the base, (b) the
	// base with the adapters unmerged and (c) the adapters merged into the
	// latent weights and re-quantized by the base's quant state.
	HeldOutBase    float64 `json:"heldout_loss_base"`
	HeldOut        float64 `json:"heldout_loss"`
	HeldOutMerged  float64 `json:"heldout_loss_merged"`
	HeldOutTokens  int     `json:"heldout_tokens"`
	TrainLoss      float64 `json:"train_loss"`
	AdapterDir     string  `json:"adapter_dir"`
	Merged         string  `json:"merged,omitempty"`
	TrainExamples  int     `json:"train_examples"`
	HeldOutRecords int     `json:"heldout_examples"`
	// TrainableParams counts the adapters' parameters (the only tensors
	// the optimizer updates); BaseParams the frozen base's.
	TrainableParams int64 `json:"trainable_params"`
	BaseParams      int64 `json:"base_params"`
	// StepSeconds is the mean wall time of an optimizer step (forward,
	// backward, clipping and AdamW over every micro-batch; held-out
	// evaluations and logging excluded) at Threads threads.
	StepSeconds float64 `json:"step_seconds"`
	Threads     int     `json:"threads"`
	Reused      bool    `json:"-"`
}

// FinetuneOptions are the per-call choices of Finetune.
type FinetuneOptions struct {
	Force bool
	// Merge also writes the merged weights (W + (alpha/rank)·B·A) as a
	// safetensors artifact.
	Merge bool
}

// FinetuneConfig resolves the config of a fine-tune of the done training
// run base (a full hash or a unique prefix) with --set overrides.
func (e *Env) FinetuneConfig(base string, sets []string) (*configs.Config, error) {
	h, err := e.DB.ResolvePrefix(base)
	if err != nil {
		return nil, err
	}
	if err := e.RequireTraining(h); err != nil {
		return nil, err
	}
	js, err := e.DB.Config(h)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", short(h), err)
	}
	bc, err := configs.FromCanonical(js)
	if err != nil {
		return nil, err
	}
	c, err := configs.FinetuneConfig(bc, h, sets, nil)
	if err != nil {
		return nil, err
	}
	if err := c.ResolveData(e.fingerprinter()); err != nil {
		return nil, err
	}
	if c.Model.Vocab != bc.Model.Vocab || c.Model.DModel != bc.Model.DModel || c.Model.NLayers != bc.Model.NLayers {
		return nil, fmt.Errorf("finetune: the model section must stay the base's (%s)", short(h))
	}
	return c, nil
}

// Finetune trains the adapters of a fine-tune config as a recorded run
// (kind train, parent the base), or returns the recorded result of a done
// one.
func (e *Env) Finetune(ctx context.Context, c *configs.Config, o FinetuneOptions) (*FinetuneResult, error) {
	if !c.LoRA.Enabled() {
		return nil, errors.New("finetune: the config has no lora section (lora.base)")
	}
	h := c.Hash()
	if err := e.DB.PutConfig(h, c.Canonical()); err != nil {
		return nil, err
	}
	if !o.Force {
		if done, err := e.DB.DoneRun(h); err == nil {
			return reuseFinetune(done)
		} else if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
	}
	base, err := e.LoadTrained(c.LoRA.Base)
	if err != nil {
		return nil, fmt.Errorf("lora.base: %w", err)
	}
	att, err := e.DB.Start(registry.RunInfo{Hash: h, Kind: registry.KindTrain, Name: "finetune", ParentHash: c.LoRA.Base, Threads: e.Threads, KernelSet: kernels.KernelSet()},
		registry.StartOptions{Force: o.Force, Root: e.Root})
	if errors.Is(err, registry.ErrAlreadyDone) {
		done, derr := e.DB.DoneRun(h)
		if derr != nil {
			return nil, derr
		}
		return reuseFinetune(done)
	} else if err != nil {
		return nil, err
	}
	res, err := e.finetune(ctx, c, o, base, att)
	if err != nil {
		return nil, att.Fail(registry.StatusFailed, fmt.Errorf("finetune %s: %w", short(h), err))
	}
	return res, nil
}

func reuseFinetune(done *registry.Run) (*FinetuneResult, error) {
	var r FinetuneResult
	if err := json.Unmarshal([]byte(done.SummaryJSON), &r); err != nil {
		return nil, fmt.Errorf("finetune %s: done run %d has an unreadable summary: %w", short(done.Hash), done.ID, err)
	}
	r.RunID, r.Hash, r.Reused = done.ID, done.Hash, true
	return &r, nil
}

// ftData is the tokenized instruction set.
type ftData struct {
	W                  int
	trainTok, trainTgt [][]int32
	heldTok, heldTgt   [][]int32
	nTrain, nHeld      int
	epoch              int64 // the epoch of perm (−1: none yet)
	perm               []int
}

func (e *Env) ftData(c *configs.Config, tok *data.Tokenizer) (*ftData, error) {
	path := filepath.Join(e.Root, filepath.FromSlash(c.LoRA.Data.Path))
	recs, err := LoadAlpaca(path)
	if err != nil {
		return nil, err
	}
	if c.LoRA.HeldOut >= len(recs) {
		return nil, fmt.Errorf("lora.held_out = %d leaves no training records of %d", c.LoRA.HeldOut, len(recs))
	}
	d := &ftData{W: c.Data.SeqLen, epoch: -1}
	split := len(recs) - c.LoRA.HeldOut
	for i, r := range recs {
		tk, tg := encodeExample(tok, r, d.W)
		if i < split {
			d.trainTok, d.trainTgt = append(d.trainTok, tk), append(d.trainTgt, tg)
		} else {
			d.heldTok, d.heldTgt = append(d.heldTok, tk), append(d.heldTgt, tg)
		}
	}
	d.nTrain, d.nHeld = split, len(recs)-split
	return d, nil
}

// batch returns micro-batch mi of step: records in the order of a
// per-epoch permutation from the stream (seed, "finetune/order/<epoch>").
func (d *ftData) batch(seed, step int64, mi, micro, batchSize int) (tokens, targets []int32) {
	for j := 0; j < micro; j++ {
		k := step*int64(batchSize) + int64(mi*micro+j)
		epoch, at := k/int64(d.nTrain), int(k%int64(d.nTrain))
		if epoch != d.epoch {
			d.epoch, d.perm = epoch, rng.New(seed, fmt.Sprintf("finetune/order/%d", epoch)).Perm(d.nTrain)
		}
		idx := d.perm[at]
		tokens = append(tokens, d.trainTok[idx]...)
		targets = append(targets, d.trainTgt[idx]...)
	}
	return tokens, targets
}

// heldOutLoss is the mean loss per response token over the held-out
// records, in micro-batches.
func (d *ftData) heldOutLoss(m *models.Model, micro int) (float64, int, error) {
	var sum float64
	n := 0
	for s := 0; s < d.nHeld; s += micro {
		b := min(micro, d.nHeld-s)
		var tk, tg []int32
		for j := s; j < s+b; j++ {
			tk, tg = append(tk, d.heldTok[j]...), append(tg, d.heldTgt[j]...)
		}
		l, c, err := m.Loss(tk, tg, b, d.W)
		if err != nil {
			return 0, 0, fmt.Errorf("held-out loss: %w", err)
		}
		sum += l
		n += c
	}
	if n == 0 {
		return 0, 0, errors.New("held-out loss: no response tokens in the held-out records")
	}
	return sum / float64(n), n, nil
}

// countParams is the number of scalars in ps.
func countParams(ps []*models.Param) int64 {
	var n int64
	for _, p := range ps {
		n += int64(len(p.Data))
	}
	return n
}

// paramsSHA is the sha256 of the parameters' bits, in order.
func paramsSHA(ps []*models.Param) string {
	h := sha256.New()
	var b [4]byte
	for _, p := range ps {
		h.Write([]byte(p.Name))
		for _, x := range p.Data {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (e *Env) finetune(ctx context.Context, c *configs.Config, o FinetuneOptions, base *Trained, att *registry.Attempt) (*FinetuneResult, error) {
	h := c.Hash()
	m := base.Model
	threads := max(e.Threads, 1)
	m.SetThreads(threads)
	if c.Data.SeqLen > base.Config.Model.Context {
		return nil, fmt.Errorf("data.seq_len = %d exceeds the base's model.context %d", c.Data.SeqLen, base.Config.Model.Context)
	}
	d, err := e.ftData(c, base.Tokenizer)
	if err != nil {
		return nil, err
	}
	tc := c.Train
	micro, nMicro := tc.MicroBatch, tc.BatchSize/tc.MicroBatch
	steps := tc.Tokens / (int64(tc.BatchSize) * int64(d.W))
	if steps < 1 {
		return nil, fmt.Errorf("train.tokens = %d is less than one step of batch_size·seq_len = %d", tc.Tokens, tc.BatchSize*d.W)
	}
	res := &FinetuneResult{RunID: att.RunID(), Hash: h, Base: c.LoRA.Base, TrainExamples: d.nTrain, HeldOutRecords: d.nHeld}
	if res.HeldOutBase, res.HeldOutTokens, err = d.heldOutLoss(m, micro); err != nil {
		return nil, err
	}
	frozen := paramsSHA(m.Params())
	res.BaseParams = countParams(m.Params())
	if err := m.AttachLoRA(models.LoRAOptions{Rank: c.LoRA.Rank, Alpha: c.LoRA.Alpha, Dropout: c.LoRA.Dropout, Targets: c.LoRA.Targets, Seed: tc.Seed}); err != nil {
		return nil, err
	}
	// The frozen base computes no weight gradients (input gradients and
	// so the adapters' gradients keep their bits).
	m.FreezeBase(true)
	ps := m.LoRAParams()
	res.TrainableParams, res.Threads = countParams(ps), threads
	opt, err := train.NewAdamW(ps, tc)
	if err != nil {
		return nil, err
	}
	opt.Threads = threads
	lr := train.LRSchedule{LR: tc.LR, MinLR: tc.MinLR, Warmup: int64(tc.Warmup), Total: steps}
	began := time.Now()
	var stepTime time.Duration
	for step := int64(0); step < steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		m.ZeroGrad()
		for _, p := range ps {
			clear(p.Grad)
		}
		var loss float64
		for mi := 0; mi < nMicro; mi++ {
			tk, tg := d.batch(tc.Seed, step, mi, micro, tc.BatchSize)
			m.SetLoRADropout(true, step, mi)
			l, err := m.ForwardBackward(tk, tg, micro, d.W, float32(1)/float32(nMicro))
			if err != nil {
				return nil, fmt.Errorf("step %d micro-batch %d: %w", step, mi, err)
			}
			loss += l / float64(nMicro)
		}
		m.SetLoRADropout(false, 0, 0)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("non-finite loss at step %d", step)
		}
		norm := train.ClipGradNorm(ps, tc.Clip)
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			return nil, fmt.Errorf("non-finite adapter gradient at step %d", step)
		}
		rate := lr.At(step)
		opt.Step(rate)
		stepTime += time.Since(t0)
		res.TrainLoss = loss
		done := step + 1
		var ms []registry.Metric
		if tc.LogEvery > 0 && (done%int64(tc.LogEvery) == 0 || done == steps) {
			ms = append(ms, registry.Metric{Step: done, Name: "loss", Value: loss}, registry.Metric{Step: done, Name: "lr", Value: rate},
				registry.Metric{Step: done, Name: "grad_norm", Value: norm})
		}
		if tc.EvalEvery > 0 && done%int64(tc.EvalEvery) == 0 && done != steps {
			hl, _, err := d.heldOutLoss(m, micro)
			if err != nil {
				return nil, err
			}
			ms = append(ms, registry.Metric{Step: done, Name: "heldout_loss", Value: hl})
		}
		if len(ms) > 0 {
			if err := att.LogMetrics(ms); err != nil {
				return nil, err
			}
		}
		if e.Progress != nil && tc.LogEvery > 0 && done%int64(tc.LogEvery) == 0 {
			fmt.Fprintf(e.Progress, "finetune %s step %d/%d loss %.4f (%.1fs)\n", short(h), done, steps, loss, time.Since(began).Seconds())
		}
	}
	res.Steps, res.Tokens = steps, steps*int64(tc.BatchSize)*int64(d.W)
	res.StepSeconds = stepTime.Seconds() / float64(steps)
	if got := paramsSHA(m.Params()); got != frozen {
		return nil, fmt.Errorf("the frozen base changed during fine-tuning (parameters sha256 %s, was %s)", short(got), short(frozen))
	}
	if res.HeldOut, _, err = d.heldOutLoss(m, micro); err != nil {
		return nil, err
	}
	// The adapters in PEFT's layout.
	dir := filepath.Join(e.RunDir(h), "adapter")
	files, err := SavePEFT(dir, m, c)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := att.PutArtifact(f.Kind, f.Path, f.SHA256, f.Bytes); err != nil {
			return nil, err
		}
	}
	if res.AdapterDir, err = registry.RelToRoot(e.Root, dir); err != nil {
		return nil, err
	}
	// (c): merged into the latent weights, re-quantized by the base's state.
	if err := m.MergeLoRA(); err != nil {
		return nil, err
	}
	if res.HeldOutMerged, _, err = d.heldOutLoss(m, micro); err != nil {
		return nil, err
	}
	if o.Merge {
		path := filepath.Join(e.RunDir(h), "merged.safetensors")
		var ts []train.Tensor
		for _, p := range m.Params() {
			ts = append(ts, train.Tensor{Name: p.Name, Shape: p.Shape, Data: p.Data})
		}
		sha, size, err := train.WriteSafetensors(path, ts, map[string]string{"base": c.LoRA.Base, "finetune": h,
			"format": "latent weights with W + (lora_alpha/r)·B·A folded in; the base config's quantizer re-quantizes them"})
		if err != nil {
			return nil, err
		}
		if err := att.PutArtifact("merged", path, sha, size); err != nil {
			return nil, err
		}
		if res.Merged, err = registry.RelToRoot(e.Root, path); err != nil {
			return nil, err
		}
	}
	final := []registry.Metric{
		{Step: steps, Name: "heldout_loss_base", Value: res.HeldOutBase},
		{Step: steps, Name: "heldout_loss", Value: res.HeldOut},
		{Step: steps, Name: "heldout_loss_merged", Value: res.HeldOutMerged},
	}
	if err := att.LogMetrics(final); err != nil {
		return nil, err
	}
	js, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if err := att.SetSummary(string(js)); err != nil {
		return nil, err
	}
	if err := att.Finish(registry.StatusDone, ""); err != nil {
		return nil, err
	}
	return res, nil
}
