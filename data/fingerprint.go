package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nanomamba-edge/harness/configs"
)

// Fingerprint is the sha256 over the sorted files a source matches: for each
// file its name relative to root, its size and its raw (still compressed)
// contents. It fails, naming the path, when the path matches no file.
func Fingerprint(root string, src configs.DataSource) (string, error) {
	files, err := Match(root, src.Path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		name := f
		if rel, err := filepath.Rel(root, f); err == nil {
			name = filepath.ToSlash(rel)
		}
		if err := hashFile(h, name, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h io.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: fingerprint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("data: fingerprint: %w", err)
	}
	var hdr [16]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(name)))
	binary.LittleEndian.PutUint64(hdr[8:], uint64(st.Size()))
	h.Write(hdr[:8])
	io.WriteString(h, name)
	h.Write(hdr[8:])
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("data: fingerprint %s: %w", path, err)
	}
	if n != st.Size() {
		return fmt.Errorf("data: fingerprint %s: file changed while reading", path)
	}
	return nil
}
