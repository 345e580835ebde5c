package dot

import "encoding/binary"

// ReadStream reads every byte of p once, as fast as this kernel set loads
// memory (64-byte loads in the AVX-512 set, 32-byte ones in AVX2), and
// returns the XOR of p's little-endian 64-bit words (a zero-padded final
// word for a length not a multiple of 8), so that no load can be skipped.
// It is the decode roofline's probe: the rate at which it reads a buffer
// of the bytes a decoded token reads is the most any decoder can stream
// them on this machine (experiment.ReadBandwidth).
func ReadStream(p []byte) uint64 {
	var x uint64
	if active.read != nil {
		if n := len(p) &^ 511; n > 0 {
			x = active.read(p[:n])
			p = p[n:]
		}
	}
	return x ^ readGo(p)
}

// readGo is ReadStream's Go twin: four independent XOR chains of 8-byte
// loads.
func readGo(p []byte) uint64 {
	var a, b, c, d uint64
	for len(p) >= 32 {
		a ^= binary.LittleEndian.Uint64(p)
		b ^= binary.LittleEndian.Uint64(p[8:])
		c ^= binary.LittleEndian.Uint64(p[16:])
		d ^= binary.LittleEndian.Uint64(p[24:])
		p = p[32:]
	}
	for len(p) >= 8 {
		a ^= binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	if len(p) > 0 {
		var last [8]byte
		copy(last[:], p)
		b ^= binary.LittleEndian.Uint64(last[:])
	}
	return a ^ b ^ c ^ d
}
