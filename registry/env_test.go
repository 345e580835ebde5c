package registry

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Only tracked changes make a tree dirty: untracked files (a scratch
// registry, run directories) do not; a tracked change is recorded with
// the sha256 of its diff, which changes with the change.
func TestDirtyMeansTrackedChanges(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("code.go", "package x\n")
	git("add", "code.go")
	git("commit", "-qm", "c")
	t.Chdir(dir)

	write("registry.db", "scratch")
	if env := detectEnvironment(); env.CodeDirty || env.CodeDiff != "" || len(env.CodeVersion) != 40 {
		t.Errorf("an untracked file made the tree dirty: %+v", env)
	}
	write("code.go", "package x\n\nvar A = 1\n")
	a := detectEnvironment()
	if !a.CodeDirty || len(a.CodeDiff) != 64 {
		t.Fatalf("a tracked change: %+v, want dirty with a diff hash", a)
	}
	write("code.go", "package x\n\nvar A = 2\n")
	if b := detectEnvironment(); b.CodeDiff == a.CodeDiff {
		t.Errorf("two different changes share the diff hash %s", a.CodeDiff)
	}
}
