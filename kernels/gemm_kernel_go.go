package kernels

// Tile shape of the pure-Go micro-kernel.
const (
	goMR = 4
	goNR = 8
)

// goKernels is the portable kernel set: the same packed panels and the same
// per-element FMA chains as the assembly kernels, with FMA32 emulating the
// single rounding of a hardware fused multiply-add.
var goKernels = kernelSet{name: "purego", mr: goMR, nr: goNR, kernel: kernelGo, kernelA: kernelGoA, pack: packPanelGo, packBlock: packBlockGo(packPanelGo)}

func kernelGo(kc int, a, b, c []float32, ldc int, load bool) {
	var t [goMR * goNR]float32
	if load {
		for i := 0; i < goMR; i++ {
			copy(t[i*goNR:i*goNR+goNR], c[i*ldc:i*ldc+goNR])
		}
	}
	a = a[:kc*goMR]
	b = b[:kc*goNR]
	for p := 0; p < kc; p++ {
		ap := a[p*goMR : p*goMR+goMR]
		bp := b[p*goNR : p*goNR+goNR]
		for i, av := range ap {
			ti := t[i*goNR : i*goNR+goNR]
			for j, bv := range bp {
				s := float64(av)*float64(bv) + float64(ti[j])
				if fastRound32(s) {
					ti[j] = float32(s)
				} else {
					ti[j] = fma32Exact(av, bv, ti[j])
				}
			}
		}
	}
	for i := 0; i < goMR; i++ {
		copy(c[i*ldc:i*ldc+goNR], t[i*goNR:i*goNR+goNR])
	}
}

// kernelGoA is kernelGo with A read in place: element (i, p) of the A panel
// is a[i*rs+p*ks]. The chains are those of kernelGo.
func kernelGoA(kc int, a []float32, rs, ks int, b, c []float32, ldc int, load bool) {
	var t [goMR * goNR]float32
	if load {
		for i := 0; i < goMR; i++ {
			copy(t[i*goNR:i*goNR+goNR], c[i*ldc:i*ldc+goNR])
		}
	}
	_ = a[(goMR-1)*rs+(kc-1)*ks]
	b = b[:kc*goNR]
	for p := 0; p < kc; p++ {
		bp := b[p*goNR : p*goNR+goNR]
		for i := 0; i < goMR; i++ {
			av := a[i*rs+p*ks]
			ti := t[i*goNR : i*goNR+goNR]
			for j, bv := range bp {
				s := float64(av)*float64(bv) + float64(ti[j])
				if fastRound32(s) {
					ti[j] = float32(s)
				} else {
					ti[j] = fma32Exact(av, bv, ti[j])
				}
			}
		}
	}
	for i := 0; i < goMR; i++ {
		copy(c[i*ldc:i*ldc+goNR], t[i*goNR:i*goNR+goNR])
	}
}
