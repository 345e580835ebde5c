package registry

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// environment is what BeginRun records about the machine and the code.
type environment struct {
	CodeVersion string
	CodeDirty   bool
	CodeDiff    string // sha256 of the tracked diff against HEAD ("" when clean)
	GoVersion   string
	OS          string
	CPU         string
}

// environment is detected once per DB: git is asked in the current
// directory, the CPU model comes from /proc/cpuinfo when present.
func (db *DB) environment() environment {
	db.envOnce.Do(func() { db.env = detectEnvironment() })
	return db.env
}

func detectEnvironment() environment {
	env := environment{
		CodeVersion: "unknown",
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS + "/" + runtime.GOARCH,
		CPU:         cpuModel(),
	}
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		if rev := strings.TrimSpace(string(out)); rev != "" {
			env.CodeVersion = rev
			// Only tracked changes make a tree dirty: an untracked file (a
			// scratch registry, a run directory) changes no code.
			if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
				env.CodeDirty = strings.TrimSpace(string(st)) != ""
			}
			if env.CodeDirty {
				if diff, err := exec.Command("git", "diff", "HEAD", "--binary").Output(); err == nil {
					sum := sha256.Sum256(diff)
					env.CodeDiff = hex.EncodeToString(sum[:])
				}
			}
		}
	}
	return env
}

// CPUModel is the machine's CPU model name (from /proc/cpuinfo, else the
// architecture), as runs record it.
func CPUModel() string { return cpuModel() }

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name", "Model", "cpu model", "Hardware":
			if v := strings.TrimSpace(val); v != "" {
				return v
			}
		}
	}
	return runtime.GOARCH
}
