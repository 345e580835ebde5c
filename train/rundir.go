package train

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
