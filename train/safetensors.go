package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Tensor is one named float32 tensor of a safetensors file.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

type tensorHeader struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeaderBytes bounds the JSON header a reader accepts.
const maxHeaderBytes = 64 << 20

// WriteSafetensors writes tensors (in the given order) and metadata to path
// in the safetensors format, atomically: the bytes go to a temporary file in
// the same directory, which is synced and then renamed over path. It returns
// the sha256 of the file and its size in bytes.
func WriteSafetensors(path string, tensors []Tensor, meta map[string]string) (string, int64, error) {
	header := make(map[string]any, len(tensors)+1)
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "__metadata__" || t.Name == "" {
			return "", 0, fmt.Errorf("write %s: invalid tensor name %q", path, t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return "", 0, fmt.Errorf("write %s: duplicate tensor %q", path, t.Name)
		}
		if n := shapeSize(t.Shape); n != len(t.Data) {
			return "", 0, fmt.Errorf("write %s: tensor %q has shape %v (%d elements) but %d values", path, t.Name, t.Shape, n, len(t.Data))
		}
		end := off + 4*int64(len(t.Data))
		header[t.Name] = tensorHeader{DType: "F32", Shape: t.Shape, DataOffsets: [2]int64{off, end}}
		off = end
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return "", 0, fmt.Errorf("write %s: encode header: %w", path, err)
	}
	for len(hj)%8 != 0 { // pad with spaces so the data starts 8-byte aligned
		hj = append(hj, ' ')
	}

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	w := io.MultiWriter(tmp, h)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hj)))
	buf := make([]byte, 0, 1<<16)
	buf = append(buf, lenBuf[:]...)
	buf = append(buf, hj...)
	for _, t := range tensors {
		for _, x := range t.Data {
			if len(buf)+4 > cap(buf) {
				if _, err := w.Write(buf); err != nil {
					tmp.Close()
					return "", 0, fmt.Errorf("write %s: %w", path, err)
				}
				buf = buf[:0]
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	if _, err := w.Write(buf); err != nil {
		tmp.Close()
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", 0, fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return hex.EncodeToString(h.Sum(nil)), 8 + int64(len(hj)) + off, nil
}

// SafetensorsFile is a parsed safetensors file holding F32 tensors.
type SafetensorsFile struct {
	Meta    map[string]string
	Tensors map[string]Tensor
	// Names lists the tensors in file order.
	Names []string
	// SHA256 is the hex sha256 of the whole file.
	SHA256 string
}

// ReadSafetensors reads and validates a safetensors file of F32 tensors: the
// header length, the JSON header, every tensor's dtype, shape and offsets,
// and that the data section is exactly as long as the header says.
func ReadSafetensors(path string) (*SafetensorsFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s is corrupt or truncated: %s", path, fmt.Sprintf(format, args...))
	}
	if len(raw) < 8 {
		return nil, bad("%d bytes, shorter than the 8-byte header length", len(raw))
	}
	hlen := binary.LittleEndian.Uint64(raw[:8])
	if hlen > maxHeaderBytes || hlen > uint64(len(raw)-8) {
		return nil, bad("header length %d does not fit in a %d-byte file", hlen, len(raw))
	}
	hj := raw[8 : 8+hlen]
	var header map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hj))
	if err := dec.Decode(&header); err != nil {
		return nil, bad("header is not valid JSON: %v", err)
	}
	if len(bytes.TrimRight(hj[dec.InputOffset():], " ")) != 0 {
		return nil, bad("unexpected bytes after the JSON header")
	}
	body := raw[8+hlen:]
	f := &SafetensorsFile{Meta: map[string]string{}, Tensors: map[string]Tensor{}}
	type span struct {
		name     string
		beg, end int64
	}
	var spans []span
	for name, msg := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Meta); err != nil {
				return nil, bad("__metadata__ is not a string map: %v", err)
			}
			continue
		}
		var th tensorHeader
		if err := json.Unmarshal(msg, &th); err != nil {
			return nil, bad("tensor %q: %v", name, err)
		}
		if th.DType != "F32" {
			return nil, fmt.Errorf("checkpoint %s is corrupt or unsupported: tensor %q has dtype %q; only F32 is supported", path, name, th.DType)
		}
		beg, end := th.DataOffsets[0], th.DataOffsets[1]
		n := shapeSize(th.Shape)
		if n < 0 || beg < 0 || end < beg || end > int64(len(body)) || end-beg != 4*int64(n) {
			return nil, bad("tensor %q: shape %v and data_offsets [%d,%d] do not match a %d-byte data section", name, th.Shape, beg, end, len(body))
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[beg+4*int64(i):]))
		}
		f.Tensors[name] = Tensor{Name: name, Shape: th.Shape, Data: data}
		spans = append(spans, span{name, beg, end})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].beg < spans[j].beg })
	var off int64
	for _, s := range spans {
		if s.beg != off {
			return nil, bad("tensor %q starts at byte %d, want %d (gap or overlap)", s.name, s.beg, off)
		}
		off = s.end
		f.Names = append(f.Names, s.name)
	}
	if off != int64(len(body)) {
		return nil, bad("data section holds %d bytes, header describes %d", len(body), off)
	}
	sum := sha256.Sum256(raw)
	f.SHA256 = hex.EncodeToString(sum[:])
	return f, nil
}

func shapeSize(shape []int) int {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return -1
		}
		n *= s
	}
	return n
}
