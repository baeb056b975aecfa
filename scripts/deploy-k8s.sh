#!/usr/bin/env bash
# Deploys an overlay of k8s/ with the given image, and waits for the rollout.
set -euo pipefail

usage() {
    cat >&2 <<'USAGE'
usage: scripts/deploy-k8s.sh <overlay> <registry> <tag>

  overlay   local | production (a directory under k8s/overlays/)
  registry  where the image is, e.g. ghcr.io/acme (the image is <registry>/intentmesh:<tag>)
  tag       the image tag that scripts/build-images.sh built and pushed

Production needs the Secrets intentmesh-<service>-secrets first (k8s/secrets.yaml), cert-manager,
the RabbitMQ Cluster Operator, KEDA and the Prometheus Operator installed.
USAGE
    exit 64
}

[[ $# -eq 3 ]] || usage
overlay="$1"
registry="${2%/}"
tag="$3"
cd "$(dirname "$0")/.."
[[ -d "k8s/overlays/$overlay" ]] || { echo "no overlay k8s/overlays/$overlay" >&2; usage; }

# A throwaway kustomization over the overlay that pins the image (kustomize wants it inside the
# tree, relative to the overlay; it is ignored by git and removed on exit).
work="k8s/.deploy-$$"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cat >"$work/kustomization.yaml" <<KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$overlay
images:
  - name: intentmesh
    newName: $registry/intentmesh
    newTag: "$tag"
  - name: ghcr.io/intentmesh/intentmesh
    newName: $registry/intentmesh
    newTag: "$tag"
KUSTOMIZATION

kubectl kustomize "$work" | kubectl apply -f -
for deployment in gateway root payment search; do
    kubectl -n multi-agent rollout status "deployment/$deployment" --timeout=300s
done
echo "deployed $overlay with $registry/intentmesh:$tag"
