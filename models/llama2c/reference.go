package llama2c

import "math"

// Reference is a straight float32 port of run.c's forward pass, with its
// own key/value cache. It uses plain loops and the standard library's math
// on purpose: it is the independent check, not the fast path.
type Reference struct {
	ck *Checkpoint
	// keys and values: [layer][pos·kv_dim + i]
	keys, values [][]float32
	x, xb, xb2   []float32
	q, k, v      []float32
	hb, hb2, att []float32
	logits       []float32
}

// NewReference returns a reference runner for ck with an empty cache.
func NewReference(ck *Checkpoint) *Reference {
	r := &Reference{ck: ck}
	kv := ck.KVDim()
	r.keys = make([][]float32, ck.NLayers)
	r.values = make([][]float32, ck.NLayers)
	for l := range ck.NLayers {
		r.keys[l] = make([]float32, ck.SeqLen*kv)
		r.values[l] = make([]float32, ck.SeqLen*kv)
	}
	r.x = make([]float32, ck.Dim)
	r.xb = make([]float32, ck.Dim)
	r.xb2 = make([]float32, ck.Dim)
	r.q = make([]float32, ck.Dim)
	r.k = make([]float32, kv)
	r.v = make([]float32, kv)
	r.hb = make([]float32, ck.HiddenDim)
	r.hb2 = make([]float32, ck.HiddenDim)
	r.att = make([]float32, ck.SeqLen)
	r.logits = make([]float32, ck.Vocab)
	return r
}

// Checkpoint returns the weights the runner uses.
func (r *Reference) Checkpoint() *Checkpoint { return r.ck }

// Forward feeds token at position pos (0 ≤ pos < seq_len, positions fed in
// order from 0) and returns the logits over the vocabulary. The returned
// slice is reused by the next call. An out-of-range token or position
// returns nil.
func (r *Reference) Forward(token int32, pos int) []float32 {
	ck := r.ck
	if token < 0 || int(token) >= ck.Vocab || pos < 0 || pos >= ck.SeqLen {
		return nil
	}
	dim, hid, kvDim := ck.Dim, ck.HiddenDim, ck.KVDim()
	headSize := ck.HeadSize()
	kvMul := ck.NHeads / ck.NKVHeads
	x := r.x
	copy(x, ck.TokenEmbedding[int(token)*dim:(int(token)+1)*dim])
	for l, w := range ck.Layers {
		rmsnorm(r.xb, x, w.AttnNorm)
		matmul(r.q, r.xb, w.WQ)
		k := r.keys[l][pos*kvDim : (pos+1)*kvDim]
		v := r.values[l][pos*kvDim : (pos+1)*kvDim]
		matmul(k, r.xb, w.WK)
		matmul(v, r.xb, w.WV)
		// RoPE: rotate adjacent pairs (i, i+1) of q, and of k where i < kv_dim.
		for i := 0; i < dim; i += 2 {
			headDim := i % headSize
			freq := 1 / float32(math.Pow(10000, float64(float32(headDim)/float32(headSize))))
			val := float32(pos) * freq
			fcr := float32(math.Cos(float64(val)))
			fci := float32(math.Sin(float64(val)))
			rotate(r.q, i, fcr, fci)
			if i < kvDim {
				rotate(k, i, fcr, fci)
			}
		}
		scale := float32(math.Sqrt(float64(headSize)))
		for h := range ck.NHeads {
			q := r.q[h*headSize : (h+1)*headSize]
			att := r.att[:pos+1]
			kvOff := (h / kvMul) * headSize
			for t := 0; t <= pos; t++ {
				kt := r.keys[l][t*kvDim+kvOff : t*kvDim+kvOff+headSize]
				var score float32
				for i := range headSize {
					score += q[i] * kt[i]
				}
				att[t] = score / scale
			}
			softmax(att)
			xb := r.xb[h*headSize : (h+1)*headSize]
			clear(xb)
			for t := 0; t <= pos; t++ {
				vt := r.values[l][t*kvDim+kvOff : t*kvDim+kvOff+headSize]
				a := att[t]
				for i := range headSize {
					xb[i] += a * vt[i]
				}
			}
		}
		matmul(r.xb2, r.xb, w.WO)
		for i := range dim {
			x[i] += r.xb2[i]
		}
		rmsnorm(r.xb, x, w.FFNNorm)
		matmul(r.hb, r.xb, w.W1)
		matmul(r.hb2, r.xb, w.W3)
		for i := range hid {
			val := r.hb[i]
			val *= 1 / (1 + float32(math.Exp(float64(-val))))
			r.hb[i] = val * r.hb2[i]
		}
		matmul(r.xb, r.hb, w.W2)
		for i := range dim {
			x[i] += r.xb[i]
		}
	}
	rmsnorm(x, x, ck.FinalNorm)
	matmul(r.logits, x, ck.Classifier)
	return r.logits
}

func rotate(vec []float32, i int, fcr, fci float32) {
	v0, v1 := vec[i], vec[i+1]
	vec[i] = v0*fcr - v1*fci
	vec[i+1] = v0*fci + v1*fcr
}

// rmsnorm writes o = weight ⊙ x / sqrt(mean(x²) + 1e-5), as run.c.
func rmsnorm(o, x, weight []float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	ss /= float32(len(x))
	ss += 1e-5
	ss = 1 / float32(math.Sqrt(float64(ss)))
	for j := range x {
		o[j] = weight[j] * (ss * x[j])
	}
}

// softmax normalises x in place, subtracting the maximum first.
func softmax(x []float32) {
	maxv := x[0]
	for _, v := range x[1:] {
		if v > maxv {
			maxv = v
		}
	}
	var sum float32
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v - maxv)))
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

// matmul computes xout[i] = Σ_j w[i·n+j]·x[j] with n = len(x) and
// d = len(xout) rows.
func matmul(xout, x, w []float32) {
	n := len(x)
	for i := range xout {
		var val float32
		row := w[i*n : (i+1)*n]
		for j, xv := range x {
			val += row[j] * xv
		}
		xout[i] = val
	}
}

// argmax returns the index of the first maximum, as run.c's sample_argmax.
// Its tie rule (the first maximum; a NaN is never chosen after index 0) is
// that of the project's vec.Argmax, but it is deliberately a separate copy:
// the reference imports nothing from the project, so that the comparisons
// with the project's model check project code against an outside port of
// run.c rather than against itself.
func argmax(v []float32) int32 {
	best := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[best] {
			best = i
		}
	}
	return int32(best)
}
