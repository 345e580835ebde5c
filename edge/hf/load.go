package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/models"
)

// Load reads a folder written by Write back into a model (quant state
// ternary, every BitLinear's effective weight exactly γ·t as stored) and
// its tokenizer.
func Load(dir string) (*models.Model, *data.Tokenizer, error) {
	cb, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, nil, fmt.Errorf("hf: %w", err)
	}
	var cfg struct {
		ModelType string            `json:"model_type"`
		NanoMamba *nanomambaSection `json:"nanomamba"`
	}
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return nil, nil, fmt.Errorf("hf: %s: %w", ConfigFile, err)
	}
	if cfg.ModelType != ModelType || cfg.NanoMamba == nil {
		return nil, nil, fmt.Errorf("hf: %s has model_type %q and no nanomamba section: not a folder written by this package", ConfigFile, cfg.ModelType)
	}
	m, err := models.New(cfg.NanoMamba.Model, cfg.NanoMamba.Quant, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("hf: %s: %w", ConfigFile, err)
	}
	m.SetQuant(models.QuantState{From: models.Ternary, To: models.Ternary, Lambda: 1})
	raw, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, nil, fmt.Errorf("hf: %w", err)
	}
	ts, _, err := decodeSafetensors(raw)
	if err != nil {
		return nil, nil, err
	}
	used := 0
	for _, p := range m.Params() {
		t, ok := ts[p.Name]
		if !ok {
			return nil, nil, fmt.Errorf("hf: %s has no tensor %s", WeightsFile, p.Name)
		}
		used++
		if m.EffectiveWeight(p.Name) == nil {
			if t.dtype != "F32" || len(t.f) != len(p.Data) {
				return nil, nil, fmt.Errorf("hf: tensor %s is %s %v, want F32 %v", p.Name, t.dtype, t.shape, p.Shape)
			}
			copy(p.Data, t.f)
			continue
		}
		out, in := p.Shape[0], p.Shape[1]
		if t.dtype != "U8" {
			return nil, nil, fmt.Errorf("hf: BitLinear %s is %s, want packed U8", p.Name, t.dtype)
		}
		codes, err := unpackTernary(t.u, out, in)
		if err != nil {
			return nil, nil, fmt.Errorf("hf: %s: %w", p.Name, err)
		}
		s, ok := ts[p.Name+".scale"]
		if !ok || s.dtype != "F32" || len(s.f) != 1 || !(s.f[0] >= 0) || math.IsInf(float64(s.f[0]), 0) {
			return nil, nil, fmt.Errorf("hf: BitLinear %s needs a finite non-negative F32 scale %s.scale of one value", p.Name, p.Name)
		}
		used++
		if err := setLatent(m, p, codes, s.f[0], cfg.NanoMamba.Quant.Scale); err != nil {
			return nil, nil, err
		}
	}
	if used != len(ts) {
		return nil, nil, fmt.Errorf("hf: %s holds %d tensors, the model uses %d", WeightsFile, len(ts), used)
	}
	tok, err := data.LoadTokenizer(filepath.Join(dir, TokenizerFile))
	if err != nil {
		return nil, nil, fmt.Errorf("hf: %w", err)
	}
	return m, tok, nil
}

// setLatent writes a latent weight W whose quantization under the model's
// statistic gives back exactly γ·t, and checks that it does. The harness
// quantizes W_eff = RoundClip(W/m, −1, 1)·m with m = mean|W| (absmean) or
// the lower median of |W| (absmedian), each clamped to ≥ 1e-5, so W must
// have m = γ bit for bit and round to the codes:
//
//   - absmean: zero codes stay 0 and nonzero codes get magnitude
//     A = γ·n/nnz (≥ γ, so they clip to ±1), the last one adjusted so that
//     the float64 mean rounds to γ in float32;
//   - absmedian: zero codes stay 0 and nonzero codes get magnitude γ; the
//     lower median is γ because a median-scaled model has fewer zero codes
//     than half its weights.
func setLatent(m *models.Model, p *models.Param, t []float32, g float32, scale string) error {
	w := p.Data
	n := len(w)
	last, nnz := -1, 0
	for i, v := range t {
		w[i] = 0
		if v != 0 {
			nnz++
			last = i
		}
	}
	switch {
	case nnz == 0 || g == 0:
		// All zero: W = 0 quantizes to 0 whatever the statistic.
		if g != 0 && nnz != 0 {
			return fmt.Errorf("hf: %s has nonzero codes and scale 0", p.Name)
		}
	case scale == "absmedian":
		for i, v := range t {
			w[i] = v * g
		}
	default:
		a := float32(float64(g) * float64(n) / float64(nnz))
		for i, v := range t {
			w[i] = v * a
		}
		// The sum of |W| before the last nonzero is (nnz−1)·A exactly;
		// choose the last magnitude so that the mean rounds to γ.
		rest := float64(nnz-1) * float64(a)
		lv := float32(float64(g)*float64(n) - rest)
		for k := 0; k < 64 && models.AbsMean(w) != g; k++ {
			w[last] = t[last] * lv
			mean := models.AbsMean(w)
			switch {
			case mean < g:
				lv = math.Nextafter32(lv, float32(math.Inf(1)))
			case mean > g:
				lv = math.Nextafter32(lv, 0)
			}
		}
	}
	eff := m.EffectiveWeight(p.Name)
	for i, v := range t {
		if eff[i] != v*g {
			return fmt.Errorf("hf: %s: cannot rebuild a latent weight whose %s quantization gives the stored γ·t (element %d is %v, want %v)",
				p.Name, scale, i, eff[i], v*g)
		}
	}
	return nil
}
