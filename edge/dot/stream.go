package dot

import "encoding/binary"

// ReadStream reads every byte of p once, as fast as this kernel set loads
// memory (64-byte loads in the AVX-512 set, 32-byte ones in AVX2), and
// returns the XOR of p's little-endian 64-bit words (a zero-padded final
// word for a length not a multiple of 8), so that no load can be skipped.
// It is the decode roofline's probe: the rate at which it reads a buffer
// of the bytes a decoded token reads is the most any decoder can stream
// them on this machine (experiment.StreamBandwidth, with UpdateStream for
// the bytes a token also writes back).
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

// UpdateStream adds k to every little-endian 64-bit word of p in place
// (wrapping), and byte(k) to each byte of a tail shorter than a word: every
// byte is loaded and stored back changed, as fast as this kernel set moves
// memory (64-byte loads and stores in the AVX-512 set, 32-byte ones in
// AVX2). It is the roofline probe's model of the state a decoded token
// reads and writes back (the Mamba-2 conv windows and SSM states).
func UpdateStream(p []byte, k uint64) {
	if active.update != nil {
		if n := len(p) &^ 511; n > 0 {
			active.update(p[:n], k)
			p = p[n:]
		}
	}
	updateGo(p, k)
}

// updateGo is UpdateStream's Go twin.
func updateGo(p []byte, k uint64) {
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)+k)
		p = p[8:]
	}
	for i := range p {
		p[i] += byte(k)
	}
}
