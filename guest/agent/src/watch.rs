//! File-change notification (inotify) for the containers' cgroup `memory.events` files.
//!
//! cgroup v2 reports a change of `memory.events` (an OOM kill among them) as a file modification,
//! so the agent blocks on one inotify descriptor instead of reading every container's file on a
//! timer: an idle guest must not wake up to look (each wake-up of an idle VM costs host CPU).

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

/// What happened to a watched file.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The file changed; the key the watch was added with.
    Modified(String),
    /// The file (or its directory) is gone and the watch with it.
    Removed(String),
}

pub struct Watcher {
    fd: OwnedFd,
    /// Watch descriptor -> key. The kernel hands the same descriptor out again only after it
    /// reported IN_IGNORED for it, which removes the entry here.
    keys: Mutex<HashMap<i32, String>>,
}

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        // SAFETY: plain syscall; the descriptor is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        Ok(Watcher { fd: unsafe { OwnedFd::from_raw_fd(fd) }, keys: Mutex::new(HashMap::new()) })
    }

    /// Watches `path` for modification, reported with `key`.
    pub fn add(&self, path: &Path, key: &str) -> io::Result<()> {
        let p = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // The lock spans the call so that the monitor cannot read an event of this descriptor
        // before its key is recorded.
        let mut keys = self.keys.lock().unwrap();
        // SAFETY: p is a NUL-terminated path that lives across the call.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), p.as_ptr(), libc::IN_MODIFY) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        keys.insert(wd, key.to_string());
        Ok(())
    }

    /// Blocks until at least one event arrives; events of unknown descriptors are dropped.
    pub fn next(&self) -> io::Result<Vec<Event>> {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: buf is ours and its length is passed.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(self.decode(&buf[..n as usize]));
        }
    }

    fn decode(&self, mut buf: &[u8]) -> Vec<Event> {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        let mut keys = self.keys.lock().unwrap();
        let mut out = Vec::new();
        while buf.len() >= HEADER {
            // SAFETY: at least HEADER bytes remain; read_unaligned copes with any alignment.
            let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
            buf = &buf[(HEADER + ev.len as usize).min(buf.len())..];
            if ev.mask & libc::IN_IGNORED != 0 {
                if let Some(k) = keys.remove(&ev.wd) {
                    out.push(Event::Removed(k));
                }
            } else if ev.mask & libc::IN_MODIFY != 0 {
                if let Some(k) = keys.get(&ev.wd) {
                    out.push(Event::Modified(k.clone()));
                }
            }
        }
        out
    }

    #[cfg(test)]
    fn watched(&self) -> usize {
        self.keys.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn reports_modification_and_removal_by_key() {
        let dir = std::env::temp_dir().join(format!("watch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("memory.events");
        std::fs::write(&file, "oom_kill 0\n").unwrap();
        let w = Arc::new(Watcher::new().unwrap());
        w.add(&file, "c1").unwrap();
        assert_eq!(w.watched(), 1);

        let (tx, rx) = std::sync::mpsc::channel();
        let w2 = Arc::clone(&w);
        std::thread::spawn(move || loop {
            let Ok(events) = w2.next() else { return };
            for e in events {
                if tx.send(e).is_err() {
                    return;
                }
            }
        });
        std::fs::write(&file, "oom_kill 1\n").unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Event::Modified("c1".into()));
        while rx.try_recv().is_ok() {} // a write may report more than one modification

        std::fs::remove_dir_all(&dir).unwrap();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
                Event::Removed(k) => {
                    assert_eq!(k, "c1");
                    break;
                }
                Event::Modified(_) => {}
            }
        }
        assert_eq!(w.watched(), 0, "a removed file's watch is forgotten");
    }

    #[test]
    fn a_missing_file_cannot_be_watched() {
        let w = Watcher::new().unwrap();
        assert!(w.add(Path::new("/nonexistent/memory.events"), "x").is_err());
        assert_eq!(w.watched(), 0);
    }
}
