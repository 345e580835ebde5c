package registry

import (
	"fmt"
	"testing"
)

// BenchmarkRunLifecycle measures BeginRun + LogMetrics(20) + FinishRun, the
// registry cost of one short run.
func BenchmarkRunLifecycle(b *testing.B) {
	db, err := Open(b.TempDir() + "/registry.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ms := make([]Metric, 20)
	for i := range ms {
		ms[i] = Metric{Step: int64(i), Name: "loss", Value: float64(i)}
	}
	for i := 0; b.Loop(); i++ {
		r, err := db.BeginRun(RunInfo{Hash: hashOf(fmt.Sprint(i)), Kind: KindTrain})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.LogMetrics(r.ID, ms); err != nil {
			b.Fatal(err)
		}
		if err := db.FinishRun(r.ID, StatusDone, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogMetrics measures one transaction of 1000 metric points.
func BenchmarkLogMetrics(b *testing.B) {
	db, err := Open(b.TempDir() + "/registry.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r, err := db.BeginRun(RunInfo{Hash: hashOf("bench"), Kind: KindBench})
	if err != nil {
		b.Fatal(err)
	}
	ms := make([]Metric, 1000)
	step := int64(0)
	for b.Loop() {
		for i := range ms {
			ms[i] = Metric{Step: step, Name: "loss", Value: float64(step)}
			step++
		}
		if err := db.LogMetrics(r.ID, ms); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ms))/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkGetAllTrials measures loading a 100-trial study, which the TPE
// sampler and the pruners do on every suggestion.
func BenchmarkGetAllTrials(b *testing.B) {
	db, err := Open(b.TempDir() + "/registry.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st := db.StudyStorage()
	id, err := st.CreateNewStudy("bench")
	if err != nil {
		b.Fatal(err)
	}
	for range 100 {
		if _, err := st.CreateNewTrial(id); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := st.GetAllTrials(id); err != nil {
			b.Fatal(err)
		}
	}
}
