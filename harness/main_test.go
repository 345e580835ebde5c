package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/registry"
)

// run executes the CLI in-process and returns its stdout and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	a := &app{}
	cmd := a.rootCmd()
	cmd.SetArgs(args)
	old := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	done := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, r)
		done <- b.String()
	}()
	err := cmd.Execute()
	w.Close()
	os.Stdout = old
	return <-done, err
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.db")
	os.WriteFile(notDB, []byte("these are notes, not a database\n"), 0o644)
	reg := filepath.Join(dir, "registry.db")
	if _, err := run(t, "train", "--preset", "micro", "--set", "train.tokens=1", "--registry", reg, "--root", ".."); err == nil {
		t.Fatal("a config below one step trained") // creates the registry, records nothing
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown preset", []string{"config", "huge", "--root", ".."}, []string{`unknown preset "huge"`, "micro, nano", "tiny"}},
		{"bad set", []string{"config", "tiny", "--root", "..", "--set", "model.n_heads=5"}, []string{"model.n_heads = 5", "must divide model.d_model"}},
		{"unknown key", []string{"config", "tiny", "--root", "..", "--set", "train.speed=3"}, []string{"train.speed", "valid keys"}},
		{"not a database", []string{"runs", "--registry", notDB}, []string{"not a SQLite database"}},
		{"unwritable registry", []string{"train", "--preset", "micro", "--registry", filepath.Join(dir, "missing-dir", "r.db"), "--root", ".."}, []string{"registry: cannot create", "does not exist"}},
		{"runs on a missing registry", []string{"runs", "--registry", filepath.Join(dir, "absent.db")}, []string{"absent.db does not exist"}},
		{"show on a missing registry", []string{"show", "abcdef12", "--registry", filepath.Join(dir, "absent.db")}, []string{"absent.db does not exist"}},
		{"too big for this machine", []string{"train", "--preset", "nano", "--set", "train.batch_size=64", "--set", "train.micro_batch=64", "--registry", reg, "--root", ".."}, []string{"GiB to train", "lower train.micro_batch"}},
		{"no jobs", []string{"ablate", "subln", "--jobs", "0", "--dry-run", "--registry", reg, "--root", ".."}, []string{"--jobs 0"}},
		{"negative steps", []string{"generate", "--steps", "-5", "--root", ".."}, []string{"--steps -5"}},
		{"negative temperature", []string{"generate", "--temperature", "-1", "--root", ".."}, []string{"--temperature -1"}},
		{"alpaca without a run", []string{"generate", "--alpaca", "--prompt", "Name a color.", "--root", ".."}, []string{"--alpaca", "trained run"}},
		{"arithmetic for llama2.c", []string{"generate", "--arithmetic", "exact", "--root", ".."}, []string{"--arithmetic", "trained run"}},
		{"arithmetic for a file", []string{"generate", "x.gguf", "--arithmetic", "training", "--root", ".."}, []string{"--arithmetic", ".gguf file"}},
		{"negative limit", []string{"eval", "../datasets/llama2c/stories260K.bin", "--tasks", "piqa", "--limit", "-5", "--registry", reg, "--root", ".."}, []string{"limit -5"}},
		{"unknown task", []string{"eval", "../datasets/llama2c/stories260K.bin", "--tasks", "piqa,nosuch", "--registry", reg, "--root", ".."}, []string{"nosuch"}},
		{"unknown hash", []string{"show", "abcdef12", "--registry", reg}, []string{`"abcdef12"`}},
		{"eval of a missing run", []string{"eval", "abcdef12", "--registry", reg, "--root", ".."}, []string{`"abcdef12"`}},
		{"unknown ablation", []string{"ablate", "dropout", "--registry", reg, "--root", ".."}, []string{`unknown ablation "dropout"`, "subln"}},
		{"tasks lists", []string{"tasks", "--root", ".."}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(t, c.args...)
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if b, _ := os.ReadFile(notDB); string(b) != "these are notes, not a database\n" {
		t.Errorf("the non-database file was modified")
	}
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); !os.IsNotExist(err) {
		t.Errorf("a read-only command created a registry (%v)", err)
	}
	// Refused arguments leave no run behind.
	out, err := run(t, "runs", "--registry", reg, "--limit", "0")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("runs after refused commands: %v\n%s", err, out)
	}
}

// Commands that take a training run's hash name an eval run for what it is.
func TestCLIEvalHashIsNotATrainingRun(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "r.db")
	out, err := run(t, "eval", "../datasets/llama2c/stories260K.bin", "--tasks", "copa", "--limit", "2", "--registry", reg, "--root", "..", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(out, "eval run ")
	if i < 0 {
		t.Fatalf("no eval run in:\n%s", out)
	}
	h := strings.Fields(out[i+len("eval run "):])[0]
	h = strings.TrimSuffix(h, ";")
	for _, args := range [][]string{{"generate", h}, {"train", "--resume", h}} {
		_, err := run(t, append(args, "--registry", reg, "--root", "..")...)
		if err == nil || !strings.Contains(err.Error(), "is an eval run") {
			t.Errorf("%v: %v, want it to say it is an eval run", args, err)
		}
	}
}

func TestVersusBigram(t *testing.T) {
	for _, c := range []struct {
		model, bigram float64
		want          string
	}{
		{1.0, 2.0, "50.0% lower, better"},
		{2.0, 1.36, "47.1% higher, WORSE"},
		{1.5, 1.5, "equals"},
	} {
		if got := versusBigram(c.model, c.bigram); !strings.Contains(got, c.want) {
			t.Errorf("versusBigram(%v, %v) = %q, want %q", c.model, c.bigram, got, c.want)
		}
	}
}

func TestCLIConfigAndModelInfo(t *testing.T) {
	out, err := run(t, "config", "tiny", "--root", "..", "--registry", filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "hash: ") || !strings.Contains(out, `"fingerprint": "`) {
		t.Errorf("config output lacks the hash or data fingerprints:\n%s", out)
	}
	out, err = run(t, "model", "info", "nano")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"embedding", "16777216", "total", "1.58 bits"} {
		if !strings.Contains(out, w) {
			t.Errorf("model info nano lacks %q", w)
		}
	}
	out, err = run(t, "model", "info", "nano", "--summary")
	if err != nil || !strings.Contains(out, "37534392") || strings.Contains(out, "layers.0.") || !strings.Contains(out, "exported size: 37.881 MB") {
		t.Errorf("model info --summary: %v\n%s", err, out)
	}
	out, err = run(t, "ablate", "--list")
	if err != nil || !strings.Contains(out, "subln") || !strings.Contains(out, "qat") {
		t.Errorf("ablate --list: %v\n%s", err, out)
	}
}

// export-run never writes over an existing file without --force, and never
// over the registry it reads, however the path is spelled.
func TestCLIExportRunRefusesOverwrites(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "victim.db")
	out, err := run(t, "eval", "../datasets/llama2c/stories260K.bin", "--tasks", "copa", "--limit", "2", "--registry", reg, "--root", "..", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(out, "eval run ")
	h := strings.TrimSuffix(strings.Fields(out[i+len("eval run "):])[0], ";")
	before, _ := os.ReadFile(reg)
	for _, o := range []string{reg, filepath.Join(dir, ".", "victim.db"), reg + "-wal"} {
		for _, force := range []bool{false, true} {
			args := []string{"export-run", h, "--registry", reg, "-o", o}
			if force {
				args = append(args, "--force")
			}
			if _, err := run(t, args...); err == nil {
				t.Errorf("export-run -o %s (force %v) was accepted", o, force)
			}
		}
	}
	if after, _ := os.ReadFile(reg); string(after[:16]) != "SQLite format 3\x00" || len(after) < len(before)/2 {
		t.Fatal("the registry file was damaged")
	}
	if _, err := run(t, "runs", "--registry", reg); err != nil {
		t.Fatalf("the registry no longer opens: %v", err)
	}
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("keep me"), 0o644)
	if _, err := run(t, "export-run", h, "--registry", reg, "-o", notes); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export-run over an existing file: %v, want a refusal naming --force", err)
	}
	if b, _ := os.ReadFile(notes); string(b) != "keep me" {
		t.Error("the existing file was overwritten")
	}
	if _, err := run(t, "export-run", h, "--registry", reg, "-o", notes, "--force"); err != nil {
		t.Errorf("export-run --force: %v", err)
	}
}

// runs --where filters before the limit, and --json / --csv / metrics give
// every run to other tools.
func TestCLIRunDataForOtherTools(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "r.db")
	db, err := registry.Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	var off string
	for i, sets := range [][]string{{"quant.subln=false"}, {"train.seed=2"}, {"train.seed=3"}, {"train.seed=4"}} {
		c, err := configs.Load(configs.Options{Preset: "micro", Sets: sets, Env: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		h := c.Hash()
		if i == 0 {
			off = h
		}
		if err := db.PutConfig(h, c.Canonical()); err != nil {
			t.Fatal(err)
		}
		r, err := db.BeginRun(registry.RunInfo{Hash: h, Kind: registry.KindTrain})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.LogMetrics(r.ID, []registry.Metric{{Name: "val_bpb", Step: 1, Value: 2.5}, {Name: "val_bpb", Step: 2, Value: 1.25 + float64(i)}}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetSummary(r.ID, fmt.Sprintf(`{"val_bpb": %v}`, 1.25+float64(i))); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishRun(r.ID, registry.StatusDone, ""); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// The oldest run is the only match; a limit of 1 used to cut it first.
	out, err := run(t, "runs", "--registry", reg, "--where", "quant.subln=false", "--limit", "1", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][0] != off || recs[1][5] != "1.25" {
		t.Fatalf("runs --where --limit 1 --csv: %v (%v)", recs, err)
	}
	out, err = run(t, "runs", "--registry", reg, "--json")
	var rows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 4 || rows[3]["hash"] != off || rows[3]["val_bpb"] != 1.25 {
		t.Fatalf("runs --json: %v\n%s", err, out)
	}
	if _, err := run(t, "runs", "--registry", reg, "--where", "quant.sbuln=false"); err == nil || !strings.Contains(err.Error(), "quant.subln") {
		t.Errorf("a misspelt --where key: %v, want the section's keys listed", err)
	}
	out, err = run(t, "metrics", off[:10], "--registry", reg, "--csv")
	if recs, _ = csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil || len(recs) != 3 || recs[2][2] != "val_bpb" || recs[2][3] != "2" || recs[2][4] != "1.25" {
		t.Errorf("metrics --csv: %v (%v)", recs, err)
	}
	out, err = run(t, "show", off[:10], "--registry", reg, "--json")
	var shown struct {
		Hash     string
		Attempts []struct {
			Metrics map[string]float64 `json:"final_metrics"`
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Hash != off || shown.Attempts[0].Metrics["val_bpb"] != 1.25 {
		t.Errorf("show --json: %v\n%s", err, out)
	}
	if _, err := run(t, "metrics", off[:10], "--registry", reg, "--metric", "nosuch"); err == nil || !strings.Contains(err.Error(), "val_bpb") {
		t.Errorf("metrics --metric nosuch: %v, want the series that exist", err)
	}
	if _, err := run(t, "runs", "--registry", reg, "--json", "--csv"); err == nil {
		t.Error("--json with --csv accepted")
	}
}

// generate <hash> honours --temperature and --seed: greedy is one text, a
// seed gives the same sample on every call, another seed another sample.
func TestCLIGenerateSampling(t *testing.T) {
	root := t.TempDir()
	ds, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	g := []string{"--root", root, "--registry", filepath.Join(root, "r.db"), "--threads", "2"}
	out, err := run(t, append([]string{"train", "--preset", "micro", "--set", "train.tokens=4096"}, g...)...)
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Fields(out[strings.Index(out, "hash"):])[1]
	gen := func(args ...string) string {
		t.Helper()
		out, err := run(t, append(append([]string{"generate", h[:12], "--prompt", "Once", "--steps", "24"}, args...), g...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	greedy := gen()
	if again := gen("--temperature", "0", "--seed", "9"); again != greedy {
		t.Errorf("greedy text depends on the seed:\n%q\n%q", greedy, again)
	}
	a, b, c := gen("--temperature", "1", "--seed", "1"), gen("--temperature", "1", "--seed", "1"), gen("--temperature", "1", "--seed", "2")
	if a != b {
		t.Errorf("the same seed gave two samples:\n%q\n%q", a, b)
	}
	if a == c || a == greedy {
		t.Errorf("sampling ignored --seed or --temperature:\n%q\n%q\n%q", greedy, a, c)
	}
}

// export never writes over the registry, nor over another file without
// --force; exporting again to the same file is allowed (same bytes).
func TestCLIExportRefusesOverwrites(t *testing.T) {
	root := t.TempDir()
	ds, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(root, "r.db")
	g := []string{"--root", root, "--registry", reg, "--threads", "2"}
	out, err := run(t, append([]string{"train", "--preset", "micro", "--set", "train.tokens=4096"}, g...)...)
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Fields(out[strings.Index(out, "hash"):])[1][:12]
	for _, args := range [][]string{{"-o", reg}, {"-o", reg, "--force"}, {"-o", reg + "-wal", "--force"}} {
		if _, err := run(t, append(append([]string{"export", h}, args...), g...)...); err == nil {
			t.Errorf("export %v accepted", args)
		}
	}
	if _, err := run(t, append([]string{"runs"}, g...)...); err != nil {
		t.Fatalf("the registry no longer opens: %v", err)
	}
	// eval --output follows the same rules, checked before evaluating.
	if _, err := run(t, append([]string{"eval", h, "--tasks", "copa", "--limit", "2", "--output", reg}, g...)...); err == nil {
		t.Error("eval --output <registry> accepted")
	}
	notes := filepath.Join(root, "notes.gguf")
	os.WriteFile(notes, []byte("keep"), 0o644)
	if _, err := run(t, append([]string{"export", h, "-o", notes}, g...)...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(notes); string(b) != "keep" {
		t.Error("the existing file was overwritten")
	}
	for i := 0; i < 2; i++ { // the default path twice: identical bytes, no --force needed
		if _, err := run(t, append([]string{"export", h}, g...)...); err != nil {
			t.Fatalf("export #%d: %v", i+1, err)
		}
	}
	if _, err := run(t, append([]string{"export", h, "-o", notes, "--force"}, g...)...); err != nil {
		t.Errorf("export --force: %v", err)
	}
}

// export --format onnx|hf write their files under the run's directory and
// record each as an artifact; the same run exports to the same bytes.
func TestCLIExportONNXAndHF(t *testing.T) {
	root := t.TempDir()
	ds, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(root, "r.db")
	g := []string{"--root", root, "--registry", reg, "--threads", "2"}
	out, err := run(t, append([]string{"train", "--preset", "micro", "--set", "train.tokens=4096"}, g...)...)
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Fields(out[strings.Index(out, "hash"):])[1]
	for _, f := range []string{"onnx", "hf", "onnx"} {
		if _, err := run(t, append([]string{"export", h[:12], "--format", f}, g...)...); err != nil {
			t.Fatalf("export --format %s: %v", f, err)
		}
	}
	if _, err := run(t, append([]string{"export", h[:12], "--format", "tflite"}, g...)...); err == nil {
		t.Error("an unknown format was accepted")
	}
	// The folder loads back to the same text as the run, in either
	// arithmetic.
	for _, ar := range []string{"auto", "training"} {
		want, err := run(t, append([]string{"generate", h[:12], "--prompt", "Once", "--steps", "32", "--arithmetic", ar}, g...)...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := run(t, append([]string{"generate", filepath.Join(root, "runs", h, "hf"), "--prompt", "Once", "--steps", "32", "--arithmetic", ar}, g...)...)
		if err != nil || got != want {
			t.Errorf("--arithmetic %s: generate <hf folder> = %q (%v), generate <hash> = %q", ar, got, err, want)
		}
	}
	db, err := registry.OpenReadOnly(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done, err := db.DoneRun(h)
	if err != nil {
		t.Fatal(err)
	}
	arts, _ := db.Artifacts(done.ID)
	kinds := map[string]int{}
	for _, a := range arts {
		kinds[a.Kind]++
		b, err := os.ReadFile(registry.ArtifactPath(root, a))
		if err != nil {
			t.Errorf("artifact %s: %v", a.Path, err)
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != a.SHA256 {
			t.Errorf("artifact %s does not match its sha256", a.Path)
		}
	}
	if kinds["onnx"] != 1 || kinds["hf"] < 4 {
		t.Errorf("artifact kinds %v, want one onnx file and the hf folder's files", kinds)
	}
}

// hpo list --csv / --json give the studies and their trials to other tools.
func TestCLIHPOListForOtherTools(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "r.db")
	db, err := registry.Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	st := db.StudyStorage()
	sid, err := st.CreateNewStudy("lr")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{3.5, 2.25} {
		tid, err := st.CreateNewTrial(sid)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetTrialValue(tid, v); err != nil {
			t.Fatal(err)
		}
		if err := st.SetTrialState(tid, goptuna.TrialStateComplete); err != nil {
			t.Fatalf("trial %d: %v", i, err)
		}
	}
	db.Close()
	out, err := run(t, "hpo", "list", "--registry", reg, "--csv")
	recs, _ := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][0] != "lr" || recs[1][4] != "2" || recs[1][9] != "2.25" || recs[1][10] != "1" {
		t.Fatalf("hpo list --csv: %v (%v)", recs, err)
	}
	out, err = run(t, "hpo", "list", "--trials", "lr", "--registry", reg, "--json")
	var rows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[0]["value"] != 3.5 || rows[1]["state"] != "complete" {
		t.Fatalf("hpo list --trials --json: %v\n%s", err, out)
	}
}

// sweep -o never writes over the registry, nor over a file without --force,
// and refuses before anything is queued.
func TestCLISweepRefusesOverwrites(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "r.db")
	if _, err := run(t, "ablate", "subln", "--dry-run", "--registry", reg, "--root", ".."); err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(reg) // create it
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(reg)
	notes := filepath.Join(dir, "notes.sh")
	os.WriteFile(notes, []byte("keep"), 0o644)
	for _, o := range []string{reg, notes} {
		_, err := run(t, "sweep", "ablation", "subln", "--emit", "slurm", "-o", o, "--registry", reg, "--root", "..")
		if err == nil {
			t.Errorf("sweep -o %s accepted", o)
		}
	}
	if after, _ := os.ReadFile(reg); !bytes.Equal(before, after) {
		t.Error("the registry file changed")
	}
	if b, _ := os.ReadFile(notes); string(b) != "keep" {
		t.Error("the existing file was overwritten")
	}
}
