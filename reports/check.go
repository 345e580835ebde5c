package reports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/nanomamba-edge/harness/registry"
)

// Check renders the paper into a temporary directory, with o.Template
// (default <o.Dir>/README.tmpl.md), and lists every generated file that
// differs from the committed one in o.Dir, is missing from it, or is stale
// in it ("path: reason"). An empty list means the committed paper is up to
// date.
func Check(db *registry.DB, o Options) ([]string, error) {
	committed := o.Dir
	if committed == "" {
		return nil, errors.New("reports: check: no paper directory given")
	}
	tmpl := o.Template
	if tmpl == "" {
		tmpl = filepath.Join(committed, "README.tmpl.md")
	}
	tmp, err := os.MkdirTemp("", "paper-check-")
	if err != nil {
		return nil, fmt.Errorf("reports: check: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := Render(db, Options{Dir: tmp, Template: tmpl, Root: o.Root}); err != nil {
		return nil, err
	}
	fresh, err := generatedFiles(tmp)
	if err != nil {
		return nil, err
	}
	old, err := generatedFiles(committed)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for rel := range fresh {
		if !old[rel] {
			diffs = append(diffs, rel+": missing from "+committed)
			continue
		}
		same, err := sameBytes(filepath.Join(tmp, rel), filepath.Join(committed, rel))
		if err != nil {
			return nil, fmt.Errorf("reports: check: %w", err)
		}
		if !same {
			diffs = append(diffs, rel+": differs from a fresh render")
		}
	}
	for rel := range old {
		if !fresh[rel] {
			diffs = append(diffs, rel+": stale (a fresh render does not produce it)")
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

// generatedFiles lists the generated files under dir (slash paths).
func generatedFiles(dir string) (map[string]bool, error) {
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if Generated(rel) {
			out[rel] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reports: list %s: %w", dir, err)
	}
	return out, nil
}
