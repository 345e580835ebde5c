package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanomamba-edge/harness/registry"
)

// artifactFile returns the file of a recorded artifact when it may be
// served: its path (joined to the root when relative), cleaned, must lie
// under the project root both as written and with every symbolic link
// resolved, and must be a regular file. The error says why not.
func (s *Server) artifactFile(a registry.Artifact) (string, error) {
	root, err := filepath.Abs(s.opts.Root)
	if err != nil {
		return "", fmt.Errorf("project root unusable: %v", err)
	}
	p := filepath.Clean(registry.ArtifactPath(root, a))
	if _, err := registry.RelToRoot(root, p); err != nil {
		return "", errors.New("outside the project root: not served")
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("project root unusable: %v", err)
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errors.New("missing under the project root")
	} else if err != nil {
		return "", errors.New("unreadable")
	}
	if _, err := registry.RelToRoot(realRoot, real); err != nil {
		return "", errors.New("links outside the project root: not served")
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", errors.New("unreadable")
	}
	if !st.Mode().IsRegular() {
		return "", errors.New("not a regular file: not served")
	}
	return real, nil
}

// artifact serves one recorded artifact of an attempt, named by its
// recorded path (?path=, exactly as recorded; ?attempt=, default the
// latest), as a download.
func (s *Server) artifact(w http.ResponseWriter, r *http.Request) {
	h, run, _, err := s.attemptOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	want := r.URL.Query().Get("path")
	if want == "" || len(want) > 4096 || strings.ContainsRune(want, 0) {
		s.fail(w, r, badRequest("path: want the artifact's recorded path (1 to 4096 bytes)"))
		return
	}
	arts, err := s.db.Artifacts(run.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, a := range arts {
		if a.Path != want {
			continue
		}
		p, err := s.artifactFile(a)
		if err != nil {
			s.fail(w, r, &httpError{http.StatusForbidden, fmt.Sprintf("artifact %s of run %s: %v", clip(want), short(h), err)})
			return
		}
		f, err := os.Open(p)
		if err != nil {
			s.fail(w, r, &httpError{http.StatusForbidden, fmt.Sprintf("artifact %s of run %s: unreadable", clip(want), short(h))})
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			s.fail(w, r, &httpError{http.StatusForbidden, fmt.Sprintf("artifact %s of run %s: not a regular file", clip(want), short(h))})
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(p)}))
		hd.Set("X-Artifact-SHA256", a.SHA256)
		http.ServeContent(w, r, "", st.ModTime(), f)
		return
	}
	s.fail(w, r, notFound("run %s attempt %d recorded no artifact with path %q", short(h), run.Attempt, clip(want)))
}
