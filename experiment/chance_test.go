package experiment

import (
	"math"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/models"
	"github.com/nanomamba-edge/harness/tasks"
)

// TestUntrainedMicroAtChance: an untrained micro model scores at chance on
// two-choice tasks (within three standard errors).
func TestUntrainedMicroAtChance(t *testing.T) {
	if testing.Short() {
		t.Skip("scores a few hundred requests")
	}
	c, err := configs.Load(configs.Options{Preset: "micro", Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c.Model.Context = 256 // room for the longer PIQA/COPA prompts; an untrained model is what is tested
	m, err := models.New(c.Model, c.Quant, 7)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewModelLM(m, c.Quant, data.NewByteTokenizer(), 2)
	if err != nil {
		t.Fatal(err)
	}
	root := testRoot(t)
	res, err := tasks.Evaluate(root, lm, tasks.Options{Tasks: []string{"piqa", "copa", "winogrande"}, NumFewshot: -1, Limit: 100, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"piqa", "copa", "winogrande"} {
		acc, ok := res.Metric(task, "acc")
		se, _ := res.Metric(task, "acc_stderr")
		if !ok || se == 0 {
			t.Fatalf("%s: no acc/stderr", task)
		}
		t.Logf("untrained micro %s acc = %.3f ± %.3f", task, acc, se)
		if math.Abs(acc-0.5) > 3*se {
			t.Errorf("%s: untrained acc %.3f is not within 3 stderr (%.3f) of chance 0.5", task, acc, se)
		}
	}
}
