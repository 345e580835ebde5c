package hf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/edge"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/repro"
)

// The files of a folder, in the order they are written.
const (
	WeightsFile    = "model.safetensors"
	ConfigFile     = "config.json"
	TokenizerFile  = "tokenizer.json"
	GenerationFile = "generation_config.json"
	CardFile       = "README.md"
)

// Architecture is config.json's architectures[0]; ModelType its model_type.
const (
	Architecture = "NanoMambaEdgeForCausalLM"
	ModelType    = "nanomamba"
)

// PackingScheme documents how BitLinear weights are stored in
// model.safetensors (also written into config.json and the card).
const PackingScheme = "Each BitLinear weight W [out, in] is stored as its ternary codes t ∈ {−1, 0, 1} packed as t+1 in two bits, " +
	"four per byte, the first of each four in the lowest bits, every row starting on a new byte (U8 tensor <name> of shape [out, ⌈in/4⌉], " +
	"padding bits zero), plus its scale γ (F32 tensor <name>.scale of shape [1]); the effective weight the model computes with is exactly γ·t. " +
	"Every other tensor is F32 under the harness's parameter name."

// File is one written file.
type File struct {
	Name   string // base name inside the folder
	Path   string
	SHA256 string
	Bytes  int64
}

// Result lists the written files.
type Result struct {
	Dir   string
	Files []File
}

// Export writes the Hugging Face-style folder of the done training run
// hash to dir: the model from env.LoadTrained (verified checkpoint, final
// quant state), which must be ternary, and the card from the registry.
// Existing files are kept unless they already hold the same bytes or force
// is set; the registry is never written to.
func Export(env *experiment.Env, hash, dir string, force bool) (*Result, error) {
	tr, err := env.LoadTrained(hash)
	if err != nil {
		return nil, err
	}
	card, err := CardFromRegistry(env, tr)
	if err != nil {
		return nil, err
	}
	return Write(dir, tr.Model, tr.Config, tr.Tokenizer, card, env.DB.Path(), force)
}

// Write writes the folder of a ternary model with its config, tokenizer
// and card (card may be nil: a card without registry sections).
// registryPath names the registry the files must never replace ("" for
// none).
func Write(dir string, m *models.Model, c *configs.Config, tok *data.Tokenizer, card *Card, registryPath string, force bool) (*Result, error) {
	if m == nil || c == nil || tok == nil {
		return nil, fmt.Errorf("hf: Write needs a model, its config and its tokenizer")
	}
	if tok.VocabSize() > c.Model.Vocab {
		return nil, fmt.Errorf("hf: the tokenizer has %d tokens, more than model.vocab %d", tok.VocabSize(), c.Model.Vocab)
	}
	weights, packed, err := encodeWeights(m, c.Quant)
	if err != nil {
		return nil, err
	}
	cfg, err := configJSON(c, tok, card)
	if err != nil {
		return nil, err
	}
	gen, _ := json.MarshalIndent(map[string]any{
		"bos_token_id": tok.BOS(), "eos_token_id": tok.EOS(), "pad_token_id": tok.EOS(),
		"do_sample": false, "max_length": c.Model.Context,
	}, "", "  ")
	if card == nil {
		card = &Card{}
	}
	readme, err := card.render(c, len(weights), packed)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	res := &Result{Dir: dir}
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{WeightsFile, weights}, {ConfigFile, append(cfg, '\n')}, {TokenizerFile, tok.JSON()},
		{GenerationFile, append(gen, '\n')}, {CardFile, readme},
	} {
		p := filepath.Join(dir, f.name)
		if err := repro.WriteFile(registryPath, p, f.b, force); err != nil {
			return nil, fmt.Errorf("hf: %s: %w", f.name, err)
		}
		sum := sha256.Sum256(f.b)
		res.Files = append(res.Files, File{Name: f.name, Path: p, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(f.b))})
	}
	return res, nil
}

// encodeWeights writes every parameter: BitLinear weights packed (see
// PackingScheme), everything else F32. It returns the file and the number
// of packed ternary weights.
func encodeWeights(m *models.Model, qc configs.QuantConfig) ([]byte, int64, error) {
	var ts []tensor
	var packed int64
	for _, p := range m.Params() {
		if m.EffectiveWeight(p.Name) == nil {
			ts = append(ts, tensor{name: p.Name, dtype: "F32", shape: append([]int{}, p.Shape...), f: p.Data})
			continue
		}
		if len(p.Shape) != 2 {
			return nil, 0, fmt.Errorf("hf: BitLinear %s has shape %v", p.Name, p.Shape)
		}
		t, g, err := edge.TernaryWeight(m, p.Name)
		if err != nil {
			return nil, 0, err
		}
		out, in := p.Shape[0], p.Shape[1]
		b, err := packTernary(t, out, in)
		if err != nil {
			return nil, 0, fmt.Errorf("hf: %s: %w", p.Name, err)
		}
		packed += int64(len(t))
		ts = append(ts, tensor{name: p.Name, dtype: "U8", shape: []int{out, (in + 3) / 4}, u: b},
			tensor{name: p.Name + ".scale", dtype: "F32", shape: []int{1}, f: []float32{g}})
	}
	b, err := encodeSafetensors(ts, map[string]string{"format": "nanomamba-ternary-2bit", "act_bits": fmt.Sprint(qc.ActBits)})
	return b, packed, err
}

// nanomambaSection is config.json's "nanomamba" object: what Load needs to
// rebuild the model exactly.
type nanomambaSection struct {
	Model   configs.ModelConfig `json:"model"`
	Quant   configs.QuantConfig `json:"quant"`
	RunHash string              `json:"run_hash,omitempty"`
	Config  json.RawMessage     `json:"config,omitempty"` // the run's canonical resolved config
	Packing string              `json:"weight_packing"`
}

func configJSON(c *configs.Config, tok *data.Tokenizer, card *Card) ([]byte, error) {
	mc := c.Model
	hd := 0
	if mc.NHeads > 0 {
		hd = mc.DModel / mc.NHeads
	}
	dff := 0
	if mc.FFN {
		dff = mc.DFF
	}
	nm := nanomambaSection{Model: mc, Quant: c.Quant, Packing: PackingScheme}
	if card != nil {
		nm.RunHash = card.RunHash
	}
	if canon := c.Canonical(); json.Valid([]byte(canon)) {
		nm.Config = json.RawMessage(canon)
	}
	return json.MarshalIndent(map[string]any{
		"architectures":           []string{Architecture},
		"model_type":              ModelType,
		"vocab_size":              mc.Vocab,
		"hidden_size":             mc.DModel,
		"num_hidden_layers":       mc.NLayers,
		"attention_layers":        append([]int{}, mc.AttnLayers...),
		"num_attention_heads":     mc.NHeads,
		"num_key_value_heads":     mc.NKVHeads,
		"head_dim":                hd,
		"rope_theta":              mc.RopeTheta,
		"max_position_embeddings": mc.Context,
		"rms_norm_eps":            mc.NormEps,
		"intermediate_size":       dff,
		"hidden_act":              "silu",
		"ssm_cfg": map[string]any{"d_state": mc.DState, "expand": mc.Expand, "head_dim": mc.HeadDim,
			"n_groups": mc.NGroups, "d_conv": mc.DConv, "chunk_size": mc.Chunk},
		"tie_word_embeddings": true,
		"torch_dtype":         "float32",
		"bos_token_id":        tok.BOS(),
		"eos_token_id":        tok.EOS(),
		"quantization_config": map[string]any{
			"quant_method": "bitnet", "weights": "ternary", "weight_scale": c.Quant.Scale,
			"activation_bits": c.Quant.ActBits, "activation_quant": "per-token absmax, round half away from zero",
			"subln": c.Quant.SubLN, "weight_packing": PackingScheme,
		},
		"nanomamba": nm,
	}, "", "  ")
}
