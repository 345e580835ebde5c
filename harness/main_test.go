package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown preset", []string{"config", "huge", "--root", ".."}, []string{`unknown preset "huge"`, "micro, nano, tiny"}},
		{"bad set", []string{"config", "tiny", "--root", "..", "--set", "model.n_heads=5"}, []string{"model.n_heads = 5", "must divide model.d_model"}},
		{"unknown key", []string{"config", "tiny", "--root", "..", "--set", "train.speed=3"}, []string{"train.speed", "valid keys"}},
		{"not a database", []string{"runs", "--registry", notDB}, []string{"not a SQLite database"}},
		{"unwritable registry", []string{"runs", "--registry", filepath.Join(dir, "missing-dir", "r.db")}, []string{"registry: cannot create", "does not exist"}},
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
	out, err = run(t, "ablate", "--list")
	if err != nil || !strings.Contains(out, "subln") || !strings.Contains(out, "qat") {
		t.Errorf("ablate --list: %v\n%s", err, out)
	}
}
