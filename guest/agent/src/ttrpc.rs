//! A minimal ttrpc server over one already-connected byte stream (a virtio-serial port or a
//! vsock connection).
//!
//! Wire format: a 10-byte header `[length u32 BE][stream id u32 BE][type u8][flags u8]`, then
//! `length` bytes of payload (at most 4 MiB). Requests (type 1) carry a protobuf `Request`,
//! responses (type 2) a protobuf `Response`. Each request is handled on its own thread so that
//! long-polling calls do not block the others; responses are written whole under a lock.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prost::Message;

pub const HEADER_LEN: usize = 10;
pub const MAX_PAYLOAD: usize = 4 << 20;
pub const TYPE_REQUEST: u8 = 1;
pub const TYPE_RESPONSE: u8 = 2;
#[cfg(test)]
pub const TYPE_DATA: u8 = 3;
/// Requests handled at once; beyond that new requests fail with RESOURCE_EXHAUSTED.
const MAX_IN_FLIGHT: usize = 512;

/// gRPC status codes used by the agent.
#[allow(dead_code)]
pub mod code {
    pub const OK: i32 = 0;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Request {
    #[prost(string, tag = "1")]
    pub service: String,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    #[prost(int64, tag = "4")]
    pub timeout_nano: i64,
    #[prost(message, repeated, tag = "5")]
    pub metadata: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

/// An RPC failure: a gRPC status code and a message for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

pub type RpcResult<T> = Result<T, RpcError>;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub stream_id: u32,
    pub msg_type: u8,
    pub flags: u8,
}

impl Header {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            length: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            stream_id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            msg_type: b[8],
            flags: b[9],
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.length.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        b[8] = self.msg_type;
        b[9] = self.flags;
        b
    }
}

/// What the reader got from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete frame within the size limit.
    Message { header: Header, payload: Vec<u8> },
    /// A frame whose declared payload exceeds MAX_PAYLOAD; the payload was read and discarded.
    Oversized { header: Header },
}

/// Reads one frame. `Ok(None)` is a clean EOF at a frame boundary; EOF inside a frame is an
/// `UnexpectedEof` error. Partial reads are handled (read_exact).
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut hdr = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut hdr[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let header = Header::parse(&hdr);
    let len = header.length as usize;
    if len > MAX_PAYLOAD {
        // Skip the payload so that the stream stays in sync.
        let skipped = io::copy(&mut r.by_ref().take(len as u64), &mut io::sink())?;
        if skipped < len as u64 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        return Ok(Some(Frame::Oversized { header }));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(Frame::Message { header, payload }))
}

/// Encodes a whole frame (header and payload) into one buffer, written with one write_all.
pub fn encode_frame(stream_id: u32, msg_type: u8, payload: &[u8]) -> Vec<u8> {
    let header = Header { length: payload.len() as u32, stream_id, msg_type, flags: 0 };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
    out
}

pub fn encode_response(stream_id: u32, result: RpcResult<Vec<u8>>) -> Vec<u8> {
    let resp = match result {
        Ok(payload) => Response { status: Some(Status { code: code::OK, message: String::new() }), payload },
        Err(e) => Response { status: Some(Status { code: e.code, message: e.message }), payload: Vec::new() },
    };
    let mut body = resp.encode_to_vec();
    if body.len() > MAX_PAYLOAD {
        body = Response {
            status: Some(Status {
                code: code::RESOURCE_EXHAUSTED,
                message: format!("response of {} bytes exceeds the 4 MiB limit", body.len()),
            }),
            payload: Vec::new(),
        }
        .encode_to_vec();
    }
    encode_frame(stream_id, TYPE_RESPONSE, &body)
}

/// After a response was written: what the server must do next.
pub enum After {
    Nothing,
    /// Run this once the response is out (used by DestroySandbox to power off).
    Then(Box<dyn FnOnce() + Send>),
    /// Run this if the response could not be delivered (its connection is gone): it puts back
    /// what the call consumed (stdout data, an OOM event) for the next caller.
    IfUndelivered(Box<dyn FnOnce() + Send>),
}

/// The service side: decodes a method's payload and returns the encoded response payload.
pub trait Service: Send + Sync + 'static {
    fn call(&self, method: &str, payload: &[u8]) -> (RpcResult<Vec<u8>>, After);
}

/// Shared writer of one connection, tagged with the connection generation it belongs to.
pub struct Conn<W: Write + Send> {
    writer: Mutex<W>,
    generation: AtomicUsize,
}

impl<W: Write + Send> Conn<W> {
    pub fn new(writer: W) -> Self {
        Conn { writer: Mutex::new(writer), generation: AtomicUsize::new(0) }
    }

    /// Called when the peer went away: responses of requests read before are dropped.
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn generation(&self) -> usize {
        self.generation.load(Ordering::SeqCst)
    }

    /// Writes a whole frame; false when it was dropped (stale connection) or failed.
    fn send(&self, generation: usize, frame: &[u8]) -> bool {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if generation != self.generation() {
            crate::debug!("ttrpc: dropping a response for a closed connection");
            return false;
        }
        if let Err(e) = w.write_all(frame).and_then(|_| w.flush()) {
            crate::warn!("ttrpc: writing a response failed: {e}");
            return false;
        }
        true
    }
}

pub const SERVICE_NAME: &str = "kataagent.v1.Agent";

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Serves requests read from `reader` until EOF (Ok, with the number of frames read) or a read
/// error (Err). Responses go to `conn`. Each request runs on its own thread.
pub fn serve<R, W, S>(reader: &mut R, conn: &Arc<Conn<W>>, service: &Arc<S>) -> io::Result<u64>
where
    R: Read,
    W: Write + Send + 'static,
    S: Service,
{
    let mut frames = 0u64;
    loop {
        let frame = match read_frame(reader)? {
            None => return Ok(frames),
            Some(f) => f,
        };
        frames += 1;
        let generation = conn.generation();
        match frame {
            Frame::Oversized { header } => {
                crate::warn!(
                    "ttrpc: frame of {} bytes on stream {} exceeds the limit",
                    header.length,
                    header.stream_id
                );
                if header.msg_type == TYPE_REQUEST {
                    let err = RpcError::new(
                        code::RESOURCE_EXHAUSTED,
                        format!("message of {} bytes exceeds the 4 MiB limit", header.length),
                    );
                    conn.send(generation, &encode_response(header.stream_id, Err(err)));
                }
            }
            Frame::Message { header, payload } => {
                if header.msg_type != TYPE_REQUEST {
                    crate::warn!(
                        "ttrpc: ignoring a frame of type {} on stream {}",
                        header.msg_type,
                        header.stream_id
                    );
                    continue;
                }
                dispatch(header.stream_id, &payload, generation, conn, service);
            }
        }
    }
}

fn dispatch<W, S>(stream_id: u32, payload: &[u8], generation: usize, conn: &Arc<Conn<W>>, service: &Arc<S>)
where
    W: Write + Send + 'static,
    S: Service,
{
    let req = match Request::decode(payload) {
        Ok(r) => r,
        Err(e) => {
            let err = RpcError::new(code::INVALID_ARGUMENT, format!("bad ttrpc request: {e}"));
            conn.send(generation, &encode_response(stream_id, Err(err)));
            return;
        }
    };
    if stream_id.is_multiple_of(2) {
        let err = RpcError::new(code::INVALID_ARGUMENT, "client stream ids must be odd");
        conn.send(generation, &encode_response(stream_id, Err(err)));
        return;
    }
    if req.service != SERVICE_NAME {
        let err = RpcError::new(code::UNIMPLEMENTED, format!("unknown service {:?}", req.service));
        conn.send(generation, &encode_response(stream_id, Err(err)));
        return;
    }
    if IN_FLIGHT.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        let err = RpcError::new(code::RESOURCE_EXHAUSTED, "too many requests in flight");
        conn.send(generation, &encode_response(stream_id, Err(err)));
        return;
    }
    let conn = Arc::clone(conn);
    let service = Arc::clone(service);
    let spawned =
        std::thread::Builder::new().name(format!("rpc-{stream_id}")).stack_size(256 << 10).spawn(move || {
            crate::debug!("rpc {} {}", stream_id, req.method);
            let (result, after) = service.call(&req.method, &req.payload);
            if let Err(e) = &result {
                crate::info!("rpc {} failed: {}", req.method, e);
            }
            let delivered = conn.send(generation, &encode_response(stream_id, result));
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            match after {
                After::Then(f) => f(),
                After::IfUndelivered(f) if !delivered => f(),
                _ => {}
            }
        });
    if let Err(e) = spawned {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        crate::warn!("ttrpc: cannot start a handler thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns at most `chunk` bytes per read.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn request(method: &str, payload: &[u8]) -> Vec<u8> {
        Request {
            service: SERVICE_NAME.into(),
            method: method.into(),
            payload: payload.to_vec(),
            timeout_nano: 0,
            metadata: vec![],
        }
        .encode_to_vec()
    }

    #[test]
    fn header_round_trip() {
        let h = Header { length: 0x01020304, stream_id: 7, msg_type: TYPE_REQUEST, flags: 0 };
        let b = h.encode();
        assert_eq!(b, [1, 2, 3, 4, 0, 0, 0, 7, 1, 0]);
        assert_eq!(Header::parse(&b), h);
    }

    #[test]
    fn reads_frames_byte_by_byte() {
        let mut data = encode_frame(1, TYPE_REQUEST, b"hello");
        data.extend(encode_frame(3, TYPE_REQUEST, b""));
        data.extend(encode_frame(5, TYPE_REQUEST, &[9u8; 70000]));
        let mut r = Trickle { data, pos: 0, chunk: 1 };
        let f1 = read_frame(&mut r).unwrap().unwrap();
        match f1 {
            Frame::Message { header, payload } => {
                assert_eq!(header.stream_id, 1);
                assert_eq!(payload, b"hello");
            }
            other => panic!("{other:?}"),
        }
        match read_frame(&mut r).unwrap().unwrap() {
            Frame::Message { header, payload } => {
                assert_eq!(header.stream_id, 3);
                assert!(payload.is_empty());
            }
            other => panic!("{other:?}"),
        }
        r.chunk = 4096;
        match read_frame(&mut r).unwrap().unwrap() {
            Frame::Message { header, payload } => {
                assert_eq!(header.stream_id, 5);
                assert_eq!(payload.len(), 70000);
            }
            other => panic!("{other:?}"),
        }
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let data = encode_frame(1, TYPE_REQUEST, b"hello");
        for cut in 1..data.len() {
            let mut r = Trickle { data: data[..cut].to_vec(), pos: 0, chunk: 3 };
            let e = read_frame(&mut r).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }

    #[test]
    fn oversized_frame_is_skipped_and_stream_stays_in_sync() {
        let big = MAX_PAYLOAD + 1;
        let mut data =
            Header { length: big as u32, stream_id: 9, msg_type: TYPE_REQUEST, flags: 0 }.encode().to_vec();
        data.extend(vec![0u8; big]);
        data.extend(encode_frame(11, TYPE_REQUEST, b"next"));
        let mut r = Trickle { data, pos: 0, chunk: 65536 };
        match read_frame(&mut r).unwrap().unwrap() {
            Frame::Oversized { header } => assert_eq!(header.stream_id, 9),
            other => panic!("{other:?}"),
        }
        match read_frame(&mut r).unwrap().unwrap() {
            Frame::Message { header, payload } => {
                assert_eq!(header.stream_id, 11);
                assert_eq!(payload, b"next");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn max_payload_is_accepted() {
        let data = encode_frame(1, TYPE_REQUEST, &vec![1u8; MAX_PAYLOAD]);
        let mut r = Trickle { data, pos: 0, chunk: 1 << 20 };
        assert!(matches!(read_frame(&mut r).unwrap().unwrap(), Frame::Message { .. }));
    }

    #[test]
    fn error_response_carries_status() {
        let frame = encode_response(7, Err(RpcError::new(code::NOT_FOUND, "no such container")));
        let h = Header::parse(frame[..HEADER_LEN].try_into().unwrap());
        assert_eq!(h.stream_id, 7);
        assert_eq!(h.msg_type, TYPE_RESPONSE);
        assert_eq!(h.length as usize, frame.len() - HEADER_LEN);
        let resp = Response::decode(&frame[HEADER_LEN..]).unwrap();
        let st = resp.status.unwrap();
        assert_eq!(st.code, code::NOT_FOUND);
        assert_eq!(st.message, "no such container");
    }

    /// A writer that records whole frames for the tests below.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Echo;
    impl Service for Echo {
        fn call(&self, method: &str, payload: &[u8]) -> (RpcResult<Vec<u8>>, After) {
            match method {
                "Echo" => (Ok(payload.to_vec()), After::Nothing),
                m => (Err(RpcError::new(code::UNIMPLEMENTED, format!("unknown method {m}"))), After::Nothing),
            }
        }
    }

    fn responses(sink: &Sink, want: usize) -> Vec<(u32, Response)> {
        for _ in 0..500 {
            let data = sink.0.lock().unwrap().clone();
            let mut r = io::Cursor::new(data);
            let mut out = vec![];
            while let Some(Frame::Message { header, payload }) = read_frame(&mut r).unwrap() {
                assert_eq!(header.msg_type, TYPE_RESPONSE);
                out.push((header.stream_id, Response::decode(&payload[..]).unwrap()));
            }
            if out.len() >= want {
                out.sort_by_key(|(id, _)| *id);
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("responses did not arrive");
    }

    #[test]
    fn serve_dispatches_and_rejects() {
        let mut input = encode_frame(1, TYPE_REQUEST, &request("Echo", b"abc"));
        input.extend(encode_frame(3, TYPE_REQUEST, &request("Nope", b"")));
        input.extend(encode_frame(5, 42, b"junk of unknown type"));
        input.extend(encode_frame(7, TYPE_DATA, b"data frames are ignored"));
        input.extend(encode_frame(9, TYPE_REQUEST, b"\xff\xff not protobuf"));
        let other_service =
            Request { service: "other.Service".into(), method: "Echo".into(), ..Default::default() }
                .encode_to_vec();
        input.extend(encode_frame(11, TYPE_REQUEST, &other_service));
        let sink = Sink::default();
        let conn = Arc::new(Conn::new(sink.clone()));
        let mut reader = Trickle { data: input, pos: 0, chunk: 2 };
        assert_eq!(serve(&mut reader, &conn, &Arc::new(Echo)).unwrap(), 6);
        let got = responses(&sink, 4);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1.status.as_ref().unwrap().code, code::OK);
        assert_eq!(got[0].1.payload, b"abc");
        assert_eq!(got[1].0, 3);
        assert_eq!(got[1].1.status.as_ref().unwrap().code, code::UNIMPLEMENTED);
        assert_eq!(got[2].0, 9);
        assert_eq!(got[2].1.status.as_ref().unwrap().code, code::INVALID_ARGUMENT);
        assert_eq!(got[3].0, 11);
        assert_eq!(got[3].1.status.as_ref().unwrap().code, code::UNIMPLEMENTED);
    }

    #[test]
    fn oversized_request_gets_resource_exhausted() {
        let big = MAX_PAYLOAD + 10;
        let mut input =
            Header { length: big as u32, stream_id: 13, msg_type: TYPE_REQUEST, flags: 0 }.encode().to_vec();
        input.extend(vec![0u8; big]);
        input.extend(encode_frame(15, TYPE_REQUEST, &request("Echo", b"ok")));
        let sink = Sink::default();
        let conn = Arc::new(Conn::new(sink.clone()));
        serve(&mut io::Cursor::new(input), &conn, &Arc::new(Echo)).unwrap();
        let got = responses(&sink, 2);
        assert_eq!(got[0].0, 13);
        assert_eq!(got[0].1.status.as_ref().unwrap().code, code::RESOURCE_EXHAUSTED);
        assert_eq!(got[1].0, 15);
        assert_eq!(got[1].1.payload, b"ok");
    }

    #[test]
    fn responses_of_an_old_connection_are_dropped() {
        let sink = Sink::default();
        let conn = Conn::new(sink.clone());
        let g = conn.generation();
        conn.bump_generation();
        assert!(!conn.send(g, &encode_response(1, Ok(vec![1]))));
        assert!(sink.0.lock().unwrap().is_empty());
        assert!(conn.send(conn.generation(), &encode_response(3, Ok(vec![1]))));
        assert!(!sink.0.lock().unwrap().is_empty());
    }
}
