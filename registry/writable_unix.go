//go:build unix

package registry

import "golang.org/x/sys/unix"

// writable reports whether the current user may create files in dir.
func writable(dir string) error { return unix.Access(dir, unix.W_OK|unix.X_OK) }
