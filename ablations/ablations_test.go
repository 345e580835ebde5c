package ablations

import (
	"math"
	"strings"
	"testing"
)

func TestShippedMatricesExpand(t *testing.T) {
	want := map[string]int{"subln": 2, "qat": 5, "scaling": 2, "hidden": 4, "attention": 3, "state": 3, "distill": 4, "tuned": 2}
	for _, name := range Names() {
		m, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n, ok := want[name]; !ok || len(m.ArmList()) != n {
			t.Errorf("%s: %d arms, want %d", name, len(m.ArmList()), want[name])
		}
		members, err := m.Expand(nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(members) != len(m.ArmList())*len(m.Seeds) {
			t.Errorf("%s: %d members", name, len(members))
		}
		for _, mb := range members {
			if mb.Config.Train.Seed != mb.Seed {
				t.Errorf("%s/%s: seed %d not applied", name, mb.Arm, mb.Seed)
			}
		}
	}
	m, _ := Load("subln")
	members, _ := m.Expand(nil, nil)
	if members[0].Config.Quant.SubLN != true || members[len(members)-1].Config.Quant.SubLN != false {
		t.Errorf("subln axis not applied")
	}
	// Extra overrides apply to every arm and change every hash.
	more, err := m.Expand([]string{"train.tokens=65536"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range more {
		if more[i].Hash == members[i].Hash || more[i].Config.Train.Tokens != 65536 {
			t.Errorf("--set not applied to arm %s", more[i].Arm)
		}
	}
	q, _ := Load("qat")
	qm, _ := q.Expand(nil, nil)
	for _, mb := range qm {
		if mb.Arm == "ternary-scratch" && (len(mb.Config.QAT.Phases) != 1 || mb.Config.QAT.Phases[0].Weights != "ternary") {
			t.Errorf("ternary-scratch arm: phases %+v", mb.Config.QAT.Phases)
		}
	}
}

func TestBadMatrices(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown key", "name: x\nbase: tiny\nseeds: [1]\naxes: [{key: quant.subln, values: [true]}]\nmetricz: [a]\n", "metricz"},
		{"empty axis", "name: x\nbase: tiny\nseeds: [1]\naxes: [{key: quant.subln, values: []}]\n", "empty axis"},
		{"non-numeric seed", "name: x\nbase: tiny\nseeds: [1, two]\naxes: [{key: quant.subln, values: [true]}]\n", "two"},
		{"no seeds", "name: x\nbase: tiny\naxes: [{key: quant.subln, values: [true]}]\n", "seeds"},
		{"no arms", "name: x\nbase: tiny\nseeds: [1]\n", "nothing to compare"},
		{"bad baseline", "name: x\nbase: tiny\nseeds: [1]\nbaseline: y\narms: [{name: a, set: {}}]\n", `"y" is not an arm`},
		{"duplicate arm", "name: x\nbase: tiny\nseeds: [1]\narms: [{name: a, set: {}}, {name: a, set: {}}]\n", "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want mention of %q", err, c.want)
			}
		})
	}
	// Config-level errors surface at expansion, before anything runs.
	for _, c := range []struct{ src, want string }{
		{"name: x\nbase: tiny\nseeds: [1]\naxes: [{key: quant.sublnx, values: [true]}]\n", "quant.sublnx"},
		{"name: x\nbase: tiny\nseeds: [1]\naxes: [{key: model.n_heads, values: [3]}]\n", "must divide"},
		{"name: x\nbase: tiny\nseeds: [1]\naxes: [{key: train.threads, values: [1, 2]}]\n", "changes nothing"},
		{"name: x\nbase: tinyy\nseeds: [1]\narms: [{name: a, set: {}}]\n", "unknown preset"},
	} {
		m, err := Parse("x.yaml", []byte(c.src))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if _, err := m.Expand(nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("expand error %v, want %q", err, c.want)
		}
	}
}

func TestMean95KnownAnswer(t *testing.T) {
	e := Mean95([]float64{1, 2, 3})
	// sd = 1, t_{0.975,2} = 4.302652729911275
	if e.Mean != 2 || math.Abs(e.CI95-4.302652729911275/math.Sqrt(3)) > 1e-9 || e.N != 3 {
		t.Fatalf("Mean95 = %+v", e)
	}
	if one := Mean95([]float64{5}); one.Mean != 5 || !math.IsNaN(one.CI95) {
		t.Fatalf("one seed: %+v", one)
	}
}

func TestPairedKnownAnswer(t *testing.T) {
	// differences 1, 2, 3: mean 2, sd 1, t = 2/(1/sqrt 3) = 3.4641; two-sided p with 2 df = 0.07418
	p := PairedTest([]float64{2, 4, 6}, []float64{1, 2, 3})
	if math.Abs(p.T-2*math.Sqrt(3)) > 1e-12 || math.Abs(p.P-0.0741799) > 1e-6 || p.Delta.Mean != 2 {
		t.Fatalf("PairedTest = %+v", p)
	}
	same := PairedTest([]float64{1, 2}, []float64{1, 2})
	if same.P != 1 || same.T != 0 {
		t.Fatalf("identical arms: %+v", same)
	}
}
