package repro

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nanomamba-edge/harness/registry"
)

// scratch is a throw-away project root: every entry of the real root is
// linked in except the run directories, the token cache and registry
// files, so runs written there touch nothing of the reviewer's.
type scratch struct {
	dir  string // the scratch directory itself
	root string // dir/root: the linked project root
	db   *registry.DB
}

// skippedRootEntry reports whether a root entry stays out of the scratch
// root: things a run writes.
func skippedRootEntry(name string) bool {
	return name == "runs" || name == ".cache" || strings.HasPrefix(name, "registry.db")
}

func newScratch(parent, root string) (*scratch, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("scratch: project root %s: %w", root, err)
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("scratch: read project root: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "reproduce-*")
	if err != nil {
		return nil, fmt.Errorf("scratch: %w", err)
	}
	s := &scratch{dir: dir, root: filepath.Join(dir, "root")}
	if err := os.Mkdir(s.root, 0o755); err != nil {
		s.remove()
		return nil, fmt.Errorf("scratch: %w", err)
	}
	for _, e := range ents {
		if skippedRootEntry(e.Name()) {
			continue
		}
		if err := os.Symlink(filepath.Join(abs, e.Name()), filepath.Join(s.root, e.Name())); err != nil {
			s.remove()
			return nil, fmt.Errorf("scratch: link %s: %w", e.Name(), err)
		}
	}
	if s.db, err = registry.Open(filepath.Join(dir, "registry.db")); err != nil {
		s.remove()
		return nil, fmt.Errorf("scratch: %w", err)
	}
	return s, nil
}

func (s *scratch) close() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

func (s *scratch) remove() {
	_ = s.close()
	_ = os.RemoveAll(s.dir)
}

// currentCode asks git for the checked-out commit and whether the tree has
// changes, exactly as the registry does when it begins a run (in the
// current directory), so the two versions compare like with like.
func currentCode() CodeVersion {
	v := CodeVersion{Commit: "unknown"}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return v
	}
	if rev := strings.TrimSpace(string(out)); rev != "" {
		v.Commit = rev
		if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
			v.Dirty = strings.TrimSpace(string(st)) != ""
		}
	}
	return v
}

func codeWarnings(rec, cur CodeVersion) []string {
	var ws []string
	if rec.Commit != cur.Commit {
		ws = append(ws, fmt.Sprintf("code version differs: the run was recorded at %s, this tree is at %s; differences may come from code changes", rec, cur))
	}
	if rec.Dirty {
		ws = append(ws, "the run was recorded from a tree with uncommitted changes: its commit does not pin the code exactly")
	}
	if cur.Dirty {
		ws = append(ws, "this tree has uncommitted changes")
	}
	return ws
}
