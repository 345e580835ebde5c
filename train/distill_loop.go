package train

import (
	"errors"
	"fmt"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/rng"
)

// distiller is the distillation part of a training run: the teacher (in
// inference mode) and the loss of the distill section.
type distiller struct {
	cfg     configs.DistillConfig
	loss    string
	teacher *models.Model
	start   int64
	prompt  int // MiniLLM prompt tokens
	threads int
	vocab   int
	seed    int64 // train.seed: keys the sampling streams

	// MiniLLM's sampling state, kept from one micro-batch to the next
	// (reset, not reallocated): the decoders of the student (sdm) and the
	// teacher, one float64 row buffer per window, the streams and a column
	// of tokens.
	sd, td  *models.BatchDecoder
	sdm     *models.Model
	rowBufs []*rowBuf
	streams []rng.Stream
	col     []int32

	// last holds the previous step's parts for the log.
	last struct {
		ce, kd, revKL float64
		ok            bool
	}
}

// newDistiller returns nil when the config does not distil.
func newDistiller(o Options, student *models.Model, p plan) (*distiller, error) {
	d := o.Config.Distill
	if !d.Enabled() {
		return nil, nil
	}
	loss, err := kdLoss(d)
	if err != nil {
		return nil, err
	}
	if o.Teacher == nil {
		return nil, fmt.Errorf("distill.loss = %s needs the teacher model of run %s (Options.Teacher is nil; experiment.Env.Train loads it)", d.Loss, short(d.Teacher))
	}
	sc, tc := student.Config(), o.Teacher.Config()
	if sc.Vocab != tc.Vocab {
		return nil, fmt.Errorf("distill.teacher %s: teacher vocabulary %d differs from the student's %d (they must share the tokenizer)", short(d.Teacher), tc.Vocab, sc.Vocab)
	}
	if tc.Context < p.seqLen {
		return nil, fmt.Errorf("distill.teacher %s: teacher context %d is shorter than data.seq_len %d", short(d.Teacher), tc.Context, p.seqLen)
	}
	k := &distiller{cfg: d, loss: loss, teacher: o.Teacher, start: d.StartStep, threads: max(o.Threads, 1), vocab: sc.Vocab, seed: o.Config.Train.Seed}
	o.Teacher.SetThreads(k.threads)
	// The teacher only runs forward (Logits): keeping only the residual
	// stream between blocks, not every block's activations for a backward
	// pass it never runs, gives the same logits in a fraction of the memory.
	o.Teacher.SetRecompute(true)
	if loss == configs.DistillMiniLLM {
		k.prompt = d.PromptTokens
		if k.prompt == 0 {
			k.prompt = p.seqLen / 2
		}
		if k.prompt < 1 || k.prompt >= p.seqLen {
			return nil, fmt.Errorf("distill.loss = minillm needs a prompt of 1 to data.seq_len−1 tokens; data.seq_len = %d, distill.prompt_tokens = %d", p.seqLen, d.PromptTokens)
		}
	}
	return k, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// metrics are the distillation parts of the last step, for the log.
func (d *distiller) metrics(step int64) []registry.Metric {
	if d == nil || !d.last.ok {
		return nil
	}
	ms := []registry.Metric{
		{Step: step, Name: "distill_ce", Value: d.last.ce},
		{Step: step, Name: "distill_kd", Value: d.last.kd},
		{Step: step, Name: "distill_objective", Value: (1-d.cfg.KDRatio)*d.last.ce + d.cfg.KDRatio*d.last.kd},
	}
	if d.loss == configs.DistillMiniLLM {
		ms = append(ms, registry.Metric{Step: step, Name: "distill_rev_kl", Value: d.last.revKL})
	}
	return ms
}

// forwardBackward is the distilled step: for every micro-batch the
// student's gradient of (1−kd_ratio)·CE(data) + kd_ratio·KD, scaled by
// 1/nMicro. It returns the step's mean data cross-entropy (the run's
// "loss", comparable with undistilled runs); the objective and the KD term
// are logged as distill_objective and distill_kd.
func (d *distiller) forwardBackward(t *trainer, step int64) (float64, error) {
	p, m := t.plan, t.model
	m.ZeroGrad()
	scale := float64(float32(1) / float32(p.nMicro))
	kd := d.cfg.KDRatio
	ceScale := float32((1 - kd) * scale)
	var ceSum, kdSum, revSum float64
	for mi := 0; mi < p.nMicro; mi++ {
		tokens, targets := t.ds.Batch(step, mi, p.micro, p.seqLen, t.o.Config.Train.Seed)
		var ce, kdv, rev float64
		var err error
		switch d.loss {
		case configs.DistillFKL, configs.DistillRKL:
			ce, kdv, err = d.teacherForced(m, tokens, targets, p, ceScale, kd*scale)
		default:
			ce, kdv, rev, err = d.miniLLM(m, step, mi, tokens, targets, p, ceScale, kd*scale)
		}
		if err != nil {
			return 0, fmt.Errorf("step %d micro-batch %d: distill (%s): %w", step, mi, d.loss, err)
		}
		ceSum += ce
		kdSum += kdv
		revSum += rev
	}
	n := float64(p.nMicro)
	d.last.ce, d.last.kd, d.last.revKL, d.last.ok = ceSum/n, kdSum/n, revSum/n, true
	return d.last.ce, nil
}

// teacherForced is fkl or rkl on the data: teacher and student read the
// same tokens and the KL is taken at every scored position. It returns the
// mean CE and the mean KL per scored token.
func (d *distiller) teacherForced(m *models.Model, tokens, targets []int32, p plan, ceScale float32, kdScale float64) (float64, float64, error) {
	tl, err := d.teacher.Logits(tokens, p.micro, p.seqLen)
	if err != nil {
		return 0, 0, fmt.Errorf("teacher: %w", err)
	}
	mask := make([]bool, len(targets))
	n := 0
	for i, y := range targets {
		if y >= 0 {
			mask[i] = true
			n++
		}
	}
	if n == 0 {
		return 0, 0, nil
	}
	var kl float64
	ce, err := m.ForwardBackwardWith(tokens, targets, p.micro, p.seqLen, ceScale, func(logits, dl []float32) error {
		var err error
		s := kdScale / float64(n)
		if d.loss == configs.DistillFKL {
			kl, err = ForwardKL(d.threads, dl, logits, tl, d.vocab, mask, d.cfg.Temperature, s)
		} else {
			kl, err = ReverseKL(d.threads, dl, logits, tl, d.vocab, mask, s)
		}
		return err
	})
	return ce, kl / float64(n), err
}

// miniLLM is the LM loss on the data plus MiniLLM on continuations of the
// data's first d.prompt tokens sampled from α·teacher + (1−α)·student. It
// returns the data CE, the MiniLLM objective (single + long) per sampled
// token and the importance-weighted reverse-KL estimate per sampled token.
func (d *distiller) miniLLM(m *models.Model, step int64, mi int, tokens, targets []int32, p plan, ceScale float32, kdScale float64) (float64, float64, float64, error) {
	ce, err := m.ForwardBackwardWith(tokens, targets, p.micro, p.seqLen, ceScale, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	seqs, err := d.sample(m, step, mi, tokens, p)
	if err != nil {
		return 0, 0, 0, err
	}
	tl, err := d.teacher.Logits(seqs, p.micro, p.seqLen)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("teacher: %w", err)
	}
	none := make([]int32, len(seqs))
	for i := range none {
		none[i] = -1
	}
	L, P, V := p.seqLen, d.prompt, d.vocab
	T := L - P
	stats := make([]MiniLLMStats, p.micro)
	errs := make([]error, p.micro)
	_, err = m.ForwardBackwardWith(seqs, none, p.micro, p.seqLen, 0, func(logits, dl []float32) error {
		s := kdScale / float64(p.micro*T)
		// Row P−1+i of a sequence predicts its sampled token P+i.
		kernels.Parallel(d.threads, p.micro, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				r0, r1 := (b*L+P-1)*V, (b*L+L-1)*V
				stats[b], errs[b] = MiniLLMSequence(dl[r0:r1], logits[r0:r1], tl[r0:r1], V, seqs[b*L+P:b*L+L], DefaultMiniLLM(d.cfg.TeacherMix), s)
			}
		})
		return errors.Join(errs...)
	})
	if err != nil {
		return 0, 0, 0, err
	}
	var obj, rev float64
	n := 0
	for _, st := range stats {
		obj += st.Single + st.Long
		rev += st.RevKL
		n += st.Tokens
	}
	return ce, obj / float64(n), rev / float64(n), nil
}

// sample returns the micro-batch with every window's tokens after the
// prompt replaced by a continuation drawn token by token from
// α·p + (1−α)·q (temperature 1, no top-k or top-p), the student and the
// teacher decoding incrementally, all windows of the micro-batch stepped
// together (models.BatchDecoder: each window's logits are bit for bit
// those of decoding it alone). The uniforms come from the stream
// (train.seed, "distill/minillm/<step>/<micro>/<row>"), so a resumed run or
// another thread count draws the same tokens.
func (d *distiller) sample(m *models.Model, step int64, mi int, tokens []int32, p plan) ([]int32, error) {
	L, P, B, V := p.seqLen, d.prompt, p.micro, d.vocab
	seqs := append([]int32(nil), tokens...)
	sd, td, err := d.decoders(m, B)
	if err != nil {
		return nil, err
	}
	streams, bufs, col := d.streams, d.rowBufs, d.col
	for b := range streams {
		streams[b] = *rng.New(d.seed, fmt.Sprintf("distill/minillm/%d/%d/%d", step, mi, b))
	}
	// Feeding position i gives the distributions of position i+1; the
	// positions from P on are drawn, one uniform each, in order.
	for i := 0; i < L-1; i++ {
		for b := range col {
			col[b] = seqs[b*L+i]
		}
		sl, err := sd.Step(col)
		if err != nil {
			return nil, fmt.Errorf("sample: student: %w", err)
		}
		tl, err := td.Step(col)
		if err != nil {
			return nil, fmt.Errorf("sample: teacher: %w", err)
		}
		if i+1 < P {
			continue
		}
		kernels.Parallel(d.threads, B, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				seqs[b*L+i+1] = sampleMixed(bufs[b], sl[b*V:b*V+V], tl[b*V:b*V+V], d.cfg.TeacherMix, streams[b].Float64())
			}
		})
	}
	return seqs, nil
}

// decoders returns the student's and the teacher's decoders of B empty
// windows: made on first use (or when the student model or B changed),
// afterwards reset, which recomputes the effective weights from the
// current parameters as new decoders would, so every micro-batch samples
// exactly as with new ones without reallocating their KV caches and
// workspaces.
func (d *distiller) decoders(m *models.Model, B int) (*models.BatchDecoder, *models.BatchDecoder, error) {
	if d.sd != nil && d.sdm == m && d.sd.Len() == B {
		d.sd.Reset()
		d.td.Reset()
		return d.sd, d.td, nil
	}
	d.sd, d.td, d.sdm = nil, nil, nil // release the old ones before allocating
	sd, err := m.NewBatchDecoder(B)
	if err != nil {
		return nil, nil, fmt.Errorf("sample: student: %w", err)
	}
	td, err := d.teacher.NewBatchDecoder(B)
	if err != nil {
		return nil, nil, fmt.Errorf("sample: teacher: %w", err)
	}
	d.sd, d.td, d.sdm = sd, td, m
	d.streams, d.col = make([]rng.Stream, B), make([]int32, B)
	d.rowBufs = make([]*rowBuf, B)
	for b := range d.rowBufs {
		d.rowBufs[b] = newRowBuf(d.vocab)
	}
	return sd, td, nil
}
