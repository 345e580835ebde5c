package train

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanomamba-edge/harness/configs"
	"github.com/nanomamba-edge/harness/models"
)

func testState(t *testing.T) CheckpointState {
	t.Helper()
	a := models.NewParam("embed.weight", false, 3, 4)
	b := models.NewParam("norm.gain", true, 5)
	for i := range a.Data {
		a.Data[i] = float32(i)*0.37 - 1
	}
	for i := range b.Data {
		b.Data[i] = 1 + float32(i)/7
	}
	b.Data[2] = float32(math.Copysign(0, -1)) // -0 must survive
	ps := []*models.Param{a, b}
	opt, err := NewAdamW(ps, configs.TrainConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Grad {
		a.Grad[i] = float32(i%3) - 1
	}
	opt.Step(1e-2)
	return CheckpointState{Step: 7, ConfigHash: "abc123", TrainLoss: 2.5, Params: ps, Opt: opt}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := testState(t)
	path := filepath.Join(dir, "ck.safetensors")
	sha, size, err := SaveCheckpoint(path, src)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != sha || int64(len(raw)) != size {
		t.Fatalf("returned sha/size %s/%d, file has %x/%d", sha, size, sum, len(raw))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// Same state, same bytes.
	sha2, _, err := SaveCheckpoint(filepath.Join(dir, "again.safetensors"), src)
	if err != nil || sha2 != sha {
		t.Errorf("second save sha %s (err %v), want %s", sha2, err, sha)
	}

	dst := testState(t)
	for _, p := range dst.Params {
		clear(p.Data)
	}
	dst.Opt.Reset()
	dst.Step, dst.TrainLoss = 0, 0
	got, err := LoadCheckpoint(path, &dst)
	if err != nil {
		t.Fatal(err)
	}
	if got != sha {
		t.Errorf("load sha %s, want %s", got, sha)
	}
	if dst.Step != 7 || dst.TrainLoss != 2.5 || dst.Opt.Steps != 1 {
		t.Errorf("metadata: step %d loss %v opt steps %d", dst.Step, dst.TrainLoss, dst.Opt.Steps)
	}
	for i, p := range src.Params {
		for j := range p.Data {
			if math.Float32bits(p.Data[j]) != math.Float32bits(dst.Params[i].Data[j]) ||
				math.Float32bits(src.Opt.M[i][j]) != math.Float32bits(dst.Opt.M[i][j]) ||
				math.Float32bits(src.Opt.V[i][j]) != math.Float32bits(dst.Opt.V[i][j]) {
				t.Fatalf("%s[%d] not bit-exact after round trip", p.Name, j)
			}
		}
	}
	// The file is plain safetensors with the documented names.
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"embed.weight", "adam.m.embed.weight", "adam.v.norm.gain"} {
		if _, ok := f.Tensors[n]; !ok {
			t.Errorf("tensor %q missing; have %v", n, f.Names)
		}
	}
	if f.Meta["config_hash"] != "abc123" || f.Meta["opt_steps"] != "1" || f.Meta["version"] != CheckpointVersion {
		t.Errorf("metadata %v", f.Meta)
	}
	if hl := int(raw[0]) | int(raw[1])<<8; hl%8 != 0 {
		t.Errorf("header length %d not 8-byte aligned", hl)
	}
}

func TestCheckpointRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	if _, _, err := SaveCheckpoint(path, testState(t)); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	hlen := int(raw[0]) | int(raw[1])<<8 | int(raw[2])<<16
	flip := func(i int) []byte {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x20
		return b
	}
	cases := []struct {
		name    string
		bytes   []byte
		hash    string
		wantErr string
	}{
		{"truncated data", raw[:len(raw)-5], "abc123", "truncated"},
		{"truncated header", raw[:20], "abc123", "truncated"},
		{"empty", nil, "abc123", "truncated"},
		{"flipped header byte", flip(8 + 2), "abc123", "corrupt"},
		{"flipped length byte", flip(3), "abc123", "corrupt"},
		{"flipped data byte", flip(8 + hlen + 9), "abc123", "corrupt"},
		{"wrong config", raw, "def456", "belongs to config abc123, not def456"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		if err := os.WriteFile(p, c.bytes, 0o644); err != nil {
			t.Fatal(err)
		}
		st := testState(t)
		before := st.Params[0].Data[1]
		st.ConfigHash = c.hash
		_, err := LoadCheckpoint(p, &st)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
		if st.Params[0].Data[1] != before {
			t.Errorf("%s: a failed load changed the parameters", c.name)
		}
	}
	// A model with a different shape is refused too.
	st := testState(t)
	st.Params[1] = models.NewParam("norm.gain", true, 6)
	st.Opt = nil
	if _, err := LoadCheckpoint(path, &st); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: err = %v", err)
	}
}
