//! Port forwarding (kubectl port-forward): TCP connections from the agent to ports on the
//! guest's loopback, whose bytes the host carries in PortForwardWrite/PortForwardRead calls.
//! Containers share the guest's network namespace, so the guest's loopback is the pod's.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::agent::Undo;
use crate::pb;
use crate::ttrpc::{code, RpcError, RpcResult};

/// Connections open at once; more get RESOURCE_EXHAUSTED.
pub const MAX_FORWARDS: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A read's size when the host gives no max_bytes.
const DEFAULT_READ: usize = 64 << 10;
/// The most one read returns, whatever max_bytes asks for.
const MAX_READ: usize = 1 << 20;

struct Forward {
    stream: TcpStream,
    /// Held while writing so that two writes do not interleave; true once the write side was
    /// shut down.
    write_shut: Mutex<bool>,
    /// Bytes a read took whose answer never reached the host; the next read returns them first.
    unread: Mutex<Vec<u8>>,
}

#[derive(Default)]
struct Table {
    open: HashMap<String, Arc<Forward>>,
    /// Opens still connecting: they count against the limit.
    connecting: usize,
}

/// The open port-forward connections, by id.
pub struct Forwards {
    table: Mutex<Table>,
    next: AtomicU64,
    limit: usize,
}

fn not_found(id: &str) -> RpcError {
    RpcError::new(code::NOT_FOUND, format!("port-forward connection {id:?} not found"))
}

impl Default for Forwards {
    fn default() -> Self {
        Forwards::with_limit(MAX_FORWARDS)
    }
}

impl Forwards {
    pub fn with_limit(limit: usize) -> Forwards {
        Forwards { table: Mutex::new(Table::default()), next: AtomicU64::new(1), limit }
    }

    /// Looks up a connection; the table's lock is not held by the caller afterwards, so that a
    /// blocked read or write does not hold up calls on other ids (or Close on this one).
    fn get(&self, id: &str) -> RpcResult<Arc<Forward>> {
        self.table.lock().unwrap().open.get(id).cloned().ok_or_else(|| not_found(id))
    }

    pub fn open(&self, req: pb::PortForwardOpenRequest) -> RpcResult<pb::PortForwardOpenResponse> {
        let port = u16::try_from(req.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| RpcError::new(code::INVALID_ARGUMENT, format!("invalid port {}", req.port)))?;
        {
            let mut t = self.table.lock().unwrap();
            if t.open.len() + t.connecting >= self.limit {
                return Err(RpcError::new(
                    code::RESOURCE_EXHAUSTED,
                    format!("port-forward: too many open connections (the limit is {})", self.limit),
                ));
            }
            t.connecting += 1;
        }
        let connected = connect(port);
        let mut t = self.table.lock().unwrap();
        t.connecting -= 1;
        let stream = connected.map_err(|e| {
            RpcError::new(
                code::UNAVAILABLE,
                format!("port-forward: cannot connect to port {port} in the pod: {e}"),
            )
        })?;
        // Interactive protocols (a shell over a forwarded port) must not wait for Nagle.
        if let Err(e) = stream.set_nodelay(true) {
            crate::warn!("port-forward: TCP_NODELAY: {e}");
        }
        let id = format!("pf-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let fwd = Forward { stream, write_shut: Mutex::new(false), unread: Mutex::new(Vec::new()) };
        t.open.insert(id.clone(), Arc::new(fwd));
        crate::debug!("port-forward {id}: connected to port {port}");
        Ok(pb::PortForwardOpenResponse { id })
    }

    /// Writes the data whole; empty data shuts the write side down (the host's end reached EOF).
    pub fn write(&self, req: pb::PortForwardWriteRequest) -> RpcResult<pb::Empty> {
        let f = self.get(&req.id)?;
        let mut shut = f.write_shut.lock().unwrap();
        if *shut {
            return Err(RpcError::new(
                code::FAILED_PRECONDITION,
                format!("port-forward {}: the write side was shut down", req.id),
            ));
        }
        let r = if req.data.is_empty() {
            *shut = true;
            f.stream.shutdown(Shutdown::Write)
        } else {
            (&f.stream).write_all(&req.data)
        };
        r.map_err(|e| RpcError::new(code::UNAVAILABLE, format!("port-forward {}: writing: {e}", req.id)))?;
        Ok(pb::Empty {})
    }

    /// Blocks until data or EOF. Also returns how to put the data back should the answer not
    /// reach the host.
    pub fn read(&self, req: pb::PortForwardReadRequest) -> (RpcResult<pb::ReadStreamResponse>, Option<Undo>) {
        let f = match self.get(&req.id) {
            Ok(f) => f,
            Err(e) => return (Err(e), None),
        };
        let max = match req.max_bytes as usize {
            0 => DEFAULT_READ,
            n => n.min(MAX_READ),
        };
        let data = {
            let mut unread = f.unread.lock().unwrap();
            let n = max.min(unread.len());
            unread.drain(..n).collect::<Vec<u8>>()
        };
        let data = if !data.is_empty() {
            data
        } else {
            let mut buf = vec![0u8; max];
            loop {
                match (&f.stream).read(&mut buf) {
                    Ok(n) => break buf[..n].to_vec(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // The pod's end reset the connection: for the host that is the end too.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                        ) =>
                    {
                        break Vec::new()
                    }
                    Err(e) => {
                        let e = RpcError::new(
                            code::UNAVAILABLE,
                            format!("port-forward {}: reading: {e}", req.id),
                        );
                        return (Err(e), None);
                    }
                }
            }
        };
        // Read returns 0 at EOF and once Close shut the socket down.
        if data.is_empty() {
            return (Ok(pb::ReadStreamResponse { data, eof: true }), None);
        }
        let back = data.clone();
        let undo: Undo = Box::new(move || {
            let mut unread = f.unread.lock().unwrap();
            unread.splice(0..0, back);
        });
        (Ok(pb::ReadStreamResponse { data, eof: false }), Some(undo))
    }

    /// Shuts the connection down (a blocked read then returns EOF, a blocked write fails) and
    /// forgets it. The socket is closed when the last call using it returns.
    pub fn close(&self, req: pb::PortForwardRequest) -> RpcResult<pb::Empty> {
        let f = self.table.lock().unwrap().open.remove(&req.id).ok_or_else(|| not_found(&req.id))?;
        // Fails only when the pod's end already reset the connection: nothing left to shut.
        let _ = f.stream.shutdown(Shutdown::Both);
        crate::debug!("port-forward {}: closed", req.id);
        Ok(pb::Empty {})
    }
}

/// Connects to the port on 127.0.0.1, then on [::1]. The error is IPv4's: a server that does
/// not listen there is more telling than a guest without IPv6.
fn connect(port: u16) -> io::Result<TcpStream> {
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT)
        .or_else(|e4| TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT).map_err(|_| e4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    fn listener() -> (TcpListener, u32) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port() as u32;
        (l, port)
    }

    /// Opens a forward to a fresh listener and accepts it: (forwards, id, the pod's end).
    fn pair() -> (Forwards, String, TcpStream) {
        let (l, port) = listener();
        let fw = Forwards::default();
        let id = fw.open(pb::PortForwardOpenRequest { port }).unwrap().id;
        let (peer, _) = l.accept().unwrap();
        (fw, id, peer)
    }

    fn write(fw: &Forwards, id: &str, data: &[u8]) -> RpcResult<pb::Empty> {
        fw.write(pb::PortForwardWriteRequest { id: id.into(), data: data.to_vec() })
    }

    fn read(fw: &Forwards, id: &str, max: u32) -> RpcResult<pb::ReadStreamResponse> {
        fw.read(pb::PortForwardReadRequest { id: id.into(), max_bytes: max }).0
    }

    fn close(fw: &Forwards, id: &str) -> RpcResult<pb::Empty> {
        fw.close(pb::PortForwardRequest { id: id.into() })
    }

    #[test]
    fn bytes_flow_both_ways() {
        let (fw, id, mut peer) = pair();
        assert!(id.starts_with("pf-"));
        write(&fw, &id, b"hello pod").unwrap();
        let mut buf = [0u8; 9];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello pod");

        peer.write_all(b"hello host").unwrap();
        let mut got = Vec::new();
        while got.len() < 10 {
            let r = read(&fw, &id, 0).unwrap();
            assert!(!r.eof);
            got.extend(r.data);
        }
        assert_eq!(got, b"hello host");

        // max_bytes bounds the answer.
        peer.write_all(b"abcdef").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(read(&fw, &id, 4).unwrap().data, b"abcd");
        assert_eq!(read(&fw, &id, 4).unwrap().data, b"ef");

        // The pod's end closes: EOF, and again on the next read.
        drop(peer);
        let r = read(&fw, &id, 0).unwrap();
        assert!(r.eof && r.data.is_empty());
        assert!(read(&fw, &id, 0).unwrap().eof);
        close(&fw, &id).unwrap();
        assert_eq!(close(&fw, &id).unwrap_err().code, code::NOT_FOUND);
    }

    #[test]
    fn undelivered_data_is_read_again() {
        let (fw, id, mut peer) = pair();
        peer.write_all(b"once").unwrap();
        let (r, undo) = fw.read(pb::PortForwardReadRequest { id: id.clone(), max_bytes: 0 });
        assert_eq!(r.unwrap().data, b"once");
        undo.unwrap()();
        peer.write_all(b" more").unwrap();
        assert_eq!(read(&fw, &id, 2).unwrap().data, b"on");
        assert_eq!(read(&fw, &id, 0).unwrap().data, b"ce");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(read(&fw, &id, 0).unwrap().data, b" more");
    }

    #[test]
    fn empty_write_shuts_the_write_side() {
        let (fw, id, mut peer) = pair();
        write(&fw, &id, b"last").unwrap();
        write(&fw, &id, b"").unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"last");
        assert_eq!(write(&fw, &id, b"more").unwrap_err().code, code::FAILED_PRECONDITION);
        // The other direction still works.
        peer.write_all(b"reply").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        loop {
            let r = read(&fw, &id, 0).unwrap();
            if r.eof {
                break;
            }
            got.extend(r.data);
        }
        assert_eq!(got, b"reply");
    }

    #[test]
    fn close_wakes_a_blocked_read() {
        let (fw, id, _peer) = pair();
        let fw = Arc::new(fw);
        let (tx, rx) = mpsc::channel();
        let (fw2, id2) = (Arc::clone(&fw), id.clone());
        std::thread::spawn(move || tx.send(read(&fw2, &id2, 0)).unwrap());
        std::thread::sleep(Duration::from_millis(100));
        // Calls on the same id do not wait for the blocked read.
        write(&fw, &id, b"x").unwrap();
        close(&fw, &id).unwrap();
        let r = rx.recv_timeout(Duration::from_secs(1)).expect("the read did not return").unwrap();
        assert!(r.eof && r.data.is_empty());
        assert_eq!(read(&fw, &id, 0).unwrap_err().code, code::NOT_FOUND);
    }

    #[test]
    fn bad_requests() {
        let fw = Forwards::default();
        for port in [0, 65536, 70000] {
            let e = fw.open(pb::PortForwardOpenRequest { port }).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT, "port {port}");
        }
        assert_eq!(write(&fw, "pf-9", b"x").unwrap_err().code, code::NOT_FOUND);
        assert_eq!(write(&fw, "pf-9", b"").unwrap_err().code, code::NOT_FOUND);
        assert_eq!(read(&fw, "pf-9", 0).unwrap_err().code, code::NOT_FOUND);
        assert_eq!(close(&fw, "nope").unwrap_err().code, code::NOT_FOUND);
    }

    #[test]
    fn closed_port_is_unavailable() {
        let (l, port) = listener();
        drop(l);
        let e = Forwards::default().open(pb::PortForwardOpenRequest { port }).unwrap_err();
        assert_eq!(e.code, code::UNAVAILABLE);
        assert!(e.message.starts_with(&format!("port-forward: cannot connect to port {port} in the pod: ")));
        assert!(e.message.contains("refused"), "{}", e.message);
    }

    #[test]
    fn falls_back_to_ipv6() {
        let Ok(l) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback");
            return;
        };
        let port = l.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            eprintln!("skipped: port {port} is taken on IPv4");
            return;
        }
        let fw = Forwards::default();
        let id = fw.open(pb::PortForwardOpenRequest { port: port as u32 }).unwrap().id;
        let (mut peer, from) = l.accept().unwrap();
        assert!(from.is_ipv6());
        write(&fw, &id, b"v6").unwrap();
        let mut buf = [0u8; 2];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"v6");
    }

    #[test]
    fn at_most_256_open() {
        let (l, port) = listener();
        // Accept as they come so that the listen backlog never fills.
        let accepted =
            std::thread::spawn(move || (0..MAX_FORWARDS).map(|_| l.accept().unwrap().0).collect::<Vec<_>>());
        let fw = Forwards::default();
        let ids: Vec<String> =
            (0..MAX_FORWARDS).map(|_| fw.open(pb::PortForwardOpenRequest { port }).unwrap().id).collect();
        let e = fw.open(pb::PortForwardOpenRequest { port }).unwrap_err();
        assert_eq!(e.code, code::RESOURCE_EXHAUSTED);
        let _peers = accepted.join().unwrap();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), MAX_FORWARDS);
        // Closing one makes room for one.
        close(&fw, &ids[0]).unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port2 = l2.local_addr().unwrap().port() as u32;
        fw.open(pb::PortForwardOpenRequest { port: port2 }).unwrap();
        assert_eq!(
            fw.open(pb::PortForwardOpenRequest { port: port2 }).unwrap_err().code,
            code::RESOURCE_EXHAUSTED
        );
    }
}
