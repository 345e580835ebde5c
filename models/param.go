package models

// Param is one trainable tensor with its gradient buffer. Data and Grad are
// row-major and have the same length, the product of Shape.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
	// NoDecay excludes the tensor from weight decay (norms, biases, A_log,
	// D, dt_bias).
	NoDecay bool
}

// NewParam allocates a zeroed parameter of the given shape.
func NewParam(name string, noDecay bool, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return &Param{Name: name, Shape: append([]int(nil), shape...), Data: make([]float32, n), Grad: make([]float32, n), NoDecay: noDecay}
}

// Size returns the number of elements.
func (p *Param) Size() int { return len(p.Data) }
