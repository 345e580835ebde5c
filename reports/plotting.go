package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
)

// Figure geometry: 6×4 inches, PNG at 150 dpi.
const (
	figWidth  = 6 * vg.Inch
	figHeight = 4 * vg.Inch
	figDPI    = 150
)

// palette is the Okabe–Ito colour-blind-safe palette (black last).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{0, 0, 0, 255},       // black
}

func colorAt(i int) color.Color { return palette[i%len(palette)] }

// bandColors shade the QAT phases: light, distinguishable greys and tints.
var bandColors = []color.Color{
	color.RGBA{235, 235, 235, 255},
	color.RGBA{214, 230, 245, 255},
	color.RGBA{250, 226, 206, 255},
	color.RGBA{214, 240, 224, 255},
}

// figure is a plot with an optional legend drawn in the right margin, so
// the legend never covers data.
type figure struct {
	p      *plot.Plot
	legend *plot.Legend
	// draw replaces the default drawing (several panels).
	draw func(c draw.Canvas)
	// height overrides figHeight (panel grids grow with their rows).
	height vg.Length
}

// size is the figure's width and height.
func (f *figure) size() (vg.Length, vg.Length) {
	if f.height > 0 {
		return figWidth, f.height
	}
	return figWidth, figHeight
}

// fitText breaks s into lines that fit width w: one line at the largest
// of the sizes (points) that fits, or else lines wrapped at words at the
// smallest size. Titles are never clipped.
func fitText(s string, w vg.Length, sizes ...float64) (draw.TextStyle, []string) {
	st := draw.TextStyle{Color: color.Black, Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
	for _, sz := range sizes {
		st.Font = font.From(plot.DefaultFont, vg.Points(sz))
		if st.Width(s) <= w {
			return st, []string{s}
		}
	}
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		try := word
		if line != "" {
			try = line + " " + word
		}
		if line != "" && st.Width(try) > w {
			lines = append(lines, line)
			line = word
			continue
		}
		line = try
	}
	if line != "" {
		lines = append(lines, line)
	}
	return st, lines
}

// drawText draws lines centred at the top of c and returns the height used.
func drawText(c draw.Canvas, st draw.TextStyle, lines []string) vg.Length {
	h := st.Handler.Extents(st.Font).Height * 1.15
	mid := (c.Min.X + c.Max.X) / 2
	for i, l := range lines {
		c.FillText(st, vg.Point{X: mid, Y: c.Max.Y - vg.Length(i)*h}, l)
	}
	return vg.Length(len(lines)) * h
}

// panelGrid draws a title, an optional note and plots in a grid of cols
// columns, row by row; titles and notes are fitted to the width.
func panelGrid(title, note string, panels []*plot.Plot, cols int) func(c draw.Canvas) {
	return func(c draw.Canvas) {
		w := c.Max.X - c.Min.X
		st, lines := fitText(title, w, 11, 10, 9)
		used := drawText(c, st, lines)
		if note != "" {
			nst, nlines := fitText(note, w, 8, 7)
			nst.Color = color.Gray{Y: 60}
			sub := c
			sub.Max.Y -= used + vg.Points(2)
			used += vg.Points(2) + drawText(sub, nst, nlines)
		}
		body := c
		body.Max.Y -= used + vg.Points(6)
		if cols < 1 {
			cols = 1
		}
		rows := (len(panels) + cols - 1) / cols
		if rows == 0 {
			return
		}
		pw := (body.Max.X - body.Min.X) / vg.Length(cols)
		ph := (body.Max.Y - body.Min.Y) / vg.Length(rows)
		for i, p := range panels {
			r, k := i/cols, i%cols
			pc := body
			pc.Min.X = body.Min.X + vg.Length(k)*pw
			pc.Max.X = pc.Min.X + pw - vg.Points(4)
			pc.Max.Y = body.Max.Y - vg.Length(r)*ph
			pc.Min.Y = pc.Max.Y - ph + vg.Points(4)
			for sz := p.Title.TextStyle.Font.Size; sz > vg.Points(6) && p.Title.TextStyle.Width(p.Title.Text) > pw-vg.Points(8); sz -= vg.Points(0.5) {
				p.Title.TextStyle.Font.Size = sz - vg.Points(0.5)
			}
			p.Draw(pc)
		}
	}
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font.Size = vg.Points(10)
	p.Y.Label.TextStyle.Font.Size = vg.Points(10)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Marker = plainTicks{}
	return p
}

// plainTicks are gonum's default tick positions labelled with the shortest
// decimal that tells neighbouring ticks apart.
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			// Round away binary noise (0.30000000000000004) first.
			ts[i].Label = strconv.FormatFloat(roundSig(ts[i].Value, 10), 'f', -1, 64)
		}
	}
	return ts
}

func roundSig(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', digits, 64), 64)
	return f
}

// addGrid adds light grid lines (after any shading, before the data).
func addGrid(p *plot.Plot) {
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 215}
	g.Horizontal.Color = color.Gray{Y: 215}
	p.Add(g)
}

// siTicks labels large numbers with k/M/G suffixes (tokens).
type siTicks struct{}

func (siTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = siLabel(roundSig(ts[i].Value, 10))
		}
	}
	return ts
}

func siLabel(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimFloat(v/1e9) + "G"
	case a >= 1e6:
		return trimFloat(v/1e6) + "M"
	case a >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Size = vg.Points(8)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(16)
	l.Padding = vg.Points(3)
	return &l
}

func (f *figure) render(c draw.Canvas) {
	// A small margin so the title and tick labels never touch the edge.
	pad := vg.Points(6)
	c.Min.X += pad
	c.Min.Y += pad
	c.Max.X -= pad
	c.Max.Y -= pad
	if f.draw != nil {
		f.draw(c)
		return
	}
	fitPlotTitle(c, f.p, f.legend)
	drawWithLegend(c, f.p, f.legend)
}

// fitPlotTitle shrinks a plot's title (down to 8 points) so that it fits
// the width the plot is drawn in, beside its legend if it has one.
func fitPlotTitle(c draw.Canvas, p *plot.Plot, l *plot.Legend) {
	if p == nil || p.Title.Text == "" {
		return
	}
	w := c.Max.X - c.Min.X
	if l != nil {
		r := l.Rectangle(c)
		w -= r.Max.X - r.Min.X + vg.Points(12)
	}
	for sz := 11.0; sz > 8 && p.Title.TextStyle.Width(p.Title.Text) > w; sz-- {
		p.Title.TextStyle.Font.Size = vg.Points(sz - 1)
	}
}

// drawWithLegend draws p in c, leaving a right margin for l.
func drawWithLegend(c draw.Canvas, p *plot.Plot, l *plot.Legend) {
	if l == nil {
		p.Draw(c)
		return
	}
	r := l.Rectangle(c)
	w := r.Max.X - r.Min.X + vg.Points(12)
	main := c
	main.Max.X -= w
	p.Draw(main)
	lc := c
	lc.Min.X = main.Max.X + vg.Points(6)
	lc.Max.Y -= p.Title.TextStyle.Rectangle(p.Title.Text).Max.Y + vg.Points(14)
	l.Draw(lc)
}

// writeFigure renders f as dir/name.png and dir/name.pdf and returns the
// two paths relative to dir.
func writeFigure(dir, name string, f *figure) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("figure %s: %w", name, err)
	}
	fw, fh := f.size()
	img := vgimg.NewWith(vgimg.UseWH(fw, fh), vgimg.UseDPI(figDPI))
	dc := draw.New(img)
	// An opaque white background: transparent PNGs read badly in dark mode.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	f.render(dc)
	var png bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&png); err != nil {
		return nil, fmt.Errorf("figure %s: png: %w", name, err)
	}
	pc := vgpdf.New(fw, fh)
	f.render(draw.New(pc))
	var pdf bytes.Buffer
	if _, err := pc.WriteTo(&pdf); err != nil {
		return nil, fmt.Errorf("figure %s: pdf: %w", name, err)
	}
	files := map[string][]byte{name + ".png": png.Bytes(), name + ".pdf": fixPDFDates(pdf.Bytes())}
	for _, fn := range []string{name + ".png", name + ".pdf"} {
		if err := os.WriteFile(filepath.Join(dir, fn), files[fn], 0o644); err != nil {
			return nil, fmt.Errorf("figure %s: %w", name, err)
		}
	}
	return []string{name + ".png", name + ".pdf"}, nil
}

var pdfDate = regexp.MustCompile(`/(CreationDate|ModDate) \(D:[0-9]{14}`)

// fixPDFDates replaces the PDF writer's wall-clock creation and modification
// dates by a fixed one of the same length, so the byte offsets in the
// cross-reference table stay valid and the file depends on its content only.
func fixPDFDates(b []byte) []byte {
	return pdfDate.ReplaceAllFunc(b, func(m []byte) []byte {
		key := m[:bytes.IndexByte(m, ' ')]
		return append(append([]byte{}, key...), []byte(" (D:20000101000000")...)
	})
}

// messageFigure is a figure that says why there is nothing to plot yet, so
// the paper keeps compiling and tells its reader what is missing.
func messageFigure(title string, lines ...string) *figure {
	return &figure{draw: func(c draw.Canvas) {
		st := draw.TextStyle{Color: color.Black, Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter}
		st.Font = font.From(plot.DefaultFont, vg.Points(13))
		mid := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y+c.Max.Y)/2 + vg.Points(30)}
		c.FillText(st, mid, title)
		st.Font = font.From(plot.DefaultFont, vg.Points(10))
		for i, l := range lines {
			c.FillText(st, vg.Point{X: mid.X, Y: mid.Y - vg.Points(float64(22+16*i))}, l)
		}
		c.SetColor(color.Gray{Y: 160})
		c.SetLineWidth(vg.Points(1))
		in := vg.Points(8)
		c.Stroke(vg.Rectangle{Min: vg.Point{X: c.Min.X + in, Y: c.Min.Y + in}, Max: vg.Point{X: c.Max.X - in, Y: c.Max.Y - in}}.Path())
	}}
}

// intTicks labels whole numbers only (trial numbers), about eight of them.
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	step := 1.0
	for (max-min)/step > 10 {
		switch {
		case hasPrefixDigit(step, '1'):
			step *= 2
		case hasPrefixDigit(step, '2'):
			step *= 2.5
		default:
			step *= 2
		}
	}
	var ts []plot.Tick
	start := math.Ceil(min/step) * step
	if start == 0 {
		start = 0 // not -0
	}
	for v := start; v <= max; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ts
}

// hasPrefixDigit reports whether v (a 1-2-5 step) starts with digit d.
func hasPrefixDigit(v float64, d byte) bool {
	return strconv.FormatFloat(v, 'f', 0, 64)[0] == d
}
