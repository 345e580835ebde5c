package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// sweepSpec is what an emitted cluster job needs: the queue batch its
// workers drain, how many run, where the shared registry and root are,
// and what each task may use.
type sweepSpec struct {
	Name        string // job name (sanitised for the scheduler)
	Batch       string // queue batch the workers claim from
	What        string // a line saying what is queued
	Tasks       int    // array tasks / completions
	Parallelism int    // k8s: pods at once (default Tasks)
	CPUs        int
	Mem         string // Slurm --mem (e.g. 4G); k8s memory request (e.g. 4Gi)
	Time        string // Slurm --time
	Partition   string
	LogDir      string
	Binary      string // path of the harness binary on the cluster (Slurm)
	Root        string // shared project root (Slurm: a path; k8s: the mount path)
	Registry    string // registry DSN (Slurm; a password is never written)
	StaleAfter  time.Duration
	// Kubernetes.
	Image     string
	Secret    string // Secret holding the registry DSN
	SecretKey string
	PVC       string // PersistentVolumeClaim with the shared root
	Backoff   int
}

var slurmTemplate = template.Must(template.New("slurm").Funcs(template.FuncMap{"q": shellQuote}).Parse(`#!/bin/bash
# {{.What}}
# queue batch {{.Batch}}: {{.Tasks}} array tasks, each a ` + "`harness worker`" + ` that claims items until the queue is empty.
# Submit with: sbatch <this file>. HARNESS_REGISTRY and HARNESS_BIN set at submission override the values below
# (sbatch exports the submitting environment); a PostgreSQL password comes from PGPASSWORD or ~/.pgpass.
#SBATCH --job-name={{.Name}}
#SBATCH --array=0-{{.Last}}
#SBATCH --cpus-per-task={{.CPUs}}
#SBATCH --mem={{.Mem}}
#SBATCH --time={{.Time}}
#SBATCH --output={{.LogDir}}/%x-%A_%a.out
{{- if .Partition}}
#SBATCH --partition={{.Partition}}
{{- end}}
set -euo pipefail
harness=${HARNESS_BIN:-{{q .Binary}}}
registry=${HARNESS_REGISTRY:-{{q .Registry}}}
root={{q .Root}}
cd "$root"
exec "$harness" --root "$root" --registry "$registry" --threads "${SLURM_CPUS_PER_TASK:-{{.CPUs}}}" \
	worker --batch {{q .Batch}} --stale-after {{.StaleAfter}} \
	--name "slurm-${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-0}}_${SLURM_ARRAY_TASK_ID:-0}"
`))

var k8sTemplate = template.Must(template.New("k8s").Funcs(template.FuncMap{"y": yamlQuote}).Parse(`# {{.What}}
# queue batch {{.Batch}}: an Indexed Job whose pods each run ` + "`harness worker`" + ` until the queue is empty.
# Apply with: kubectl apply -f <this file>. The registry DSN is read from Secret {{.Secret}} (key {{.SecretKey}}):
#   kubectl create secret generic {{.Secret}} --from-literal={{.SecretKey}}='postgres://user:password@host:5432/harness'
apiVersion: batch/v1
kind: Job
metadata:
  name: {{y .Name}}
  labels:
    app.kubernetes.io/name: harness-worker
    harness/batch: {{y .Label}}
spec:
  completionMode: Indexed
  completions: {{.Tasks}}
  parallelism: {{.Parallelism}}
  backoffLimit: {{.Backoff}}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: harness-worker
        harness/batch: {{y .Label}}
    spec:
      restartPolicy: Never
      containers:
        - name: worker
          image: {{y .Image}}
          command: ["harness"]
          args: ["--root", {{y .Root}}, "--threads", "{{.CPUs}}", "worker", "--batch", {{y .Batch}}, "--stale-after", "{{.StaleAfter}}"]
          env:
            - name: HARNESS_REGISTRY
              valueFrom:
                secretKeyRef:
                  name: {{y .Secret}}
                  key: {{y .SecretKey}}
          resources:
            requests:
              cpu: "{{.CPUs}}"
              memory: {{y .Mem}}
            limits:
              cpu: "{{.CPUs}}"
              memory: {{y .Mem}}
          volumeMounts:
            - name: shared
              mountPath: {{y .Root}}
      volumes:
        - name: shared
          persistentVolumeClaim:
            claimName: {{y .PVC}}
`))

// emitSlurm renders the sbatch job-array script.
func emitSlurm(s sweepSpec) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if !strings.HasPrefix(s.Root, "/") {
		return "", fmt.Errorf("--root %q must be an absolute path the cluster's nodes share", s.Root)
	}
	if s.Mem == "" {
		s.Mem = "4G"
	}
	if s.Time == "" {
		s.Time = "04:00:00"
	}
	if s.LogDir == "" {
		s.LogDir = s.Root
	}
	reg, err := withoutPassword(s.Registry)
	if err != nil {
		return "", err
	}
	s.Registry = reg
	s.Name = jobName(s.Name)
	var b strings.Builder
	err = slurmTemplate.Execute(&b, struct {
		sweepSpec
		Last int
	}{s, s.Tasks - 1})
	return b.String(), err
}

// emitK8s renders the Kubernetes Job manifest.
func emitK8s(s sweepSpec) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if s.Image == "" {
		return "", fmt.Errorf("--image is required for --emit k8s (an image with the harness binary on its PATH)")
	}
	if s.PVC == "" {
		return "", fmt.Errorf("--pvc is required for --emit k8s (a ReadWriteMany volume holding the shared root with datasets/)")
	}
	if s.Mem == "" {
		s.Mem = "4Gi"
	}
	if s.Root == "" || !strings.HasPrefix(s.Root, "/") {
		s.Root = "/shared"
	}
	if s.Secret == "" {
		s.Secret = "harness-registry"
	}
	if s.SecretKey == "" {
		s.SecretKey = "dsn"
	}
	if s.Parallelism <= 0 || s.Parallelism > s.Tasks {
		s.Parallelism = s.Tasks
	}
	if s.Backoff <= 0 {
		s.Backoff = s.Tasks
	}
	s.Name = jobName(s.Name)
	var b strings.Builder
	err := k8sTemplate.Execute(&b, struct {
		sweepSpec
		Label string
	}{s, labelValue(s.Batch)})
	return b.String(), err
}

func (s sweepSpec) check() error {
	if s.Tasks < 1 {
		return fmt.Errorf("--tasks %d: at least one worker task", s.Tasks)
	}
	if s.CPUs < 1 {
		return fmt.Errorf("--cpus %d: at least one", s.CPUs)
	}
	if s.Batch == "" {
		return fmt.Errorf("no queue batch")
	}
	if s.StaleAfter <= 0 {
		return fmt.Errorf("--stale-after must be positive")
	}
	return nil
}

var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// jobName makes a DNS-1123 label (Kubernetes Job names; also fine for
// Slurm): lower case, digits and '-', at most 52 characters so the pods'
// indexed host names stay under 63.
func jobName(s string) string {
	n := strings.Trim(notName.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > 52 {
		n = strings.TrimRight(n[:52], "-")
	}
	if n == "" {
		n = "harness-sweep"
	}
	return n
}

var notLabel = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes a Kubernetes label value of a batch name.
func labelValue(s string) string {
	v := notLabel.ReplaceAllString(s, "_")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "._-")
}

// withoutPassword drops the password of a postgres:// DSN: a script never
// carries a secret (libpq's PGPASSWORD or ~/.pgpass supplies it).
func withoutPassword(dsn string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("registry DSN: %w", err)
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// yamlQuote quotes s as a YAML double-quoted scalar (JSON escaping is a
// subset of it).
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
