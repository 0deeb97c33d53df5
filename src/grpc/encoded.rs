//! Answers sent as ready protobuf bytes.
//!
//! The read caches keep GetMcpServer, ListMcpServers and ResolvePack answers
//! encoded (`bytes::Bytes`), so a hit is a reference-count increment and the
//! bytes are copied straight into the response frame, never decoded and
//! encoded again. The generated servers answer these RPCs with [`Encoded`]
//! (see `build.rs`): a prost message like any other, or [`Ready`] pieces.
//! tonic frames, compresses and (behind gRPC-Web) translates them as it does
//! every message; clients see the plain messages.
//!
//! What depends on the caller (`access_info`) is not in the cached bytes: it
//! is appended as its own encoded field. Protobuf parsers merge a message's
//! fields in whatever order they come, so the cached fields followed by the
//! caller's field decode exactly as the whole message would.

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use prost::encoding::{DecodeContext, WireType, encode_key, encode_varint, encoded_len_varint};

use crate::pb;

/// What McpServerService answers with an `McpServer`.
pub type McpServerAnswer = Encoded<pb::McpServer>;
/// What ListMcpServers answers.
pub type ListMcpServersAnswer = Encoded<pb::ListMcpServersResponse>;
/// What ResolvePack answers.
pub type ResolvePackAnswer = Encoded<pb::ResolvePackResponse>;

/// Field numbers written by hand (a unit test checks them against prost's
/// encoding of the same messages).
pub mod tags {
    /// `McpServer.access_info`.
    pub const ACCESS_INFO: u32 = 37;
    /// `ListMcpServersResponse.mcp_servers`.
    pub const MCP_SERVERS: u32 = 1;
    /// `ListMcpServersResponse.next_page_token`.
    pub const NEXT_PAGE_TOKEN: u32 = 2;
    /// `ListMcpServersResponse.total_size`.
    pub const TOTAL_SIZE: u32 = 3;
}

/// A message for the wire: built now, or encoded already.
#[derive(Debug, Clone)]
pub enum Encoded<T> {
    /// A message prost encodes as usual.
    Message(T),
    /// Encoded fields of a `T`, in order.
    Ready(Ready),
}

impl<T> Encoded<T> {
    /// A message built from `value`.
    pub fn message(value: impl Into<T>) -> Self {
        Self::Message(value.into())
    }
}

impl<T: Default> Default for Encoded<T> {
    fn default() -> Self {
        Self::Message(T::default())
    }
}

/// Encoded fields: shared pieces (cached answers) and the caller's own
/// small ones, written to the wire one after the other.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    pieces: Vec<Piece>,
    /// The bytes of every [`Piece::Own`], one after the other.
    own: Vec<u8>,
    len: usize,
}

#[derive(Debug, Clone)]
enum Piece {
    /// Bytes shared with a cache.
    Shared(Bytes),
    /// `own[previous own end..end]`.
    Own(usize),
}

impl Ready {
    /// Room for `pieces` pieces.
    pub fn with_capacity(pieces: usize) -> Self {
        Self {
            pieces: Vec::with_capacity(pieces),
            ..Self::default()
        }
    }

    /// Encoded length of everything added so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends encoded fields (a cached answer), shared, not copied.
    pub fn shared(&mut self, fields: Bytes) -> &mut Self {
        if !fields.is_empty() {
            self.len += fields.len();
            self.pieces.push(Piece::Shared(fields));
        }
        self
    }

    /// Appends message field `tag` holding `value`.
    pub fn message<M: Message>(&mut self, tag: u32, value: &M) -> &mut Self {
        self.own(|buf| prost::encoding::message::encode(tag, value, buf))
    }

    /// Appends the key and length of a message field `tag` whose `len`
    /// bytes of content are appended next.
    pub fn header(&mut self, tag: u32, len: usize) -> &mut Self {
        self.own(|buf| {
            encode_key(tag, WireType::LengthDelimited, buf);
            encode_varint(len as u64, buf);
        })
    }

    /// Appends string field `tag` unless it is empty (proto3 leaves it out).
    pub fn string(&mut self, tag: u32, value: &str) -> &mut Self {
        if value.is_empty() {
            return self;
        }
        self.own(|buf| {
            encode_key(tag, WireType::LengthDelimited, buf);
            encode_varint(value.len() as u64, buf);
            buf.extend_from_slice(value.as_bytes());
        })
    }

    /// Appends int64 field `tag` unless it is 0 (proto3 leaves it out).
    pub fn int64(&mut self, tag: u32, value: i64) -> &mut Self {
        if value == 0 {
            return self;
        }
        self.own(|buf| prost::encoding::int64::encode(tag, &value, buf))
    }

    /// Appends what `write` writes, to the last own piece when it is the last
    /// piece.
    fn own(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        let start = self.own.len();
        write(&mut self.own);
        let end = self.own.len();
        self.len += end - start;
        match self.pieces.last_mut() {
            Some(Piece::Own(last)) => *last = end,
            _ => self.pieces.push(Piece::Own(end)),
        }
        self
    }

    /// Writes every piece, in order.
    fn write_to(&self, buf: &mut impl BufMut) {
        let mut start = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Shared(bytes) => buf.put_slice(bytes),
                Piece::Own(end) => {
                    buf.put_slice(self.own.get(start..*end).unwrap_or_default());
                    start = *end;
                }
            }
        }
    }

    /// The pieces as one buffer (for decoding).
    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.write_to(&mut out);
        out
    }
}

impl From<Bytes> for Ready {
    fn from(fields: Bytes) -> Self {
        let mut ready = Self::with_capacity(1);
        ready.shared(fields);
        ready
    }
}

/// What an encoded answer kept in a cache holds: its bytes and the shared
/// header `Bytes` allocates when it is first cloned.
pub fn weigh(answer: &Bytes) -> u64 {
    answer.len() as u64 + 32
}

/// Length of message field `tag` holding `value`, key and length included.
pub fn field_len<M: Message>(tag: u32, value: &M) -> usize {
    prost::encoding::message::encoded_len(tag, value)
}

/// Length of a length-delimited field's key and length prefix.
pub fn header_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + encoded_len_varint(len as u64)
}

impl<T: Message + Default> Message for Encoded<T> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            Self::Message(message) => message.encode_raw(buf),
            Self::Ready(ready) => ready.write_to(buf),
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only the servers send these; should anything decode one, the
        // ready bytes become a message first.
        if let Self::Ready(ready) = self {
            *self = Self::Message(T::decode(ready.to_vec().as_slice())?);
        }
        match self {
            Self::Message(message) => message.merge_field(tag, wire_type, buf, ctx),
            Self::Ready(_) => Ok(()),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Self::Message(message) => message.encoded_len(),
            Self::Ready(ready) => ready.len,
        }
    }

    fn clear(&mut self) {
        *self = Self::Message(T::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> pb::McpServer {
        pb::McpServer {
            id: format!("mcp_{name}"),
            name: name.into(),
            description: "d".repeat(300),
            next_sync_at: Some(prost_types::Timestamp {
                seconds: 5,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn access(can_edit: bool) -> pb::AccessInfo {
        pb::AccessInfo {
            role: pb::Role::Admin as i32,
            is_creator: true,
            can_edit,
        }
    }

    #[test]
    fn cached_fields_and_the_callers_own_decode_as_the_whole_message() {
        let cached = Bytes::from(server("a").encode_to_vec());
        let mut ready = Ready::from(cached);
        ready.message(tags::ACCESS_INFO, &access(true));
        let answer: McpServerAnswer = Encoded::Ready(ready);
        let bytes = answer.encode_to_vec();
        assert_eq!(bytes.len(), answer.encoded_len());
        let whole = pb::McpServer {
            access_info: Some(access(true)),
            ..server("a")
        };
        assert_eq!(pb::McpServer::decode(bytes.as_slice()).ok(), Some(whole));
    }

    #[test]
    fn a_listing_built_from_pieces_is_byte_for_byte_what_prost_writes() {
        let servers = [server("a"), server("b")];
        let mut ready = Ready::with_capacity(8);
        for (i, s) in servers.iter().enumerate() {
            let own = access(i == 0);
            let fields = Bytes::from(s.encode_to_vec());
            let len = fields.len() + field_len(tags::ACCESS_INFO, &own);
            ready.header(tags::MCP_SERVERS, len);
            ready.shared(fields);
            ready.message(tags::ACCESS_INFO, &own);
        }
        ready.string(tags::NEXT_PAGE_TOKEN, "next");
        ready.int64(tags::TOTAL_SIZE, 42);
        let whole = pb::ListMcpServersResponse {
            mcp_servers: servers
                .iter()
                .enumerate()
                .map(|(i, s)| pb::McpServer {
                    access_info: Some(access(i == 0)),
                    ..s.clone()
                })
                .collect(),
            next_page_token: "next".into(),
            total_size: 42,
        };
        let answer: ListMcpServersAnswer = Encoded::Ready(ready);
        let decoded = pb::ListMcpServersResponse::decode(answer.encode_to_vec().as_slice());
        assert_eq!(decoded.ok(), Some(whole.clone()));
        let empty: ListMcpServersAnswer = Encoded::Ready(Ready::default());
        assert_eq!(
            pb::ListMcpServersResponse::decode(empty.encode_to_vec().as_slice()).ok(),
            Some(pb::ListMcpServersResponse::default())
        );
        // The same bytes as prost's, apart from access_info's place in each server.
        let moved = |s: &pb::McpServer| {
            let mut bare = s.clone();
            let own = bare.access_info.take();
            let mut bytes = bare.encode_to_vec();
            if let Some(own) = own {
                prost::encoding::message::encode(tags::ACCESS_INFO, &own, &mut bytes);
            }
            bytes
        };
        let mut expected = Vec::new();
        for s in &whole.mcp_servers {
            let bytes = moved(s);
            encode_key(tags::MCP_SERVERS, WireType::LengthDelimited, &mut expected);
            encode_varint(bytes.len() as u64, &mut expected);
            expected.extend_from_slice(&bytes);
        }
        prost::encoding::string::encode(
            tags::NEXT_PAGE_TOKEN,
            &whole.next_page_token,
            &mut expected,
        );
        prost::encoding::int64::encode(tags::TOTAL_SIZE, &whole.total_size, &mut expected);
        assert_eq!(answer.encode_to_vec(), expected);
    }

    #[test]
    fn a_message_is_encoded_as_prost_encodes_it_and_ready_bytes_decode_back() {
        let message: McpServerAnswer = Encoded::message(server("m"));
        assert_eq!(message.encode_to_vec(), server("m").encode_to_vec());
        let ready: McpServerAnswer =
            Encoded::Ready(Ready::from(Bytes::from(server("r").encode_to_vec())));
        let Ok(Encoded::Message(decoded)) =
            McpServerAnswer::decode(ready.encode_to_vec().as_slice())
        else {
            panic!("decodes to a message");
        };
        assert_eq!(decoded, server("r"));
    }
}
