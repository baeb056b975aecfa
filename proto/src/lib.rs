//! IntentMesh gRPC contracts (`intentmesh.v1`): generated messages, clients and servers behind a
//! small facade, and the encoded descriptor set that server reflection serves.

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

/// The encoded `FileDescriptorSet` of every `intentmesh.v1` file, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/intentmesh_descriptor.bin"));

/// The domain of the `google.rpc.ErrorInfo` that carries an [`pb::ErrorCode`].
pub const ERROR_DOMAIN: &str = "intentmesh";

impl pb::ErrorCode {
    /// The stable snake-case name used on the wire (`ERROR_CODE_INVALID_AMOUNT` → `invalid_amount`).
    pub fn wire_name(self) -> String {
        self.as_str_name()
            .trim_start_matches("ERROR_CODE_")
            .to_ascii_lowercase()
    }

    /// Parses a snake-case wire name back into a code.
    pub fn from_wire_name(name: &str) -> Option<Self> {
        Self::from_str_name(&format!("ERROR_CODE_{}", name.to_ascii_uppercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn error_code_wire_names_round_trip() {
        for code in [
            pb::ErrorCode::InvalidAmount,
            pb::ErrorCode::IdempotencyConflict,
        ] {
            let name = code.wire_name();
            assert!(!name.contains("error_code"));
            assert_eq!(pb::ErrorCode::from_wire_name(&name), Some(code));
        }
        assert_eq!(pb::ErrorCode::InvalidAmount.wire_name(), "invalid_amount");
    }
}
