package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// openTemp opens a fresh registry in a temporary directory.
func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(newBackendName(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// hashOf returns the hex SHA-256 of s, the shape of every run hash.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustOpen(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func mustOpenRO(t *testing.T, path string) *DB {
	t.Helper()
	db, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	return db
}

func mustConfig(t *testing.T, db *DB, hash string) string {
	t.Helper()
	js, err := db.Config(hash)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
