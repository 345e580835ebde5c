package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// GCReport is what a garbage collection found and did.
type GCReport struct {
	Deleted    []string // files removed (or, in a dry run, that would be)
	Bytes      int64
	Kept       int      // files some recorded artifact references
	NotOwned   []string // run directories of hashes this registry has no run of
	Busy       []string // run directories of hashes being run now (leased or running)
	NotRunDirs []string // entries of runs/ that are not run directories
}

// GC removes files under <root>/runs that no artifact of this registry
// references. It only enters run directories (runs/<64-hex hash>) of hashes
// this registry has runs of, never one whose hash is leased or has a
// running attempt, and holds the hash's lease while it deletes, so no run
// of it can start meanwhile. Paths are compared as cleaned absolute paths,
// whatever spelling of the root was used to record or to collect.
func (db *DB) GC(root string, dryRun bool) (*GCReport, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("registry: gc: root %s: %w", root, err)
	}
	arts, err := db.AllArtifacts()
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, a := range arts {
		p, err := filepath.Abs(ArtifactPath(absRoot, a))
		if err == nil {
			keep[filepath.Clean(p)] = true
		}
	}
	owned := map[string]bool{}
	err = db.snapshot(func(q querier) error {
		return eachRow(q, `SELECT DISTINCT hash FROM runs WHERE hash <> ?`, "", func(s scanner) error {
			var h string
			if err := s.Scan(&h); err != nil {
				return err
			}
			owned[h] = true
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("registry: gc: %w", err)
	}
	rep := &GCReport{}
	runsDir := filepath.Join(absRoot, "runs")
	ents, err := os.ReadDir(runsDir)
	if errors.Is(err, os.ErrNotExist) {
		return rep, nil
	} else if err != nil {
		return nil, fmt.Errorf("registry: gc: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		dir := filepath.Join(runsDir, name)
		switch {
		case !e.IsDir() || !isRunDirName(name):
			rep.NotRunDirs = append(rep.NotRunDirs, dir)
			continue
		case !owned[name]:
			rep.NotOwned = append(rep.NotOwned, dir)
			continue
		}
		release, err := db.holdLease(name)
		if errors.Is(err, errBusy) {
			rep.Busy = append(rep.Busy, dir)
			continue
		} else if err != nil {
			return nil, err
		}
		err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if keep[filepath.Clean(p)] {
				rep.Kept++
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rep.Deleted = append(rep.Deleted, p)
			rep.Bytes += info.Size()
			if !dryRun {
				return os.Remove(p)
			}
			return nil
		})
		if rerr := release(); err == nil {
			err = rerr
		}
		if err != nil {
			return nil, fmt.Errorf("registry: gc %s: %w", dir, err)
		}
	}
	sort.Strings(rep.Deleted)
	return rep, nil
}

var errBusy = errors.New("busy")

// holdLease takes the lease of hash for this process without a run (gc),
// failing with errBusy when the hash is leased or has a running attempt.
func (db *DB) holdLease(hash string) (func() error, error) {
	token := fmt.Sprintf("%s/%d/gc/%d", thisHost(), os.Getpid(), db.jitterToken())
	err := db.write(func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT (SELECT COUNT(*) FROM leases WHERE hash = ?1) +
			(SELECT COUNT(*) FROM runs WHERE hash = ?1 AND status = 'running')`, hash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errBusy
		}
		ts := formatTime(now())
		_, err := tx.Exec(`INSERT INTO leases (hash, run_id, token, host, pid, acquired, heartbeat) VALUES (?, NULL, ?, ?, ?, ?, ?)`,
			hash, token, thisHost(), os.Getpid(), ts, ts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return func() error {
		return db.write(func(tx *sql.Tx) error {
			_, err := tx.Exec(`DELETE FROM leases WHERE hash = ? AND token = ?`, hash, token)
			return err
		})
	}, nil
}
