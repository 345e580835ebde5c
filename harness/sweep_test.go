package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/nanomamba-edge/harness/registry"
)

// TestMain lets the test binary stand in for the harness binary: the Slurm
// test runs the emitted script, which execs "$HARNESS_BIN" with CLI args.
func TestMain(m *testing.M) {
	if os.Getenv("HARNESS_TEST_AS_CLI") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The k8s manifest parses strictly into the Kubernetes API types (an
// unknown or misplaced field is an error), as an Indexed Job whose pods
// run the worker on the batch, with the registry DSN from the Secret,
// the resource requests asked for and the shared volume mounted.
func TestSweepK8sManifest(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.db")
	out := filepath.Join(dir, "job.yaml")
	if _, err := run(t, "sweep", "hpo", "micro", "--trials", "6", "--emit", "k8s", "--tasks", "4", "--parallelism", "3",
		"--cpus", "2", "--mem", "3Gi", "--image", "registry.example/harness:v1", "--pvc", "harness-shared",
		"--secret", "pg-dsn", "-o", out, "--registry", reg, "--root", ".."); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(b, &job); err != nil {
		t.Fatalf("manifest does not parse as a batch/v1 Job: %v\n%s", err, b)
	}
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("apiVersion/kind %s/%s", job.APIVersion, job.Kind)
	}
	if errs := validation.IsDNS1123Label(job.Name); len(errs) > 0 {
		t.Errorf("job name %q: %v", job.Name, errs)
	}
	for k, v := range job.Spec.Template.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q: %v", k, v, errs)
		}
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completion mode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || *s.Completions != 4 || s.Parallelism == nil || *s.Parallelism != 3 {
		t.Errorf("completions %v parallelism %v, want 4 and 3", s.Completions, s.Parallelism)
	}
	pod := s.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("pod spec %+v", pod)
	}
	c := pod.Containers[0]
	if c.Image != "registry.example/harness:v1" {
		t.Errorf("image %q", c.Image)
	}
	args := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
	if !strings.Contains(args, "worker --batch study/micro") || !strings.Contains(args, "--root /shared") || !strings.Contains(args, "--threads 2") {
		t.Errorf("command %q", args)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "HARNESS_REGISTRY" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != "pg-dsn" || c.Env[0].ValueFrom.SecretKeyRef.Key != "dsn" {
		t.Errorf("registry env %+v", c.Env)
	}
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "2", corev1.ResourceMemory: "3Gi"} {
		got := c.Resources.Requests[name]
		if got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("request %s = %s, want %s", name, got.String(), want)
		}
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/shared" || len(pod.Volumes) != 1 ||
		pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != "harness-shared" {
		t.Errorf("volumes %+v mounts %+v", pod.Volumes, c.VolumeMounts)
	}
	// The sweep queued the study's slots.
	db, err := registry.OpenReadOnly(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, err := db.QueueItems("study/micro")
	if err != nil || len(items) != 6 {
		t.Fatalf("queued slots: %d (%v), want 6", len(items), err)
	}
}

func TestSweepEmitErrors(t *testing.T) {
	if _, err := emitK8s(sweepSpec{Batch: "b", Tasks: 1, CPUs: 1, StaleAfter: time.Minute, PVC: "p"}); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Errorf("k8s without an image: %v", err)
	}
	if _, err := emitSlurm(sweepSpec{Batch: "b", Tasks: 0, CPUs: 1, StaleAfter: time.Minute, Root: "/r"}); err == nil {
		t.Error("zero tasks accepted")
	}
	out, err := emitSlurm(sweepSpec{Batch: "b'x", Tasks: 2, CPUs: 1, StaleAfter: time.Minute, Root: "/r", Binary: "/bin/harness",
		Registry: "postgres://me:s3cret@db:5432/h?sslmode=disable&password=other"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "other") || !strings.Contains(out, "postgres://me@db:5432/h?sslmode=disable") {
		t.Errorf("the script carries the password or lost the DSN:\n%s", out)
	}
	if !strings.Contains(out, `--batch 'b'\''x'`) {
		t.Errorf("batch not shell-quoted:\n%s", out)
	}
}

// The Slurm script is run the way Slurm runs an array job's tasks: one
// process per task with SLURM_ARRAY_TASK_ID and the other variables
// sbatch sets (no slurmctld can run here). The tasks drain the queued
// matrix together: every member done once, each task a named worker.
func TestSweepSlurmArrayTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	ds, _ := filepath.Abs(filepath.Join("..", "datasets"))
	if err := os.Symlink(ds, filepath.Join(root, "datasets")); err != nil {
		t.Fatal(err)
	}
	matrix := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(matrix, []byte(`
name: sweep-test
base: micro
seeds: [1, 2]
set: {train.tokens: 2048, train.eval_every: 4, train.eval_tokens: 512, train.sample_tokens: 4}
axes:
  - key: quant.subln
    values: [true, false]
    labels: [subln, no-subln]
baseline: subln
`), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "registry.db")
	script := filepath.Join(dir, "sweep.sbatch")
	if _, err := run(t, "sweep", "ablation", matrix, "--emit", "slurm", "--tasks", "2", "--cpus", "1", "--binary", "/nonexistent/harness",
		"-o", script, "--registry", reg, "--root", root); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#SBATCH --array=(\d+)-(\d+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no array directive:\n%s", b)
	}
	lo, _ := strconv.Atoi(m[1])
	hi, _ := strconv.Atoi(m[2])
	if lo != 0 || hi != 1 {
		t.Fatalf("array %d-%d, want 0-1", lo, hi)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for task := lo; task <= hi; task++ {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "HARNESS_TEST_AS_CLI=1", "HARNESS_BIN="+self,
			"SLURM_JOB_ID="+strconv.Itoa(4200+task), "SLURM_ARRAY_JOB_ID=4200", "SLURM_ARRAY_TASK_ID="+strconv.Itoa(task),
			"SLURM_ARRAY_TASK_COUNT=2", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=1", "SLURM_CPUS_PER_TASK=1",
			"SLURM_JOB_NAME=sweep-test", "SLURM_SUBMIT_DIR="+dir)
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("task%d.out", task)))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("task%d.out", i)))
			t.Fatalf("array task %d: %v\n%s", i, err, log)
		}
	}
	sdb, err := sql.Open("sqlite3", "file:"+reg+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var items, done, workers, runs, doneRuns int
	if err := sdb.QueryRow(`SELECT COUNT(*), SUM(state = 'done'), COUNT(DISTINCT worker) FROM queue WHERE worker LIKE 'slurm-4200_%' OR state = 'queued'`).Scan(&items, &done, &workers); err != nil {
		t.Fatal(err)
	}
	if err := sdb.QueryRow(`SELECT COUNT(*), SUM(status = 'done') FROM runs WHERE kind = 'ablation-arm'`).Scan(&runs, &doneRuns); err != nil {
		t.Fatal(err)
	}
	if items != 4 || done != 4 || runs != 4 || doneRuns != 4 {
		t.Errorf("queue %d items, %d done; %d member runs, %d done (want 4 each)", items, done, runs, doneRuns)
	}
	if workers < 1 || workers > 2 {
		t.Errorf("%d distinct slurm workers", workers)
	}
}
