package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"unsafe"

	"github.com/nanomamba-edge/harness/data/bpe"
	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/gguf"
	"github.com/nanomamba-edge/harness/edge/spec"
	"github.com/nanomamba-edge/harness/kernels"
)

// Model is a loaded GGUF model ready to decode.
type Model struct {
	File *gguf.File

	D, V, NLayers, Context int
	eps                    float64
	actBits                int
	threads                int
	head                   Head
	floatW                 bool // projection weights are float (F16/Q8_0), not ternary
	gen                    Generation

	embed  tensor
	headT  []uint16   // F16 embedding interleaved for the float head (dot.F16HeadT), built on first use
	headQ  *dot.QHead // Q8_0 / Q4_0 embedding in the int8 head's layout (dot.QHead), built by SetHead
	normF  []float32
	layers []layer
	tok    *bpe.Tokenizer

	// attention
	nh, nkv, hd int
	ropeCos     []float32 // context × hd/2, rows filled as positions are reached (fillRope)
	ropeSin     []float32
	ropeFreq    []float64 // θ^(−2i/hd)
	ropeRows    int       // rows filled

	// Mamba-2
	dIn, heads, headDim, groups, state, dconv, chunk, cConv, dProj int

	ws *work
}

// tensor is a 2-D weight as stored: rows of ne[0] values of type typ.
type tensor struct {
	typ      gguf.Type
	data     []byte
	rows     int
	width    int // ne[0]
	rowBytes int
	mapped   bool // data aliases the file's tensor data
}

// linear is one BitLinear: packed ternary rows, the scale γ and the SubLN gain.
type linear struct {
	w       tensor
	in, out int // true in-features; inPad = w.width
	scale   float32
	subln   []float32
	wf      []float32 // float weights (out × in), de-quantized; nil for ternary
}

type layer struct {
	norm1 []float32
	// attention
	wq, wk, wv, wo *linear
	// Mamba-2
	inProj, outProj *linear
	convWT          []float32 // d_conv × C_conv, tap-major
	convB           []float32
	dtBias, A, Dsk  []float32
	ssmNorm         []float32
	// FFN
	norm2      []float32
	w1, w3, w2 *linear
}

func (l *layer) isAttn() bool { return l.wq != nil }

// Load maps (or reads) a GGUF file written by edge.Export.
func Load(path string) (*Model, error) {
	f, err := gguf.MapFile(path)
	if err != nil {
		return nil, err
	}
	m, err := New(f)
	if err != nil {
		return nil, err
	}
	// The tokenizer's arrays (65k string headers for nano's) were rebuilt
	// into Tokenizer(); the file Load mapped keeps the rest of its metadata.
	// The heap they and the loading's scratch held goes back to the system
	// (a decoder's resident set is then its model and state).
	f.Delete(spec.TokenizerArrays...)
	debug.FreeOSMemory()
	return m, nil
}

// New builds a model from a parsed GGUF file, checking every
// hyper-parameter and tensor shape.
func New(f *gguf.File) (*Model, error) {
	arch, err := f.GetString("general.architecture")
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if arch != spec.Arch {
		return nil, fmt.Errorf("engine: general.architecture is %q; this engine runs %q files (written by harness export)", arch, spec.Arch)
	}
	m := &Model{File: f, threads: 1}
	var errs []error
	u := func(key string) int {
		v, err := f.GetUint32(spec.Arch + "." + key)
		if err != nil {
			errs = append(errs, err)
		}
		return int(v)
	}
	m.D, m.V, m.NLayers, m.Context = u("embedding_length"), u("vocab_size"), u("block_count"), u("context_length")
	m.actBits = u("quant.act_bits")
	ffn, err := f.GetBool(spec.Arch + ".ffn")
	if err != nil {
		errs = append(errs, err)
	}
	dff := u("feed_forward_length")
	if m.eps, err = f.GetFloat64(spec.Arch + ".norm_eps"); err != nil {
		errs = append(errs, err)
	}
	attnLayers, err := f.GetUint32s(spec.Arch + ".attention.layers")
	if err != nil {
		errs = append(errs, err)
	}
	subln, err := f.GetBool(spec.Arch + ".quant.subln")
	if err != nil {
		errs = append(errs, err)
	}
	wq, err := f.GetString(spec.Arch + ".quant.weights")
	if err != nil {
		errs = append(errs, err)
	}
	m.floatW = wq == "float"
	if len(errs) == 0 && wq != "ternary" && wq != "float" {
		return nil, fmt.Errorf("engine: quant.weights %q: this engine runs ternary or float weights", wq)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("engine: %w", errs[0])
	}
	for _, kv := range []struct {
		k string
		v int
	}{{"embedding_length", m.D}, {"vocab_size", m.V}, {"block_count", m.NLayers}, {"context_length", m.Context}} {
		if kv.v <= 0 || kv.v > 1<<24 {
			return nil, fmt.Errorf("engine: %s.%s = %d is out of range", spec.Arch, kv.k, kv.v)
		}
	}
	if m.floatW && m.actBits != 0 {
		return nil, fmt.Errorf("engine: float weights with quant.act_bits %d: float files run without activation quantization", m.actBits)
	}
	if m.actBits != 0 && (m.actBits < 2 || m.actBits > 8) {
		return nil, fmt.Errorf("engine: quant.act_bits %d: the int8 engine supports 0 or 2..8", m.actBits)
	}
	if !(m.eps > 0) || math.IsInf(m.eps, 0) {
		return nil, fmt.Errorf("engine: norm_eps %v must be a positive number", m.eps)
	}
	isAttn := make([]bool, m.NLayers)
	for _, i := range attnLayers {
		if int(i) >= m.NLayers {
			return nil, fmt.Errorf("engine: attention layer %d is outside the %d blocks", i, m.NLayers)
		}
		isAttn[i] = true
	}
	if slices.Contains(isAttn, true) {
		m.nh, m.nkv, m.hd = u("attention.head_count"), u("attention.head_count_kv"), u("attention.key_length")
		theta, err := f.GetFloat64(spec.Arch + ".rope.theta")
		if err == nil && len(errs) > 0 {
			err = errs[0]
		}
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		if m.nh <= 0 || m.nkv <= 0 || m.nh%m.nkv != 0 || m.hd <= 0 || m.hd%2 != 0 || m.nh*m.hd != m.D || !(theta > 0) {
			return nil, fmt.Errorf("engine: attention heads %d / kv heads %d / head size %d / rope theta %v do not fit d_model %d", m.nh, m.nkv, m.hd, theta, m.D)
		}
		m.rope(theta)
	}
	if slices.Contains(isAttn, false) {
		m.dconv, m.dIn, m.state = u("ssm.conv_kernel"), u("ssm.inner_size"), u("ssm.state_size")
		m.heads, m.groups, m.headDim, m.chunk = u("ssm.time_step_rank"), u("ssm.group_count"), u("ssm.head_dim"), u("ssm.chunk_size")
		if len(errs) > 0 {
			return nil, fmt.Errorf("engine: %w", errs[0])
		}
		if m.dconv <= 0 || m.dconv > 8 || m.dIn <= 0 || m.state <= 0 || m.heads <= 0 || m.groups <= 0 || m.headDim <= 0 || m.chunk <= 0 ||
			m.heads*m.headDim != m.dIn || m.heads%m.groups != 0 {
			return nil, fmt.Errorf("engine: SSM sizes (d_conv %d, d_inner %d, state %d, heads %d, groups %d, head_dim %d) are inconsistent",
				m.dconv, m.dIn, m.state, m.heads, m.groups, m.headDim)
		}
		m.cConv = m.dIn + 2*m.groups*m.state
		m.dProj = m.dIn + m.cConv + m.heads
	}
	// Tensors.
	if m.embed, err = m.tensor2("token_embd.weight", m.D, m.V, gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0, gguf.Q3_K); err != nil {
		return nil, err
	}
	if err := checkBlockScales(m.embed); err != nil {
		return nil, err
	}
	if m.normF, err = m.vector("output_norm.weight", m.D); err != nil {
		return nil, err
	}
	m.layers = make([]layer, m.NLayers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		if l.norm1, err = m.vector(p+"attn_norm.weight", m.D); err != nil {
			return nil, err
		}
		lin := func(name string, out, in int) (*linear, error) { return m.linear(p+name, out, in, subln) }
		if isAttn[i] {
			qd, kd := m.nh*m.hd, m.nkv*m.hd
			if l.wq, err = lin("attn_q", qd, m.D); err == nil {
				if l.wk, err = lin("attn_k", kd, m.D); err == nil {
					if l.wv, err = lin("attn_v", kd, m.D); err == nil {
						l.wo, err = lin("attn_output", m.D, qd)
					}
				}
			}
		} else {
			err = m.loadMamba(l, p, lin)
		}
		if err != nil {
			return nil, err
		}
		if ffn {
			if dff <= 0 {
				return nil, fmt.Errorf("engine: feed_forward_length %d must be positive with ffn on", dff)
			}
			if l.norm2, err = m.vector(p+"ffn_norm.weight", m.D); err == nil {
				if l.w1, err = lin("ffn_gate", dff, m.D); err == nil {
					if l.w3, err = lin("ffn_up", dff, m.D); err == nil {
						l.w2, err = lin("ffn_down", m.D, dff)
					}
				}
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if _, err := f.GetString("tokenizer.ggml.model"); err == nil {
		if m.tok, err = spec.TokenizerFromGGUF(f); err != nil {
			return nil, err
		}
		if m.tok.VocabSize() > m.V {
			return nil, fmt.Errorf("engine: the tokenizer has %d tokens, more than the vocabulary %d", m.tok.VocabSize(), m.V)
		}
	}
	m.packWeights()
	m.ws = m.newWork()
	return m, nil
}

// packWeights copies what a token reads of the model, other than the
// embedding, into one buffer (dot.LargeBytes: huge pages on linux, so the
// stream through it costs few TLB misses) in the order a token reads it,
// each piece at a 64-byte boundary: per layer its norm, then each
// projection's SubLN gain and packed ternary rows, and a Mamba layer's conv
// taps, biases, A, D and gated norm where its step reads them; the final
// norm last. One ascending stream, which the hardware prefetchers follow
// from piece to piece, instead of small vectors scattered over the heap,
// each a cold miss at every token. The mapped file's pages are let go as
// each tensor is copied.
func (m *Model) packWeights() {
	var vecs []*[]float32
	var lins []*linear // packed rows after vecs[at[i]-1]
	var at []int
	lin := func(x *linear) {
		if x == nil {
			return
		}
		if x.subln != nil {
			vecs = append(vecs, &x.subln)
		}
		if x.wf == nil {
			lins, at = append(lins, x), append(at, len(vecs))
		}
	}
	for i := range m.layers {
		l := &m.layers[i]
		vecs = append(vecs, &l.norm1)
		if l.isAttn() {
			lin(l.wq)
			lin(l.wk)
			lin(l.wv)
			lin(l.wo)
		} else {
			lin(l.inProj)
			vecs = append(vecs, &l.convWT, &l.convB, &l.dtBias, &l.A, &l.Dsk, &l.ssmNorm)
			lin(l.outProj)
		}
		if l.w1 != nil {
			vecs = append(vecs, &l.norm2)
			lin(l.w1)
			lin(l.w3)
			lin(l.w2)
		}
	}
	vecs = append(vecs, &m.normF)
	up := func(n int) int { return (n + 63) &^ 63 }
	n := 0
	for _, v := range vecs {
		n += up(4 * len(*v))
	}
	for _, x := range lins {
		n += up(len(x.w.data))
	}
	buf := dot.LargeBytes(m, n)
	next := 0
	for i, v := range vecs {
		for ; next < len(lins) && at[next] == i; next++ {
			buf = packRows(m, lins[next], buf)
		}
		if k := len(*v); k > 0 {
			dst := unsafe.Slice((*float32)(unsafe.Pointer(&buf[0])), k)
			copy(dst, *v)
			*v = dst[:k:k]
			buf = buf[up(4*k):]
		}
	}
	for ; next < len(lins); next++ {
		buf = packRows(m, lins[next], buf)
	}
}

// packRows moves x's packed rows to the front of buf and returns the rest.
func packRows(m *Model, x *linear, buf []byte) []byte {
	k := len(x.w.data)
	copy(buf[:k], x.w.data)
	if x.w.mapped {
		m.File.Evict(x.w.data)
	}
	x.w.data, x.w.mapped = buf[:k:k], false
	return buf[(k+63)&^63:]
}

func (m *Model) loadMamba(l *layer, p string, lin func(string, int, int) (*linear, error)) error {
	var err error
	if l.inProj, err = lin("ssm_in", m.dProj, m.D); err != nil {
		return err
	}
	if l.outProj, err = lin("ssm_out", m.D, m.dIn); err != nil {
		return err
	}
	cw, err := m.tensor2(p+"ssm_conv1d.weight", m.dconv, m.cConv, gguf.F32)
	if err != nil {
		return err
	}
	w := f32s(cw.data)
	l.convWT = make([]float32, m.dconv*m.cConv)
	for c := 0; c < m.cConv; c++ {
		for k := 0; k < m.dconv; k++ {
			l.convWT[k*m.cConv+c] = w[c*m.dconv+k]
		}
	}
	if l.convB, err = m.vector(p+"ssm_conv1d.bias", m.cConv); err != nil {
		return err
	}
	if l.dtBias, err = m.vector(p+"ssm_dt.bias", m.heads); err != nil {
		return err
	}
	if l.A, err = m.vector(p+"ssm_a", m.heads); err != nil {
		return err
	}
	if l.Dsk, err = m.vector(p+"ssm_d", m.heads); err != nil {
		return err
	}
	l.ssmNorm, err = m.vector(p+"ssm_norm.weight", m.dIn)
	return err
}

// rope sets up the RoPE table as models computes it: cos and sin of
// p·θ^(−2i/hd). Its rows are filled as decoding reaches them (fillRope), so
// a short sequence touches few of a long context's pages.
func (m *Model) rope(theta float64) {
	half := m.hd / 2
	m.ropeCos = make([]float32, m.Context*half)
	m.ropeSin = make([]float32, m.Context*half)
	m.ropeFreq = make([]float64, half)
	for i := range m.ropeFreq {
		m.ropeFreq[i] = kernels.Pow(theta, -float64(2*i)/float64(m.hd))
	}
}

// fillRope fills the table's rows up to position pos (64 rows at a time).
func (m *Model) fillRope(pos int) {
	half := len(m.ropeFreq)
	end := min(m.Context, (pos/64+1)*64)
	for p := m.ropeRows; p < end; p++ {
		for i, freq := range m.ropeFreq {
			ang := float64(float64(p) * freq)
			m.ropeCos[p*half+i] = float32(kernels.Cos(ang))
			m.ropeSin[p*half+i] = float32(kernels.Sin(ang))
		}
	}
	m.ropeRows = max(m.ropeRows, end)
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// vector reads a 1-D F32 tensor of n values.
func (m *Model) vector(name string, n int) ([]float32, error) {
	t := m.File.Tensor(name)
	if t == nil {
		return nil, fmt.Errorf("engine: tensor %s is missing", name)
	}
	if t.Type != gguf.F32 || len(t.Dims) != 1 || t.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("engine: tensor %s is %s %v, want F32 [%d]", name, t.Type, t.Dims, n)
	}
	v := f32s(t.Data)
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("engine: tensor %s value %d is %v", name, i, x)
		}
	}
	return v, nil
}

// tensor2 finds a 2-D tensor of ne = [width, rows] of one of the types.
func (m *Model) tensor2(name string, width, rows int, types ...gguf.Type) (tensor, error) {
	t := m.File.Tensor(name)
	if t == nil {
		return tensor{}, fmt.Errorf("engine: tensor %s is missing", name)
	}
	if !slices.Contains(types, t.Type) {
		return tensor{}, fmt.Errorf("engine: tensor %s has type %s, want one of %v", name, t.Type, types)
	}
	if len(t.Dims) != 2 || t.Dims[0] != uint64(width) || t.Dims[1] != uint64(rows) {
		return tensor{}, fmt.Errorf("engine: tensor %s has dims %v, want [%d %d]", name, t.Dims, width, rows)
	}
	rb, err := gguf.RowBytes(t.Type, width)
	if err != nil {
		return tensor{}, fmt.Errorf("engine: tensor %s: %w", name, err)
	}
	return tensor{typ: t.Type, data: t.Data, rows: rows, width: width, rowBytes: rb, mapped: true}, nil
}

// linear loads a BitLinear: X.weight (ternary, rows padded to 256), X.scale
// and X.sub_norm.weight.
func (m *Model) linear(name string, out, in int, subln bool) (*linear, error) {
	if m.floatW {
		return m.floatLinear(name, out, in, subln)
	}
	pad := (in + gguf.QK_K - 1) / gguf.QK_K * gguf.QK_K
	w, err := m.tensor2(name+".weight", pad, out, gguf.TQ2_0, gguf.TQ1_0)
	if err != nil {
		return nil, err
	}
	// Every block scale must be 1 (or 0 for an all-zero block): the
	// per-tensor scale is X.scale. TQ2_0 code 3 is not a ternary value.
	bs := w.typ.TypeSize()
	for b := 0; b+bs <= len(w.data); b += bs {
		blk := w.data[b : b+bs]
		d := binary.LittleEndian.Uint16(blk[bs-2:])
		if d != 0x3c00 && d != 0 {
			return nil, fmt.Errorf("engine: %s.weight block %d has scale %v; files from harness export have block scales 1 (or 0) and the tensor scale in %s.scale",
				name, b/bs, gguf.FP16ToFP32(d), name)
		}
		if w.typ == gguf.TQ2_0 {
			for _, c := range blk[:64] {
				if c&0x03 == 3 || c&0x0c == 0x0c || c&0x30 == 0x30 || c&0xc0 == 0xc0 {
					return nil, fmt.Errorf("engine: %s.weight block %d holds code 3, which is not ternary", name, b/bs)
				}
			}
		}
	}
	sc, err := m.vector(name+".scale", 1)
	if err != nil {
		return nil, err
	}
	l := &linear{w: w, in: in, out: out, scale: sc[0]}
	if zeroBlocks(w) {
		l.w = normalizeZeroBlocks(w)
	}
	if subln {
		if l.subln, err = m.vector(name+".sub_norm.weight", in); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// floatLinear loads a float projection: X.weight (F32, F16 or Q8_0, rows
// padded with zeros to the block size), de-quantized once to float32 (exact:
// an fp16 value, or an int8 times an fp16 scale, is a float32), with
// X.scale = 1 and X.sub_norm.weight.
func (m *Model) floatLinear(name string, out, in int, subln bool) (*linear, error) {
	t := m.File.Tensor(name + ".weight")
	if t == nil {
		return nil, fmt.Errorf("engine: tensor %s.weight is missing", name)
	}
	pad := gguf.PaddedWidth(t.Type, in)
	w, err := m.tensor2(name+".weight", pad, out, gguf.F32, gguf.F16, gguf.Q8_0)
	if err != nil {
		return nil, err
	}
	if err := checkBlockScales(w); err != nil {
		return nil, fmt.Errorf("%w (in %s.weight)", err, name)
	}
	v, err := gguf.Dequantize(w.typ, w.data, pad*out)
	if err != nil {
		return nil, fmt.Errorf("engine: %s.weight: %w", name, err)
	}
	l := &linear{w: w, in: in, out: out, scale: 1, wf: make([]float32, out*in)}
	for o := 0; o < out; o++ {
		row := v[o*pad : o*pad+in]
		for k, x := range row {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("engine: %s.weight row %d value %d is %v", name, o, k, x)
			}
		}
		copy(l.wf[o*in:], row)
	}
	sc, err := m.vector(name+".scale", 1)
	if err != nil {
		return nil, err
	}
	if sc[0] != 1 {
		return nil, fmt.Errorf("engine: %s.scale is %v; float weights have scale 1", name, sc[0])
	}
	if subln {
		if l.subln, err = m.vector(name+".sub_norm.weight", in); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// zeroBlocks reports whether some block has d = 0 but non-zero codes.
func zeroBlocks(w tensor) bool {
	var codes [gguf.QK_K]uint8
	bs := w.typ.TypeSize()
	for b := 0; b+bs <= len(w.data); b += bs {
		if binary.LittleEndian.Uint16(w.data[b+bs-2:]) == 0 {
			gguf.TernaryCodes(w.typ, w.data[b:b+bs], codes[:])
			for _, c := range codes {
				if c != 1 {
					return true
				}
			}
		}
	}
	return false
}

// normalizeZeroBlocks rewrites blocks with d = 0 to zero codes (t = 0), which
// is what they dequantize to, so the kernels need not look at d.
func normalizeZeroBlocks(w tensor) tensor {
	data := append([]byte(nil), w.data...)
	zero, _ := gguf.Quantize(w.typ, make([]float32, gguf.QK_K))
	bs := w.typ.TypeSize()
	for b := 0; b+bs <= len(data); b += bs {
		if binary.LittleEndian.Uint16(data[b+bs-2:]) == 0 {
			copy(data[b:b+bs], zero)
		}
	}
	w.data, w.mapped = data, false
	return w
}

// Head selects how the tied output head is computed (see Model.logits).
type Head int

const (
	// HeadFloat is the exact head: float64 sums of the de-quantized
	// embedding times the float32 hidden state (the default).
	HeadFloat Head = iota
	// HeadInt8 quantizes the hidden state to int8 per token and multiplies
	// it with the Q8_0 / Q4_0 / Q3_K embedding blocks in integers
	// (llama.cpp's q8_0 head, with a per-token activation scale).
	HeadInt8
)

func (h Head) String() string {
	if h == HeadInt8 {
		return "int8"
	}
	return "float"
}

// ParseHead reads "float" or "int8".
func ParseHead(s string) (Head, error) {
	switch s {
	case "float", "":
		return HeadFloat, nil
	case "int8":
		return HeadInt8, nil
	}
	return 0, fmt.Errorf("engine: head %q: use float or int8", s)
}

// SetHead selects the output head; HeadInt8 needs a Q8_0, Q4_0 or Q3_K
// embedding.
func (m *Model) SetHead(h Head) error {
	switch h {
	case HeadFloat:
	case HeadInt8:
		if m.embed.typ != gguf.Q8_0 && m.embed.typ != gguf.Q4_0 && m.embed.typ != gguf.Q3_K {
			return fmt.Errorf("engine: the int8 head needs a Q8_0, Q4_0 or Q3_K embedding; this file's is %s", m.embed.typ)
		}
		// dot.QHead holds the embedding in the head's layout (sixteen rows
		// interleaved block by block, one sequential stream, the same 34
		// or 18 bytes per block as the file; Q3_K 110 bytes per 256
		// weights, as the file): built a chunk at a time,
		// each chunk of the mapped file leaving the resident set once
		// copied; embedRow then reads the copy.
		if m.headQ == nil {
			if err := m.buildHeadQ(); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("engine: unknown head %d", h)
	}
	m.head = h
	return nil
}

// buildHeadQ copies the Q8_0 / Q4_0 / Q3_K embedding into a dot.QHead.
func (m *Model) buildHeadQ() error {
	e := m.embed
	h, err := dot.NewQHeadEmpty(m.embed.typ, m.V, m.D/gguf.QK8_0)
	if err != nil {
		return fmt.Errorf("engine: int8 head: %w", err)
	}
	const chunk = 1024
	for v := 0; v < m.V; v += chunk {
		n := min(chunk, m.V-v)
		h.CopyRows(e.data[v*e.rowBytes:(v+n)*e.rowBytes], v, v+n)
		m.File.Evict(e.data[v*e.rowBytes : (v+n)*e.rowBytes])
	}
	m.headQ = h
	return nil
}

// HeadMode is the output head in use.
func (m *Model) HeadMode() Head { return m.head }

// checkBlockScales refuses Q8_0 / Q4_0 / Q3_K blocks whose fp16 scale d
// is not finite (the vector and Go kernels agree bit for bit on finite
// scales; Q3_K's d is the block's last two bytes).
func checkBlockScales(t tensor) error {
	bs, at := 0, 0
	switch t.typ {
	case gguf.Q8_0:
		bs = 34
	case gguf.Q4_0:
		bs = 18
	case gguf.Q3_K:
		bs, at = 110, 108
	default:
		return nil
	}
	for b := 0; b+bs <= len(t.data); b += bs {
		if binary.LittleEndian.Uint16(t.data[b+at:])&0x7c00 == 0x7c00 {
			return fmt.Errorf("engine: token_embd.weight (%s) block %d has a scale that is not finite", t.typ, b/bs)
		}
	}
	return nil
}

// SetThreads sets the worker goroutines of the projections (results do not
// depend on it).
func (m *Model) SetThreads(n int) { m.threads = max(n, 1) }

// Tokenizer is the tokenizer of the file, or nil when it has none.
func (m *Model) Tokenizer() *bpe.Tokenizer { return m.tok }

// WeightBytes is the number of bytes read per decoded token from the
// weights: every packed BitLinear, the embedding row and the tied output
// head (the whole embedding), and the small float tensors.
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, t := range m.File.Tensors {
		n += int64(len(t.Data))
	}
	return n + int64(m.embed.rowBytes)
}
