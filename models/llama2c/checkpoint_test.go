package llama2c

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCheckpointStories260K(t *testing.T) {
	ck, _ := stories260K(t)
	want := Header{Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, Vocab: 512, SeqLen: 512, SharedClassifier: true}
	if ck.Header != want {
		t.Fatalf("header = %+v, want %+v", ck.Header, want)
	}
	if ck.HeadSize() != 8 || ck.KVDim() != 32 {
		t.Errorf("head size %d kv dim %d, want 8 and 32", ck.HeadSize(), ck.KVDim())
	}
	if len(ck.Layers) != 5 {
		t.Fatalf("%d layers, want 5", len(ck.Layers))
	}
	sizes := []struct {
		name string
		got  int
		want int
	}{
		{"token embedding", len(ck.TokenEmbedding), 512 * 64},
		{"final norm", len(ck.FinalNorm), 64},
		{"classifier", len(ck.Classifier), 512 * 64},
	}
	for _, ly := range ck.Layers {
		sizes = append(sizes, []struct {
			name string
			got  int
			want int
		}{
			{"attn norm", len(ly.AttnNorm), 64}, {"wq", len(ly.WQ), 64 * 64}, {"wk", len(ly.WK), 32 * 64},
			{"wv", len(ly.WV), 32 * 64}, {"wo", len(ly.WO), 64 * 64}, {"ffn norm", len(ly.FFNNorm), 64},
			{"w1", len(ly.W1), 172 * 64}, {"w2", len(ly.W2), 64 * 172}, {"w3", len(ly.W3), 172 * 64},
		}...)
	}
	for _, s := range sizes {
		if s.got != s.want {
			t.Errorf("%s has %d values, want %d", s.name, s.got, s.want)
		}
	}
	// 264,128 stored floats minus the two 512×4 RoPE tables.
	if n := ck.NumParams(); n != 264128-2*512*4 {
		t.Errorf("NumParams = %d, want %d", n, 264128-2*512*4)
	}
	if &ck.Classifier[0] != &ck.TokenEmbedding[0] {
		t.Error("shared classifier does not alias the token embedding")
	}
	// RMSNorm gains of a trained model are positive-ish and finite; the
	// weights must all be finite.
	for _, v := range ck.TokenEmbedding {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite embedding value")
		}
	}
}

// writeFile writes header ints followed by floats 0, 1, 2, ... n-1.
func writeFile(t *testing.T, hdr []int32, n int) string {
	t.Helper()
	b := make([]byte, 0, 4*len(hdr)+4*n)
	for _, v := range hdr {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	for i := range n {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)))
	}
	p := filepath.Join(t.TempDir(), "ck.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCheckpointLayout(t *testing.T) {
	// dim 4, hidden 6, 2 layers, 2 heads, 1 kv head (kv_dim 2), vocab 8
	// unshared, seq 3 (head size 2: RoPE tables 3×1 each).
	dim, hid, L, kv, V, seq := 4, 6, 2, 2, 8, 3
	n := V*dim + L*(dim+dim*dim+2*kv*dim+dim*dim) + L*(dim+3*hid*dim) + dim + 2*seq + V*dim
	p := writeFile(t, []int32{4, 6, 2, 2, 1, -8, 3}, n)
	ck, err := ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if ck.SharedClassifier || ck.Vocab != 8 {
		t.Fatalf("vocab %d shared %v, want 8 unshared", ck.Vocab, ck.SharedClassifier)
	}
	off := func(s []float32) int { return int(s[0]) } // value i sits at float index i
	cases := []struct {
		name string
		got  []float32
		at   int
		size int
	}{
		{"embedding", ck.TokenEmbedding, 0, V * dim},
		{"rms_att[1]", ck.Layers[1].AttnNorm, V*dim + dim, dim},
		{"wq[0]", ck.Layers[0].WQ, V*dim + L*dim, dim * dim},
		{"wk[1]", ck.Layers[1].WK, V*dim + L*dim + L*dim*dim + kv*dim, kv * dim},
		{"wv[0]", ck.Layers[0].WV, V*dim + L*dim + L*dim*dim + L*kv*dim, kv * dim},
		{"wo[1]", ck.Layers[1].WO, V*dim + L*dim + L*dim*dim + 2*L*kv*dim + dim*dim, dim * dim},
		{"rms_ffn[0]", ck.Layers[0].FFNNorm, V*dim + L*(2*dim*dim+2*kv*dim+dim), dim},
		{"w1[0]", ck.Layers[0].W1, V*dim + L*(2*dim*dim+2*kv*dim+2*dim), hid * dim},
		{"w2[1]", ck.Layers[1].W2, V*dim + L*(2*dim*dim+2*kv*dim+2*dim) + L*hid*dim + hid*dim, hid * dim},
		{"w3[1]", ck.Layers[1].W3, V*dim + L*(2*dim*dim+2*kv*dim+2*dim) + 2*L*hid*dim + hid*dim, hid * dim},
		{"rms_final", ck.FinalNorm, n - V*dim - 2*seq - dim, dim},
		{"wcls", ck.Classifier, n - V*dim, V * dim},
	}
	for _, c := range cases {
		if off(c.got) != c.at || len(c.got) != c.size || int(c.got[len(c.got)-1]) != c.at+c.size-1 {
			t.Errorf("%s starts at float %d with %d values, want %d with %d", c.name, off(c.got), len(c.got), c.at, c.size)
		}
	}
}

func TestReadCheckpointRejectsBadFiles(t *testing.T) {
	good, err := os.ReadFile(checkpointPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	header := func(v ...int32) []byte {
		b := []byte{}
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, uint32(x))
		}
		return append(b, make([]byte, 64)...)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 28-byte header"},
		{"short header", good[:10], "shorter than the 28-byte header"},
		{"header only", good[:28], "needs exactly 1056540"},
		{"truncated", good[:len(good)-1], "is 1056539 bytes"},
		{"trailing byte", append(append([]byte{}, good...), 0), "is 1056541 bytes"},
		{"zero dim", header(0, 172, 5, 8, 4, 512, 512), "dim = 0"},
		{"negative layers", header(64, 172, -5, 8, 4, 512, 512), "n_layers = -5"},
		{"huge seq", header(64, 172, 5, 8, 4, 512, 1<<30), "seq_len = 1073741824"},
		{"heads do not divide dim", header(64, 172, 5, 7, 7, 512, 512), "not a multiple of n_heads"},
		{"kv heads do not divide", header(64, 172, 5, 8, 3, 512, 512), "not a multiple of n_kv_heads"},
		{"odd head size", header(63, 172, 5, 7, 7, 512, 512), "is odd"},
		{"v1 magic", header(0x616b3432, 1, 64, 172, 5, 8, 4), "export.py v1/v2"},
		{"text file", []byte("this is not a checkpoint, it is a plain text file of some length"), "header field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadCheckpoint(write(strings.ReplaceAll(c.name, " ", "_"), c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := ReadCheckpoint(filepath.Join(dir, "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: error %v, want one naming the file", err)
	}
}
