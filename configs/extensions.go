package configs

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// normalizeExtensions sorts and de-duplicates the LoRA targets. (Disabled
// sections are left as they are: the canonical JSON omits them.)
func (c *Config) normalizeExtensions() {
	ts := append([]string(nil), c.LoRA.Targets...)
	for i := range ts {
		ts[i] = strings.ToLower(strings.TrimSpace(ts[i]))
	}
	sort.Strings(ts)
	c.LoRA.Targets = dedupSorted(ts)
	if c.LoRA.Targets == nil {
		c.LoRA.Targets = []string{}
	}
}

// IsRunHash reports whether s is a full run hash (64 lowercase hex digits).
func IsRunHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// validateExtensions checks the distill and lora sections when enabled.
func (c *Config) validateExtensions(num func(string, float64, interval) bool) []string {
	var p []string
	bad := func(key string, val any, why string) { p = append(p, fmt.Sprintf("%s = %v: %s", key, val, why)) }
	d := c.Distill
	finite := interval{lo: -math.MaxFloat64, hi: math.MaxFloat64}
	if !d.Enabled() { // not hashed, but never NaN or ±Inf
		num("distill.temperature", d.Temperature, finite)
		num("distill.kd_ratio", d.KDRatio, finite)
		num("distill.teacher_mix", d.TeacherMix, finite)
	}
	if d.Loss != "" && !contains(DistillLosses, d.Loss) {
		bad("distill.loss", d.Loss, "valid: "+strings.Join(DistillLosses, ", "))
	}
	if d.Enabled() {
		if !IsRunHash(d.Teacher) {
			bad("distill.teacher", fmt.Sprintf("%q", d.Teacher), "must be the full run hash (64 hex digits) of a done training run; see `harness runs`")
		}
		num("distill.temperature", d.Temperature, interval{lo: 0, loOpen: true, hi: 100})
		num("distill.kd_ratio", d.KDRatio, interval{lo: 0, hi: 1})
		num("distill.teacher_mix", d.TeacherMix, interval{lo: 0, hi: 1})
		if d.PromptTokens < 0 || d.PromptTokens >= max(c.Data.SeqLen, 1) {
			bad("distill.prompt_tokens", d.PromptTokens, fmt.Sprintf("must be in [0, data.seq_len = %d) (0 = half the window)", c.Data.SeqLen))
		}
		if d.StartStep < 0 || d.StartStep > MaxTokens {
			bad("distill.start_step", d.StartStep, fmt.Sprintf("must be in [0, %d]", int64(MaxTokens)))
		}
		if d.Teacher == c.LoRA.Base && c.LoRA.Enabled() {
			bad("distill.teacher", d.Teacher, "a run cannot distil from the base it fine-tunes")
		}
	}
	l := c.LoRA
	if !l.Enabled() {
		num("lora.alpha", l.Alpha, finite)
		num("lora.dropout", l.Dropout, finite)
		num("lora.data.weight", l.Data.Weight, finite)
		return p
	}
	if d.Enabled() {
		bad("distill.loss", d.Loss, "a LoRA fine-tune (lora.base set) does not distil; use distill.loss=none")
	}
	if !IsRunHash(l.Base) {
		bad("lora.base", fmt.Sprintf("%q", l.Base), "must be the full run hash (64 hex digits) of a done training run")
	}
	if l.Rank < 1 || l.Rank > MaxDModel {
		bad("lora.rank", l.Rank, fmt.Sprintf("must be in [1, %d]", MaxDModel))
	}
	num("lora.alpha", l.Alpha, interval{lo: 0, loOpen: true, hi: 1e6})
	num("lora.dropout", l.Dropout, interval{lo: 0, hi: 1, hiOpen: true})
	if len(l.Targets) == 0 {
		bad("lora.targets", "[]", "need at least one module kind; valid: "+strings.Join(LoRATargets, ", "))
	}
	for i, t := range l.Targets {
		if !contains(LoRATargets, t) {
			bad(fmt.Sprintf("lora.targets[%d]", i), t, "valid: "+strings.Join(LoRATargets, ", "))
		}
	}
	if l.Data.Path == "" {
		bad("lora.data.path", `""`, "must name a file relative to the project root")
	}
	if l.Data.Name == "" {
		bad("lora.data.name", `""`, "must be non-empty")
	}
	if l.Data.Format != "alpaca" {
		bad("lora.data.format", l.Data.Format, "valid: alpaca (a JSON array, or JSON lines, of records with instruction, input, output)")
	}
	num("lora.data.weight", l.Data.Weight, interval{lo: 0, loOpen: true, hi: 1e6})
	if l.HeldOut < 1 || l.HeldOut > MaxDocuments {
		bad("lora.held_out", l.HeldOut, fmt.Sprintf("must be in [1, %d]", MaxDocuments))
	}
	return p
}
