package experiment

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/train"
)

func TestAlpacaTemplateAndMask(t *testing.T) {
	p := AlpacaPrompt("Name a color.", "")
	if !strings.HasPrefix(p, "Below is an instruction that describes a task. Write a response") || !strings.HasSuffix(p, "### Instruction:\nName a color.\n\n### Response:\n") {
		t.Errorf("template without input: %q", p)
	}
	p = AlpacaPrompt("Sum", "1 2")
	if !strings.Contains(p, ", paired with an input that provides further context.") || !strings.HasSuffix(p, "### Input:\n1 2\n\n### Response:\n") {
		t.Errorf("template with input: %q", p)
	}
	tok := data.NewByteTokenizer()
	for _, W := range []int{16, 64, 400} {
		a := Alpaca{Instruction: "Say hi", Output: "Hi there, friend."}
		tk, tg := encodeExample(tok, a, W)
		if len(tk) != W || len(tg) != W {
			t.Fatalf("W=%d: %d tokens, %d targets", W, len(tk), len(tg))
		}
		var resp []int32
		for _, y := range tg {
			if y >= 0 {
				resp = append(resp, y)
			}
		}
		full := append(tok.Encode(a.Output), tok.EOS())
		if len(resp) == 0 || tok.Decode(resp) != tok.Decode(full[:len(resp)]) {
			t.Errorf("W=%d: scored targets %q are not the start of the response", W, tok.Decode(resp))
		}
		if W == 400 && len(resp) != len(full) {
			t.Errorf("W=400: %d scored targets, want the whole response and EOS (%d)", len(resp), len(full))
		}
	}
}

// TestFinetuneEndToEnd fine-tunes a ternary micro base on the Alpaca
// subset: the run is recorded with the base as parent, the frozen base
// keeps its bits (checked inside the run, which fails otherwise), the
// adapters are saved in PEFT's layout as artifacts with their sha256, the
// result is the same on 1 and 2 threads, the reloaded adapters give the
// recorded held-out loss, and generation uses them.
func TestFinetuneEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a micro model and fine-tunes it twice")
	}
	dir := t.TempDir()
	env := testEnv(t, filepath.Join(dir, "r.db"), filepath.Join(dir, "cache"))
	ctx := context.Background()
	bc := loadMicro(t, env, "train.seed=9")
	if _, err := env.Train(ctx, bc, TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	sets := []string{"data.seq_len=64", "train.tokens=12288", "train.lr=0.003", "lora.held_out=40", "lora.rank=4", "train.eval_every=8"}
	c, err := env.FinetuneConfig(bc.Hash()[:10], sets)
	if err != nil {
		t.Fatal(err)
	}
	if c.LoRA.Base != bc.Hash() || c.LoRA.Data.Fingerprint == "" || !strings.Contains(c.Canonical(), c.LoRA.Data.Fingerprint) {
		t.Fatalf("the fine-tune's identity lacks the base hash or the data fingerprint: %s", c.Canonical())
	}
	env.Threads = 1
	r1, err := env.Finetune(ctx, c, FinetuneOptions{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out loss: base %.4f, adapters %.4f, merged+requantized %.4f (%d tokens, %d steps)", r1.HeldOutBase, r1.HeldOut, r1.HeldOutMerged, r1.HeldOutTokens, r1.Steps)
	if !(r1.HeldOut < r1.HeldOutBase) {
		t.Errorf("the adapters did not lower the held-out loss: %v → %v", r1.HeldOutBase, r1.HeldOut)
	}
	if r1.TrainableParams <= 0 || r1.TrainableParams >= r1.BaseParams || !(r1.StepSeconds > 0) || r1.Threads != 1 {
		t.Errorf("trainable %d of base %d, %v s/step at %d threads: want the adapters' count, a step time and 1 thread", r1.TrainableParams, r1.BaseParams, r1.StepSeconds, r1.Threads)
	}
	run, err := env.DB.DoneRun(c.Hash())
	if err != nil || run.ParentHash != bc.Hash() {
		t.Fatalf("fine-tune run: %+v %v", run, err)
	}
	arts, _ := env.DB.Artifacts(run.ID)
	kinds := map[string]string{}
	for _, a := range arts {
		kinds[a.Kind] = a.SHA256
	}
	for _, k := range []string{ArtifactPEFT, ArtifactPEFTCfg, "merged"} {
		if kinds[k] == "" {
			t.Errorf("no %s artifact recorded (%v)", k, kinds)
		}
	}
	adir := filepath.Join(env.Root, r1.AdapterDir)
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(adir, PEFTConfigFile))
	if err != nil || json.Unmarshal(b, &cfg) != nil {
		t.Fatalf("adapter_config.json: %v", err)
	}
	if cfg["peft_type"] != "LORA" || cfg["task_type"] != "CAUSAL_LM" || cfg["r"] != 4.0 || cfg["lora_alpha"] != 16.0 || cfg["base_model_name_or_path"] != bc.Hash() {
		t.Errorf("adapter_config.json: %v", cfg)
	}
	f, err := train.ReadSafetensors(filepath.Join(adir, PEFTWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	a, okA := f.Tensors["base_model.model.layers.0.mamba.in_proj.lora_A.weight"]
	bm, okB := f.Tensors["base_model.model.layers.1.attn.wq.lora_B.weight"]
	if !okA || !okB || a.Shape[0] != 4 || a.Shape[1] != 32 || bm.Shape[1] != 4 {
		t.Errorf("PEFT tensors: %v", f.Names)
	}

	env.Threads = 2
	r2, err := env.Finetune(ctx, c, FinetuneOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if r2.HeldOut != r1.HeldOut || r2.HeldOutMerged != r1.HeldOutMerged {
		t.Errorf("2 threads: held-out %v / %v, 1 thread %v / %v", r2.HeldOut, r2.HeldOutMerged, r1.HeldOut, r1.HeldOutMerged)
	}
	if again, err := env.Finetune(ctx, c, FinetuneOptions{}); err != nil || !again.Reused {
		t.Errorf("a done fine-tune is not reused: %+v %v", again, err)
	}

	ft, err := env.LoadFinetuned(c.Hash())
	if err != nil {
		t.Fatal(err)
	}
	d, err := env.ftData(c, ft.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	hl, _, err := d.heldOutLoss(ft.Model, c.Train.MicroBatch)
	if err != nil || hl != r1.HeldOut {
		t.Errorf("reloaded adapters: held-out loss %v (%v), recorded %v", hl, err, r1.HeldOut)
	}
	out, err := GenerateInstruct(ft, "Name a color.", "", 12)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated: %q", out)
	if _, err := env.LoadFinetuned(bc.Hash()); err == nil {
		t.Error("LoadFinetuned accepted a plain training run")
	}
	bad := append(append([]string(nil), sets...), "lora.targets=[q_proj]")
	if _, err := env.FinetuneConfig(bc.Hash(), bad); err == nil || !strings.Contains(err.Error(), "lora.targets") {
		t.Errorf("bad target: %v", err)
	}
	_ = configs.LoRATargets
}
