//! Compiles `intentmesh/v1/*.proto` with pure-Rust `protox` (no system `protoc`) and generates
//! prost messages plus tonic clients and servers, and a descriptor set for server reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["intentmesh/v1/agent.proto", "intentmesh/v1/router.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["."])?;
    // Cargo's own variable for build scripts (the services read theirs through `Env`).
    #[allow(clippy::disallowed_methods)]
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("intentmesh_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;
    // Our codec: a request that cannot be decoded is the caller's mistake (src/codec.rs).
    tonic_prost_build::configure()
        .codec_path("crate::codec::WireCodec")
        .compile_fds(fds)?;
    Ok(())
}
