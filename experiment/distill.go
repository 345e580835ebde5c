package experiment

import (
	"fmt"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/data"
	"github.com/nanomamba-edge/harness/models"
)

// loadTeacher loads the teacher of a distilled config through the verified
// checkpoint path (LoadTrained), checking that it shares the student's
// tokenizer; nil when the config does not distil. The teacher's logits
// are computed in the training loop and never stored.
func (e *Env) loadTeacher(c *configs.Config, tok *data.Tokenizer) (*models.Model, error) {
	if !c.Distill.Enabled() {
		return nil, nil
	}
	h := c.Distill.Teacher
	tr, err := e.LoadTrained(h)
	if err != nil {
		return nil, fmt.Errorf("distill.teacher %s: %w (train the teacher first, e.g. `harness train --preset teacher`)", short(h), err)
	}
	if tr.Tokenizer.Hash() != tok.Hash() {
		return nil, fmt.Errorf("distill.teacher %s: its tokenizer (%s) differs from the student's (%s); teacher and student need the same data.sources, data.tokenizer, data.tokenizer_chars and model.vocab", short(h), short(tr.Tokenizer.Hash()), short(tok.Hash()))
	}
	return tr.Model, nil
}

// checkTeacher refuses a distilled config whose teacher is not a done
// training run, before any attempt is recorded.
func (e *Env) checkTeacher(c *configs.Config) error {
	if !c.Distill.Enabled() {
		return nil
	}
	h := c.Distill.Teacher
	if err := e.RequireTraining(h); err != nil {
		return fmt.Errorf("distill.teacher: %w", err)
	}
	if _, err := e.DB.DoneRun(h); err != nil {
		return fmt.Errorf("distill.teacher %s has no done training run in this registry (%v); train it first, e.g. `harness train --preset teacher`", short(h), err)
	}
	return nil
}
