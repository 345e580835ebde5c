// Package tasks runs lm-eval-style benchmark tasks against a language model.
//
// Tasks are declarative YAML files (a subset of EleutherAI lm-evaluation-
// harness's TaskConfig schema) embedded in the binary from tasks/defs. Each
// names a local dataset under the project root, how to turn a document into a
// prompt, a target and choices (Go text/template strings or field names), an
// output type (multiple_choice, loglikelihood, loglikelihood_rolling,
// generate_until) and its metrics. A `notes` field in every file records how
// the task differs from lm-eval's own definition.
//
// The model side is the LM interface: a batched scorer of token continuations
// plus greedy generation. Evaluate builds the requests exactly as lm-eval does
// (few-shot prompt assembly, trailing-whitespace move in _encode_pair, left
// truncation, disjoint rolling windows), schedules the requests of all its
// scored tasks in one pass, longest first, in batches of similar length on
// Options.Threads goroutines (the requests sharing a context stay in one
// batch), and aggregates the metrics into lm-eval's results JSON layout.
// Every result is written to a slot chosen by request index, so the numbers
// do not depend on the thread count or the batching. With
// Options.LogSamples it also keeps lm-eval's per-document records
// (Results.Samples, written as JSON Lines by SamplesJSONL).
//
// Few-shot examples are drawn from an rng stream keyed by the few-shot seed
// (1234) and the task name, one stream per task consumed in document order,
// so they are reproducible but are not the examples Python's random module
// would pick. Bootstrap standard errors use rng streams keyed by seed 0, the
// task and the metric, in fixed chunks of iterations.
package tasks
