package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/ablations"
	"github.com/nanomamba-edge/harness/experiment"
	"github.com/nanomamba-edge/harness/registry"
)

// The dry-run plan counts a member done only when its training run and,
// for a matrix with tasks, its eval run are done; a trained member still
// to evaluate says so.
func TestCLIAblateDryRunCountsEvals(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "r.db")
	m, err := ablations.Load("subln")
	if err != nil {
		t.Fatal(err)
	}
	def, err := experiment.MatrixDef("..", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	finish := func(hash, kind string) {
		t.Helper()
		if err := db.PutConfig(hash, `{}`); err != nil {
			t.Fatal(err)
		}
		att, err := db.Start(registry.RunInfo{Hash: hash, Kind: kind}, registry.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := att.Finish(registry.StatusDone, ""); err != nil {
			t.Fatal(err)
		}
	}
	a, b := def.Members[0], def.Members[1]
	finish(a.RunHash, registry.KindTrain)
	finish(b.RunHash, registry.KindTrain)
	eh, _ := experiment.EvalRequest{Model: b.RunHash, Tasks: def.Tasks, Shots: -1, Limit: def.Limit}.Hash()
	finish(eh, registry.KindEval)
	db.Close()

	out, err := run(t, "ablate", "subln", "--dry-run", "--registry", reg, "--root", "..")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		a.RunHash[:12] + "  trained, to evaluate",
		b.RunHash[:12] + "  done",
		"1/10 members done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}
