package registry

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The PostgreSQL tests start a private server (initdb into a temporary
// directory, a unix socket and a free port there, torn down by TestMain)
// and run the backend-agnostic registry tests against it, each on a
// database of its own. They are skipped, saying so, when the server
// binaries are not installed (Debian: apt-get install postgresql).

var pgServer struct {
	once    sync.Once
	err     error
	dir     string
	port    int
	cmd     *exec.Cmd
	n       atomic.Int64
	asOther []string // runuser prefix when running as root
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopPG()
	os.Exit(code)
}

// pgBin finds a PostgreSQL server's binaries.
func pgBin() string {
	if d := os.Getenv("HARNESS_PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func startPG() error {
	bin := pgBin()
	if bin == "" {
		return errNoPG
	}
	dir, err := os.MkdirTemp("", "registry-pg-")
	if err != nil {
		return err
	}
	pgServer.dir = dir
	if os.Geteuid() == 0 {
		// postgres refuses to run as root: run it as the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
		pgServer.asOther = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	if out, err := pgCommand(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pgServer.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	pgServer.cmd = pgCommand(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(pgServer.port),
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200")
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	os.Chmod(logf.Name(), 0o666)
	pgServer.cmd.Stdout, pgServer.cmd.Stderr = logf, logf
	if err := pgServer.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open(pgDriverNameForTest(), pgDSN("postgres"))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("postgres did not accept connections: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errNoPG = fmt.Errorf("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH, HARNESS_PG_BIN unset); install them with `apt-get install -y postgresql` to run the PostgreSQL registry tests")

func pgCommand(name string, args ...string) *exec.Cmd {
	full := append(append(append([]string{}, pgServer.asOther...), name), args...)
	return exec.Command(full[0], full[1:]...)
}

func pgDriverNameForTest() string {
	registerPG.Do(func() { sql.Register(pgDriverName, pgDriver{}) })
	return pgDriverName
}

// pgDSN is the DSN of database name on the test server.
func pgDSN(name string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", name, pgServer.dir, pgServer.port)
}

func stopPG() {
	if pgServer.cmd != nil && pgServer.cmd.Process != nil {
		// Stop the server itself (runuser does not pass signals on), then
		// reap the command.
		stop := pgCommand(filepath.Join(pgBin(), "pg_ctl"), "-D", filepath.Join(pgServer.dir, "data"), "-m", "immediate", "-w", "stop")
		if err := stop.Run(); err != nil {
			pgServer.cmd.Process.Signal(os.Interrupt)
		}
		done := make(chan struct{})
		go func() { pgServer.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			pgServer.cmd.Process.Kill()
		}
	}
	if pgServer.dir != "" {
		os.RemoveAll(pgServer.dir)
	}
}

// newPGDatabase creates an empty database on the test server and returns
// its DSN; the test is skipped when no server can run here.
func newPGDatabase(t *testing.T) string {
	t.Helper()
	pgServer.once.Do(func() { pgServer.err = startPG() })
	if pgServer.err == errNoPG {
		t.Skip(errNoPG.Error())
	} else if pgServer.err != nil {
		t.Fatalf("PostgreSQL test server: %v", pgServer.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgServer.n.Add(1))
	admin, err := sql.Open(pgDriverNameForTest(), pgDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatal(err)
	}
	return pgDSN(name)
}

// backendPG, when set, makes openTemp open a fresh PostgreSQL database.
var backendPG atomic.Bool

// TestPostgres runs every registry test that opens its registry with
// openTemp (the API, lifecycle, leases, studies, bundles, queue) against a
// PostgreSQL server; the rest test SQLite files themselves (open modes,
// migrations of old files, WAL, file permissions).
func TestPostgres(t *testing.T) {
	newPGDatabase(t) // start the server, or skip
	backendPG.Store(true)
	defer backendPG.Store(false)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"AblationsRoundTrip", TestAblationsRoundTrip},
		{"ArtifactsRoundTrip", TestArtifactsRoundTrip},
		{"AttemptLifecycle", TestAttemptLifecycle},
		{"ConfigRoundTrip", TestConfigRoundTrip},
		{"ExportImportRunRoundTrip", TestExportImportRunRoundTrip},
		{"ExportRunFromReadOnlyHandle", TestExportRunFromReadOnlyHandle},
		{"ExportRunNotFound", TestExportRunNotFound},
		{"GoptunaStudy", TestGoptunaStudy},
		{"ImportRunRefusesConflicts", TestImportRunRefusesConflicts},
		{"ImportRunRefusesInvalid", TestImportRunRefusesInvalid},
		{"ImportRunStoresRootRelativePaths", TestImportRunStoresRootRelativePaths},
		{"ItemScoresRoundTrip", TestItemScoresRoundTrip},
		{"ItemScoresRefusesInvalid", TestItemScoresRefusesInvalid},
		{"MarkStale", TestMarkStale},
		{"MetricsRoundTrip", TestMetricsRoundTrip},
		{"QueueClaimFinishAndRequeue", TestQueueClaimFinishAndRequeue},
		{"QueueConcurrentClaims", TestQueueConcurrentClaims},
		{"QueueDeadOwnerIsTakenOver", TestQueueDeadOwnerIsTakenOver},
		{"QueueStaleClaimIsTakenOver", TestQueueStaleClaimIsTakenOver},
		{"ResolvePrefix", TestResolvePrefix},
		{"RunLifecycle", TestRunLifecycle},
		{"RunsFilter", TestRunsFilter},
		{"StudyStorageRoundTrip", TestStudyStorageRoundTrip},
		{"TaskResultsRoundTrip", TestTaskResultsRoundTrip},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// openBackend opens the registry name on the current test backend: a
// file path for SQLite, a DSN for PostgreSQL.
func openBackend(t *testing.T, name string) *DB {
	t.Helper()
	db, err := Open(name)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	return db
}

// newBackendName is a fresh registry's name on the current backend.
func newBackendName(t *testing.T) string {
	if backendPG.Load() {
		return newPGDatabase(t)
	}
	return filepath.Join(t.TempDir(), "registry.db")
}
