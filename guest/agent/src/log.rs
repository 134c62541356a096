//! Concise logging to stderr, which is /dev/console when the agent runs as the guest's init.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

pub const ERROR: u8 = 0;
pub const WARN: u8 = 1;
pub const INFO: u8 = 2;
pub const DEBUG: u8 = 3;

static LEVEL: AtomicU8 = AtomicU8::new(INFO);

pub fn set_level(name: &str) -> bool {
    let l = match name {
        "error" => ERROR,
        "warn" | "warning" => WARN,
        "info" => INFO,
        "debug" | "trace" => DEBUG,
        _ => return false,
    };
    LEVEL.store(l, Ordering::Relaxed);
    true
}

pub fn enabled(level: u8) -> bool {
    level <= LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: u8, args: std::fmt::Arguments) {
    let tag = match level {
        ERROR => "E",
        WARN => "W",
        INFO => "I",
        _ => "D",
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let line = format!("[{:5}.{:03}] kata-agent {tag}: {args}\n", ts.tv_sec, ts.tv_nsec / 1_000_000);
    // One write per line so that lines from several threads do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! error {
    ($($a:tt)*) => { if $crate::log::enabled($crate::log::ERROR) { $crate::log::write($crate::log::ERROR, format_args!($($a)*)) } };
}
#[macro_export]
macro_rules! warn {
    ($($a:tt)*) => { if $crate::log::enabled($crate::log::WARN) { $crate::log::write($crate::log::WARN, format_args!($($a)*)) } };
}
#[macro_export]
macro_rules! info {
    ($($a:tt)*) => { if $crate::log::enabled($crate::log::INFO) { $crate::log::write($crate::log::INFO, format_args!($($a)*)) } };
}
#[macro_export]
macro_rules! debug {
    ($($a:tt)*) => { if $crate::log::enabled($crate::log::DEBUG) { $crate::log::write($crate::log::DEBUG, format_args!($($a)*)) } };
}
