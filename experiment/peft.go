package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/registry"
	"github.com/nanomamba-edge/harness/train"
)

// PEFT file names and artifact kinds of a fine-tune's adapters.
const (
	PEFTConfigFile  = "adapter_config.json"
	PEFTWeightsFile = "adapter_model.safetensors"
	ArtifactPEFTCfg = "lora-adapter-config"
	ArtifactPEFT    = "lora-adapter"
)

// ArtifactFile is a written file with its sha256 and size.
type ArtifactFile struct {
	Kind, Path, SHA256 string
	Bytes              int64
}

// peftKey is PEFT's tensor name of an adapter matrix ("A" or "B").
func peftKey(module, ab string) string {
	return "base_model.model." + module + ".lora_" + ab + ".weight"
}

// PEFTConfig is adapter_config.json (PEFT's LoraConfig fields).
func PEFTConfig(c *configs.Config) map[string]any {
	return map[string]any{
		"peft_type":               "LORA",
		"task_type":               "CAUSAL_LM",
		"r":                       c.LoRA.Rank,
		"lora_alpha":              c.LoRA.Alpha,
		"lora_dropout":            c.LoRA.Dropout,
		"target_modules":          c.LoRA.Targets,
		"bias":                    "none",
		"fan_in_fan_out":          false,
		"base_model_name_or_path": c.LoRA.Base,
		"inference_mode":          true,
		"modules_to_save":         nil,
	}
}

// SavePEFT writes the model's adapters in PEFT's layout into dir:
// adapter_config.json and adapter_model.safetensors with keys
// base_model.model.<module>.lora_A.weight ([r, in]) and
// ...lora_B.weight ([out, r]). Module paths are the harness's projection
// names (layers.<i>.mamba.in_proj, layers.<i>.attn.wq, layers.<i>.ffn.w1).
func SavePEFT(dir string, m *models.Model, c *configs.Config) ([]ArtifactFile, error) {
	mods := m.LoRA()
	if len(mods) == 0 {
		return nil, errors.New("peft: the model has no LoRA adapters")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("peft: %w", err)
	}
	js, err := json.MarshalIndent(PEFTConfig(c), "", "  ")
	if err != nil {
		return nil, err
	}
	js = append(js, '\n')
	cfgPath := filepath.Join(dir, PEFTConfigFile)
	if err := writeAtomic(cfgPath, js); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(js)
	var ts []train.Tensor
	for _, md := range mods {
		ts = append(ts, train.Tensor{Name: peftKey(md.Module, "A"), Shape: md.A.Shape, Data: md.A.Data},
			train.Tensor{Name: peftKey(md.Module, "B"), Shape: md.B.Shape, Data: md.B.Data})
	}
	wPath := filepath.Join(dir, PEFTWeightsFile)
	sha, size, err := train.WriteSafetensors(wPath, ts, map[string]string{"format": "pt", "base_run": c.LoRA.Base})
	if err != nil {
		return nil, fmt.Errorf("peft: %w", err)
	}
	return []ArtifactFile{
		{Kind: ArtifactPEFTCfg, Path: cfgPath, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(js))},
		{Kind: ArtifactPEFT, Path: wPath, SHA256: sha, Bytes: size},
	}, nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	return nil
}

// LoadPEFT loads adapter weights written by SavePEFT into a model that has
// the same adapters attached, checking every key and shape.
func LoadPEFT(path string, m *models.Model) (string, error) {
	f, err := train.ReadSafetensors(path)
	if err != nil {
		return "", fmt.Errorf("peft: %w", err)
	}
	want := map[string]bool{}
	for _, md := range m.LoRA() {
		for _, p := range []struct {
			ab string
			p  *models.Param
		}{{"A", md.A}, {"B", md.B}} {
			k := peftKey(md.Module, p.ab)
			want[k] = true
			t, ok := f.Tensors[k]
			if !ok {
				return "", fmt.Errorf("peft %s: no tensor %s", path, k)
			}
			if fmt.Sprint(t.Shape) != fmt.Sprint(p.p.Shape) {
				return "", fmt.Errorf("peft %s: %s has shape %v, the model's adapter %v", path, k, t.Shape, p.p.Shape)
			}
			copy(p.p.Data, t.Data)
		}
	}
	for _, n := range f.Names {
		if !want[n] {
			return "", fmt.Errorf("peft %s: tensor %s matches no adapter of the model (targets differ?)", path, n)
		}
	}
	return f.SHA256, nil
}

// LoadFinetuned loads a done fine-tune: its base (LoadTrained) with the
// adapters attached and loaded from the recorded adapter_model.safetensors
// (sha256 verified against the record).
func (e *Env) LoadFinetuned(hash string) (*Trained, error) {
	js, err := e.DB.Config(hash)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", short(hash), err)
	}
	c, err := configs.FromCanonical(js)
	if err != nil {
		return nil, err
	}
	if !c.LoRA.Enabled() {
		return nil, fmt.Errorf("%s is not a LoRA fine-tune (its config has no lora.base)", short(hash))
	}
	run, err := e.DB.DoneRun(hash)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("fine-tune %s has no done attempt; run `harness finetune %s` first", short(hash), short(c.LoRA.Base))
	} else if err != nil {
		return nil, err
	}
	arts, err := e.DB.Artifacts(run.ID)
	if err != nil {
		return nil, err
	}
	var art *registry.Artifact
	for i := range arts {
		if arts[i].Kind == ArtifactPEFT {
			art = &arts[i]
		}
	}
	if art == nil {
		return nil, fmt.Errorf("fine-tune %s: no %s artifact is recorded", short(hash), ArtifactPEFT)
	}
	base, err := e.LoadTrained(c.LoRA.Base)
	if err != nil {
		return nil, fmt.Errorf("lora.base: %w", err)
	}
	if err := base.Model.AttachLoRA(models.LoRAOptions{Rank: c.LoRA.Rank, Alpha: c.LoRA.Alpha, Targets: c.LoRA.Targets, Seed: c.Train.Seed}); err != nil {
		return nil, err
	}
	sha, err := LoadPEFT(registry.ArtifactPath(e.Root, *art), base.Model)
	if err != nil {
		return nil, err
	}
	if sha != art.SHA256 {
		return nil, fmt.Errorf("fine-tune %s: %s has sha256 %s, the registry records %s", short(hash), art.Path, short(sha), short(art.SHA256))
	}
	base.Hash, base.Config, base.RunID = hash, c, run.ID
	return base, nil
}

// GenerateInstruct answers an instruction with a fine-tune (or any
// trained run: the "before" of a fine-tune is its base answering the same
// template): the Alpaca template, then up to n greedy tokens from the
// models' decoding loop (Model.Greedy), stopping at EOS or the context. It
// returns the response text.
func GenerateInstruct(t *Trained, instruction, input string, n int) (string, error) {
	tok := t.Tokenizer
	sep := tok.BOS()
	if sep < 0 {
		sep = tok.EOS()
	}
	ids := append([]int32{sep}, tok.Encode(AlpacaPrompt(instruction, input))...)
	ctxLen := t.Config.Model.Context
	if len(ids) >= ctxLen {
		ids = append([]int32{sep}, ids[len(ids)-ctxLen/2:]...) // keep the end of the prompt
	}
	m := t.Model
	st := m.NewState()
	var logits []float32
	var err error
	for _, id := range ids {
		if logits, err = m.Step(st, id); err != nil {
			return "", fmt.Errorf("generate: %w", err)
		}
	}
	out, err := m.Greedy(st, logits, n, tok.EOS(), nil)
	if err != nil {
		return "", fmt.Errorf("generate: %w", err)
	}
	return strings.TrimSpace(tok.Decode(out)), nil
}

// IsFinetune reports whether hash names a LoRA fine-tune config.
func (e *Env) IsFinetune(hash string) (bool, error) {
	js, err := e.DB.Config(hash)
	if errors.Is(err, registry.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	c, err := configs.FromCanonical(js)
	if err != nil {
		return false, nil // not a training config (an eval or bench request)
	}
	return c.LoRA.Enabled(), nil
}
