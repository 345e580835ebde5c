package data

import (
	"fmt"

	"github.com/nanomamba-edge/harness/kernels"
)

// BigramBPB returns the bits per byte of Val under an add-one-smoothed
// bigram model fitted on Train: P(b|a) = (c(a,b)+1)/(c(a)+V) with V the
// vocabulary size. The first Val token is predicted after EOS. It is the
// baseline a trained model must beat.
func BigramBPB(ds *Dataset) (float64, error) {
	if ds == nil || ds.Tokenizer == nil || len(ds.Val) == 0 || ds.ValBytes <= 0 {
		return 0, fmt.Errorf("data: bigram baseline needs a dataset with validation tokens")
	}
	v := ds.Tokenizer.VocabSize()
	pairs := map[uint64]int32{}
	uni := make([]int64, v)
	for i := 0; i+1 < len(ds.Train); i++ {
		pairs[bigramKey(ds.Train[i], ds.Train[i+1])]++
		uni[ds.Train[i]]++
	}
	var nats float64
	prev := ds.Tokenizer.EOS()
	for _, cur := range ds.Val {
		p := float64(pairs[bigramKey(prev, cur)]+1) / float64(uni[prev]+int64(v))
		nats -= kernels.Log(p)
		prev = cur
	}
	return nats / kernels.Log(2) / float64(ds.ValBytes), nil
}

func bigramKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }
