//! The byte streams ttrpc runs on: the virtio-serial port named "agent.0", and vsock port 1024
//! when the guest has /dev/vsock.
//!
//! A virtio-serial port is one long-lived stream. While the host end is not connected, reads
//! return EOF at once and writes block; the agent then polls every 50 ms. When the host
//! reconnects the agent starts a fresh ttrpc connection on the same port: partial frames are
//! dropped, and responses to requests read before the disconnect are not sent.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::rpc::AgentService;
use crate::ttrpc::{self, Conn};

pub const PORT_NAME: &str = "agent.0";
pub const VSOCK_PORT: u32 = 1024;

/// The /dev node of the virtio port with the given name, creating the node when devtmpfs did
/// not.
fn find_port(name: &str) -> Option<PathBuf> {
    let sys = Path::new("/sys/class/virtio-ports");
    for e in std::fs::read_dir(sys).ok()?.flatten() {
        let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        if n.trim() != name {
            continue;
        }
        let dev = PathBuf::from("/dev").join(e.file_name());
        if !dev.exists() {
            let numbers = std::fs::read_to_string(e.path().join("dev")).unwrap_or_default();
            let (maj, min) = numbers.trim().split_once(':')?;
            let (maj, min): (u32, u32) = (maj.parse().ok()?, min.parse().ok()?);
            let c = std::ffi::CString::new(dev.to_str()?).ok()?;
            // SAFETY: mknod with a NUL-terminated path.
            unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(maj, min)) };
        }
        return Some(dev);
    }
    None
}

/// Serves the virtio-serial port forever.
pub fn serve_serial(service: Arc<AgentService>) -> ! {
    let path = std::env::var("KATA_AGENT_PORT").map(PathBuf::from).ok();
    let mut warned = false;
    loop {
        let dev = match path.clone().or_else(|| find_port(PORT_NAME)) {
            Some(d) => d,
            None => {
                if !warned {
                    crate::warn!("waiting for the virtio-serial port {PORT_NAME}");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let file = match OpenOptions::new().read(true).write(true).open(&dev) {
            Ok(f) => f,
            Err(e) => {
                crate::warn!("opening {}: {e}", dev.display());
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        crate::sys::AGENT_LISTENING_MS.get_or_init(crate::sys::boottime_ms);
        crate::info!("serving ttrpc on {}", dev.display());
        if let Err(e) = serve_port(&file, &service) {
            crate::warn!("{}: {e}; reopening", dev.display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Serves one open port until a read error. EOF means "host not connected": wait and retry.
fn serve_port(file: &File, service: &Arc<AgentService>) -> io::Result<()> {
    let conn = Arc::new(Conn::new(file.try_clone()?));
    let mut reader = file.try_clone()?;
    loop {
        match ttrpc::serve(&mut reader, &conn, service) {
            Ok(0) => {}
            Ok(_) => {
                crate::info!("host disconnected");
                conn.bump_generation();
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                crate::warn!("host disconnected in the middle of a message");
                conn.bump_generation();
            }
            Err(e) => {
                conn.bump_generation();
                return Err(e);
            }
        }
        // Nothing tells the guest when the host connects: poll.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Listens on vsock port 1024 when the guest has vsock; each connection is one ttrpc
/// connection. (Not testable on hosts without vhost-vsock.)
pub fn start_vsock(service: Arc<AgentService>) {
    if !Path::new("/dev/vsock").exists() {
        return;
    }
    // SAFETY: socket() returns a new fd or -1.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        crate::warn!("vsock: {}", io::Error::last_os_error());
        return;
    }
    // SAFETY: fd is new and ours.
    let listener = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: bind/listen on our socket with a zeroed-then-filled sockaddr_vm.
    let ok = unsafe {
        let mut sa: libc::sockaddr_vm = std::mem::zeroed();
        sa.svm_family = libc::AF_VSOCK as libc::sa_family_t;
        sa.svm_port = VSOCK_PORT;
        sa.svm_cid = libc::VMADDR_CID_ANY;
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_vm).cast(),
            std::mem::size_of::<libc::sockaddr_vm>() as u32,
        ) == 0
            && libc::listen(fd, 8) == 0
    };
    if !ok {
        crate::warn!("vsock: listen on port {VSOCK_PORT}: {}", io::Error::last_os_error());
        return;
    }
    crate::info!("listening on vsock port {VSOCK_PORT}");
    let spawned =
        std::thread::Builder::new().name("vsock".into()).stack_size(128 << 10).spawn(move || loop {
            // SAFETY: accept on our listening socket; the result is a new fd or -1.
            let c = unsafe {
                libc::accept4(
                    std::os::fd::AsRawFd::as_raw_fd(&listener),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if c < 0 {
                crate::warn!("vsock accept: {}", io::Error::last_os_error());
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            // SAFETY: c is a new fd owned by this File.
            let stream = unsafe { File::from_raw_fd(c) };
            let service = Arc::clone(&service);
            let _ = std::thread::Builder::new().name("vsock-conn".into()).stack_size(128 << 10).spawn(
                move || {
                    let Ok(w) = stream.try_clone() else { return };
                    let conn = Arc::new(Conn::new(w));
                    let mut r = stream;
                    if let Err(e) = ttrpc::serve(&mut r, &conn, &service) {
                        crate::debug!("vsock connection: {e}");
                    }
                    conn.bump_generation();
                },
            );
        });
    if let Err(e) = spawned {
        crate::warn!("vsock: {e}");
    }
}
