//! System calls and the guest's boot-time setup as PID 1.

use std::ffi::CString;
use std::io;
use std::path::Path;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in string"))
}

pub fn mount(
    src: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let (s, t, f) = (cstr(src)?, cstr(target)?, cstr(fstype)?);
    let d = data.map(cstr).transpose()?;
    // SAFETY: all pointers are NUL-terminated strings that live across the call.
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            f.as_ptr(),
            flags,
            d.as_ref().map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Milliseconds since the guest kernel started (CLOCK_BOOTTIME).
pub fn boottime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// When the agent started and when it first opened its port (boottime_ms), for Health.
pub static AGENT_STARTED_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
pub static AGENT_LISTENING_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

pub fn is_pid1() -> bool {
    std::process::id() == 1
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe the string's bytes.
    if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// RNDADDENTROPY and RNDRESEEDCRNG from <linux/random.h>.
const RNDADDENTROPY: libc::c_ulong = 0x4008_5203;
const RNDRESEEDCRNG: libc::c_ulong = 0x5207;

/// Mixes `entropy` into the kernel's input pool, credited in full, and makes the random generator
/// reseed from it now (a VM restored from a template otherwise keeps the template's state).
pub fn reseed_random(entropy: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dev = std::fs::OpenOptions::new().write(true).open("/dev/urandom")?;
    // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
    let mut info = Vec::with_capacity(8 + entropy.len());
    info.extend_from_slice(&((entropy.len() * 8) as i32).to_ne_bytes());
    info.extend_from_slice(&(entropy.len() as i32).to_ne_bytes());
    info.extend_from_slice(entropy);
    while info.len() % 4 != 0 {
        info.push(0);
    }
    // SAFETY: info is a rand_pool_info whose buf holds buf_size bytes; it outlives the call.
    if unsafe { libc::ioctl(dev.as_raw_fd(), RNDADDENTROPY as _, info.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: RNDRESEEDCRNG takes no argument.
    if unsafe { libc::ioctl(dev.as_raw_fd(), RNDRESEEDCRNG as _) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the wall clock (CLOCK_REALTIME) to `ns` since the Unix epoch.
pub fn set_realtime(ns: i64) -> io::Result<()> {
    let ts = libc::timespec { tv_sec: ns.div_euclid(1_000_000_000), tv_nsec: ns.rem_euclid(1_000_000_000) };
    // SAFETY: clock_settime reads the struct we own.
    if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn kernel_release() -> String {
    // SAFETY: uname fills the struct we own; release is NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr()).to_string_lossy().into_owned()
    }
}

/// The program a process runs, as (device, inode) of /proc/PID/exe; None once it is gone (a
/// zombie has no exe).
pub fn exe_identity(pid: i32) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/exe")).ok().map(|m| (m.dev(), m.ino()))
}

/// Waits until process `pid` runs another program than `before` (it called execve) or is gone;
/// false if neither happened within `limit`.
pub fn wait_for_exec(pid: i32, before: (u64, u64), limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        if exe_identity(pid) != Some(before) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(10));
    }
}

pub fn sync() {
    // SAFETY: no arguments.
    unsafe { libc::sync() };
}

/// Ends the VM: QEMU runs with -no-reboot, so a reboot makes it exit. Only as PID 1: anywhere
/// else (tests, a debugging run on a host) this just exits the process.
pub fn power_off(why: &str) -> ! {
    crate::info!("powering off: {why}");
    sync();
    if is_pid1() {
        // SAFETY: reboot never returns on success.
        unsafe { libc::reboot(libc::RB_AUTOBOOT) };
        // If that failed, exiting PID 1 panics the kernel, which (panic=-1) also reboots.
    }
    std::process::exit(1);
}

/// The panic hook: log, then power off, so that a broken agent never leaves a VM running.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        crate::error!("panic: {info}");
        power_off("agent panicked");
    }));
}

/// `key=value` pairs of the kernel command line that start with "agent.".
pub fn agent_params(cmdline: &str) -> Vec<(String, String)> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("agent."))
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (w.to_string(), String::new()),
        })
        .collect()
}

fn mkdir(p: &str, mode: u32) {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new().recursive(true).mode(mode).create(p);
}

fn try_mount(src: &str, target: &str, fstype: &str, flags: libc::c_ulong, data: Option<&str>) {
    mkdir(target, 0o755);
    if let Err(e) = mount(src, target, fstype, flags, data) {
        if e.raw_os_error() != Some(libc::EBUSY) {
            crate::warn!("mount {fstype} on {target}: {e}");
        }
    }
}

/// Points stdin/stdout/stderr at /dev/console when the kernel could not (no console node in
/// the initramfs).
fn ensure_console() {
    // SAFETY: fcntl/open/dup2 on plain fds.
    unsafe {
        if libc::fcntl(2, libc::F_GETFD) != -1 {
            return;
        }
        let fd = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if fd < 0 {
            return;
        }
        for target in 0..3 {
            libc::dup2(fd, target);
        }
        if fd > 2 {
            libc::close(fd);
        }
    }
}

/// pivot_root(2) refuses to move the initramfs root ("rootfs" has no parent mount), and crun
/// pivot_roots into every container. So the agent first makes its root a bind mount of the
/// initramfs (which has a parent): bind / on /.root, move that over /, chroot into it.
fn leave_initramfs_root() -> io::Result<()> {
    let dir = "/.root";
    mkdir(dir, 0o700);
    mount("/", dir, "", libc::MS_BIND, None)?;
    std::env::set_current_dir(dir)?;
    mount(".", "/", "", libc::MS_MOVE, None)?;
    let dot = cstr(".")?;
    // SAFETY: chroot with a NUL-terminated path.
    if unsafe { libc::chroot(dot.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")?;
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

/// The guest's own filesystems, mounted before anything else (PID 1 only).
pub fn init_mounts() {
    if let Err(e) = leave_initramfs_root() {
        crate::error!("cannot leave the initramfs root (containers will fail to start): {e}");
    }
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    try_mount("proc", "/proc", "proc", nosuid_nodev_noexec, None);
    try_mount("sysfs", "/sys", "sysfs", nosuid_nodev_noexec, None);
    try_mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, Some("mode=0755"));
    ensure_console();
    try_mount(
        "devpts",
        "/dev/pts",
        "devpts",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    );
    if !Path::new("/dev/ptmx").exists() {
        let _ = std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx");
    }
    try_mount("shm", "/dev/shm", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, Some("mode=1777"));
    try_mount("tmpfs", "/run", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, Some("mode=0755"));
    try_mount("tmpfs", "/tmp", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV, Some("mode=1777"));
    try_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid_nodev_noexec, Some("nsdelegate"));
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, link);
    }
    enable_controllers();
    mkdir("/run/kata/containers", 0o700);
    raise_nofile();
}

/// With `agent.debug_console` on the kernel command line and a shell in the rootfs (only
/// DEBUG=1 rootfs builds have one), runs /bin/sh on the console.
pub fn debug_console() {
    let sh = "/bin/sh";
    if !Path::new(sh).exists() {
        crate::warn!("agent.debug_console: no {sh} in this rootfs");
        return;
    }
    crate::warn!("starting a debug shell on the console");
    std::thread::spawn(move || loop {
        let since = std::time::Instant::now();
        match std::process::Command::new(sh).env("PATH", "/usr/bin:/usr/sbin").spawn() {
            Ok(c) => {
                crate::reaper::watch(c.id() as i32, since).wait();
            }
            Err(e) => {
                crate::warn!("debug shell: {e}");
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    });
}

/// Enables the container controllers for the cgroups under the root.
fn enable_controllers() {
    let avail = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    let want: Vec<String> = ["cpu", "memory", "pids", "cpuset", "io", "hugetlb"]
        .iter()
        .filter(|c| avail.split_whitespace().any(|a| a == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if want.is_empty() {
        crate::warn!("cgroup2: no controllers available");
        return;
    }
    if let Err(e) = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", want.join(" ")) {
        crate::warn!("cgroup2: enabling {}: {e}", want.join(" "));
    }
}

/// The cgroup v2 controllers the guest has.
pub fn cgroup_controllers() -> Vec<String> {
    std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn raise_nofile() {
    let lim = libc::rlimit { rlim_cur: 1 << 20, rlim_max: 1 << 20 };
    // SAFETY: setrlimit reads the struct we pass.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_exec() {
        use std::process::Command;
        use std::time::{Duration, Instant};
        // dash, then coreutils' sleep: two different programs in one process.
        let mut child = Command::new("/bin/sh").args(["-c", "sleep 0.3; exec /bin/sleep 5"]).spawn().unwrap();
        let pid = child.id() as i32;
        let before = exe_identity(pid).expect("the shell's exe");
        let started = Instant::now();
        assert!(wait_for_exec(pid, before, Duration::from_secs(30)));
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "returned before the exec: {:?}",
            started.elapsed()
        );
        let sleep = std::fs::metadata("/bin/sleep").unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(exe_identity(pid), Some((sleep.dev(), sleep.ino())));
        child.kill().unwrap();
        child.wait().unwrap();

        // A process that is gone (here a zombie) counts as done; one that never execs times out.
        let mut quick = Command::new("/bin/sh").args(["-c", "exit 3"]).spawn().unwrap();
        let quick_pid = quick.id() as i32;
        let quick_exe = exe_identity(quick_pid);
        std::thread::sleep(Duration::from_millis(300));
        if let Some(exe) = quick_exe {
            assert!(wait_for_exec(quick_pid, exe, Duration::from_secs(5)));
        }
        quick.wait().unwrap();
        let mut stays = Command::new("/bin/sleep").arg("5").spawn().unwrap();
        let stays_exe = exe_identity(stays.id() as i32).unwrap();
        assert!(!wait_for_exec(stays.id() as i32, stays_exe, Duration::from_millis(200)));
        stays.kill().unwrap();
        stays.wait().unwrap();
    }

    #[test]
    fn cmdline_params() {
        let p = agent_params("console=ttyS0 panic=-1 agent.log=debug quiet agent.flag");
        assert_eq!(p, vec![("log".into(), "debug".into()), ("flag".into(), String::new())]);
    }
}
