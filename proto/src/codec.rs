//! The codec every `intentmesh.v1` client and server uses: prost's, except for what a message
//! that cannot be decoded means. A request the server cannot decode (malformed, or nested past
//! prost's recursion limit) is the caller's mistake: `InvalidArgument` with the `invalid_request`
//! code, where prost says `Internal` — which a caller's circuit breaker would count against a
//! healthy server. An answer the client cannot decode stays `Internal`: the server sent it.

use std::marker::PhantomData;

use intentmesh_core::{AgentError, ErrorCode};
use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

use crate::pb;

/// Which side decodes a message type: requests are decoded by servers, answers by clients.
pub trait Decoded {
    /// The status for a message of this type that could not be decoded.
    fn undecodable(status: Status) -> Status;
}

/// A request: what the caller sent cannot be read.
macro_rules! requests {
    ($($t:ty),*) => {$(
        impl Decoded for $t {
            fn undecodable(status: Status) -> Status {
                AgentError::new(
                    ErrorCode::InvalidRequest,
                    format!("the request cannot be decoded: {}", status.message()),
                )
                .into()
            }
        }
    )*};
}

/// An answer: what the server sent cannot be read (prost's `Internal`).
macro_rules! answers {
    ($($t:ty),*) => {$(
        impl Decoded for $t {
            fn undecodable(status: Status) -> Status {
                status
            }
        }
    )*};
}

requests!(pb::ProcessRequest, pb::DescribeRequest);
answers!(pb::ProcessResponse, pb::AgentCard, pb::RouteDecision);

/// Prost's codec with [`Decoded`] deciding what an undecodable message is.
#[derive(Debug, Clone)]
pub struct WireCodec<T, U> {
    inner: ProstCodec<T, U>,
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        Self {
            inner: ProstCodec::default(),
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Decoded + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder(self.inner.decoder())
    }
}

/// Prost's decoder, with [`Decoded::undecodable`] for its errors.
#[derive(Debug)]
pub struct WireDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default + Decoded> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(U::undecodable)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
