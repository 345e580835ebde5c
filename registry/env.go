package registry

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// environment is what BeginRun records about the machine and the code.
type environment struct {
	CodeVersion string
	CodeDirty   bool
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
			if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
				env.CodeDirty = strings.TrimSpace(string(st)) != ""
			}
		}
	}
	return env
}

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
