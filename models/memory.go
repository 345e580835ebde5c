package models

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
)

// MemoryEstimate is the estimated peak memory of training a config, in
// bytes unless named otherwise. All arithmetic saturates at math.MaxInt64
// instead of wrapping, so an absurd config gives an absurd (not negative)
// estimate.
type MemoryEstimate struct {
	Params      int64 // parameter count
	Weights     int64 // float32 weights and their gradients
	Optimizer   int64 // AdamW first and second moments (float32)
	Quant       int64 // BitLinear effective-weight and scratch buffers, when a phase quantizes
	Activations int64 // the forward/backward workspace of one micro-batch, SSD caches included
	Scratch     int64 // per-worker attention scratch: a head's q, k, v and gradients and two strips of attnTile·seq_len scores
	Rows        int64 // micro_batch·seq_len: the rows of one micro-batch
	// Recompute: the estimate assumes block activations are recomputed in
	// the backward pass (Model.SetRecompute), so Activations holds the
	// residual stream at every block boundary and one block's activations
	// of each kind instead of every block's.
	Recompute bool
	Total     int64
}

// satMul returns a·b for a, b ≥ 0, or math.MaxInt64 where it would overflow
// (and for negative factors, which no size has).
func satMul(a, b int64) int64 {
	if a < 0 || b < 0 {
		return math.MaxInt64
	}
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// satAdd returns a+b for a, b ≥ 0, or math.MaxInt64 where it would overflow.
func satAdd(a, b int64) int64 {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// prod is the saturating product of xs.
func prod(xs ...int64) int64 {
	p := int64(1)
	for _, x := range xs {
		p = satMul(p, x)
	}
	return p
}

// sum is the saturating sum of xs.
func sum(xs ...int64) int64 {
	s := int64(0)
	for _, x := range xs {
		s = satAdd(s, x)
	}
	return s
}

// CountParams returns the parameter count of the model New would build,
// computed with saturating arithmetic (math.MaxInt64 where the true count
// does not fit), or the error New would give.
func CountParams(mc configs.ModelConfig, qc configs.QuantConfig) (int64, error) {
	a, err := validate(mc)
	if err != nil {
		return 0, err
	}
	q, err := newQuantSpec(qc)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range a.specs(q) {
		size := int64(1)
		for _, d := range s.shape {
			size = satMul(size, int64(d))
		}
		n = satAdd(n, size)
	}
	return n, nil
}

// EstimateTrainMemory estimates the peak memory of training c with stored
// activations (Model.SetRecompute off) and the given number of worker
// threads (0 = train.threads, or all cores when that is 0 too):
// parameters, gradients, AdamW moments, quantized weight buffers and the
// activations of one micro-batch of train.micro_batch × data.seq_len tokens
// (gradients are accumulated over micro-batches, so only one is live).
// Evaluation scores batches no larger than that. The token streams of the
// data and Go's runtime overhead are not counted. The config must validate.
func EstimateTrainMemory(c *configs.Config, threads int) (MemoryEstimate, error) {
	return EstimateTrainMemoryWith(c, threads, false)
}

// EstimateTrainMemoryWith is EstimateTrainMemory with block activations
// stored (recompute false) or recomputed in the backward pass.
func EstimateTrainMemoryWith(c *configs.Config, threads int, recompute bool) (MemoryEstimate, error) {
	if err := c.Validate(); err != nil {
		return MemoryEstimate{}, err
	}
	e := MemoryEstimate{Recompute: recompute}
	var err error
	if e.Params, err = CountParams(c.Model, c.Quant); err != nil {
		return MemoryEstimate{}, err
	}
	a, _ := validate(c.Model) // checked by CountParams
	q, _ := newQuantSpec(c.Quant)
	const f32 = 4
	e.Weights = prod(2, f32, e.Params)
	e.Optimizer = prod(2, f32, e.Params)
	quantizes := false
	for _, ph := range c.QAT.Phases {
		quantizes = quantizes || ph.Weights != "float"
	}
	if quantizes {
		var lin int64
		for _, s := range a.specs(q) {
			if s.bitLinear {
				lin = satAdd(lin, s.size())
			}
		}
		e.Quant = prod(2, f32, lin) // weff and scratch
	}

	mc := c.Model
	B, T := int64(c.Train.MicroBatch), int64(c.Data.SeqLen)
	R := prod(B, T)
	e.Rows = R
	D, V := int64(mc.DModel), int64(mc.Vocab)
	L := int64(mc.NLayers)
	norm := func(dim int64) int64 { return sum(prod(R, dim), R) }
	lin := func(in int64) int64 { // linearActs
		n := prod(R, in) // dxa
		if q.subln {
			n = sum(n, norm(in))
		}
		if q.actBits > 0 {
			n = sum(n, prod(R, in))
		}
		return n
	}
	// Floats of the workspace outside the layers: residual stream (L+1),
	// final norm, sublayer output, per-row loss (float64), logits and their
	// gradient, dres and dn.
	fl := sum(prod(L+1, R, D), norm(D), prod(R, D), prod(2, R), prod(2, R, V), prod(2, R, D))
	var nAttn, nMamba int64
	for _, isAttn := range a.attn {
		if isAttn {
			nAttn++
		} else {
			nMamba++
		}
	}
	// Every layer's block activations, or one of each kind when recomputed.
	copies := func(n int64) int64 {
		if recompute {
			return min(n, 1)
		}
		return n
	}
	fl = sum(fl, prod(copies(L), norm(D))) // norm1
	var attnScratch int64
	if a.hasAttention {
		hd := int64(a.hd)
		qd, kd := int64(mc.NHeads)*hd, int64(mc.NKVHeads)*hd
		layer := sum(prod(3, lin(D)), lin(qd), prod(4, R, qd), prod(4, R, kd))
		if keepProbs(int(B), mc.NHeads, int(T)) {
			layer = sum(layer, prod(B, int64(mc.NHeads), T, T)) // the kept probabilities
		}
		fl = sum(fl, prod(copies(nAttn), layer))
		// newHeadScratch of the backward pass (the forward's is smaller).
		tile := min(int64(attnTile), T)
		attnScratch = sum(prod(8, T, hd), prod(2, tile, T))
		attnScratch = prod(min(int64(threadsOf(c, threads)), prod(B, int64(mc.NHeads))), attnScratch)
		fl = sum(fl, prod(int64(mc.Context), hd)) // RoPE cos and sin tables
	}
	if a.hasMambaLayer {
		dIn, dProj, cConv := int64(a.dIn), int64(a.dProj), int64(a.cConv)
		H, gn := int64(a.heads), int64(mc.NGroups)*int64(mc.DState)
		Q := int64(mc.Chunk)
		nc := (T + Q - 1) / Q
		cache := sum(prod(B, nc+1, H, int64(mc.HeadDim), int64(mc.DState)), prod(B, int64(mc.NGroups), nc, Q, Q))
		layer := sum(lin(D), lin(dIn),
			prod(2, R, dProj),              // zx, dzx
			prod(3, R, cConv),              // pre, spre, dpre
			prod(9, R, dIn),                // sz, x, y, g, dx, dy, dg, dn and the norm output
			R,                              // the norm's rstd
			prod(4, R, gn),                 // bm, cm, dbm, dcm
			prod(2, R, H),                  // dt, ddt
			prod(2, H),                     // a, da
			prod(cConv, int64(mc.DConv)+1), // convWT and ones
			cache)
		fl = sum(fl, prod(copies(nMamba), layer))
	}
	if mc.FFN {
		hid := int64(mc.DFF)
		layer := sum(prod(R, D), norm(D), prod(2, lin(D)), lin(hid), prod(7, R, hid))
		fl = sum(fl, prod(copies(L), layer))
	}
	e.Activations = prod(f32, fl)
	e.Scratch = prod(f32, attnScratch)
	e.Total = sum(e.Weights, e.Optimizer, e.Quant, e.Activations, e.Scratch)
	return e, nil
}

// threadsOf is the worker count a run uses: threads, else train.threads,
// else (0 = all cores) the CPU count.
func threadsOf(c *configs.Config, threads int) int {
	if threads > 0 {
		return threads
	}
	if c.Train.Threads > 0 {
		return c.Train.Threads
	}
	return runtime.NumCPU()
}

// MemTotal returns the machine's physical memory in bytes from
// /proc/meminfo, and false where it cannot be read.
func MemTotal() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return parseMemTotal(f)
}

// parseMemTotal reads the MemTotal line ("MemTotal:  24683784 kB") of a
// /proc/meminfo listing.
func parseMemTotal(r io.Reader) (int64, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 || kb > math.MaxInt64/1024 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// Training keeps every block's activations while their estimate is at most
// storedNum/storedDen of the physical memory: above it AutoRecompute turns
// recomputation on, leaving room below MemTotal for the token streams, Go's
// collector and the rest of the system. Stored activations save about one
// forward pass per step.
const storedNum, storedDen = 3, 4

// AutoRecompute reports whether training c with the given threads (as
// EstimateTrainMemory) should recompute block activations in the backward
// pass (Model.SetRecompute): when its stored-activation estimate exceeds
// three quarters of this machine's physical memory. Where /proc/meminfo
// cannot be read it is false. Recomputation changes no bits, so the choice
// may differ between machines without changing a run.
func AutoRecompute(c *configs.Config, threads int) bool {
	total, ok := MemTotal()
	if !ok {
		return false
	}
	return autoRecompute(c, threads, total)
}

func autoRecompute(c *configs.Config, threads int, memTotal int64) bool {
	e, err := EstimateTrainMemory(c, threads)
	return err == nil && satMul(storedDen, e.Total) > satMul(storedNum, memTotal)
}

// CheckTrainMemory refuses a config whose estimated training memory (see
// EstimateTrainMemoryWith; threads as there) exceeds the machine's
// physical memory, with the estimate and what to change. The estimate is
// the one of the activation mode AutoRecompute picks on this machine. Where
// /proc/meminfo cannot be read the check is skipped. Call it before
// starting a training run.
func CheckTrainMemory(c *configs.Config, threads int) error {
	total, ok := MemTotal()
	if !ok {
		return nil
	}
	return checkTrainMemory(c, threads, total)
}

func checkTrainMemory(c *configs.Config, threads int, memTotal int64) error {
	e, err := EstimateTrainMemoryWith(c, threads, autoRecompute(c, threads, memTotal))
	if err != nil {
		return err
	}
	if e.Total <= memTotal {
		return nil
	}
	act := sum(e.Activations, e.Scratch)
	state := sum(e.Weights, e.Optimizer, e.Quant)
	var advice string
	switch {
	case act >= state:
		advice = fmt.Sprintf("lower train.micro_batch (%d; it must divide train.batch_size, which keeps the optimizer step the same) or data.seq_len (%d)", c.Train.MicroBatch, c.Data.SeqLen)
	default:
		advice = fmt.Sprintf("make the model smaller: model.d_model (%d), model.n_layers (%d), model.vocab (%d) or model.d_ff (%d)", c.Model.DModel, c.Model.NLayers, c.Model.Vocab, c.Model.DFF)
	}
	mode := "every block's activations stored"
	if e.Recompute {
		mode = "block activations recomputed in the backward pass"
	}
	return fmt.Errorf("config needs an estimated %s to train (%s), more than this machine's %s (MemTotal in /proc/meminfo): "+
		"%d parameters take %s (weights and gradients %s, AdamW moments %s, quantized weight buffers %s); "+
		"one micro-batch of train.micro_batch·data.seq_len = %d·%d = %d rows takes %s of activations and %s of per-thread scratch. "+
		"To fit, %s",
		gib(e.Total), mode, gib(memTotal), e.Params, gib(state), gib(e.Weights), gib(e.Optimizer), gib(e.Quant),
		c.Train.MicroBatch, c.Data.SeqLen, e.Rows, gib(e.Activations), gib(e.Scratch), advice)
}

// gib renders a byte count in GiB (MiB below one GiB).
func gib(b int64) string {
	if b == math.MaxInt64 {
		return "more than 8 EiB"
	}
	if b < 1<<30 {
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}
