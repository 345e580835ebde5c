package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// minPrefix is the shortest hash prefix ResolvePrefix accepts.
const minPrefix = 4

// maxCandidates bounds the candidates an ambiguous-prefix error lists.
const maxCandidates = 10

// PutConfig records the canonical JSON of a config under its hash. Storing
// the same pair again is a no-op; storing different JSON under an existing
// hash is an error (a hash collision or a canonicalisation bug).
func (db *DB) PutConfig(hash, canonicalJSON string) error {
	if err := checkHash(hash); err != nil {
		return fmt.Errorf("registry: put config: %w", err)
	}
	if !json.Valid([]byte(canonicalJSON)) {
		return fmt.Errorf("registry: put config %s: the config is not valid JSON", hash)
	}
	err := db.write(func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRow(`SELECT json FROM configs WHERE hash = ?`, hash).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.Exec(`INSERT INTO configs (hash, json, created) VALUES (?, ?, ?)`,
				hash, canonicalJSON, formatTime(now()))
			return err
		case err != nil:
			return err
		case old != canonicalJSON:
			return fmt.Errorf("hash is already stored with different JSON (%d vs %d bytes); the canonical form must be unique per hash",
				len(old), len(canonicalJSON))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("registry: put config %s: %w", hash, err)
	}
	return nil
}

// Config returns the canonical JSON stored under hash.
func (db *DB) Config(hash string) (string, error) {
	var js string
	err := db.retry(func() error {
		return db.sql.QueryRow(`SELECT json FROM configs WHERE hash = ?`, hash).Scan(&js)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("registry: config %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("registry: config %s: %w", hash, err)
	}
	return js, nil
}

// ResolvePrefix expands a hash prefix of at least four hex digits to the one
// config or run hash that starts with it, as git does for commits. An
// ambiguous prefix yields an error wrapping ErrAmbiguousPrefix that lists
// the candidates; an unknown one an error wrapping ErrNotFound.
func (db *DB) ResolvePrefix(prefix string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(prefix))
	if len(p) < minPrefix {
		return "", fmt.Errorf("registry: hash prefix %q is too short; give at least %d hex digits", prefix, minPrefix)
	}
	for _, c := range p {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", fmt.Errorf("registry: hash prefix %q is not hexadecimal (want digits 0-9 and a-f)", prefix)
		}
	}
	var matches []string
	err := db.retry(func() error {
		matches = matches[:0]
		rows, err := db.sql.Query(`
			SELECT hash FROM configs WHERE hash GLOB ?1
			UNION
			SELECT hash FROM runs WHERE hash GLOB ?1
			ORDER BY hash LIMIT ?2`, p+"*", maxCandidates+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				return err
			}
			matches = append(matches, h)
		}
		return rows.Err()
	})
	if err != nil {
		return "", fmt.Errorf("registry: resolve hash prefix %q: %w", prefix, err)
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("registry: no config or run hash starts with %q: %w", prefix, ErrNotFound)
	case 1:
		return matches[0], nil
	}
	list := matches
	more := ""
	if len(list) > maxCandidates {
		list, more = list[:maxCandidates], ", ..."
	}
	return "", fmt.Errorf("registry: hash prefix %q matches %s%s; give more digits: %w",
		prefix, strings.Join(list, ", "), more, ErrAmbiguousPrefix)
}

func checkHash(hash string) error {
	if hash == "" {
		return errors.New("empty hash")
	}
	if strings.ContainsAny(hash, " \t\r\n*?[") {
		return fmt.Errorf("hash %q contains whitespace or glob characters", hash)
	}
	return nil
}
