#!/usr/bin/env bash
# Builds the IntentMesh image (one image, every service) and optionally pushes it.
set -euo pipefail

usage() {
    cat >&2 <<'USAGE'
usage: scripts/build-images.sh <registry> <tag> [--push]

  registry  where the image goes, e.g. ghcr.io/acme (the image is <registry>/intentmesh:<tag>)
  tag       the image tag, e.g. 0.1.0 or a git sha
  --push    push after building (needs `docker login <registry>` first)
USAGE
    exit 64
}

[[ $# -ge 2 && $# -le 3 ]] || usage
registry="${1%/}"
tag="$2"
push="${3:-}"
[[ -z "$push" || "$push" == "--push" ]] || usage
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "invalid tag: $tag" >&2; exit 64; }

cd "$(dirname "$0")/.."
image="$registry/intentmesh:$tag"
DOCKER_BUILDKIT=1 docker build --pull -t "$image" .
echo "built $image"
if [[ "$push" == "--push" ]]; then
    docker push "$image"
    echo "pushed $image"
fi
