package models

import (
	"fmt"
	"math"

	"github.com/nanomamba-edge/harness/kernels"
	"github.com/nanomamba-edge/harness/kernels/vec"
)

// PrefixScorer runs inference-only forward passes over batches of
// sequences that share prefixes, computing every distinct prefix once.
//
// The model is causal and each position's values are computed by the same
// per-row operations (projections, norms, quantization, gates, the head)
// whatever row of a batch holds them, so two sequences that begin with the
// same t tokens have bit for bit the same activations at their first t
// positions. A pass therefore keeps one row per distinct prefix (a node of
// the batch's prefix tree) for every row-wise operation, and gathers the
// nodes into the padded batch×seqLen layout only for the operations that
// mix positions (the depthwise conv reads a node's ancestors, the SSD scan
// and attention read the gathered sequences, whose padding rows are zero
// and, being later than every real position, enter a real position's
// chains only as exact zero terms, as in Model.Logits's padding). The
// logits of each node are those Model.Logits gives at that position
// (TestPrefixLogitsMatchLogits).
//
// A scorer keeps its buffers from one pass to the next (grown when a pass
// needs more). It reads the model's weights at every pass and is not safe
// for concurrent use, nor for use concurrently with the model's other
// methods.
type PrefixScorer struct {
	m *Model
	// static: the model's weights and quantization state do not change
	// between passes (SetStatic).
	static bool

	capNodes, capRows int
	res, mid, tmp     []float32 // nodes×D
	n1, n2, fin       normActs
	attn              attnActs // node-indexed; one entry shared by all layers
	mamba             mambaActs
	ffn               ffnActs
	logits            []float32 // nodes×V

	// The padded batch×seqLen layout of the scan's inputs and output.
	fx, fdt, fbm, fcm, fy []float32
	cache                 *scanCache

	// The prefix tree of the current pass.
	node   []int32 // batch·seqLen: node of each position, −1 past a sequence's end
	parent []int32 // per node: the node one position earlier (−1 at depth 0)
	depth  []int32 // per node: its position
	first  []int32 // per node: the first batch·seqLen row that holds it
	tok    []int32 // per node: its token
	keys   map[uint64]int32
}

// NewPrefixScorer returns a scorer for m.
func NewPrefixScorer(m *Model) *PrefixScorer {
	return &PrefixScorer{m: m, keys: map[uint64]int32{}}
}

// SetStatic declares whether the model's weights and quantization state
// stay unchanged from one pass to the next (an evaluation of a trained
// run). A static scorer computes the effective weights and packs them for
// the GEMMs once, not at every pass (same bits: packing only moves values;
// the packed copies cost about the float32 weights' memory again);
// anything that refreshes or changes the model's weights (training,
// SetQuant, MergeLoRA, the model's other forward passes) drops the
// packing, and the next pass redoes it. Changing the weights' values in place without a refresh
// while static is on is a misuse the scorer cannot see.
func (s *PrefixScorer) SetStatic(on bool) { s.static = on }

// grow makes the buffers hold nodes node rows and rows padded rows.
func (s *PrefixScorer) grow(nodes, rows int) {
	m := s.m
	D, V := m.arch.mc.DModel, m.arch.mc.Vocab
	if nodes > s.capNodes {
		n := max(nodes, 2*s.capNodes)
		f := func(k int) []float32 { return make([]float32, k) }
		s.res, s.mid, s.tmp = f(n*D), f(n*D), f(n*D)
		s.n1, s.n2, s.fin = newNormActs(n, D), newNormActs(n, D), newNormActs(n, D)
		s.logits = f(n * V)
		s.attn, s.mamba, s.ffn = attnActs{}, mambaActs{}, ffnActs{}
		for _, b := range m.layers {
			if b.attn != nil && s.attn.q == nil {
				s.attn = b.attn.newActs(1, n)
			}
			if b.mamba != nil && s.mamba.zx == nil {
				s.mamba = b.mamba.newActs(n)
			}
			if b.ffn != nil && s.ffn.g == nil {
				s.ffn = b.ffn.newActs(n)
			}
		}
		s.capNodes = n
	}
	if rows > s.capRows {
		n := max(rows, 2*s.capRows)
		s.node = make([]int32, n)
		s.capRows = n
		for _, b := range m.layers {
			if mb := b.mamba; mb != nil {
				gn := mb.groups * mb.state
				s.fx, s.fy = make([]float32, n*mb.dIn), make([]float32, n*mb.dIn)
				s.fdt, s.fbm, s.fcm = make([]float32, n*mb.heads), make([]float32, n*gn), make([]float32, n*gn)
				break
			}
		}
	}
}

// PrefixLogits runs batch sequences laid out as in Logits (tokens is
// batch×seqLen, row-major), of which sequence b is its first lens[b]
// tokens (the rest of its row is ignored). It returns the logits of every
// distinct prefix (nodes×vocab, owned by the scorer and valid until its next
// pass) and, for each of the batch·seqLen positions, the index of its node
// (−1 past the sequence's end). A node's logits are bit for bit those that
// Logits gives at any position holding it.
func (s *PrefixScorer) PrefixLogits(tokens []int32, lens []int, batch, seqLen int) ([]float32, []int32, error) {
	m := s.m
	if err := m.check(tokens, nil, batch, seqLen); err != nil {
		return nil, nil, err
	}
	if len(lens) != batch {
		return nil, nil, fmt.Errorf("models: %d sequence lengths for a batch of %d", len(lens), batch)
	}
	for b, n := range lens {
		if n < 1 || n > seqLen {
			return nil, nil, fmt.Errorf("models: sequence %d has length %d, want 1 to seqLen %d", b, n, seqLen)
		}
	}
	rows := batch * seqLen
	s.grow(0, rows)
	// The prefix tree: node ids in order of first appearance.
	clear(s.keys)
	s.parent, s.depth, s.first, s.tok = s.parent[:0], s.depth[:0], s.first[:0], s.tok[:0]
	for b := 0; b < batch; b++ {
		p := int32(-1)
		for t := 0; t < seqLen; t++ {
			r := b*seqLen + t
			if t >= lens[b] {
				s.node[r] = -1
				continue
			}
			key := uint64(uint32(p))<<32 | uint64(uint32(tokens[r]))
			u, ok := s.keys[key]
			if !ok {
				u = int32(len(s.parent))
				s.keys[key] = u
				s.parent = append(s.parent, p)
				s.depth = append(s.depth, int32(t))
				s.first = append(s.first, int32(r))
				s.tok = append(s.tok, tokens[r])
			}
			s.node[r] = u
			p = u
		}
	}
	n := len(s.parent)
	s.grow(n, rows)
	s.forward(n, batch, seqLen)
	return s.logits[:n*m.arch.mc.Vocab], s.node[:rows], nil
}

// forward runs the network over the n nodes of the current tree.
func (s *PrefixScorer) forward(n, batch, seqLen int) {
	m := s.m
	th, D, V := m.threads, m.arch.mc.DModel, m.arch.mc.Vocab
	if !s.static || !m.weightsPacked() {
		m.refresh()
		if s.static {
			m.packWeights()
		}
	}
	E := m.embed.Data
	for u := 0; u < n; u++ {
		t := int(s.tok[u])
		copy(s.res[u*D:u*D+D], E[t*D:t*D+D])
	}
	for _, b := range m.layers {
		x := s.res
		s.n1.in = x
		norm1 := func(r0, r1 int) { b.norm1.forwardRows(&s.n1, r0, r1) }
		if b.attn != nil {
			s.attnForward(b.attn, s.tmp, s.n1.out, n, batch, seqLen, norm1)
		} else {
			s.mambaForward(b.mamba, s.tmp, s.n1.out, n, batch, seqLen, norm1)
		}
		if b.ffn == nil {
			kernels.Parallel(th, n, func(lo, hi int) { vec.Add(x[lo*D:hi*D], x[lo*D:hi*D], s.tmp[lo*D:hi*D]) })
			continue
		}
		mid := s.mid
		s.n2.in = mid
		b.ffn.forward(th, &s.ffn, s.tmp, s.n2.out, n, func(r0, r1 int) {
			vec.Add(mid[r0*D:r1*D], x[r0*D:r1*D], s.tmp[r0*D:r1*D])
			b.norm2.forwardRows(&s.n2, r0, r1)
		})
		kernels.Parallel(th, n, func(lo, hi int) { vec.Add(x[lo*D:hi*D], mid[lo*D:hi*D], s.tmp[lo*D:hi*D]) })
	}
	m.normF.forward(th, &s.fin, s.res, n)
	if s.static && m.headPacked != nil {
		kernels.MatMulNTPacked(th, s.logits[:n*V], s.fin.out[:n*D], m.headPacked, n, false)
	} else {
		kernels.MatMulNT(th, s.logits[:n*V], s.fin.out[:n*D], E, n, D, V, false)
	}
}

// ancestor returns the node k positions before node u (k ≤ its depth).
func (s *PrefixScorer) ancestor(u int32, k int) int32 {
	for ; k > 0; k-- {
		u = s.parent[u]
	}
	return u
}

// mambaForward is mamba2.forward over the nodes: the conv reads each node's
// ancestors, the scan runs on the padded layout.
func (s *PrefixScorer) mambaForward(mb *mamba2, out, u []float32, n, batch, seqLen int, pre func(r0, r1 int)) {
	th := s.m.threads
	a := &s.mamba
	prep := mb.inProj.hasPrep()
	mb.inProj.bindPrep(&a.lin, u)
	rowBlocks(th, n, func(r0, r1 int) {
		pre(r0, r1)
		if prep {
			mb.inProj.prepRows(&a.lin, r0, r1)
		}
	})
	mb.inProj.product(th, &a.lin, a.zx, u, n)
	a.convWT = mb.convWeightsT(a.convWT)
	kernels.Parallel(th, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := int(s.depth[r])
			mb.convRow(a.pre[r*mb.cConv:(r+1)*mb.cConv], a.convWT, func(k int) []float32 {
				back := mb.conv - 1 - k
				if back > t {
					return nil
				}
				i := int(s.ancestor(int32(r), back))*mb.dProj + mb.dIn
				return a.zx[i : i+mb.cConv]
			})
			mb.splitRow(a, r)
		}
	})
	mb.setA(a)
	// Gather the scan's inputs into the padded layout, scan, scatter y.
	P, H, gn := mb.dIn, mb.heads, mb.groups*mb.state
	rows := batch * seqLen
	for r := 0; r < rows; r++ {
		v := int(s.node[r])
		if v < 0 {
			clear(s.fx[r*P : r*P+P])
			clear(s.fdt[r*H : r*H+H])
			clear(s.fbm[r*gn : r*gn+gn])
			clear(s.fcm[r*gn : r*gn+gn])
			continue
		}
		copy(s.fx[r*P:r*P+P], a.x[v*P:v*P+P])
		copy(s.fdt[r*H:r*H+H], a.dt[v*H:v*H+H])
		copy(s.fbm[r*gn:r*gn+gn], a.bm[v*gn:v*gn+gn])
		copy(s.fcm[r*gn:r*gn+gn], a.cm[v*gn:v*gn+gn])
	}
	s.cache = scanInfer(s.cache, th, mb.dims(batch, seqLen), s.fy[:rows*P], s.fx[:rows*P], s.fdt[:rows*H], a.a, s.fbm[:rows*gn], s.fcm[:rows*gn], nil, nil)
	for v := 0; v < n; v++ {
		r := int(s.first[v])
		copy(a.y[v*P:v*P+P], s.fy[r*P:r*P+P])
	}
	mb.output(th, a, out, n)
}

// attnForward is attention.forward over the nodes: RoPE at each node's
// depth, and the attention of each sequence (and head) on its gathered
// rows, padded with zero rows to seqLen.
func (s *PrefixScorer) attnForward(at *attention, y, x []float32, n, batch, seqLen int, pre func(r0, r1 int)) {
	th := s.m.threads
	a := &s.attn
	lins := [3]*bitLinear{at.wq, at.wk, at.wv}
	acts := [3]*linearActs{&a.lq, &a.lk, &a.lv}
	var prep [3]bool
	for j, l := range lins {
		prep[j] = l.hasPrep()
		l.bindPrep(acts[j], x)
	}
	rowBlocks(th, n, func(r0, r1 int) {
		pre(r0, r1)
		for j, l := range lins {
			if prep[j] {
				l.prepRows(acts[j], r0, r1)
			}
		}
	})
	at.wq.product(th, &a.lq, a.q, x, n)
	at.wk.product(th, &a.lk, a.k, x, n)
	at.wv.product(th, &a.lv, a.v, x, n)
	qd, kd, hd := at.nh*at.hd, at.nkv*at.hd, at.hd
	at.ropeRows(th, a.q, a.k, n, func(r int) int { return int(s.depth[r]) })
	grp := at.nh / at.nkv
	scale := float32(1 / math.Sqrt(float64(hd)))
	T := seqLen
	tile := at.tileRows(T)
	kernels.Parallel(th, batch*at.nh, func(lo, hi int) {
		w := newHeadScratch(T, hd, tile, false)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/at.nh, bh%at.nh
			kv := h / grp
			nodes := s.node[b*T : b*T+T]
			for t, v := range nodes {
				if v < 0 {
					clear(w.q[t*hd : t*hd+hd])
					clear(w.k[t*hd : t*hd+hd])
					clear(w.v[t*hd : t*hd+hd])
					continue
				}
				copy(w.q[t*hd:t*hd+hd], a.q[int(v)*qd+h*hd:])
				copy(w.k[t*hd:t*hd+hd], a.k[int(v)*kd+kv*hd:])
				copy(w.v[t*hd:t*hd+hd], a.v[int(v)*kd+kv*hd:])
			}
			w.attend(T, hd, tile, scale, nil)
			for t, v := range nodes {
				if v >= 0 && int(s.first[v]) == b*T+t {
					copy(a.out[int(v)*qd+h*hd:int(v)*qd+h*hd+hd], w.o[t*hd:t*hd+hd])
				}
			}
		}
	})
	at.wo.forward(th, &a.lo, y, a.out, n)
}
