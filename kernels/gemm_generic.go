//go:build purego || !amd64

package kernels

// availableKernels lists the kernel sets this build can run, fastest first.
func availableKernels() []kernelSet { return []kernelSet{goKernels} }

var active = goKernels
