//! Process stdio: bounded output buffers filled by pump threads (with backpressure), pipes, and
//! receiving a pty master from crun's --console-socket.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bytes buffered per stream before the pump stops reading the pipe.
pub const STREAM_CAP: usize = 1 << 20;
/// Upper bound of one ReadStdout/ReadStderr answer.
pub const MAX_READ: usize = 1 << 20;

#[derive(Default)]
struct State {
    buf: VecDeque<u8>,
    eof: bool,
}

/// One output stream of a process, as the host reads it.
pub struct Stream {
    state: Mutex<State>,
    cv: Condvar,
    eof_delivered: AtomicBool,
}

impl Stream {
    pub fn new() -> Arc<Stream> {
        Arc::new(Stream {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            eof_delivered: AtomicBool::new(false),
        })
    }

    /// A stream that has already ended (stderr of a terminal process).
    pub fn ended() -> Arc<Stream> {
        let s = Stream::new();
        s.finish();
        s
    }

    /// Waits for room in the buffer; returns how many bytes may be added.
    fn wait_room(&self) -> usize {
        let mut st = self.state.lock().unwrap();
        while st.buf.len() >= STREAM_CAP {
            st = self.cv.wait(st).unwrap();
        }
        STREAM_CAP - st.buf.len()
    }

    pub fn push(&self, data: &[u8]) {
        let mut st = self.state.lock().unwrap();
        st.buf.extend(data);
        self.cv.notify_all();
    }

    /// Puts data taken by a read whose answer never reached the host back in front.
    pub fn unread(&self, data: &[u8]) {
        let mut st = self.state.lock().unwrap();
        for b in data.iter().rev() {
            st.buf.push_front(*b);
        }
        self.cv.notify_all();
    }

    pub fn finish(&self) {
        let mut st = self.state.lock().unwrap();
        st.eof = true;
        self.cv.notify_all();
    }

    /// Blocks until data or EOF. Returns up to `max` bytes (capped at MAX_READ; 0 means the
    /// cap) and whether the stream has ended with nothing more to return.
    pub fn read(&self, max: usize) -> (Vec<u8>, bool) {
        let max = if max == 0 { MAX_READ } else { max.min(MAX_READ) };
        let mut st = self.state.lock().unwrap();
        while st.buf.is_empty() && !st.eof {
            st = self.cv.wait(st).unwrap();
        }
        if st.buf.is_empty() {
            self.eof_delivered.store(true, Ordering::SeqCst);
            return (Vec::new(), true);
        }
        let n = max.min(st.buf.len());
        let data: Vec<u8> = st.buf.drain(..n).collect();
        self.cv.notify_all(); // room for the pump
        (data, false)
    }

    pub fn eof_delivered(&self) -> bool {
        self.eof_delivered.load(Ordering::SeqCst)
    }
}

/// Copies `src` into `stream` until EOF (or EIO, which is how a pty master reports that the
/// last slave closed), never buffering more than STREAM_CAP.
pub fn pump(name: String, mut src: File, stream: Arc<Stream>) {
    let spawned = std::thread::Builder::new().name(name).stack_size(64 << 10).spawn(move || {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            let room = stream.wait_room().min(buf.len());
            match src.read(&mut buf[..room]) {
                Ok(0) => break,
                Ok(n) => stream.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if e.raw_os_error() != Some(libc::EIO) {
                        crate::warn!("stdio: read failed: {e}");
                    }
                    break;
                }
            }
        }
        stream.finish();
    });
    if let Err(e) = spawned {
        crate::error!("stdio: cannot start a pump thread: {e}");
    }
}

/// A pipe whose both ends are close-on-exec (the child gets its end through dup2).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Receives one file descriptor sent with SCM_RIGHTS on a connected unix socket.
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // Room for a few fds, 8-byte aligned.
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr points at buffers that outlive the recvmsg call; the control messages are
    // walked with the CMSG macros within the length the kernel returned.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut got: Option<OwnedFd> = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let payload = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = payload / std::mem::size_of::<RawFd>();
                let p = libc::CMSG_DATA(c) as *const RawFd;
                for i in 0..count {
                    let fd = OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i)));
                    if got.is_none() {
                        got = Some(fd);
                    } // extra fds are closed by dropping them
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        got.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no file descriptor received"))
    }
}

/// Waits for crun to connect to `listener` and send the pty master, giving up when `done`
/// says crun has exited (after one last look at the backlog).
pub fn accept_console(
    listener: &UnixListener,
    done: &dyn Fn() -> bool,
    timeout: Duration,
) -> io::Result<OwnedFd> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        let finished = done();
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                return recv_fd(stream.as_raw_fd());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if finished {
            return Err(io::Error::new(io::ErrorKind::NotFound, "crun exited without sending a terminal"));
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no terminal from crun"));
        }
        let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd we own.
        unsafe { libc::poll(&mut pfd, 1, 50) };
    }
}

/// Sets a terminal's window size.
pub fn resize(tty: &File, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads the winsize we pass.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn stream_reads_and_eof() {
        let s = Stream::new();
        s.push(b"hello world");
        assert_eq!(s.read(5), (b"hello".to_vec(), false));
        assert_eq!(s.read(0), (b" world".to_vec(), false));
        s.push(b"!");
        s.unread(b"world");
        assert_eq!(s.read(0), (b"world!".to_vec(), false));
        s.finish();
        assert!(!s.eof_delivered());
        assert_eq!(s.read(10), (vec![], true));
        assert!(s.eof_delivered());
        let e = Stream::ended();
        assert_eq!(e.read(10), (vec![], true));
    }

    #[test]
    fn pump_applies_backpressure_and_loses_nothing() {
        let (r, w) = pipe().unwrap();
        let s = Stream::new();
        pump("test-pump".into(), File::from(r), Arc::clone(&s));
        let total = 3 * STREAM_CAP + 123;
        let writer = std::thread::spawn(move || {
            let mut w = File::from(w);
            let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
            w.write_all(&data).unwrap();
        });
        // Let the pump fill the buffer; it must stop at the cap.
        std::thread::sleep(Duration::from_millis(200));
        assert!(s.state.lock().unwrap().buf.len() <= STREAM_CAP);
        let mut got = Vec::new();
        loop {
            let (d, eof) = s.read(100_000);
            if eof {
                break;
            }
            got.extend(d);
        }
        writer.join().unwrap();
        assert_eq!(got.len(), total);
        assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    }

    #[test]
    fn fd_passing() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r, w) = pipe().unwrap();
        // Send w over a with SCM_RIGHTS.
        unsafe {
            let mut byte = [0u8; 1];
            let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
            let mut cbuf = [0u64; 8];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, w.as_raw_fd());
            assert_eq!(libc::sendmsg(a.as_raw_fd(), &msg, 0), 1);
        }
        drop(w);
        let got = recv_fd(b.as_raw_fd()).unwrap();
        File::from(got).write_all(b"via fd").unwrap();
        let mut s = String::new();
        File::from(r).read_to_string(&mut s).unwrap();
        assert_eq!(s, "via fd");
    }
}
