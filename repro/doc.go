// Package repro reproduces recorded runs from their hash and moves runs
// between registries.
//
// Reproduce loads the recorded config of a done training run, checks that
// the data files still hash to the fingerprints the config records, warns
// when the code version differs from the recorded one, trains the config
// again (into a scratch registry and run directory by default, so the
// reviewer's registry gains no duplicate attempt) and compares the result
// bit for bit: the final checkpoint's sha256, every logged metric series
// step by step, the final summary (train and validation loss, bits per
// byte, samples), and the task metrics of every eval run recorded for the
// training run, which are re-evaluated against the reproduced checkpoint.
// The Report names the first step and metric where the two runs diverge,
// with both values, and holds a summary table of every check.
//
// Export writes a run as a self-contained bundle (a gzip tar holding a
// manifest with the sha256 of every contained file, the config, every
// attempt's run row with its metrics, task results and artifacts, the eval
// runs whose parent is the run, and optionally the final checkpoint),
// reading the rows through registry.DB.ExportRun; ExportFile writes it to a
// file without ever replacing the registry or, unless forced, any existing
// file. Import validates such a bundle (every file's size is bounded before
// it is read) and records it through registry.DB.ImportRun: importing it
// again is a no-op, and a recorded run is never replaced (another run under
// the same hash and attempt is a conflict).
package repro
