package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/nanomamba-edge/harness/rng"
)

// DefaultPath is the registry file the CLI uses unless told otherwise,
// relative to the repository root.
const DefaultPath = "registry.db"

// busyTimeout is how long SQLite itself waits for a lock before a statement
// returns SQLITE_BUSY; retry adds backoff rounds on top of it.
const busyTimeout = 10 * time.Second

// ErrNotFound is wrapped by every lookup that finds nothing.
var ErrNotFound = errors.New("not found")

// ErrAmbiguousPrefix is wrapped by ResolvePrefix when a prefix matches more
// than one hash.
var ErrAmbiguousPrefix = errors.New("ambiguous hash prefix")

// DB is an open registry file. Its methods are safe for concurrent use by
// several goroutines, and several processes may open the same file.
type DB struct {
	sql      *sql.DB
	path     string
	readOnly bool

	envOnce sync.Once
	env     environment

	jitterMu sync.Mutex
	jitter   *rng.Stream

	schemaSeen atomic.Int64 // the highest schema version seen in the file (on-demand steps)
	pg         bool         // a PostgreSQL registry (see pg.go)
}

// Open opens the registry at path read-write, creating the file if it does
// not exist and migrating its schema to SchemaVersion. A file that is not a
// SQLite database, or whose schema is newer than this harness knows, is
// refused and left untouched.
//
// A path starting with postgres:// or postgresql:// opens a PostgreSQL
// registry instead: the same schema, migrations and API.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("registry: empty path; pass a file name such as " + DefaultPath)
	}
	if IsPostgres(path) {
		return openPostgres(path, false)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("registry: cannot resolve %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("registry: %s is a directory, not a registry file", path)
	case err == nil:
		// Inspect the existing file through a read-only connection first,
		// so a foreign or newer file is never touched by the WAL switch or
		// a migration.
		if _, err := probeVersion(path, abs); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		if err := checkCreatable(path, abs); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("registry: cannot open %s: %w", path, err)
	}

	params := url.Values{}
	params.Set("mode", "rwc")
	params.Set("_txlock", "immediate")
	params.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	params.Set("_journal_mode", "WAL")
	params.Set("_foreign_keys", "on")
	params.Set("_synchronous", "NORMAL")
	sdb, err := sql.Open("sqlite3", dsn(abs, params))
	if err != nil {
		return nil, fmt.Errorf("registry: cannot open %s: %w", path, err)
	}
	db := newDB(sdb, path, false)
	if err := db.retry(sdb.Ping); err != nil {
		sdb.Close()
		return nil, openError(path, err, true)
	}
	if err := db.migrate(); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// OpenReadOnly opens an existing registry for reading only: no file is
// created, no migration runs, and every write method returns an error. The
// schema must be exactly SchemaVersion.
func OpenReadOnly(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("registry: empty path; pass a file name such as " + DefaultPath)
	}
	if IsPostgres(path) {
		return openPostgres(path, true)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("registry: cannot resolve %s: %w", path, err)
	}
	if st, err := os.Stat(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("registry: %s does not exist; run a command that records runs first: %w", path, ErrNotFound)
		}
		return nil, fmt.Errorf("registry: cannot open %s: %w", path, err)
	} else if st.IsDir() {
		return nil, fmt.Errorf("registry: %s is a directory, not a registry file", path)
	}
	v, err := probeVersion(path, abs)
	if err != nil {
		return nil, err
	}
	if v < requiredVersion() {
		return nil, fmt.Errorf("registry: %s has schema version %d, this binary writes %d; open it read-write once (any recording command) to migrate it", path, v, SchemaVersion())
	}
	params := url.Values{}
	params.Set("mode", "ro")
	params.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	params.Set("_foreign_keys", "on")
	sdb, err := sql.Open("sqlite3", dsn(abs, params))
	if err != nil {
		return nil, fmt.Errorf("registry: cannot open %s: %w", path, err)
	}
	db := newDB(sdb, path, true)
	if err := db.retry(sdb.Ping); err != nil {
		sdb.Close()
		return nil, openError(path, err, false)
	}
	return db, nil
}

func newDB(sdb *sql.DB, path string, readOnly bool) *DB {
	return &DB{
		sql:      sdb,
		path:     path,
		readOnly: readOnly,
		jitter:   rng.New(int64(os.Getpid())^time.Now().UnixNano(), "registry/backoff"),
	}
}

// Path returns the file name the registry was opened with.
func (db *DB) Path() string { return db.path }

// Close closes the registry. A read-write handle first copies what it can
// of the write-ahead log into the main file (a passive checkpoint that
// never waits), so the committed registry.db is self-contained as soon as
// the last writer closes.
func (db *DB) Close() error {
	if !db.readOnly && !db.pg {
		_, _ = db.sql.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("registry: close %s: %w", db.path, err)
	}
	return nil
}

func dsn(abs string, params url.Values) string {
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + params.Encode()
}

// checkCreatable reports a clear error when the file cannot be created
// because its directory is missing, not a directory, or not writable.
func checkCreatable(path, abs string) error {
	dir := filepath.Dir(abs)
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("registry: cannot create %s: directory %s does not exist", path, dir)
		}
		return fmt.Errorf("registry: cannot create %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("registry: cannot create %s: %s is not a directory", path, dir)
	}
	if err := writable(dir); err != nil {
		return fmt.Errorf("registry: cannot create %s: directory %s is not writable: %w", path, dir, err)
	}
	return nil
}

// probeVersion reads user_version through a read-only connection and
// refuses files that are not SQLite databases or are newer than this binary.
func probeVersion(path, abs string) (int, error) {
	params := url.Values{}
	params.Set("mode", "ro")
	params.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	sdb, err := sql.Open("sqlite3", dsn(abs, params))
	if err != nil {
		return 0, fmt.Errorf("registry: cannot open %s: %w", path, err)
	}
	defer sdb.Close()
	var v int
	err = retryBusy(nil, func() error { return sdb.QueryRow("PRAGMA user_version").Scan(&v) })
	if err != nil {
		return 0, openError(path, err, false)
	}
	if err := checkVersion(path, v); err != nil {
		return 0, err
	}
	return v, nil
}

func checkVersion(path string, v int) error {
	if v > SchemaVersion() {
		return fmt.Errorf("registry: %s has schema version %d, this binary knows up to %d; upgrade the harness", path, v, SchemaVersion())
	}
	if v < 0 {
		return fmt.Errorf("registry: %s has invalid schema version %d", path, v)
	}
	return nil
}

// openError turns a driver error met while opening into a clear message.
func openError(path string, err error, creating bool) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return fmt.Errorf("registry: %s is not a SQLite database", path)
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrReadonly:
			if creating {
				return fmt.Errorf("registry: cannot create %s: %w", path, err)
			}
			return fmt.Errorf("registry: cannot open %s: %w", path, err)
		}
	}
	return fmt.Errorf("registry: cannot open %s: %w", path, err)
}

// migrate brings the schema to the version Open needs: every step for a
// new file (version 0), and for an existing file the steps up to
// requiredVersion; later on-demand steps wait for the first call that
// needs them (ensureQueue).
func (db *DB) migrate() error {
	var v int
	if err := db.retry(func() error { return db.sql.QueryRow("PRAGMA user_version").Scan(&v) }); err != nil {
		return fmt.Errorf("registry: read schema version of %s: %w", db.path, err)
	}
	target := requiredVersion()
	if v == 0 {
		target = SchemaVersion()
	}
	return db.migrateTo(target)
}

// migrateTo applies the schema steps up to version target, one
// transaction per step. Each step re-reads user_version under the write
// lock, so processes that open a fresh file at the same time apply every
// step exactly once.
func (db *DB) migrateTo(target int) error {
	for {
		v, err := db.schemaVersion()
		if err != nil {
			return err
		}
		if err := checkVersion(db.path, v); err != nil {
			return err
		}
		if v >= target {
			return nil
		}
		err = db.write(func(tx *sql.Tx) error {
			var cur int
			if err := db.versionIn(tx, &cur); err != nil {
				return err
			}
			if cur != v {
				return nil // another process migrated meanwhile; look again
			}
			script := migrations[v].SQL
			if db.pg {
				script = pgSchema(script)
			}
			if _, err := tx.Exec(script); err != nil {
				return err
			}
			if g := migrations[v].Go; g != nil {
				if err := g(tx); err != nil {
					return err
				}
			}
			return db.setVersion(tx, v+1)
		})
		if err != nil {
			return fmt.Errorf("registry: migrate %s from schema version %d to %d: %w", db.path, v, v+1, err)
		}
	}
}

// write runs fn in one BEGIN IMMEDIATE transaction, retrying the whole
// transaction with backoff while the database is busy. fn must have no
// effects outside the transaction.
func (db *DB) write(fn func(tx *sql.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s is open read-only", db.path)
	}
	return db.retry(func() error {
		tx, err := db.sql.Begin()
		if err != nil {
			return err
		}
		if db.pg {
			// One writer at a time, as BEGIN IMMEDIATE gives on SQLite.
			if _, err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, int64(writeLockKey)); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// retry runs fn until it succeeds, fails with an error other than
// SQLITE_BUSY/SQLITE_LOCKED, or the retry budget is spent.
func (db *DB) retry(fn func() error) error { return retryBusy(db, fn) }

const (
	retryRounds   = 30
	backoffFirst  = 5 * time.Millisecond
	backoffLimit  = 500 * time.Millisecond
	backoffJitter = 0.5
)

func retryBusy(db *DB, fn func() error) error {
	wait := backoffFirst
	var err error
	for round := 0; round < retryRounds; round++ {
		if err = fn(); err == nil || !isBusy(err) {
			return err
		}
		time.Sleep(jittered(db, wait))
		wait *= 2
		if wait > backoffLimit {
			wait = backoffLimit
		}
	}
	return fmt.Errorf("database still locked after %d attempts: %w", retryRounds, err)
}

// jittered spreads competing processes' retries apart: wait·[1−j, 1+j).
func jittered(db *DB, wait time.Duration) time.Duration {
	if db == nil {
		return wait
	}
	db.jitterMu.Lock()
	u := db.jitter.Float64()
	db.jitterMu.Unlock()
	return time.Duration(float64(wait) * (1 - backoffJitter + 2*backoffJitter*u))
}

func isBusy(err error) bool {
	if pgRetryable(err) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// foreignKey makes a foreign-key violation read as a missing parent row.
func foreignKey(err error, parent string) error {
	var se sqlite3.Error
	if (errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey) || pgForeignKey(err) {
		return fmt.Errorf("no such %s: %w", parent, ErrNotFound)
	}
	return err
}
