// Package openblas wraps OpenBLAS's cblas_sgemm for speed comparisons with
// the deterministic kernels of package kernels. It is built only with the
// build tag openblas and needs the OpenBLAS headers and library (Debian:
// libopenblas-dev). OpenBLAS does not follow the determinism contract: its
// reduction order depends on the blocking and the thread count, so it serves
// benchmarks only, never a training path.
package openblas
