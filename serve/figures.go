package serve

import (
	"net/http"
	"slices"

	"github.com/nanomamba-edge/harness/reports"
)

// runFigure plots one metric (?metric=, default loss) of one attempt
// (?attempt=, default the latest) with its QAT phases shaded.
func (s *Server) runFigure(r *http.Request) ([]byte, error) {
	h, run, _, err := s.attemptOf(r)
	if err != nil {
		return nil, err
	}
	metric, err := metricParam(r)
	if err != nil {
		return nil, err
	}
	names, err := s.db.MetricNames(run.ID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, metric) {
		return nil, notFound("run %s attempt %d recorded no %q series", short(h), run.Attempt, metric)
	}
	return reports.RunCurvesSVG(s.db, []reports.RunCurve{{Run: run, Label: short(h)}}, metric)
}

// ablationFigure is one of an ablation's paper figures (loss, valbpb,
// bars).
func (s *Server) ablationFigure(r *http.Request) ([]byte, error) {
	kind := r.PathValue("kind")
	if !slices.Contains(reports.AblationFigureKinds, kind) {
		return nil, notFound("ablation figure %q: want one of loss, valbpb, bars", clip(kind))
	}
	a, _, err := s.findAblation(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return reports.AblationFigureSVG(s.db, a, kind)
}

// studyFigure is a study's optimisation history as in the paper.
func (s *Server) studyFigure(r *http.Request) ([]byte, error) {
	st, err := s.findStudy(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return reports.StudyFigureSVG(st)
}

// benchFigure is the paper's throughput figure.
func (s *Server) benchFigure(r *http.Request) ([]byte, error) {
	return reports.BenchFigureSVG(s.db)
}
