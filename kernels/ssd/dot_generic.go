//go:build purego || !amd64

package ssd

func dotLanes(a, b []float32, s *[4]float64) { dotLanesGo(a, b, s) }

func dotLanes2(a0, b0, a1, b1 []float32, s, t *[4]float64) {
	dotLanes2Go(a0, b0, a1, b1, s, t)
}
