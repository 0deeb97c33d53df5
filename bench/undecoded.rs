//! Unary calls whose answers are checked (the gRPC status) and counted but
//! not decoded, as h2load does: with 125 tools a ResolvePack answer is some
//! 56 KB of nested `Struct`s, and decoding it in the load generator, on the
//! same two cores as the service, would measure the load generator.

use std::marker::PhantomData;

use bytes::Buf;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_prost::ProstEncoder;

use crate::scenarios::Auth;

/// Requests encoded with prost; answers skipped, decoded as their length.
struct Undecoded<T>(PhantomData<T>);

impl<T: prost::Message + Send + 'static> Codec for Undecoded<T> {
    type Encode = T;
    type Decode = usize;
    type Encoder = ProstEncoder<T>;
    type Decoder = Skip;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        Skip
    }
}

/// Consumes an answer's bytes and yields how many there were.
struct Skip;

impl Decoder for Skip {
    type Item = usize;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(n))
    }
}

/// Calls the unary RPC at `path` (`/package.Service/Method`) with `message`
/// under `auth`; returns the answer's encoded size.
pub async fn call<T: prost::Message + Send + Sync + 'static>(
    ch: Channel,
    auth: &Auth,
    path: &'static str,
    message: T,
) -> Result<usize, Status> {
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let request = auth.request(message);
    let codec = Undecoded::<T>(PhantomData);
    let answer = grpc
        .unary(request, PathAndQuery::from_static(path), codec)
        .await?;
    Ok(answer.into_inner())
}
