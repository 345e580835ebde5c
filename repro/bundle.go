package repro

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// BundleFormat and BundleVersion identify the bundles Export writes; Import
// refuses other formats and newer versions.
const (
	BundleFormat  = "nanomamba-edge-run-bundle"
	BundleVersion = 1
)

// Names of the files inside a bundle.
const (
	manifestName = "manifest.json"
	configName   = "config.json"
	runsName     = "runs.json"
	ckptDir      = "checkpoint/"
)

// Manifest is the first file of a bundle: what the bundle holds and the
// sha256 of every other file in it.
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Hash is the training run's config hash.
	Hash string `json:"hash"`
	// Checkpoint, when present, is the final checkpoint of a done attempt.
	Checkpoint *BundleCheckpoint `json:"checkpoint,omitempty"`
	Files      []BundleFile      `json:"files"`
}

// BundleFile is one file of a bundle with its size and content hash.
type BundleFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// BundleCheckpoint says which run a bundled checkpoint belongs to.
type BundleCheckpoint struct {
	File    string `json:"file"`    // its name inside the bundle
	Attempt int    `json:"attempt"` // the attempt of Manifest.Hash it belongs to
	SHA256  string `json:"sha256"`
}

// bundleRuns is runs.json: every attempt of the training hash and every
// eval run whose parent it is, with the eval runs' configs.
type bundleRuns struct {
	EvalConfigs map[string]string `json:"eval_configs"`
	Runs        []runRecord       `json:"runs"`
}

// runRecord is one registry run row with its metrics, task results and
// artifacts. Times are kept in the registry's stored text form.
type runRecord struct {
	Hash        string           `json:"hash"`
	Attempt     int              `json:"attempt"`
	Kind        string           `json:"kind"`
	Status      string           `json:"status"`
	Name        string           `json:"name"`
	ParentHash  string           `json:"parent_hash"`
	Created     string           `json:"created"`
	Started     *string          `json:"started"`
	Finished    *string          `json:"finished"`
	Heartbeat   *string          `json:"heartbeat"`
	CodeVersion string           `json:"code_version"`
	CodeDirty   bool             `json:"code_dirty"`
	GoVersion   string           `json:"go_version"`
	OS          string           `json:"os"`
	CPU         string           `json:"cpu"`
	Threads     int              `json:"threads"`
	KernelSet   string           `json:"kernel_set"`
	Error       string           `json:"error"`
	SummaryJSON string           `json:"summary_json"`
	Metrics     []metricRecord   `json:"metrics"`
	TaskResults []taskRecord     `json:"task_results"`
	Artifacts   []artifactRecord `json:"artifacts"`
}

type metricRecord struct {
	Name  string    `json:"name"`
	Step  int64     `json:"step"`
	Value jsonFloat `json:"value"`
}

type taskRecord struct {
	Task   string    `json:"task"`
	Metric string    `json:"metric"`
	Value  jsonFloat `json:"value"`
	Stderr jsonFloat `json:"stderr"`
	N      int       `json:"n"`
}

type artifactRecord struct {
	Kind    string `json:"kind"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	Created string `json:"created"`
}

// jsonFloat round-trips every float64 bit for bit through JSON: finite
// values as numbers in their shortest round-trip spelling (negative zero
// included), NaN as null, infinities as the strings "+Inf" and "-Inf".
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte("null"), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch s := string(b); s {
	case "null":
		*f = jsonFloat(math.NaN())
	case `"+Inf"`:
		*f = jsonFloat(math.Inf(1))
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
	default:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("value %s is not a number, null, \"+Inf\" or \"-Inf\"", s)
		}
		*f = jsonFloat(v)
	}
	return nil
}

var _ json.Marshaler = jsonFloat(0)
