package registry

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestOpenMigratesFromEmpty(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(path string) error
	}{
		{"no file", func(string) error { return nil }},
		{"zero-byte file", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.db")
			if err := tc.prepare(path); err != nil {
				t.Fatal(err)
			}
			db := mustOpen(t, path)
			defer db.Close()
			var v int
			if err := db.SQL().QueryRow("PRAGMA user_version").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != SchemaVersion() || v < 1 {
				t.Fatalf("user_version = %d, want %d", v, SchemaVersion())
			}
			for pragma, want := range map[string]string{
				"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "1",
			} {
				var got string
				if err := db.SQL().QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
				}
			}
			tables := tableNames(t, db.SQL())
			for _, want := range []string{"configs", "runs", "metrics", "task_results", "artifacts", "ablations",
				"ablation_members", "studies", "study_user_attributes", "study_system_attributes", "trials",
				"trial_params", "trial_values", "trial_user_attributes", "trial_system_attributes"} {
				if !slices.Contains(tables, want) {
					t.Errorf("table %s missing; have %v", want, tables)
				}
			}
			if db.Path() != path {
				t.Errorf("Path() = %q, want %q", db.Path(), path)
			}
		})
	}
}

func tableNames(t *testing.T, sdb *sql.DB) []string {
	t.Helper()
	rows, err := sdb.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestReopenIsNoOp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := mustOpen(t, path)
	if err := db.PutConfig(hashOf("a"), `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	var cookie int
	if err := db.SQL().QueryRow("PRAGMA schema_version").Scan(&cookie); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db2 := mustOpen(t, path)
	defer db2.Close()
	var cookie2, v int
	if err := db2.SQL().QueryRow("PRAGMA schema_version").Scan(&cookie2); err != nil {
		t.Fatal(err)
	}
	if err := db2.SQL().QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if cookie2 != cookie || v != SchemaVersion() {
		t.Fatalf("re-open changed the schema: cookie %d→%d, user_version %d", cookie, cookie2, v)
	}
	if js := mustConfig(t, db2, hashOf("a")); js != `{"a":1}` {
		t.Fatalf("config after re-open = %q", js)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := mustOpen(t, path)
	if _, err := db.SQL().Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := readFile(t, path)

	_, err := Open(path)
	want := "registry: " + path + " has schema version 99, this binary knows up to " +
		strconv.Itoa(SchemaVersion()) + "; upgrade the harness"
	if err == nil || err.Error() != want {
		t.Fatalf("Open error = %v, want %q", err, want)
	}
	if _, err := OpenReadOnly(path); err == nil || err.Error() != want {
		t.Fatalf("OpenReadOnly error = %v, want %q", err, want)
	}
	after := readFile(t, path)
	if !bytes.Equal(before, after) {
		t.Fatal("refused file was modified")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		if fi, _ := os.Stat(path + "-wal"); fi.Size() > 0 {
			t.Fatal("refused file gained a non-empty WAL")
		}
	}
}

func TestOpenRefusesNonSQLite(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"short text", "hello\n"},
		{"long text", strings.Repeat("this is a text file, not a database\n", 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "notes.txt")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			want := "registry: " + path + " is not a SQLite database"
			if _, err := Open(path); err == nil || err.Error() != want {
				t.Fatalf("Open error = %v, want %q", err, want)
			}
			if _, err := OpenReadOnly(path); err == nil || err.Error() != want {
				t.Fatalf("OpenReadOnly error = %v, want %q", err, want)
			}
			if got := readFile(t, path); string(got) != tc.content {
				t.Fatal("refused file was modified")
			}
		})
	}
}

func TestOpenBadPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
		skip             bool
	}{
		{"missing directory", filepath.Join(dir, "nope", "r.db"), "registry: cannot create " + filepath.Join(dir, "nope", "r.db") + ": directory " + filepath.Join(dir, "nope") + " does not exist", false},
		{"parent is a file", filepath.Join(file, "r.db"), "registry: cannot create " + filepath.Join(file, "r.db") + ": " + file + " is not a directory", false},
		{"unwritable directory", filepath.Join(locked, "r.db"), "registry: cannot create " + filepath.Join(locked, "r.db") + ": directory " + locked + " is not writable", os.Geteuid() == 0},
		{"path is a directory", dir, "registry: " + dir + " is a directory", false},
		{"empty path", "", "registry: empty path", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("root may write anywhere")
			}
			_, err := Open(tc.path)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Open(%q) error = %v, want prefix %q", tc.path, err, tc.want)
			}
			if _, err := os.Stat(tc.path); tc.path != dir && tc.path != "" && err == nil {
				t.Fatal("a file was created")
			}
		})
	}
}

func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenReadOnly(missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenReadOnly(missing) = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("OpenReadOnly created a file")
	}
	path := filepath.Join(dir, "registry.db")
	db := mustOpen(t, path)
	h := hashOf("ro")
	if err := db.PutConfig(h, `{}`); err != nil {
		t.Fatal(err)
	}
	ro := mustOpenRO(t, path)
	defer ro.Close()
	if js := mustConfig(t, ro, h); js != `{}` {
		t.Fatalf("read-only Config = %q", js)
	}
	if err := ro.PutConfig(hashOf("other"), `{}`); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write through read-only handle: %v", err)
	}
	db.Close()
}
