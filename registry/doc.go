// Package registry is the experiment registry: one SQLite file (registry.db
// at the repository root by default) that records every config, run,
// metric, evaluation result, artifact, ablation matrix and hyper-parameter
// study of the harness.
//
// A run is identified by the SHA-256 hash of its canonical config plus an
// attempt number, so re-running a config adds a new attempt rather than a
// new identity. Each run records the environment it ran in (git commit and
// dirty flag, Go version, OS/architecture, CPU model, thread count, kernel
// set) and a heartbeat, so runs whose process died can be found and marked
// failed with MarkStale.
//
// The file is opened in WAL mode with a busy timeout; every write is one
// BEGIN IMMEDIATE transaction that is retried with backoff while another
// process holds the write lock, so many training, evaluation and search
// processes may share one registry at the same time. The schema is
// versioned by PRAGMA user_version and migrated forward on Open; a file
// written by a newer harness is refused and left untouched.
//
// StudyStorage exposes the hyper-parameter tables as a goptuna.Storage, so
// several processes can optimise one goptuna study together.
//
// A NaN stored in a REAL column becomes SQL NULL in SQLite; the registry
// reads NULL values back as NaN, so a NaN loss round-trips.
package registry
