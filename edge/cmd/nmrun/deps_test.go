package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSmallDependencySet keeps the decoder small: every package it links
// adds pages of code, data and init work to its resident memory (the decode
// bench's lean peak RSS), so it must not reach the training stack, the
// config loader, the registry or the network packages.
func TestSmallDependencySet(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages: %q", len(deps), out)
	}
	forbidden := []string{
		"github.com/nanomamba-edge/harness/models",
		"github.com/nanomamba-edge/harness/configs",
		"github.com/nanomamba-edge/harness/data",
		"github.com/nanomamba-edge/harness/edge",
		"github.com/nanomamba-edge/harness/registry",
		"github.com/spf13/viper",
		"github.com/mattn/go-sqlite3",
		"net/http",
		"crypto/tls",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f {
				t.Errorf("nmrun links %s", d)
			}
		}
	}
}
