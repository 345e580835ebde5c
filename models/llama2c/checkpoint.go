package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// headerBytes is the size of the legacy v0 header: seven int32 fields.
const headerBytes = 7 * 4

// Header is the legacy v0 checkpoint header.
type Header struct {
	Dim       int // model width
	HiddenDim int // FFN hidden width
	NLayers   int
	NHeads    int // query heads
	NKVHeads  int // key/value heads (grouped-query attention)
	Vocab     int // vocabulary size (the absolute value of the stored field)
	SeqLen    int // maximum sequence length
	// SharedClassifier is true when the stored vocab_size is positive: the
	// output classifier is the token embedding.
	SharedClassifier bool
}

// HeadSize returns dim / n_heads.
func (h Header) HeadSize() int { return h.Dim / h.NHeads }

// KVDim returns dim · n_kv_heads / n_heads, the width of a key or value row.
func (h Header) KVDim() int { return h.Dim * h.NKVHeads / h.NHeads }

// Layer holds one transformer block's tensors, row-major [out, in].
type Layer struct {
	AttnNorm []float32 // rms_att [dim]
	WQ       []float32 // [dim, dim]
	WK       []float32 // [kv_dim, dim]
	WV       []float32 // [kv_dim, dim]
	WO       []float32 // [dim, dim]
	FFNNorm  []float32 // rms_ffn [dim]
	W1       []float32 // [hidden, dim]
	W2       []float32 // [dim, hidden]
	W3       []float32 // [hidden, dim]
}

// Checkpoint is a parsed llama2.c checkpoint: the header and every tensor
// run.c uses (the stored RoPE tables are skipped).
type Checkpoint struct {
	Header
	TokenEmbedding []float32 // [vocab, dim]
	Layers         []Layer
	FinalNorm      []float32 // rms_final [dim]
	// Classifier is [vocab, dim]; it aliases TokenEmbedding when the
	// classifier is shared.
	Classifier []float32
}

// maxDim bounds every header field so that size arithmetic cannot overflow
// and a garbage header is rejected before any allocation.
const maxDim = 1 << 20

func (h Header) validate() error {
	fields := []struct {
		name string
		v    int
	}{
		{"dim", h.Dim}, {"hidden_dim", h.HiddenDim}, {"n_layers", h.NLayers},
		{"n_heads", h.NHeads}, {"n_kv_heads", h.NKVHeads}, {"vocab_size", h.Vocab}, {"seq_len", h.SeqLen},
	}
	for _, f := range fields {
		if f.v <= 0 || f.v > maxDim {
			return fmt.Errorf("header field %s = %d, want 1..%d", f.name, f.v, maxDim)
		}
	}
	switch {
	case h.Dim%h.NHeads != 0:
		return fmt.Errorf("header: dim %d is not a multiple of n_heads %d", h.Dim, h.NHeads)
	case h.NKVHeads > h.NHeads || h.NHeads%h.NKVHeads != 0:
		return fmt.Errorf("header: n_heads %d is not a multiple of n_kv_heads %d", h.NHeads, h.NKVHeads)
	case h.HeadSize()%2 != 0:
		return fmt.Errorf("header: head size %d (dim/n_heads) is odd, RoPE needs pairs", h.HeadSize())
	}
	return nil
}

// floats returns the number of float32 values the file must hold after the
// header, including the skipped RoPE tables.
func (h Header) floats() int64 {
	dim, hid, L := int64(h.Dim), int64(h.HiddenDim), int64(h.NLayers)
	kv, V := int64(h.KVDim()), int64(h.Vocab)
	n := V * dim                                  // token embedding
	n += L * (dim + dim*dim + 2*kv*dim + dim*dim) // rms_att, wq, wk, wv, wo
	n += L * (dim + 3*hid*dim)                    // rms_ffn, w1, w2, w3
	n += dim                                      // rms_final
	n += 2 * int64(h.SeqLen) * int64(h.HeadSize()) / 2
	if !h.SharedClassifier {
		n += V * dim
	}
	return n
}

// ReadCheckpoint parses a llama2.c legacy (version 0) checkpoint. The file
// length must match the header exactly.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: open checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama2c: stat checkpoint %s: %w", path, err)
	}
	var raw [7]int32
	if err := binary.Read(f, binary.LittleEndian, &raw); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("llama2c: checkpoint %s is %d bytes, shorter than the %d-byte header", path, st.Size(), headerBytes)
		}
		return nil, fmt.Errorf("llama2c: read checkpoint header %s: %w", path, err)
	}
	if uint32(raw[0]) == 0x616b3432 {
		return nil, fmt.Errorf("llama2c: checkpoint %s is an export.py v1/v2 file (magic \"ak42\"); only the legacy v0 format is supported", path)
	}
	h := Header{
		Dim: int(raw[0]), HiddenDim: int(raw[1]), NLayers: int(raw[2]), NHeads: int(raw[3]),
		NKVHeads: int(raw[4]), Vocab: int(raw[5]), SeqLen: int(raw[6]), SharedClassifier: raw[5] > 0,
	}
	if h.Vocab < 0 {
		h.Vocab = -h.Vocab
	}
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("llama2c: checkpoint %s: %w", path, err)
	}
	want := headerBytes + 4*h.floats()
	if st.Size() != want {
		return nil, fmt.Errorf("llama2c: checkpoint %s is %d bytes, but its header (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d, seq %d) needs exactly %d",
			path, st.Size(), h.Dim, h.HiddenDim, h.NLayers, h.NHeads, h.NKVHeads, h.Vocab, h.SeqLen, want)
	}
	buf := make([]byte, want-headerBytes)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("llama2c: read checkpoint tensors %s: %w", path, err)
	}
	all := make([]float32, len(buf)/4)
	for i := range all {
		all[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return split(h, all), nil
}

// split cuts the flat float32 payload into tensors in run.c order.
func split(h Header, all []float32) *Checkpoint {
	dim, hid, kv, L := h.Dim, h.HiddenDim, h.KVDim(), h.NLayers
	take := func(n int) []float32 {
		t := all[:n:n]
		all = all[n:]
		return t
	}
	ck := &Checkpoint{Header: h, Layers: make([]Layer, L)}
	ck.TokenEmbedding = take(h.Vocab * dim)
	// Stacked over layers: each tensor kind holds all layers in turn.
	for l := range L {
		ck.Layers[l].AttnNorm = take(dim)
	}
	for l := range L {
		ck.Layers[l].WQ = take(dim * dim)
	}
	for l := range L {
		ck.Layers[l].WK = take(kv * dim)
	}
	for l := range L {
		ck.Layers[l].WV = take(kv * dim)
	}
	for l := range L {
		ck.Layers[l].WO = take(dim * dim)
	}
	for l := range L {
		ck.Layers[l].FFNNorm = take(dim)
	}
	for l := range L {
		ck.Layers[l].W1 = take(hid * dim)
	}
	for l := range L {
		ck.Layers[l].W2 = take(dim * hid)
	}
	for l := range L {
		ck.Layers[l].W3 = take(hid * dim)
	}
	ck.FinalNorm = take(dim)
	take(h.SeqLen * h.HeadSize() / 2) // freq_cis_real
	take(h.SeqLen * h.HeadSize() / 2) // freq_cis_imag
	if h.SharedClassifier {
		ck.Classifier = ck.TokenEmbedding
	} else {
		ck.Classifier = take(h.Vocab * dim)
	}
	return ck
}

// NumParams returns the number of distinct weights run.c uses (the RoPE
// tables excluded, a shared classifier counted once).
func (ck *Checkpoint) NumParams() int {
	n := len(ck.TokenEmbedding) + len(ck.FinalNorm)
	for _, l := range ck.Layers {
		n += len(l.AttnNorm) + len(l.WQ) + len(l.WK) + len(l.WV) + len(l.WO) + len(l.FFNNorm) + len(l.W1) + len(l.W2) + len(l.W3)
	}
	if !ck.SharedClassifier {
		n += len(ck.Classifier)
	}
	return n
}
