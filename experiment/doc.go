// Package experiment wires the pipeline stages into the units the commands
// run: train a config into a recorded run, load a trained run back as a
// model, and evaluate it on benchmark tasks as an eval run whose hash is
// derived from the model's hash and the task settings (so asking twice
// costs nothing).
package experiment
