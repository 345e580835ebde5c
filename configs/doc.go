// Package configs defines the experiment configuration, its presets, loading
// through viper (preset YAML, user files, --set overrides and HARNESS_*
// environment variables), strict validation, and the canonical JSON form whose
// SHA-256 is a run's identity.
//
// The presets live in presets/*.yaml and are embedded in the binary:
// defaults.yaml lists every key; micro (tests), tiny (the default main job)
// and nano (the report's 42M-class model) override some of them.
package configs
