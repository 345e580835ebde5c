package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nanomamba-edge/harness/registry"
)

// Checkpoints live in the run dir as ckpt-<steps done, 9 digits>.safetensors.
const checkpointPrefix, checkpointExt = "ckpt-", ".safetensors"

func checkpointPath(dir string, step int64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%09d%s", checkpointPrefix, step, checkpointExt))
}

// listCheckpoints returns the run dir's checkpoints sorted by step.
func listCheckpoints(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var steps []int64
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, checkpointPrefix) || !strings.HasSuffix(n, checkpointExt) {
			continue
		}
		s, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(n, checkpointPrefix), checkpointExt), 10, 64)
		if err == nil && s >= 0 {
			steps = append(steps, s)
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
	return steps, nil
}

func newestCheckpoint(dir string) (string, int64, error) {
	steps, err := listCheckpoints(dir)
	if err != nil || len(steps) == 0 {
		return "", 0, err
	}
	s := steps[len(steps)-1]
	return checkpointPath(dir, s), s, nil
}

func pruneCheckpoints(dir string, keep int) error {
	steps, err := listCheckpoints(dir)
	if err != nil {
		return err
	}
	for i := 0; i < len(steps)-keep; i++ {
		if err := os.Remove(checkpointPath(dir, steps[i])); err != nil {
			return fmt.Errorf("prune checkpoints: %w", err)
		}
	}
	return nil
}

func removeCheckpoints(dir string) error { return pruneCheckpoints(dir, 0) }

// RecordedCheckpoint is a checkpoint file together with what the registry
// recorded for it.
type RecordedCheckpoint struct {
	Path   string // where the file is (root joined to Rel)
	Rel    string // the recorded path, relative to the project root
	Step   int64  // from the recorded file name
	SHA256 string // the recorded sha256 of the whole file
}

func (c RecordedCheckpoint) verify(sha string, step int64) error {
	if sha != c.SHA256 {
		return fmt.Errorf("checkpoint %s has sha256 %s, but the registry recorded %s for it: the file was replaced or damaged; nothing was loaded (retrain with --force)",
			c.Path, sha[:12], c.SHA256[:12])
	}
	if step != c.Step {
		return fmt.Errorf("checkpoint %s holds step %d, but it was recorded as step %d", c.Path, step, c.Step)
	}
	return nil
}

// Verify checks a loaded checkpoint's file sha256 and step against the
// record.
func (c RecordedCheckpoint) Verify(sha string, step int64) error { return c.verify(sha, step) }

// FindCheckpoint picks a checkpoint among a run's recorded artifacts.
// final: the one with the highest step, which must be present (the final
// checkpoint of a done run). Otherwise (resuming): the newest recorded one
// whose file is present, or the zero value when none is. Files that were
// never recorded (a process killed between writing and recording) are
// never chosen. The caller verifies sha256 and step when it loads the file.
func FindCheckpoint(arts []registry.Artifact, root string, final bool) (RecordedCheckpoint, error) {
	var cands []RecordedCheckpoint
	for _, a := range arts {
		if a.Kind != "checkpoint" {
			continue
		}
		name := filepath.Base(a.Path)
		if !strings.HasPrefix(name, checkpointPrefix) || !strings.HasSuffix(name, checkpointExt) {
			continue
		}
		step, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, checkpointPrefix), checkpointExt), 10, 64)
		if err != nil || step < 0 {
			continue
		}
		cands = append(cands, RecordedCheckpoint{Path: registry.ArtifactPath(root, a), Rel: a.Path, Step: step, SHA256: a.SHA256})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Step > cands[j].Step })
	if final {
		if len(cands) == 0 {
			return RecordedCheckpoint{}, errors.New("no checkpoint is recorded")
		}
		c := cands[0]
		if _, err := os.Stat(c.Path); err != nil {
			return RecordedCheckpoint{}, fmt.Errorf("the final checkpoint %s (step %d) is missing: %w", c.Path, c.Step, err)
		}
		return c, nil
	}
	for _, c := range cands {
		if _, err := os.Stat(c.Path); err == nil {
			return c, nil
		}
	}
	return RecordedCheckpoint{}, nil
}
