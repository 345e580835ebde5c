package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/nanomamba-edge/harness/models"
)

// Checkpoint metadata identifying the file format.
const (
	CheckpointFormat  = "nanomamba-edge/train-checkpoint"
	CheckpointVersion = "1"
)

// CheckpointState is what a training checkpoint holds: the parameters, the
// AdamW moments (tensors "adam.m.<name>" and "adam.v.<name>") and, in the
// safetensors metadata, the steps done, the optimizer's step count, the last
// training loss, the config hash, the format version and the sha256 of the
// data section.
type CheckpointState struct {
	Step       int64 // training steps completed
	ConfigHash string
	TrainLoss  float64
	Params     []*models.Param
	// Opt, when set, is saved and restored with the parameters.
	Opt *AdamW
}

func (s *CheckpointState) tensors() []Tensor {
	ts := make([]Tensor, 0, 3*len(s.Params))
	for _, p := range s.Params {
		ts = append(ts, Tensor{Name: p.Name, Shape: p.Shape, Data: p.Data})
	}
	if s.Opt != nil {
		for i, p := range s.Params {
			ts = append(ts, Tensor{Name: "adam.m." + p.Name, Shape: p.Shape, Data: s.Opt.M[i]})
			ts = append(ts, Tensor{Name: "adam.v." + p.Name, Shape: p.Shape, Data: s.Opt.V[i]})
		}
	}
	return ts
}

// dataSHA256 hashes the tensors' little-endian bytes in order, the same bytes
// the safetensors data section holds.
func dataSHA256(ts []Tensor) string {
	h := sha256.New()
	buf := make([]byte, 0, 1<<16)
	for _, t := range ts {
		for _, x := range t.Data {
			if len(buf)+4 > cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// SaveCheckpoint writes s to path atomically and returns the file's sha256
// and size. The same state always produces the same bytes.
func SaveCheckpoint(path string, s CheckpointState) (string, int64, error) {
	ts := s.tensors()
	meta := map[string]string{
		"format":      CheckpointFormat,
		"version":     CheckpointVersion,
		"config_hash": s.ConfigHash,
		"step":        strconv.FormatInt(s.Step, 10),
		"train_loss":  strconv.FormatFloat(s.TrainLoss, 'g', -1, 64),
		"data_sha256": dataSHA256(ts),
	}
	if s.Opt != nil {
		meta["opt_steps"] = strconv.FormatInt(s.Opt.Steps, 10)
	}
	sha, n, err := WriteSafetensors(path, ts, meta)
	if err != nil {
		return "", 0, fmt.Errorf("save checkpoint: %w", err)
	}
	return sha, n, nil
}

// LoadCheckpoint reads the checkpoint at path into s: the values of
// s.Params (matched by name and shape) and, when s.Opt is set, the moments
// and step count; it sets s.Step and s.TrainLoss. When s.ConfigHash is not
// empty the file must belong to that config. It returns the file's sha256.
func LoadCheckpoint(path string, s *CheckpointState) (string, error) {
	f, err := ReadSafetensors(path)
	if err != nil {
		return "", err
	}
	if got := f.Meta["format"]; got != CheckpointFormat {
		return "", fmt.Errorf("checkpoint %s: format %q, want %q", path, got, CheckpointFormat)
	}
	if got := f.Meta["version"]; got != CheckpointVersion {
		return "", fmt.Errorf("checkpoint %s: format version %q, this build reads version %s", path, got, CheckpointVersion)
	}
	if s.ConfigHash != "" && f.Meta["config_hash"] != s.ConfigHash {
		return "", fmt.Errorf("checkpoint %s belongs to config %s, not %s", path, f.Meta["config_hash"], s.ConfigHash)
	}
	step, err := strconv.ParseInt(f.Meta["step"], 10, 64)
	if err != nil || step < 0 {
		return "", fmt.Errorf("checkpoint %s: bad step %q in metadata", path, f.Meta["step"])
	}
	loss, err := strconv.ParseFloat(f.Meta["train_loss"], 64)
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: bad train_loss %q in metadata", path, f.Meta["train_loss"])
	}
	ordered := make([]Tensor, len(f.Names))
	for i, n := range f.Names {
		ordered[i] = f.Tensors[n]
	}
	if got := dataSHA256(ordered); got != f.Meta["data_sha256"] {
		return "", fmt.Errorf("checkpoint %s is corrupt: data sha256 %s does not match the recorded %s", path, got, f.Meta["data_sha256"])
	}
	var optSteps int64
	if s.Opt != nil {
		optSteps, err = strconv.ParseInt(f.Meta["opt_steps"], 10, 64)
		if err != nil || optSteps < 0 {
			return "", fmt.Errorf("checkpoint %s: bad or missing opt_steps %q in metadata (was it saved without optimizer state?)", path, f.Meta["opt_steps"])
		}
	}
	// Check everything before touching the destination buffers.
	want := CheckpointState{Params: s.Params, Opt: s.Opt}
	dst := want.tensors()
	for _, d := range dst {
		t, ok := f.Tensors[d.Name]
		if !ok {
			return "", fmt.Errorf("checkpoint %s has no tensor %q", path, d.Name)
		}
		if !sameShape(t.Shape, d.Shape) {
			return "", fmt.Errorf("checkpoint %s: tensor %q has shape %v, the model wants %v", path, d.Name, t.Shape, d.Shape)
		}
	}
	for _, d := range dst {
		copy(d.Data, f.Tensors[d.Name].Data)
	}
	if s.Opt != nil {
		s.Opt.Steps = optSteps
	}
	s.Step, s.TrainLoss = step, loss
	return f.SHA256, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
