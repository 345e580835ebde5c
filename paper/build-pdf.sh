#!/usr/bin/env bash
# Builds the paper's PDF from the committed sources (main.tex, refs.bib and
# what `harness paper` rendered) with latexmk in a scratch copy, so no LaTeX
# by-product lands in the repository. Fails on a LaTeX error, an undefined
# reference or citation, and any overfull line (a table or text running off
# the text width), listing them from the log.
#
#   paper/build-pdf.sh [OUT.pdf]     (default: paper.pdf in the current directory;
#                                    the LaTeX log is written beside it as OUT.log)
set -euo pipefail
paper=$(cd "$(dirname "$0")" && pwd)
out=${1:-paper.pdf}
command -v latexmk >/dev/null || {
	echo "build-pdf: latexmk not found (Debian: apt-get install texlive-latex-base texlive-latex-recommended texlive-fonts-recommended latexmk)" >&2
	exit 2
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$paper"/main.tex "$paper"/refs.bib "$paper"/figures "$paper"/tables "$paper"/generated "$work"/
# Fixed dates, so two builds of the same sources give the same text.
export SOURCE_DATE_EPOCH=946684800 FORCE_SOURCE_DATE=1
if ! (cd "$work" && latexmk -pdf -interaction=nonstopmode -halt-on-error main.tex >latexmk.out 2>&1); then
	echo "build-pdf: LaTeX failed; the end of the log:" >&2
	grep -n -A6 '^!' "$work/main.log" >&2 || tail -40 "$work/latexmk.out" >&2
	exit 1
fi
log="$work/main.log"
status=0
if grep -q 'Overfull \\hbox' "$log"; then
	echo "build-pdf: overfull lines (text or a table wider than the text):" >&2
	grep -A1 'Overfull \\hbox' "$log" >&2
	status=1
fi
if grep -q 'Float too large for page' "$log"; then
	echo "build-pdf: a table or figure taller than the page (it runs into the page's foot):" >&2
	grep 'Float too large for page' "$log" >&2
	status=1
fi
if grep -Eq 'LaTeX Warning: (Reference|Citation) .* undefined' "$log"; then
	echo "build-pdf: undefined references or citations:" >&2
	grep -E 'LaTeX Warning: (Reference|Citation) .* undefined' "$log" >&2
	status=1
fi
pages=$(grep -o 'Output written on main.pdf ([0-9]* pages' "$log" | grep -o '[0-9]* pages' || echo "? pages")
cp "$work/main.pdf" "$out"
cp "$log" "${out%.pdf}.log"
echo "build-pdf: wrote $out ($pages)"
exit $status
