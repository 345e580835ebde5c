package registry

import (
	"database/sql"
	"fmt"
)

// migrations holds the schema, one step per entry. Entry i moves the file
// from user_version i to i+1; each runs in its own transaction together with
// the user_version bump. Never edit a released entry: append a new one.
var migrations = []migration{
	// 1: initial schema.
	{SQL: `
CREATE TABLE configs (
	hash    TEXT PRIMARY KEY NOT NULL CHECK (length(hash) > 0),
	json    TEXT NOT NULL,
	created TEXT NOT NULL
);

CREATE TABLE runs (
	id           INTEGER PRIMARY KEY,
	hash         TEXT NOT NULL CHECK (length(hash) > 0),
	attempt      INTEGER NOT NULL CHECK (attempt >= 1),
	kind         TEXT NOT NULL CHECK (kind IN ('train', 'eval', 'hpo-trial', 'ablation-arm', 'bench')),
	status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'pruned')),
	name         TEXT NOT NULL DEFAULT '',
	parent_hash  TEXT NOT NULL DEFAULT '',
	created      TEXT NOT NULL,
	started      TEXT,
	finished     TEXT,
	heartbeat    TEXT,
	code_version TEXT NOT NULL DEFAULT 'unknown',
	code_dirty   INTEGER NOT NULL DEFAULT 0 CHECK (code_dirty IN (0, 1)),
	go_version   TEXT NOT NULL DEFAULT '',
	os           TEXT NOT NULL DEFAULT '',
	cpu          TEXT NOT NULL DEFAULT '',
	threads      INTEGER NOT NULL DEFAULT 0,
	kernel_set   TEXT NOT NULL DEFAULT '',
	error        TEXT NOT NULL DEFAULT '',
	summary_json TEXT NOT NULL DEFAULT '',
	UNIQUE (hash, attempt)
);
CREATE INDEX runs_status_heartbeat ON runs (status, heartbeat);
CREATE INDEX runs_kind ON runs (kind, id);
CREATE INDEX runs_parent_hash ON runs (parent_hash) WHERE parent_hash <> '';

CREATE TABLE metrics (
	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	name   TEXT NOT NULL,
	step   INTEGER NOT NULL,
	value  REAL,
	PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;

CREATE TABLE task_results (
	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	task   TEXT NOT NULL,
	metric TEXT NOT NULL,
	value  REAL,
	stderr REAL,
	n      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, task, metric)
) WITHOUT ROWID;

CREATE TABLE artifacts (
	id      INTEGER PRIMARY KEY,
	run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	kind    TEXT NOT NULL,
	path    TEXT NOT NULL,
	sha256  TEXT NOT NULL CHECK (length(sha256) = 64),
	bytes   INTEGER NOT NULL CHECK (bytes >= 0),
	created TEXT NOT NULL,
	UNIQUE (run_id, path)
);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);

CREATE TABLE ablations (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL CHECK (length(name) > 0),
	matrix_json TEXT NOT NULL,
	created     TEXT NOT NULL,
	UNIQUE (name, matrix_json)
);

CREATE TABLE ablation_members (
	ablation_id INTEGER NOT NULL REFERENCES ablations (id) ON DELETE CASCADE,
	run_hash    TEXT NOT NULL,
	arm         TEXT NOT NULL,
	seed        INTEGER NOT NULL,
	UNIQUE (ablation_id, run_hash)
);
CREATE INDEX ablation_members_run_hash ON ablation_members (run_hash);

CREATE TABLE studies (
	study_id   INTEGER PRIMARY KEY,
	study_name TEXT NOT NULL UNIQUE,
	direction  TEXT NOT NULL DEFAULT 'minimize' CHECK (direction IN ('minimize', 'maximize')),
	created    TEXT NOT NULL
);

CREATE TABLE study_user_attributes (
	study_id INTEGER NOT NULL REFERENCES studies (study_id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (study_id, key)
) WITHOUT ROWID;

CREATE TABLE study_system_attributes (
	study_id INTEGER NOT NULL REFERENCES studies (study_id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (study_id, key)
) WITHOUT ROWID;

CREATE TABLE trials (
	trial_id          INTEGER PRIMARY KEY,
	number            INTEGER NOT NULL CHECK (number >= 0),
	study_id          INTEGER NOT NULL REFERENCES studies (study_id) ON DELETE CASCADE,
	state             TEXT NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'fail', 'waiting')),
	value             REAL,
	datetime_start    TEXT,
	datetime_complete TEXT,
	run_hash          TEXT NOT NULL DEFAULT '',
	UNIQUE (study_id, number)
);
CREATE INDEX trials_study_state ON trials (study_id, state);
CREATE INDEX trials_run_hash ON trials (run_hash) WHERE run_hash <> '';

CREATE TABLE trial_params (
	trial_id          INTEGER NOT NULL REFERENCES trials (trial_id) ON DELETE CASCADE,
	param_name        TEXT NOT NULL,
	param_value       REAL,
	distribution_json TEXT NOT NULL,
	PRIMARY KEY (trial_id, param_name)
) WITHOUT ROWID;

CREATE TABLE trial_values (
	trial_id INTEGER NOT NULL REFERENCES trials (trial_id) ON DELETE CASCADE,
	step     INTEGER NOT NULL,
	value    REAL,
	PRIMARY KEY (trial_id, step)
) WITHOUT ROWID;

CREATE TABLE trial_user_attributes (
	trial_id INTEGER NOT NULL REFERENCES trials (trial_id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (trial_id, key)
) WITHOUT ROWID;

CREATE TABLE trial_system_attributes (
	trial_id INTEGER NOT NULL REFERENCES trials (trial_id) ON DELETE CASCADE,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (trial_id, key)
) WITHOUT ROWID;
`},
	// 2: leases (one process per hash), the hash of the tracked diff of a
	// dirty tree, ablation identities, and artifact paths relative to the
	// project root.
	{SQL: `
CREATE TABLE leases (
	hash      TEXT PRIMARY KEY NOT NULL CHECK (length(hash) > 0),
	run_id    INTEGER REFERENCES runs (id) ON DELETE SET NULL,
	token     TEXT NOT NULL CHECK (length(token) > 0),
	host      TEXT NOT NULL,
	pid       INTEGER NOT NULL,
	acquired  TEXT NOT NULL,
	heartbeat TEXT NOT NULL
);
ALTER TABLE runs ADD COLUMN code_diff TEXT NOT NULL DEFAULT '';

-- An ablation is identified by its definition hash, no longer by (name,
-- matrix JSON): rebuild both tables (children first, so no cascade fires).
CREATE TABLE ablations_v2 (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL CHECK (length(name) > 0),
	matrix_json TEXT NOT NULL,
	created     TEXT NOT NULL,
	def_hash    TEXT NOT NULL DEFAULT ''
);
INSERT INTO ablations_v2 (id, name, matrix_json, created) SELECT id, name, matrix_json, created FROM ablations;
CREATE TABLE ablation_members_v2 (
	ablation_id INTEGER NOT NULL REFERENCES ablations_v2 (id) ON DELETE CASCADE,
	run_hash    TEXT NOT NULL,
	arm         TEXT NOT NULL,
	seed        INTEGER NOT NULL,
	UNIQUE (ablation_id, run_hash)
);
INSERT INTO ablation_members_v2 SELECT ablation_id, run_hash, arm, seed FROM ablation_members;
DROP TABLE ablation_members;
DROP TABLE ablations;
ALTER TABLE ablations_v2 RENAME TO ablations;
ALTER TABLE ablation_members_v2 RENAME TO ablation_members;
CREATE INDEX ablation_members_run_hash ON ablation_members (run_hash);
CREATE INDEX ablations_def_hash ON ablations (def_hash);
`, Go: migrate2},
	// 3: the work queue that workers claim (ablation members, hpo trial
	// slots). Only a new table, so it is applied on demand: a file created
	// at an earlier version keeps it until the first command that queues
	// or claims work (see DB.ensureQueue), and readers accept such a file.
	{SQL: `
CREATE TABLE queue (
	id        INTEGER PRIMARY KEY,
	kind      TEXT NOT NULL CHECK (kind IN ('ablation-member', 'hpo-trial')),
	batch     TEXT NOT NULL CHECK (length(batch) > 0),
	item_key  TEXT NOT NULL CHECK (length(item_key) > 0),
	payload   TEXT NOT NULL,
	state     TEXT NOT NULL CHECK (state IN ('queued', 'claimed', 'done', 'failed')),
	attempts  INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	token     TEXT NOT NULL DEFAULT '',
	host      TEXT NOT NULL DEFAULT '',
	pid       INTEGER NOT NULL DEFAULT 0,
	worker    TEXT NOT NULL DEFAULT '',
	detail    TEXT NOT NULL DEFAULT '',
	created   TEXT NOT NULL,
	claimed   TEXT,
	heartbeat TEXT,
	finished  TEXT,
	error     TEXT NOT NULL DEFAULT '',
	UNIQUE (batch, item_key)
);
CREATE INDEX queue_state ON queue (state, id);
`, OnDemand: true},
	// 4: per-document scores of eval runs, compact (one row per task,
	// filter and metric: the values in doc_id order, gzip-compressed
	// little-endian float64, and a digest of the documents scored), so the
	// paired comparisons over documents work from the registry alone.
	// Applied on demand, like the queue.
	{SQL: `
CREATE TABLE item_scores (
	run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	task       TEXT NOT NULL CHECK (length(task) > 0),
	filter     TEXT NOT NULL,
	metric     TEXT NOT NULL CHECK (length(metric) > 0),
	docs       INTEGER NOT NULL CHECK (docs > 0),
	doc_digest TEXT NOT NULL CHECK (length(doc_digest) = 64),
	vals       BLOB NOT NULL,
	PRIMARY KEY (run_id, task, filter, metric)
);
`, OnDemand: true},
}

// migration is one schema step: SQL, then an optional Go data rewrite in
// the same transaction.
type migration struct {
	SQL string
	Go  func(tx *sql.Tx) error
	// OnDemand marks a step that only adds tables nothing older reads.
	// Open applies it to a new file; an existing file gets it from the
	// first call that needs it, so opening (or reading) a registry never
	// rewrites a committed file for a feature it does not use.
	OnDemand bool
}

// SchemaVersion returns the schema version this harness writes and
// understands: the highest user_version Open migrates a file to.
func SchemaVersion() int { return len(migrations) }

// requiredVersion is the lowest schema version this harness reads and
// writes without migrating: the version after the last step that is not
// applied on demand.
func requiredVersion() int {
	v := len(migrations)
	for v > 0 && migrations[v-1].OnDemand {
		v--
	}
	return v
}

// The schema versions that add the on-demand tables.
const (
	queueVersion = 3 // the work queue
	itemsVersion = 4 // per-document item scores of eval runs
)

// ensureSchema applies the on-demand schema steps up to version to a
// file opened at an older version (a read-only registry cannot be).
func (db *DB) ensureSchema(version int) error {
	if ok, err := db.hasSchema(version); err != nil || ok {
		return err
	}
	if db.readOnly {
		return fmt.Errorf("registry: %s is open read-only", db.path)
	}
	return db.migrateTo(version)
}

// hasSchema reports whether the file is at version or later (whether it
// has the tables that step adds).
func (db *DB) hasSchema(version int) (bool, error) {
	if int(db.schemaSeen.Load()) >= version {
		return true, nil
	}
	v, err := db.schemaVersion()
	if err != nil {
		return false, err
	}
	for {
		old := db.schemaSeen.Load()
		if int64(v) <= old || db.schemaSeen.CompareAndSwap(old, int64(v)) {
			break
		}
	}
	return v >= version, nil
}
