package configs

import "testing"

func TestFlatten(t *testing.T) {
	got, err := Flatten(`{"quant": {"subln": false, "scale": "absmean"}, "model": {"attn_layers": [1, 3], "d_model": 128}, "schema": 2}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"quant.subln": "false", "quant.scale": `"absmean"`, "model.attn_layers": "[1,3]", "model.d_model": "128", "schema": "2"}
	if len(got) != len(want) {
		t.Fatalf("Flatten = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := Flatten(`[1, 2]`); err == nil {
		t.Error("a JSON array flattened")
	}
}
