//! Running crun. Every invocation is reaped by the one reaper (never Child::wait).

use std::fs::File;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::reaper;
use crate::stdio;
use crate::ttrpc::{code, RpcError, RpcResult};

/// crun's state directory (tmpfs).
pub const ROOT: &str = "/run/crun";
/// Short paths for console sockets (sun_path is 108 bytes; ids may be 128 chars).
const CONSOLE_DIR: &str = "/run/kata/console";

pub fn binary() -> &'static str {
    static B: OnceLock<String> = OnceLock::new();
    B.get_or_init(|| std::env::var("KATA_AGENT_CRUN").unwrap_or_else(|_| "/usr/bin/crun".into()))
}

fn command() -> Command {
    let mut c = Command::new(binary());
    c.arg("--root").arg(ROOT);
    c
}

fn failure(what: &str, status: i32, output: &str) -> RpcError {
    let msg = output.trim();
    let msg = if msg.is_empty() {
        format!("crun {what} failed with status {status}")
    } else {
        format!("crun {what}: {msg}")
    };
    RpcError::new(code_of(&msg), msg)
}

/// The status for crun's own words: a workload binary that is not there is NOT_FOUND (as
/// runc's "executable file not found" is to kubelet), one that cannot be run PERMISSION_DENIED.
fn code_of(msg: &str) -> i32 {
    let executable = msg.contains("executable");
    if msg.contains("not found in $PATH") || (executable && msg.contains("No such file or directory")) {
        code::NOT_FOUND
    } else if executable && msg.contains("Permission denied") {
        code::PERMISSION_DENIED
    } else {
        code::UNKNOWN
    }
}

fn spawn_error(e: std::io::Error) -> RpcError {
    RpcError::new(code::INTERNAL, format!("cannot run {}: {e}", binary()))
}

/// Runs `crun ARGS` to completion and returns its combined stdout and stderr; a non-zero
/// exit is an error carrying that output.
pub fn run(args: &[&str]) -> RpcResult<String> {
    let (r, w) = stdio::pipe().map_err(spawn_error)?;
    let w2 = w.try_clone().map_err(spawn_error)?;
    let mut cmd = command();
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::from(w)).stderr(Stdio::from(w2));
    let since = Instant::now();
    let child = cmd.spawn().map_err(spawn_error)?;
    drop(cmd); // closes our copies of the write end
    let slot = reaper::watch(child.id() as i32, since);
    let mut out = Vec::new();
    let _ = File::from(r).take(64 << 10).read_to_end(&mut out);
    let status = slot.wait();
    let out = String::from_utf8_lossy(&out).into_owned();
    crate::debug!("crun {} -> {status}", args.join(" "));
    if status != 0 {
        return Err(failure(args.first().copied().unwrap_or(""), status, &out));
    }
    Ok(out)
}

/// Written by the rootfs build (`crun --version`, first line), so that the first Health does
/// not wait for crun to start under emulation.
const VERSION_FILE: &str = "/etc/kata/oci-runtime";

/// `crun --version`, first line.
pub fn version() -> String {
    static V: OnceLock<String> = OnceLock::new();
    if let Ok(v) = std::fs::read_to_string(VERSION_FILE) {
        if !v.trim().is_empty() {
            return v.trim().to_string();
        }
    }
    V.get_or_init(|| match run(&["--version"]) {
        Ok(out) => out.lines().next().unwrap_or("").trim().to_string(),
        Err(e) => {
            crate::warn!("crun --version: {e}");
            String::new()
        }
    })
    .clone()
}

/// The stdio a container process gets from crun create / crun exec.
pub struct ProcStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// What crun create / exec produced.
pub struct Launched {
    pub pid: i32,
    /// When crun was started: the process cannot have exited before.
    pub since: Instant,
    /// The pty master, with a terminal.
    pub tty: Option<File>,
}

/// The last error message in a crun JSON log (one object per line), else the raw text.
fn log_message(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut msgs = Vec::new();
    for line in text.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => {
                if v.get("level").and_then(|l| l.as_str()) != Some("warning") {
                    if let Some(m) = v.get("msg").and_then(|m| m.as_str()) {
                        msgs.push(m.to_string());
                    }
                }
            }
            Err(_) if !line.trim().is_empty() => msgs.push(line.trim().to_string()),
            Err(_) => {}
        }
    }
    msgs.join("; ")
}

/// Runs `crun create` or `crun exec -d` (args before the container id are given by the
/// caller) with the process' stdio, or with a console socket for a terminal. crun's own
/// messages go to `log` (they would otherwise mix with the process' stderr).
pub fn launch(
    what: &str,
    args: &[&str],
    id: &str,
    pid_file: &Path,
    log: &Path,
    terminal: bool,
    io: ProcStdio,
) -> RpcResult<Launched> {
    static N: AtomicU64 = AtomicU64::new(0);
    let _ = std::fs::remove_file(log);
    let _ = std::fs::remove_file(pid_file);
    let mut console: Option<(UnixListener, PathBuf)> = None;
    let mut cmd = command();
    cmd.arg(format!("--log={}", log.display())).arg("--log-format=json");
    cmd.args(args);
    cmd.arg(format!("--pid-file={}", pid_file.display()));
    if terminal {
        let _ = std::fs::create_dir_all(CONSOLE_DIR);
        let path = PathBuf::from(format!("{CONSOLE_DIR}/{}.sock", N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path)
            .map_err(|e| RpcError::new(code::INTERNAL, format!("console socket {}: {e}", path.display())))?;
        cmd.arg(format!("--console-socket={}", path.display()));
        console = Some((l, path));
    }
    cmd.arg(id);
    cmd.stdin(io.stdin).stdout(io.stdout).stderr(io.stderr);
    let since = Instant::now();
    let child = cmd.spawn().map_err(spawn_error)?;
    drop(cmd); // our copies of the child's stdio ends
    let slot = reaper::watch(child.id() as i32, since);

    let mut tty = None;
    let mut tty_err = None;
    if let Some((l, path)) = console {
        match stdio::accept_console(&l, &|| slot.get().is_some(), Duration::from_secs(120)) {
            Ok(fd) => tty = Some(File::from(fd)),
            Err(e) => tty_err = Some(e),
        }
        let _ = std::fs::remove_file(path);
    }
    let status = slot.wait();
    if status != 0 {
        let msg = log_message(log);
        return Err(failure(what, status, &msg));
    }
    if terminal && tty.is_none() {
        let e = tty_err.map(|e| e.to_string()).unwrap_or_default();
        return Err(RpcError::new(code::INTERNAL, format!("crun {what}: no terminal: {e}")));
    }
    let pid_text = std::fs::read_to_string(pid_file).unwrap_or_default();
    let pid: i32 = pid_text.trim().parse().map_err(|_| {
        RpcError::new(code::INTERNAL, format!("crun {what}: bad pid file {:?}", pid_text.trim()))
    })?;
    let _ = std::fs::remove_file(log);
    Ok(Launched { pid, since, tty })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crun_words_become_status_codes() {
        let nf = failure("exec", 1, "executable file `nope` not found in $PATH: No such file or directory");
        assert_eq!(nf.code, code::NOT_FOUND);
        assert!(nf.message.contains("nope"), "{}", nf.message);
        assert_eq!(failure("exec", 1, "open executable: No such file or directory").code, code::NOT_FOUND);
        assert_eq!(failure("exec", 1, "open executable: Permission denied").code, code::PERMISSION_DENIED);
        assert_eq!(failure("create", 1, "cannot mount proc").code, code::UNKNOWN);
        assert_eq!(failure("exec", 3, "").code, code::UNKNOWN);
    }
}
