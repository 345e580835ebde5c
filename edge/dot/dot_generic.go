//go:build purego || !amd64

package dot

func availableSets() []kernelSet { return []kernelSet{goSet} }

var active = goSet
