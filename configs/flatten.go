package configs

import "encoding/json"

// Flatten turns a stored config JSON into dotted keys ("quant.subln")
// whose values are the JSON encodings of the leaves ("false", "0.001",
// "[1,3]", "\"tiny\""). It is how `harness runs --where`, `harness diff`
// and the web view address config keys.
func Flatten(js string) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		if mm, ok := v.(map[string]any); ok {
			for k, x := range mm {
				key := k
				if p != "" {
					key = p + "." + k
				}
				walk(key, x)
			}
			return
		}
		b, _ := json.Marshal(v)
		out[p] = string(b)
	}
	walk("", m)
	return out, nil
}
