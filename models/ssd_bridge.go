package models

import "github.com/nanomamba-edge/harness/kernels/ssd"

// The selective scan of the Mamba-2 mixer comes from kernels/ssd.
type (
	scanDims  = ssd.Dims
	scanCache = ssd.Cache
)

var (
	scanForward  = ssd.ForwardReuse
	scanInfer    = ssd.ForwardInference // inference only: no states for Backward
	scanBackward = ssd.Backward
	scanStep     = ssd.Step
)
