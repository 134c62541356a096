//! The one child reaper. The agent is PID 1 (or a child subreaper when run elsewhere), so it
//! inherits every orphan, including the containers' processes once crun has exited. A single
//! thread waits for SIGCHLD and reaps with waitpid(-1); exit statuses are handed to whoever
//! registered interest in that pid, including the agent's own crun invocations (nobody may
//! call waitpid on a specific pid, or std::process::Child::wait, anywhere else).
//!
//! A child can exit before its pid is known to the agent (crun exec -d returns after the
//! process started, which may already be gone), so statuses nobody asked for are kept for a
//! while, stamped with the time they were reaped; a claim names the time before the process
//! could have started, so a stale status of an earlier process with a reused pid never
//! matches.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How a process ended, as the agent reports it: the exit code, or 128+N for signal N.
pub fn exit_status(raw: libc::c_int) -> i32 {
    if libc::WIFEXITED(raw) {
        libc::WEXITSTATUS(raw)
    } else if libc::WIFSIGNALED(raw) {
        128 + libc::WTERMSIG(raw)
    } else {
        255
    }
}

/// The exit status of one process, filled in once.
pub struct ExitSlot {
    status: Mutex<Option<(i32, Instant)>>,
    cv: Condvar,
}

impl ExitSlot {
    pub fn new() -> Arc<ExitSlot> {
        Arc::new(ExitSlot { status: Mutex::new(None), cv: Condvar::new() })
    }

    pub fn set(&self, status: i32, at: Instant) {
        let mut s = self.status.lock().unwrap();
        if s.is_none() {
            *s = Some((status, at));
            self.cv.notify_all();
        }
    }

    pub fn wait(&self) -> i32 {
        let mut s = self.status.lock().unwrap();
        loop {
            if let Some((st, _)) = *s {
                return st;
            }
            s = self.cv.wait(s).unwrap();
        }
    }

    pub fn get(&self) -> Option<i32> {
        self.status.lock().unwrap().map(|(s, _)| s)
    }

    pub fn exited_at(&self) -> Option<Instant> {
        self.status.lock().unwrap().map(|(_, t)| t)
    }
}

const UNCLAIMED_TTL: Duration = Duration::from_secs(120);
const UNCLAIMED_MAX: usize = 4096;

#[derive(Default)]
pub struct Table {
    watched: HashMap<i32, Arc<ExitSlot>>,
    unclaimed: HashMap<i32, (i32, Instant)>,
}

impl Table {
    /// Registers interest in `pid`, whose process was started no earlier than `since`.
    pub fn watch(&mut self, pid: i32, since: Instant) -> Arc<ExitSlot> {
        let slot = ExitSlot::new();
        match self.unclaimed.remove(&pid) {
            Some((st, at)) if at >= since => slot.set(st, at),
            _ => {
                self.watched.insert(pid, Arc::clone(&slot));
            }
        }
        slot
    }

    /// Records a reaped child.
    pub fn reaped(&mut self, pid: i32, status: i32, at: Instant) {
        if let Some(slot) = self.watched.remove(&pid) {
            slot.set(status, at);
            return;
        }
        if self.unclaimed.len() >= UNCLAIMED_MAX {
            self.unclaimed.retain(|_, (_, t)| at.duration_since(*t) < UNCLAIMED_TTL);
            if self.unclaimed.len() >= UNCLAIMED_MAX {
                if let Some(oldest) = self.unclaimed.iter().min_by_key(|(_, (_, t))| *t).map(|(p, _)| *p) {
                    self.unclaimed.remove(&oldest);
                }
            }
        }
        self.unclaimed.insert(pid, (status, at));
    }
}

fn table() -> &'static Mutex<Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(Table::default()))
}

/// See `Table::watch`.
pub fn watch(pid: i32, since: Instant) -> Arc<ExitSlot> {
    table().lock().unwrap().watch(pid, since)
}

/// Blocks SIGCHLD in the calling thread. Call before any other thread exists, so that every
/// thread inherits the mask and only the reaper thread takes the signal (with sigtimedwait).
pub fn block_sigchld() {
    // SAFETY: plain signal-mask manipulation on sigsets we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Starts the reaper thread. Needs `block_sigchld` to have run first.
pub fn start() {
    // Outside a guest (tests, debugging) orphans must still come to us.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(64 << 10)
        .spawn(reaper_loop)
        .expect("starting the reaper thread");
}

fn reaper_loop() {
    // SAFETY: signal-set manipulation and waiting on a set we own.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
    }
    loop {
        reap_all();
        // A timeout as a safety net, should a SIGCHLD ever be missed.
        let ts = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        // SAFETY: waits for SIGCHLD (blocked in every thread) with a timeout.
        unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    }
}

fn reap_all() {
    loop {
        let mut raw: libc::c_int = 0;
        // SAFETY: waitpid with a pointer to our status variable.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        let status = exit_status(raw);
        crate::debug!("reaped pid {pid}: status {status}");
        table().lock().unwrap().reaped(pid, status, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        // Encoded as the kernel does: exit code in bits 8-15, signal in bits 0-6.
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(3 << 8), 3);
        assert_eq!(exit_status(255 << 8), 255);
        assert_eq!(exit_status(libc::SIGKILL), 137);
        assert_eq!(exit_status(libc::SIGTERM), 143);
        assert_eq!(exit_status(libc::SIGSEGV | 0x80), 128 + libc::SIGSEGV); // core dumped
    }

    #[test]
    fn watch_before_and_after_reap() {
        let mut t = Table::default();
        let t0 = Instant::now();
        let slot = t.watch(100, t0);
        assert_eq!(slot.get(), None);
        t.reaped(100, 7, Instant::now());
        assert_eq!(slot.get(), Some(7));

        // Reaped before anyone asked: kept and handed out once.
        let since = Instant::now();
        t.reaped(200, 1, Instant::now());
        assert_eq!(t.watch(200, since).get(), Some(1));
        let again = t.watch(200, since);
        assert_eq!(again.get(), None);
    }

    #[test]
    fn stale_status_of_a_reused_pid_is_not_taken() {
        let mut t = Table::default();
        t.reaped(300, 9, Instant::now());
        std::thread::sleep(Duration::from_millis(2));
        let since = Instant::now();
        let slot = t.watch(300, since);
        assert_eq!(slot.get(), None);
        t.reaped(300, 0, Instant::now());
        assert_eq!(slot.get(), Some(0));
    }

    #[test]
    fn unclaimed_is_bounded() {
        let mut t = Table::default();
        let now = Instant::now();
        for pid in 0..(UNCLAIMED_MAX as i32 + 100) {
            t.reaped(pid, 0, now);
        }
        assert!(t.unclaimed.len() <= UNCLAIMED_MAX);
    }

    #[test]
    fn slot_keeps_the_first_status() {
        let s = ExitSlot::new();
        let s2 = Arc::clone(&s);
        let t = std::thread::spawn(move || s2.wait());
        std::thread::sleep(Duration::from_millis(5));
        s.set(4, Instant::now());
        s.set(5, Instant::now());
        assert_eq!(t.join().unwrap(), 4);
        assert_eq!(s.get(), Some(4));
    }
}
