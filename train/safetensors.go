package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"
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
		n := shapeSize(t.Shape)
		if n < 0 {
			return "", 0, fmt.Errorf("write %s: tensor %q has shape %v: a negative dimension or too many values", path, t.Name, t.Shape)
		}
		if n != len(t.Data) {
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
	// Names lists the tensors in file order: by the byte range of their
	// data (an empty tensor before the one starting at the same byte), ties
	// (empty tensors at the same byte) by name.
	Names []string
	// SHA256 is the hex sha256 of the whole file.
	SHA256 string
}

// unsupportedError is a well-formed entry this reader cannot hold (a dtype
// other than F32).
type unsupportedError string

func (e unsupportedError) Error() string { return string(e) }

// ReadSafetensors reads and validates a safetensors file of F32 tensors: the
// header length, the JSON header (an object with unique keys, each tensor
// with exactly dtype, shape and data_offsets), every tensor's size against
// its shape, and that the tensors tile the data section exactly: no gap,
// no overlap, nothing after the last one. Every size computation is checked
// for overflow, and nothing is decoded before the whole header checks out,
// so a file never makes the reader allocate more than its own size again.
func ReadSafetensors(path string) (*SafetensorsFile, error) {
	raw, err := readRegular(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	f, err := parseSafetensors(raw)
	var unsupported unsupportedError
	if errors.As(err, &unsupported) {
		return nil, fmt.Errorf("checkpoint %s is corrupt or unsupported: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s is corrupt or truncated: %w", path, err)
	}
	return f, nil
}

// readRegular reads a whole regular file (not a device or pipe, which could
// stream without end).
func readRegular(path string) ([]byte, error) {
	// Checked before opening too: opening a named pipe would block.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %v)", path, st.Mode())
	}
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %v)", path, st.Mode())
	}
	raw, err := io.ReadAll(io.LimitReader(in, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
}

// maxTensorElems keeps every byte count (4 per element) within an int64.
const maxTensorElems = math.MaxInt64 / 4

// parseSafetensors validates and decodes the bytes of a safetensors file.
func parseSafetensors(raw []byte) (*SafetensorsFile, error) {
	if len(raw) < 8 {
		return nil, fmt.Errorf("%d bytes, shorter than the 8-byte header length", len(raw))
	}
	hlen := binary.LittleEndian.Uint64(raw[:8])
	switch {
	case hlen == 0:
		return nil, errors.New("the header is empty; it must be a JSON object")
	case hlen > maxHeaderBytes:
		return nil, fmt.Errorf("header length %d is over the %d-byte limit", hlen, maxHeaderBytes)
	case hlen > uint64(len(raw)-8):
		return nil, fmt.Errorf("header length %d does not fit in a %d-byte file", hlen, len(raw))
	}
	hj, body := raw[8:8+hlen], raw[8+hlen:]
	if !utf8.Valid(hj) {
		return nil, errors.New("the header is not valid UTF-8")
	}
	if hj[0] != '{' {
		return nil, fmt.Errorf("the header must be a JSON object starting with '{', not with %q", hj[0])
	}
	members, end, err := jsonObject(hj)
	if err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %v", err)
	}
	if len(bytes.TrimRight(hj[end:], " ")) != 0 {
		return nil, fmt.Errorf("unexpected bytes after the JSON header at offset %d (only spaces may pad it)", end)
	}

	f := &SafetensorsFile{Meta: map[string]string{}, Tensors: map[string]Tensor{}}
	type span struct {
		name     string
		shape    []int
		beg, end int64
	}
	spans := make([]span, 0, len(members))
	for _, m := range members {
		if m.key == "__metadata__" {
			if f.Meta, err = stringMap(m.value); err != nil {
				return nil, fmt.Errorf("__metadata__ must be an object of strings: %v", err)
			}
			continue
		}
		if m.key == "" {
			return nil, errors.New("a tensor has an empty name")
		}
		shape, beg, end, err := tensorEntry(m.value, int64(len(body)))
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", m.key, err)
		}
		spans = append(spans, span{m.key, shape, beg, end})
	}
	sort.Slice(spans, func(i, j int) bool {
		a, b := spans[i], spans[j]
		if a.beg != b.beg {
			return a.beg < b.beg
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.name < b.name
	})
	// The tensors must tile the data section: each starts where the one
	// before it ends. Checked before any tensor is decoded.
	var off int64
	prev := ""
	for _, s := range spans {
		switch {
		case s.beg < off:
			return nil, fmt.Errorf("tensor %q at bytes [%d,%d) overlaps tensor %q, which ends at byte %d", s.name, s.beg, s.end, prev, off)
		case s.beg > off:
			return nil, fmt.Errorf("gap in the data section: bytes [%d,%d) belong to no tensor (tensor %q starts at byte %d)", off, s.beg, s.name, s.beg)
		}
		off, prev = s.end, s.name
	}
	if off != int64(len(body)) {
		return nil, fmt.Errorf("data section holds %d bytes, the header describes %d", len(body), off)
	}
	f.Names = make([]string, len(spans))
	for i, s := range spans {
		data := make([]float32, (s.end-s.beg)/4)
		src := body[s.beg:s.end]
		for k := range data {
			data[k] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*k:]))
		}
		f.Tensors[s.name] = Tensor{Name: s.name, Shape: s.shape, Data: data}
		f.Names[i] = s.name
	}
	sum := sha256.Sum256(raw)
	f.SHA256 = hex.EncodeToString(sum[:])
	return f, nil
}

// tensorEntry validates one tensor's header entry against a data section of
// bodyLen bytes and returns its shape and byte range.
func tensorEntry(v json.RawMessage, bodyLen int64) (shape []int, beg, end int64, err error) {
	members, n, err := jsonObject(v)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("not a JSON object with dtype, shape and data_offsets: %v", err)
	}
	if len(bytes.TrimSpace(v[n:])) != 0 {
		return nil, 0, 0, errors.New("unexpected bytes after its JSON object")
	}
	var dtype *string
	var dims, offsets *[]int64
	for _, m := range members {
		var dst any
		switch m.key {
		case "dtype":
			dst = &dtype
		case "shape":
			dst = &dims
		case "data_offsets":
			dst = &offsets
		default:
			return nil, 0, 0, fmt.Errorf("unknown field %q (valid: dtype, shape, data_offsets)", m.key)
		}
		if err := json.Unmarshal(m.value, dst); err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %v", m.key, err)
		}
	}
	switch {
	case dtype == nil:
		return nil, 0, 0, errors.New("no dtype")
	case *dtype != "F32":
		return nil, 0, 0, unsupportedError(fmt.Sprintf("dtype %q; only F32 is supported", *dtype))
	case dims == nil:
		return nil, 0, 0, errors.New("no shape (a scalar has shape [])")
	case offsets == nil:
		return nil, 0, 0, errors.New("no data_offsets")
	case len(*offsets) != 2:
		return nil, 0, 0, fmt.Errorf("data_offsets %v must be two numbers [begin, end]", *offsets)
	}
	elems, err := elemCount(*dims)
	if err != nil {
		return nil, 0, 0, err
	}
	beg, end = (*offsets)[0], (*offsets)[1]
	switch {
	case beg < 0 || end < beg:
		return nil, 0, 0, fmt.Errorf("data_offsets [%d,%d] are not a byte range (want 0 <= begin <= end)", beg, end)
	case end > bodyLen:
		return nil, 0, 0, fmt.Errorf("data_offsets [%d,%d] run past the %d-byte data section", beg, end, bodyLen)
	case end-beg != 4*elems:
		return nil, 0, 0, fmt.Errorf("shape %v holds %d F32 values (%d bytes) but data_offsets [%d,%d] span %d bytes", *dims, elems, 4*elems, beg, end, end-beg)
	}
	shape = make([]int, len(*dims))
	for i, d := range *dims {
		shape[i] = int(d) // elemCount checked that every dimension fits an int
	}
	return shape, beg, end, nil
}

// elemCount is the number of values of a shape, refusing negative
// dimensions and counts whose byte size would overflow an int64.
func elemCount(dims []int64) (int64, error) {
	zero := false
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", dims)
		}
		if d > math.MaxInt {
			return 0, fmt.Errorf("shape %v has a dimension too large for this platform", dims)
		}
		zero = zero || d == 0
	}
	if zero {
		return 0, nil
	}
	n := int64(1)
	for _, d := range dims {
		if n > maxTensorElems/d {
			return 0, fmt.Errorf("shape %v is too large: more than %d values", dims, int64(maxTensorElems))
		}
		n *= d
	}
	return n, nil
}

// member is one key and raw value of a JSON object, in document order.
type member struct {
	key   string
	value json.RawMessage
}

// jsonObject parses the JSON object at the start of b, refusing duplicate
// keys, and returns its members in order and the offset just past it.
func jsonObject(b []byte) ([]member, int64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, 0, fmt.Errorf("%v is not a JSON object", tok)
	}
	var ms []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, 0, fmt.Errorf("object key %v is not a string", tok)
		}
		if seen[key] {
			return nil, 0, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, 0, fmt.Errorf("value of %q: %v", key, err)
		}
		ms = append(ms, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, 0, err
	}
	return ms, dec.InputOffset(), nil
}

// stringMap decodes a JSON object whose values are all strings.
func stringMap(v json.RawMessage) (map[string]string, error) {
	members, n, err := jsonObject(v)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(v[n:])) != 0 {
		return nil, errors.New("unexpected bytes after the object")
	}
	out := make(map[string]string, len(members))
	for _, m := range members {
		var s *string
		if err := json.Unmarshal(m.value, &s); err != nil || s == nil {
			return nil, fmt.Errorf("value of %q is %s, not a string", m.key, m.value)
		}
		out[m.key] = *s
	}
	return out, nil
}

// shapeSize is the number of values of a shape, or -1 when a dimension is
// negative or the byte size (4 per value) would overflow an int64.
func shapeSize(shape []int) int {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	n, err := elemCount(dims)
	if err != nil || n > math.MaxInt {
		return -1
	}
	return int(n)
}
