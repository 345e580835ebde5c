package repro

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanomamba-edge/harness/registry"
)

// ImportResult says what Import added to the registry.
type ImportResult struct {
	Hash string
	// ConfigsAdded counts new configs (training and eval).
	ConfigsAdded int
	// RunsAdded counts new runs; RunsPresent those already recorded under
	// the same hash and attempt with exactly the bundled content, which are
	// left as they are.
	RunsAdded, RunsPresent int
	// Rows added with the new runs.
	Metrics, TaskResults, Artifacts int
	// Checkpoint is the local path of the bundled checkpoint ("" if none).
	Checkpoint string
}

// Import validates the bundle at bundlePath and records its configs and runs
// in db through registry.DB.ImportRun, in one transaction. Importing the
// same bundle twice adds nothing. A corrupt bundle is refused with an error
// wrapping ErrCorruptBundle; a config or run already recorded with other
// content (another run holding the same hash and attempt, a config with
// other JSON) is refused with an error matching registry.ErrConflict. A
// refused import leaves the registry and runs/ as they were: no recorded
// row is ever replaced. A bundled checkpoint is recorded as the artifact of
// its run under the root-relative path runs/<hash>/<file> and then placed
// there (an existing file there must have the same content); should the
// placing fail, importing the bundle again places it.
func Import(db *registry.DB, root, bundlePath string) (*ImportResult, error) {
	runsDir := filepath.Join(root, "runs")
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	tmp, err := os.MkdirTemp(runsDir, ".import-*")
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	defer os.RemoveAll(tmp)
	b, err := readBundle(bundlePath, tmp)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	rb, err := b.registryBundle()
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	res := &ImportResult{Hash: b.manifest.Hash}
	if b.ckpt != "" {
		// Refuse a different file in the way before recording anything.
		if res.Checkpoint, err = checkpointDest(b, root); err != nil {
			return nil, fmt.Errorf("import %s: %w", bundlePath, err)
		}
	}
	// Record first, then place the file: a run directory's file is never
	// unreferenced (garbage) while the import is under way.
	st, err := db.ImportRun(rb)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", bundlePath, err)
	}
	res.ConfigsAdded, res.RunsAdded, res.RunsPresent = st.ConfigsAdded, st.RunsAdded, st.RunsPresent
	res.Metrics, res.TaskResults, res.Artifacts = st.Metrics, st.TaskResults, st.Artifacts
	if b.ckpt != "" {
		if err := placeCheckpoint(b, res.Checkpoint); err != nil {
			return nil, fmt.Errorf("import %s: the runs are recorded but the checkpoint could not be placed (import the bundle again to place it): %w", bundlePath, err)
		}
	}
	return res, nil
}

// registryBundle is the validated registry form of b. The bundled
// checkpoint's artifact is recorded under the root-relative path Import
// places the file at.
func (b *bundle) registryBundle() (*registry.RunBundle, error) {
	rb, err := registryForm(b.manifest.Hash, b.config, &b.runs)
	if err != nil {
		return nil, corrupt("%s: %v", runsName, err)
	}
	if c := b.manifest.Checkpoint; c != nil {
		base := strings.TrimPrefix(c.File, ckptDir)
		local := filepath.Join("runs", b.manifest.Hash, base)
		for i := range rb.Runs {
			r := &rb.Runs[i]
			if r.Hash != b.manifest.Hash || r.Attempt != c.Attempt {
				continue
			}
			// The artifact the file was exported from: same content and,
			// among those, the same file name.
			pick := -1
			for k, a := range r.Artifacts {
				if a.Kind == "checkpoint" && a.SHA256 == c.SHA256 && (pick < 0 || filepath.Base(a.Path) == base) {
					pick = k
				}
			}
			if pick >= 0 {
				r.Artifacts[pick].Path = local
			}
		}
	}
	if err := rb.Validate(); err != nil {
		return nil, corrupt("%s: %v", runsName, err)
	}
	return rb, nil
}

// checkpointDest is where the bundled checkpoint goes,
// <root>/runs/<hash>/<file>; a file already there must have the same
// content.
func checkpointDest(b *bundle, root string) (string, error) {
	base := strings.TrimPrefix(b.manifest.Checkpoint.File, ckptDir)
	dst := filepath.Join(root, "runs", b.manifest.Hash, base)
	if _, err := os.Lstat(dst); err == nil {
		sum, _, err := hashFile(dst)
		if err != nil {
			return "", err
		}
		if sum != b.manifest.Checkpoint.SHA256 {
			return "", fmt.Errorf("%s already exists with sha256 %s, the bundled checkpoint has %s; move it away to import", dst, short(sum), short(b.manifest.Checkpoint.SHA256))
		}
	}
	return dst, nil
}

// placeCheckpoint puts the extracted checkpoint at dst, never replacing a
// file there: one with the bundled content is kept, another is an error.
func placeCheckpoint(b *bundle, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	err := os.Link(b.ckpt, dst) // fails if dst exists
	if err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Lstat(dst); errors.Is(serr, os.ErrNotExist) { // no hard links here
			err = os.Rename(b.ckpt, dst)
		}
	}
	if err == nil {
		return nil
	}
	sum, _, herr := hashFile(dst)
	if herr == nil && sum == b.manifest.Checkpoint.SHA256 {
		return nil
	}
	return fmt.Errorf("place checkpoint at %s: %w", dst, err)
}
