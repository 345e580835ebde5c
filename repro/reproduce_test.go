package repro

import (
	"context"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/experiment"
)

// evalTask is one small BLiMP paradigm, limited for speed.
var evalReq = experiment.EvalRequest{Tasks: []string{"blimp_anaphor_gender_agreement"}, Shots: -1, Limit: 8}

func TestReproduceBitIdentical(t *testing.T) {
	c := microConfig(t, projectRoot)
	root := tempRoot(t, c)
	env := newEnv(t, root)
	res := trainMicro(t, env, c)
	req := evalReq
	req.Model = res.Hash
	if _, err := env.Evaluate(context.Background(), req); err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	r, err := Reproduce(context.Background(), env, res.Hash, Options{})
	if err != nil {
		t.Fatalf("reproduce: %v", err)
	}
	var sb strings.Builder
	r.WriteText(&sb)
	t.Log(sb.String())
	if !r.Identical() {
		t.Fatalf("reproduction differs: %s", r.Verdict())
	}
}
