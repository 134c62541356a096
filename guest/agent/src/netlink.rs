//! The few rtnetlink requests the agent needs, by hand: list links, rename / set MTU / bring a
//! link up, add addresses and routes.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::pb;
use crate::ttrpc::{code, RpcError, RpcResult};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const IFF_UP: u32 = 0x1;

/// A netlink message under construction.
pub struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    pub fn new(ty: u16, flags: u16, header: &[u8]) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(header);
        pad(&mut buf);
        Msg { buf }
    }

    pub fn attr(mut self, ty: u16, data: &[u8]) -> Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    pub fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn pad(b: &mut Vec<u8>) {
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0] = libc::AF_UNSPEC as u8;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// Walks the rtattrs in `b`.
pub fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        let next = (len + 3) & !3;
        b = if next >= b.len() { &[] } else { &b[next..] };
    }
    out
}

struct Sock {
    fd: OwnedFd,
    seq: u32,
}

fn os_err(what: &str, e: io::Error) -> RpcError {
    RpcError::new(code::INTERNAL, format!("netlink {what}: {e}"))
}

impl Sock {
    fn open() -> io::Result<Sock> {
        // SAFETY: socket() returns a new fd or -1.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is new and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Sock { fd, seq: 1 })
    }

    fn send(&mut self, m: Msg) -> io::Result<u32> {
        self.seq += 1;
        let data = m.finish(self.seq);
        // SAFETY: sockaddr_nl zeroed = the kernel; the buffer lives across the call.
        let rc = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Receives the messages answering `seq` until an ACK/error or NLMSG_DONE, calling `f`
    /// with (type, payload) of each other message.
    fn recv(&mut self, seq: u32, mut f: impl FnMut(u16, &[u8])) -> io::Result<()> {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            // SAFETY: recv into our buffer.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut b = &buf[..n as usize];
            while b.len() >= NLMSG_HDRLEN {
                let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let ty = u16::from_ne_bytes([b[4], b[5]]);
                let mseq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                if len < NLMSG_HDRLEN || len > b.len() {
                    break;
                }
                let payload = &b[NLMSG_HDRLEN..len];
                if mseq == seq {
                    match ty {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR => {
                            let errno = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                            if errno == 0 {
                                return Ok(());
                            }
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                        _ => f(ty, payload),
                    }
                }
                let next = (len + 3) & !3;
                b = if next >= b.len() { &[] } else { &b[next..] };
            }
        }
    }

    fn request(&mut self, m: Msg) -> io::Result<()> {
        let seq = self.send(m)?;
        self.recv(seq, |_, _| {})
    }
}

struct Link {
    index: i32,
    name: String,
    mac: Vec<u8>,
}

fn links(s: &mut Sock) -> io::Result<Vec<Link>> {
    let seq = s.send(Msg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, &ifinfomsg(0, 0, 0)))?;
    let mut out = Vec::new();
    s.recv(seq, |ty, p| {
        if ty != RTM_NEWLINK || p.len() < 16 {
            return;
        }
        let index = i32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
        let mut l = Link { index, name: String::new(), mac: Vec::new() };
        for (t, d) in attrs(&p[16..]) {
            match t {
                IFLA_IFNAME => l.name = String::from_utf8_lossy(d).trim_end_matches('\0').to_string(),
                IFLA_ADDRESS => l.mac = d.to_vec(),
                _ => {}
            }
        }
        out.push(l);
    })?;
    Ok(out)
}

pub fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    parts.iter().map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2)).collect()
}

pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = s.split_once('/')?;
    let addr: IpAddr = a.parse().ok()?;
    let prefix: u8 = p.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

fn family(a: &IpAddr) -> u8 {
    if a.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

fn octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn set_link(
    s: &mut Sock,
    index: i32,
    up: Option<bool>,
    name: Option<&str>,
    mtu: Option<u32>,
) -> io::Result<()> {
    let (flags, change) = match up {
        Some(true) => (IFF_UP, IFF_UP),
        Some(false) => (0, IFF_UP),
        None => (0, 0),
    };
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, &ifinfomsg(index, flags, change));
    if let Some(n) = name {
        let mut b = n.as_bytes().to_vec();
        b.push(0);
        m = m.attr(IFLA_IFNAME, &b);
    }
    if let Some(mtu) = mtu {
        m = m.attr(IFLA_MTU, &mtu.to_ne_bytes());
    }
    s.request(m)
}

/// Brings the loopback interface up (at boot).
pub fn loopback_up() -> io::Result<()> {
    let mut s = Sock::open()?;
    let lo = links(&mut s)?
        .into_iter()
        .find(|l| l.name == "lo")
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no lo"))?;
    set_link(&mut s, lo.index, Some(true), None, None)
}

fn bad(msg: String) -> RpcError {
    RpcError::new(code::INVALID_ARGUMENT, msg)
}

fn valid_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() < 16
        && n != "."
        && n != ".."
        && n.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

pub fn update_interface(req: &pb::UpdateInterfaceRequest) -> RpcResult<()> {
    let mac = parse_mac(&req.mac_address)
        .ok_or_else(|| bad(format!("invalid MAC address {:?}", req.mac_address)))?;
    if !req.name.is_empty() && !valid_ifname(&req.name) {
        return Err(bad(format!("invalid interface name {:?}", req.name)));
    }
    let addrs = req
        .addresses
        .iter()
        .map(|a| parse_cidr(&a.cidr).ok_or_else(|| bad(format!("invalid address {:?}", a.cidr))))
        .collect::<RpcResult<Vec<_>>>()?;
    let mut s = Sock::open().map_err(|e| os_err("socket", e))?;
    let link = links(&mut s)
        .map_err(|e| os_err("listing links", e))?
        .into_iter()
        .find(|l| l.mac == mac)
        .ok_or_else(|| {
            RpcError::new(code::NOT_FOUND, format!("no interface with MAC {}", req.mac_address))
        })?;
    if !req.name.is_empty() && req.name != link.name {
        // A link is renamed while down.
        set_link(&mut s, link.index, Some(false), None, None).map_err(|e| os_err("link down", e))?;
        set_link(&mut s, link.index, None, Some(&req.name), None)
            .map_err(|e| os_err(&format!("renaming {} to {}", link.name, req.name), e))?;
    }
    if req.mtu > 0 {
        set_link(&mut s, link.index, None, None, Some(req.mtu)).map_err(|e| os_err("setting the MTU", e))?;
    }
    for (addr, prefix) in &addrs {
        let mut h = [0u8; 8];
        h[0] = family(addr);
        h[1] = *prefix;
        h[4..8].copy_from_slice(&(link.index as u32).to_ne_bytes());
        let o = octets(addr);
        let m = Msg::new(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, &h)
            .attr(IFA_LOCAL, &o)
            .attr(IFA_ADDRESS, &o);
        s.request(m).map_err(|e| os_err(&format!("adding {addr}/{prefix}"), e))?;
    }
    set_link(&mut s, link.index, Some(true), None, None).map_err(|e| os_err("link up", e))?;
    crate::info!(
        "interface {} ({}) up with {} address(es)",
        if req.name.is_empty() { &link.name } else { &req.name },
        req.mac_address,
        addrs.len()
    );
    Ok(())
}

pub fn update_routes(req: &pb::UpdateRoutesRequest) -> RpcResult<()> {
    let mut s = Sock::open().map_err(|e| os_err("socket", e))?;
    let all = links(&mut s).map_err(|e| os_err("listing links", e))?;
    // Link-scoped routes first: gateway routes need them.
    let mut routes: Vec<&pb::Route> = req.routes.iter().collect();
    routes.sort_by_key(|r| !r.gateway.is_empty());
    for r in routes {
        let gw: Option<IpAddr> = if r.gateway.is_empty() {
            None
        } else {
            Some(r.gateway.parse().map_err(|_| bad(format!("invalid gateway {:?}", r.gateway)))?)
        };
        let dst = if r.destination == "default" || r.destination.is_empty() {
            None
        } else {
            Some(
                parse_cidr(&r.destination)
                    .ok_or_else(|| bad(format!("invalid destination {:?}", r.destination)))?,
            )
        };
        let fam = match (&dst, &gw) {
            (Some((a, _)), _) => family(a),
            (None, Some(g)) => family(g),
            (None, None) => return Err(bad("a default route needs a gateway".into())),
        };
        if let (Some((a, _)), Some(g)) = (&dst, &gw) {
            if a.is_ipv4() != g.is_ipv4() {
                return Err(bad(format!("route {}: gateway family differs", r.destination)));
            }
        }
        let oif = if r.device.is_empty() {
            None
        } else {
            Some(
                all.iter()
                    .find(|l| l.name == r.device)
                    .map(|l| l.index)
                    .ok_or_else(|| RpcError::new(code::NOT_FOUND, format!("no interface {}", r.device)))?,
            )
        };
        let mut h = [0u8; 12];
        h[0] = fam;
        h[1] = dst.map_or(0, |(_, p)| p);
        h[4] = libc::RT_TABLE_MAIN;
        h[5] = libc::RTPROT_BOOT;
        h[6] = if gw.is_some() { libc::RT_SCOPE_UNIVERSE } else { libc::RT_SCOPE_LINK };
        h[7] = libc::RTN_UNICAST;
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, &h);
        if let Some((a, _)) = &dst {
            m = m.attr(RTA_DST, &octets(a));
        }
        if let Some(g) = &gw {
            m = m.attr(RTA_GATEWAY, &octets(g));
        }
        if let Some(i) = oif {
            m = m.attr(RTA_OIF, &(i as u32).to_ne_bytes());
        }
        s.request(m).map_err(|e| {
            os_err(&format!("adding route {} via {:?} dev {:?}", r.destination, r.gateway, r.device), e)
        })?;
    }
    crate::info!("{} route(s) set", req.routes.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_cidrs() {
        assert_eq!(parse_mac("52:54:00:AB:cd:01"), Some(vec![0x52, 0x54, 0, 0xab, 0xcd, 1]));
        assert_eq!(parse_mac("52:54:00:ab:cd"), None);
        assert_eq!(parse_mac("52:54:00:ab:cd:1"), None);
        assert_eq!(parse_cidr("10.88.0.5/16"), Some(("10.88.0.5".parse().unwrap(), 16)));
        assert_eq!(parse_cidr("fd00::5/64"), Some(("fd00::5".parse().unwrap(), 64)));
        assert_eq!(parse_cidr("10.0.0.1/33"), None);
        assert_eq!(parse_cidr("10.0.0.1"), None);
    }

    #[test]
    fn message_layout() {
        let m = Msg::new(RTM_NEWLINK, NLM_F_REQUEST, &ifinfomsg(3, IFF_UP, IFF_UP))
            .attr(IFLA_IFNAME, b"eth0\0")
            .attr(IFLA_MTU, &1500u32.to_ne_bytes())
            .finish(9);
        assert_eq!(m.len(), 16 + 16 + 12 + 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 9);
        let a = attrs(&m[32..]);
        assert_eq!(a, vec![(IFLA_IFNAME, &b"eth0\0"[..]), (IFLA_MTU, &1500u32.to_ne_bytes()[..])]);
    }
}
