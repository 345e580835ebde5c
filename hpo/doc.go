// Package hpo searches hyper-parameters with goptuna (TPE sampling, median
// or successive-halving pruning) and keeps every study in the registry.
//
// A search space is a YAML file (see spaces/tiny.yaml): a base preset,
// fixed overrides applied to every trial, the objective (val_loss or
// val_bpb) and the parameters to sample. Each trial turns its sampled
// values into config overrides, trains that config through
// experiment.Env.Train (kind "hpo-trial") and is linked to the run's
// config hash, so a trial whose config is already done costs nothing and
// every reported value traces back to a recorded run.
//
// Studies live in registry.db through registry.DB.StudyStorage, so a
// killed search resumes where it stopped (an interrupted trial is queued
// again with the same parameters and its run continues from its last
// checkpoint) and several processes can share one study.
//
// # The QAT transition parameter
//
// "qat.transition" is derived, not a config key. For a value t it rewrites
// the base schedule's qat.phases so that the first quantized phase (the
// first whose weights are not "float") starts at t. The phases from that
// one on are mapped affinely from [s0, 1] onto [t, 1], where s0 is that
// phase's start in the base schedule:
//
//	start' = t + (start − s0)·(1 − t)/(1 − s0)
//	ramp'  = ramp·(1 − t)/(1 − s0)
//
// so the later phases keep their relative spacing and ramp lengths within
// the remaining part of training. Float phases before it are unchanged and
// t must lie after the last of them.
//
// # Sampling
//
// The TPE sampler is rebuilt for every draw with a seed derived from the
// space's seed, the trial number and the parameter name (a counter-based
// rng stream). Trial numbers are unique within a study, so a restarted
// search or several processes sharing a study never repeat one another's
// random startup draws, and the startup draws are the same for the same
// seed. After the startup trials goptuna's TPE also picks mixture
// components from the global math/rand, so the later suggestions are not
// reproducible; every trial's config is recorded by hash, so its result
// is.
package hpo
