// Package ablations reads ablation matrix files, expands them into configs
// (one per arm and seed, each with its run hash), and summarises results
// over seeds: mean with a 95% confidence interval per arm and the paired
// difference to the baseline arm with a paired t-test.
//
// The shipped matrices are the YAML files in this directory, embedded in the
// binary: subln, qat, scaling, hidden, attention, state.
package ablations
