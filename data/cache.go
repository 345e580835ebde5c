package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The shard cache is one directory per key holding tokenizer.json, the
// streams as little-endian int32 files, and meta.json with their lengths and
// sha256 sums, checked on load. A directory is written under a temporary name
// and renamed into place, so readers never see a partial one.

type streamMeta struct {
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
}

type shardMeta struct {
	Version   int                   `json:"version"`
	Tokenizer string                `json:"tokenizer_sha256"`
	ValBytes  int64                 `json:"val_bytes"`
	HeldBytes int64                 `json:"held_bytes"`
	Stats     map[string]Stats      `json:"stats"`
	Streams   map[string]streamMeta `json:"streams"`
}

func encodeStream(s []int32) []byte {
	b := make([]byte, 4*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("data: cache: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("data: cache: writing %s: %v %v", path, werr, cerr)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("data: cache: %w", err)
	}
	return nil
}

func saveShards(cacheDir, dir string, ds *Dataset) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return fmt.Errorf("data: cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".tmp-shards-")
	if err != nil {
		return fmt.Errorf("data: cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	tj := ds.Tokenizer.JSON()
	meta := shardMeta{Version: cacheVersion, Tokenizer: sha(tj), ValBytes: ds.ValBytes, HeldBytes: ds.HeldBytes, Stats: ds.Stats, Streams: map[string]streamMeta{}}
	files := map[string][]byte{"tokenizer.json": tj}
	for name, s := range map[string][]int32{"train": ds.Train, "val": ds.Val, "held": ds.Held} {
		b := encodeStream(s)
		files[name+".i32"] = b
		meta.Streams[name] = streamMeta{Len: len(s), SHA256: sha(b)}
	}
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("data: cache meta: %w", err)
	}
	files["meta.json"] = mb
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return fmt.Errorf("data: cache: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "meta.json")); statErr == nil {
			return nil // another process wrote the same key first
		}
		return fmt.Errorf("data: cache: %w", err)
	}
	return nil
}

// loadShards reads a cache directory, verifying every file against meta.json.
func loadShards(dir string) (*Dataset, error) {
	mb, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	var meta shardMeta
	if err := json.Unmarshal(mb, &meta); err != nil {
		return nil, fmt.Errorf("%s: meta.json: %w", dir, err)
	}
	if meta.Version != cacheVersion {
		return nil, fmt.Errorf("%s: cache version %d, want %d", dir, meta.Version, cacheVersion)
	}
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	if sha(tj) != meta.Tokenizer {
		return nil, fmt.Errorf("%s: tokenizer.json does not match meta.json", dir)
	}
	tok, err := ParseTokenizer(tj)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Tokenizer: tok, ValBytes: meta.ValBytes, HeldBytes: meta.HeldBytes, Stats: meta.Stats}
	for name, dst := range map[string]*[]int32{"train": &ds.Train, "val": &ds.Val, "held": &ds.Held} {
		m, ok := meta.Streams[name]
		if !ok {
			return nil, fmt.Errorf("%s: meta.json lists no %s stream", dir, name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name+".i32"))
		if err != nil {
			return nil, err
		}
		if len(b) != 4*m.Len || sha(b) != m.SHA256 {
			return nil, fmt.Errorf("%s: %s.i32 does not match meta.json", dir, name)
		}
		s := make([]int32, m.Len)
		for i := range s {
			s[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		for _, v := range s {
			if v < 0 || int(v) >= tok.VocabSize() {
				return nil, fmt.Errorf("%s: %s.i32 holds token %d outside the vocabulary", dir, name, v)
			}
		}
		*dst = s
	}
	return ds, nil
}
