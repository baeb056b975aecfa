//! IntentMesh gRPC contracts (`intentmesh.v1`): generated messages, clients and servers behind a
//! small facade, the encoded descriptor set that server reflection serves, and the conversions
//! between the wire types and the agent contract's Rust types ([`intentmesh_core::agent`]).
//!
//! Services keep prost types to their gRPC adapters: an incoming message becomes a domain value
//! here (`TryFrom`, refusing what the domain cannot hold), and a domain value becomes a message
//! (`From`).

pub mod codec;
mod convert;

mod generated {
    #![allow(
        unreachable_pub,
        missing_debug_implementations,
        clippy::all,
        clippy::pedantic,
        clippy::unwrap_used
    )]
    pub mod intentmesh {
        pub mod v1 {
            tonic::include_proto!("intentmesh.v1");
        }
    }
}

/// Generated `intentmesh.v1` types.
pub mod pb {
    pub use crate::generated::intentmesh::v1::*;
}

pub use convert::{WireError, response_from_wire, response_to_wire};

/// The encoded `FileDescriptorSet` of every `intentmesh.v1` file, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/intentmesh_descriptor.bin"));

#[cfg(test)]
mod tests {
    use super::*;
    use intentmesh_core::ErrorCode;
    use prost::Message;

    #[test]
    fn descriptor_set_decodes_and_names_every_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("decodes");
        let services: Vec<_> = fds
            .file
            .iter()
            .flat_map(|f| f.service.iter().map(|s| s.name().to_owned()))
            .collect();
        assert!(services.contains(&"Agent".to_owned()));
        assert!(services.contains(&"Router".to_owned()));
    }

    #[test]
    fn the_proto_and_the_domain_name_the_same_error_codes() {
        let mut wire: Vec<String> = (1..)
            .map_while(|v| pb::ErrorCode::try_from(v).ok())
            .map(|c| {
                c.as_str_name()
                    .trim_start_matches("ERROR_CODE_")
                    .to_ascii_lowercase()
            })
            .collect();
        let mut domain: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| c.wire_name().to_owned())
            .collect();
        wire.sort();
        domain.sort();
        assert_eq!(wire, domain);
    }
}
