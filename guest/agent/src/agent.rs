//! The agent's state and the implementation of every RPC in agent.proto.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::pb;
use crate::reaper::{self, ExitSlot};
use crate::spec::{self, validate_id};
use crate::stdio::{self, Stream};
use crate::ttrpc::{code, RpcError, RpcResult};
use crate::{crun, netlink, sys, watch};

pub const RUN_DIR: &str = "/run/kata";
pub const CONTAINERS_DIR: &str = "/run/kata/containers";
pub const RESOLV_CONF: &str = "/run/kata/resolv.conf";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Exited execs are forgotten this long after their exit, whether or not the host collected
/// everything (exec probes would otherwise pile up).
const EXEC_TTL: Duration = Duration::from_secs(120);
/// How long StartContainer waits for the container's init to exec its program (it takes well
/// under a second even under emulation; a limit only so that a stuck start cannot hang).
const EXEC_WAIT: Duration = Duration::from_secs(30);

/// Puts back what a call consumed when its answer was not delivered.
pub type Undo = Box<dyn FnOnce() + Send>;

fn err(code: i32, msg: impl Into<String>) -> RpcError {
    RpcError::new(code, msg)
}

fn internal(what: &str, e: impl std::fmt::Display) -> RpcError {
    err(code::INTERNAL, format!("{what}: {e}"))
}

/// A process the agent started: a container's init or an exec.
pub struct Proc {
    pub pid: i32,
    pub exit: Arc<ExitSlot>,
    stdin: Mutex<Option<File>>,
    tty: Option<File>,
    stdout: Arc<Stream>,
    stderr: Arc<Stream>,
    waited: std::sync::atomic::AtomicBool,
}

impl Proc {
    fn finished_and_collected(&self) -> bool {
        self.exit.get().is_some()
            && self.waited.load(Ordering::SeqCst)
            && self.stdout.eof_delivered()
            && self.stderr.eof_delivered()
    }

    fn expired(&self, now: Instant) -> bool {
        self.exit.exited_at().is_some_and(|t| now.duration_since(t) > EXEC_TTL)
    }
}

pub struct Container {
    pub id: String,
    bundle: PathBuf,
    init: Arc<Proc>,
    /// The program the init ran when crun create returned (crun itself, waiting to be started).
    created_exe: Option<(u64, u64)>,
    execs: Mutex<HashMap<String, Arc<Proc>>>,
    /// Execs being started (ids reserved).
    exec_busy: Mutex<HashSet<String>>,
    oom_kills: AtomicU64,
}

impl Container {
    fn cgroup(&self) -> PathBuf {
        cgroup_dir(&self.id)
    }
}

fn cgroup_dir(id: &str) -> PathBuf {
    PathBuf::from(format!("{CGROUP_ROOT}{}", spec::cgroup_path(id)))
}

#[derive(Default)]
struct Sandbox {
    id: String,
    resolv_conf: bool,
    /// Mount points of the 9p shares (the guest sees each as one filesystem).
    nine_p_shares: Vec<String>,
}

#[derive(Default)]
struct OomQueue {
    events: VecDeque<String>,
}

pub struct Agent {
    containers: Mutex<HashMap<String, Arc<Container>>>,
    /// Container ids being created: reserved so that two creates of one id cannot race.
    creating: Mutex<HashSet<String>>,
    sandbox: Mutex<Option<Sandbox>>,
    oom: Mutex<OomQueue>,
    oom_cv: Condvar,
    oom_watch: Option<watch::Watcher>,
}

/// The stdio ends the agent keeps (crun gets the other ends).
struct Kept {
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
}

fn make_stdio(terminal: bool, want_stdin: bool) -> RpcResult<(crun::ProcStdio, Kept)> {
    let p = |r: std::io::Result<(OwnedFd, OwnedFd)>| r.map_err(|e| internal("pipe", e));
    if terminal {
        // The process' stdio is the pty crun creates; crun itself gets /dev/null.
        let child = crun::ProcStdio { stdin: Stdio::null(), stdout: Stdio::null(), stderr: Stdio::null() };
        let kept = Kept { stdin: None, stdout: None, stderr: None };
        return Ok((child, kept));
    }
    let (stdin_child, stdin) = if want_stdin {
        let (r, w) = p(stdio::pipe())?;
        (Stdio::from(r), Some(File::from(w)))
    } else {
        (Stdio::null(), None)
    };
    let (out_r, out_w) = p(stdio::pipe())?;
    let (err_r, err_w) = p(stdio::pipe())?;
    let child =
        crun::ProcStdio { stdin: stdin_child, stdout: Stdio::from(out_w), stderr: Stdio::from(err_w) };
    let kept = Kept { stdin, stdout: Some(File::from(out_r)), stderr: Some(File::from(err_r)) };
    Ok((child, kept))
}

/// Builds the Proc for a launched process and starts its stdio pumps.
fn make_proc(name: &str, launched: crun::Launched, ends: Kept, want_stdin: bool) -> Arc<Proc> {
    let exit = reaper::watch(launched.pid, launched.since);
    let stdout = Stream::new();
    let (stderr, stdin, tty) = match launched.tty {
        Some(master) => {
            let reader = master.try_clone();
            let writer = if want_stdin { master.try_clone().ok() } else { None };
            match reader {
                Ok(r) => stdio::pump(format!("out-{name}"), r, Arc::clone(&stdout)),
                Err(e) => {
                    crate::warn!("{name}: pty: {e}");
                    stdout.finish();
                }
            }
            (Stream::ended(), writer, Some(master))
        }
        None => {
            let stderr = Stream::new();
            match ends.stdout {
                Some(f) => stdio::pump(format!("out-{name}"), f, Arc::clone(&stdout)),
                None => stdout.finish(),
            }
            match ends.stderr {
                Some(f) => stdio::pump(format!("err-{name}"), f, Arc::clone(&stderr)),
                None => stderr.finish(),
            }
            (stderr, ends.stdin, None)
        }
    };
    Arc::new(Proc {
        pid: launched.pid,
        exit,
        stdin: Mutex::new(stdin),
        tty,
        stdout,
        stderr,
        waited: Default::default(),
    })
}

/// Whether files can be created in `dir` (a read-only 9p export looks writable to every check
/// short of trying). Probes with a file of our own, created exclusively and removed at once.
fn writable_dir(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join(format!(".kata-agent-probe-{}", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&probe)
        .is_ok();
    if created {
        let _ = std::fs::remove_file(&probe);
    }
    created
}

/// Pids in a cgroup and its descendants.
fn cgroup_pids(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            pids.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// "key value" lines (cpu.stat, memory.events).
fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn write_json(path: &Path, v: &serde_json::Value) -> RpcResult<()> {
    let data = serde_json::to_vec(v).map_err(|e| internal("encoding JSON", e))?;
    std::fs::write(path, data).map_err(|e| internal(&format!("writing {}", path.display()), e))
}

fn kill(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill with plain integers.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Removes a reservation when dropped.
struct Reservation<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap().remove(&self.id);
    }
}

impl Agent {
    pub fn new() -> Arc<Agent> {
        let agent = Arc::new(Agent {
            containers: Mutex::new(HashMap::new()),
            creating: Mutex::new(HashSet::new()),
            sandbox: Mutex::new(None),
            oom: Mutex::new(OomQueue::default()),
            oom_cv: Condvar::new(),
            oom_watch: watch::Watcher::new()
                .map_err(|e| crate::warn!("inotify: {e}; OOM kills are polled once a second"))
                .ok(),
        });
        let a = Arc::clone(&agent);
        std::thread::Builder::new()
            .name("monitor".into())
            .stack_size(128 << 10)
            .spawn(move || a.monitor())
            .expect("starting the monitor thread");
        agent
    }

    fn container(&self, id: &str) -> RpcResult<Arc<Container>> {
        validate_id("container id", id)?;
        self.containers
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| err(code::NOT_FOUND, format!("container {id} not found")))
    }

    fn process(&self, id: &str, exec_id: &str) -> RpcResult<(Arc<Container>, Arc<Proc>)> {
        let c = self.container(id)?;
        if exec_id.is_empty() {
            let p = Arc::clone(&c.init);
            return Ok((c, p));
        }
        validate_id("exec id", exec_id)?;
        let p = c
            .execs
            .lock()
            .unwrap()
            .get(exec_id)
            .cloned()
            .ok_or_else(|| err(code::NOT_FOUND, format!("exec {exec_id} not found in container {id}")))?;
        Ok((c, p))
    }

    /// Reports OOM kills: woken by a change of a container's memory.events (inotify), never by
    /// a timer, so that an idle guest stays asleep. Without inotify it falls back to reading
    /// every container's file once a second.
    fn monitor(&self) {
        if let Some(w) = &self.oom_watch {
            loop {
                match w.next() {
                    Ok(events) => {
                        for e in events {
                            if let watch::Event::Modified(id) = e {
                                let c = self.containers.lock().unwrap().get(&id).cloned();
                                if let Some(c) = c {
                                    self.check_oom(&c);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        crate::warn!("OOM watch: {e}; polling memory.events instead");
                        break;
                    }
                }
            }
        }
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let list: Vec<Arc<Container>> = self.containers.lock().unwrap().values().cloned().collect();
            for c in &list {
                self.check_oom(c);
            }
        }
    }

    /// Queues an OOM event when the container's oom_kill count went up since the last look.
    fn check_oom(&self, c: &Container) {
        let events = std::fs::read_to_string(c.cgroup().join("memory.events")).unwrap_or_default();
        let n = keyed(&events, "oom_kill");
        let before = c.oom_kills.swap(n, Ordering::SeqCst);
        if n > before {
            crate::info!("container {}: OOM kill ({} in total)", c.id, n);
            let mut q = self.oom.lock().unwrap();
            if q.events.len() < 1024 {
                q.events.push_back(c.id.clone());
            }
            self.oom_cv.notify_all();
        }
    }

    pub fn health(&self) -> RpcResult<pb::HealthResponse> {
        Ok(pb::HealthResponse {
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            kernel_release: sys::kernel_release(),
            oci_runtime: crun::version(),
            agent_started_ms: sys::AGENT_STARTED_MS.get().copied().unwrap_or(0),
            agent_listening_ms: sys::AGENT_LISTENING_MS.get().copied().unwrap_or(0),
            uptime_ms: sys::boottime_ms(),
        })
    }

    /// See AdoptIdentity in agent.proto: for a VM restored from a template, before anything runs.
    pub fn adopt_identity(&self, req: pb::AdoptIdentityRequest) -> RpcResult<pb::AdoptIdentityResponse> {
        if !(32..=512).contains(&req.entropy.len()) {
            return Err(err(
                code::INVALID_ARGUMENT,
                format!("entropy must be 32 to 512 bytes, got {}", req.entropy.len()),
            ));
        }
        sys::reseed_random(&req.entropy).map_err(|e| internal("reseeding the random generator", e))?;
        if req.realtime_ns > 0 {
            sys::set_realtime(req.realtime_ns).map_err(|e| internal("setting the clock", e))?;
        }
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map_err(|e| internal("reading boot_id", e))?;
        crate::info!("identity adopted: random generator reseeded, clock set");
        Ok(pb::AdoptIdentityResponse { boot_id: boot_id.trim().to_string() })
    }

    pub fn create_sandbox(&self, req: pb::CreateSandboxRequest) -> RpcResult<pb::Empty> {
        let mut sb = self.sandbox.lock().unwrap();
        if sb.is_some() {
            return Err(err(code::ALREADY_EXISTS, "the sandbox was already created"));
        }
        if !req.hostname.is_empty() {
            if req.hostname.len() > 64 || req.hostname.contains(['\0', '/']) {
                return Err(err(code::INVALID_ARGUMENT, format!("invalid hostname {:?}", req.hostname)));
            }
            sys::sethostname(&req.hostname).map_err(|e| internal("sethostname", e))?;
        }
        let mut resolv = String::new();
        for s in &req.dns_servers {
            resolv.push_str(&format!("nameserver {}\n", s.trim()));
        }
        if !req.dns_searches.is_empty() {
            resolv.push_str(&format!("search {}\n", req.dns_searches.join(" ")));
        }
        if !req.dns_options.is_empty() {
            resolv.push_str(&format!("options {}\n", req.dns_options.join(" ")));
        }
        if resolv.contains('\0') {
            return Err(err(code::INVALID_ARGUMENT, "NUL in DNS settings"));
        }
        let has_resolv = !resolv.is_empty();
        if has_resolv {
            let _ = std::fs::create_dir_all(RUN_DIR);
            std::fs::write(RESOLV_CONF, resolv).map_err(|e| internal("writing resolv.conf", e))?;
        }
        let mut nine_p_shares = Vec::new();
        for fs in &req.shared_filesystems {
            spec::validate_abs_path("mount_point", &fs.mount_point)?;
            if fs.tag.is_empty() || fs.tag.len() > 36 || fs.tag.contains('\0') {
                return Err(err(code::INVALID_ARGUMENT, format!("invalid mount tag {:?}", fs.tag)));
            }
            let kind = pb::shared_filesystem::Kind::try_from(fs.kind).unwrap_or_default();
            let (fstype, data) = match kind {
                pb::shared_filesystem::Kind::Virtio9p => {
                    ("9p", Some("trans=virtio,version=9p2000.L,msize=262144"))
                }
                pb::shared_filesystem::Kind::VirtioFs => ("virtiofs", None),
                pb::shared_filesystem::Kind::Unspecified => {
                    return Err(err(
                        code::INVALID_ARGUMENT,
                        format!("shared filesystem {}: kind unset", fs.tag),
                    ))
                }
            };
            std::fs::create_dir_all(&fs.mount_point)
                .map_err(|e| internal(&format!("creating {}", fs.mount_point), e))?;
            sys::mount(&fs.tag, &fs.mount_point, fstype, 0, data).map_err(|e| {
                err(code::INTERNAL, format!("mounting {fstype} {} on {}: {e}", fs.tag, fs.mount_point))
            })?;
            crate::info!("mounted {fstype} {} on {}", fs.tag, fs.mount_point);
            if fstype == "9p" {
                nine_p_shares.push(fs.mount_point.clone());
            }
        }
        *sb = Some(Sandbox { id: req.sandbox_id, resolv_conf: has_resolv, nine_p_shares });
        crate::info!("sandbox {} created", sb.as_ref().map(|s| s.id.as_str()).unwrap_or(""));
        Ok(pb::Empty {})
    }

    /// Kills and deletes every container; the caller then powers off.
    pub fn destroy_sandbox(&self) -> RpcResult<pb::Empty> {
        let list: Vec<Arc<Container>> = self.containers.lock().unwrap().values().cloned().collect();
        for c in &list {
            self.kill_all(c, libc::SIGKILL);
        }
        for c in &list {
            if let Err(e) = crun::run(&["delete", "-f", &c.id]) {
                crate::warn!("destroy: {e}");
            }
        }
        sys::sync();
        Ok(pb::Empty {})
    }

    pub fn create_container(&self, req: pb::CreateContainerRequest) -> RpcResult<pb::Empty> {
        let id = req.container_id.as_str();
        validate_id("container id", id)?;
        spec::validate_abs_path("rootfs_path", &req.rootfs_path)?;
        {
            let mut busy = self.creating.lock().unwrap();
            if self.containers.lock().unwrap().contains_key(id) || busy.contains(id) {
                return Err(err(code::ALREADY_EXISTS, format!("container {id} already exists")));
            }
            busy.insert(id.to_string());
        }
        let _reservation = Reservation { set: &self.creating, id: id.to_string() };
        if !Path::new(&req.rootfs_path).is_dir() {
            return Err(err(
                code::NOT_FOUND,
                format!("rootfs {} does not exist in the guest", req.rootfs_path),
            ));
        }
        let (has_resolv, nine_p_shares, sandbox_id) = match self.sandbox.lock().unwrap().as_ref() {
            Some(s) => (s.resolv_conf, s.nine_p_shares.clone(), Some(s.id.clone())),
            None => (false, Vec::new(), None),
        };
        let controllers = sys::cgroup_controllers();
        let exists = |p: &str| Path::new(p).exists();
        let rootfs = Path::new(&req.rootfs_path);
        let pod_namespace = |kind: &str| self.pod_namespace(sandbox_id.as_deref(), id, kind);
        let env = spec::GuestEnv {
            resolv_conf: has_resolv.then_some(RESOLV_CONF),
            resolv_mountpoint_ok: has_resolv
                && (rootfs.join("etc/resolv.conf").symlink_metadata().is_ok() || writable_dir(rootfs)),
            controllers: &controllers,
            exists: &exists,
            one_fs_shares: &nine_p_shares,
            pod_namespace: &pod_namespace,
        };
        let rewritten = spec::rewrite_spec(&req.oci_spec_json, id, &req.rootfs_path, req.terminal, &env)?;
        for n in &rewritten.notes {
            crate::info!("container {id}: {n}");
        }
        for (k, v) in &rewritten.net_sysctls {
            match spec::sysctl_path(k) {
                Some(p) => {
                    if let Err(e) = std::fs::write(&p, v) {
                        crate::warn!("container {id}: sysctl {k}={v} (applied to the guest): {e}");
                    }
                }
                None => return Err(err(code::INVALID_ARGUMENT, format!("invalid sysctl {k:?}"))),
            }
        }

        let bundle = PathBuf::from(CONTAINERS_DIR).join(id);
        let _ = std::fs::remove_dir_all(&bundle);
        std::fs::create_dir_all(&bundle).map_err(|e| internal("creating the bundle", e))?;
        let result = self.create_in_bundle(id, &bundle, &rewritten.spec, req.terminal, req.stdin);
        if result.is_err() {
            let _ = crun::run(&["delete", "-f", id]);
            let _ = std::fs::remove_dir_all(&bundle);
        }
        result
    }

    /// The guest path of the pod's namespace `kind` for container `id`: the namespace of the
    /// sandbox container (the container whose id is the sandbox id; containerd's pause
    /// container), which holds the pod's sysctls. None for the sandbox container itself and
    /// when the pod has no sandbox container in the guest.
    fn pod_namespace(&self, sandbox_id: Option<&str>, id: &str, kind: &str) -> RpcResult<Option<String>> {
        let Some(sandbox_id) = sandbox_id.filter(|s| *s != id) else {
            return Ok(None);
        };
        let Some(sandbox) = self.containers.lock().unwrap().get(sandbox_id).cloned() else {
            return Ok(None);
        };
        if sandbox.init.exit.get().is_some() {
            return Err(err(
                code::FAILED_PRECONDITION,
                format!("the pod's sandbox container {sandbox_id} has exited: no {kind} namespace to join"),
            ));
        }
        Ok(Some(format!("/proc/{}/ns/{kind}", sandbox.init.pid)))
    }

    fn create_in_bundle(
        &self,
        id: &str,
        bundle: &Path,
        spec: &serde_json::Value,
        terminal: bool,
        want_stdin: bool,
    ) -> RpcResult<pb::Empty> {
        write_json(&bundle.join("config.json"), spec)?;
        let (child_io, keep) = make_stdio(terminal, want_stdin)?;
        let bundle_s = bundle.display().to_string();
        let launched = crun::launch(
            "create",
            &["create", "--no-new-keyring", &format!("--bundle={bundle_s}")],
            id,
            &bundle.join("init.pid"),
            &bundle.join("crun.log"),
            terminal,
            child_io,
        )?;
        let created_exe = sys::exe_identity(launched.pid);
        let init = make_proc(id, launched, keep, want_stdin);
        crate::info!("container {id} created, init pid {}", init.pid);
        let c = Arc::new(Container {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            init,
            created_exe,
            execs: Mutex::new(HashMap::new()),
            exec_busy: Mutex::new(HashSet::new()),
            oom_kills: AtomicU64::new(0),
        });
        self.containers.lock().unwrap().insert(id.to_string(), Arc::clone(&c));
        if let Some(w) = &self.oom_watch {
            if let Err(e) = w.add(&c.cgroup().join("memory.events"), id) {
                crate::warn!("container {id}: cannot watch memory.events for OOM kills: {e}");
            }
        }
        // An OOM kill before the watch was in place.
        self.check_oom(&c);
        Ok(pb::Empty {})
    }

    pub fn start_container(&self, req: pb::ContainerRequest) -> RpcResult<pb::StartContainerResponse> {
        let c = self.container(&req.container_id)?;
        crun::run(&["start", &c.id])?;
        // crun start returns once it told the init to go on, before the init exec'd the
        // workload; runc's start returns only after that execve (its exec fifo closes on exec).
        // A stop right after start must reach the workload, not crun: wait as runc does.
        if let Some(before) = c.created_exe {
            if !sys::wait_for_exec(c.init.pid, before, EXEC_WAIT) {
                crate::warn!("container {}: init has not exec'd its program after {EXEC_WAIT:?}", c.id);
            }
        }
        crate::info!("container {} started", c.id);
        Ok(pb::StartContainerResponse { pid: c.init.pid as u32 })
    }

    pub fn remove_container(&self, req: pb::ContainerRequest) -> RpcResult<pb::Empty> {
        let c = self.container(&req.container_id)?;
        crun::run(&["delete", "-f", &c.id])?;
        self.containers.lock().unwrap().remove(&c.id);
        let _ = std::fs::remove_dir_all(&c.bundle);
        crate::info!("container {} removed", c.id);
        Ok(pb::Empty {})
    }

    pub fn pause_container(&self, req: pb::ContainerRequest) -> RpcResult<pb::Empty> {
        let c = self.container(&req.container_id)?;
        crun::run(&["pause", &c.id])?;
        Ok(pb::Empty {})
    }

    pub fn resume_container(&self, req: pb::ContainerRequest) -> RpcResult<pb::Empty> {
        let c = self.container(&req.container_id)?;
        crun::run(&["resume", &c.id])?;
        Ok(pb::Empty {})
    }

    pub fn stats_container(&self, req: pb::ContainerRequest) -> RpcResult<pb::StatsContainerResponse> {
        let c = self.container(&req.container_id)?;
        let dir = c.cgroup();
        let cpu = std::fs::read_to_string(dir.join("cpu.stat")).unwrap_or_default();
        let events = std::fs::read_to_string(dir.join("memory.events")).unwrap_or_default();
        let max = std::fs::read_to_string(dir.join("memory.max")).unwrap_or_default();
        Ok(pb::StatsContainerResponse {
            cpu_usage_usec: keyed(&cpu, "usage_usec"),
            cpu_user_usec: keyed(&cpu, "user_usec"),
            cpu_system_usec: keyed(&cpu, "system_usec"),
            memory_usage_bytes: read_u64(&dir.join("memory.current")),
            memory_limit_bytes: max.trim().parse().unwrap_or(0),
            pids_current: read_u64(&dir.join("pids.current")),
            oom_kills: keyed(&events, "oom_kill"),
        })
    }

    pub fn list_processes(&self, req: pb::ContainerRequest) -> RpcResult<pb::ListProcessesResponse> {
        let c = self.container(&req.container_id)?;
        Ok(pb::ListProcessesResponse { pids: cgroup_pids(&c.cgroup()) })
    }

    pub fn update_container(&self, req: pb::UpdateContainerRequest) -> RpcResult<pb::Empty> {
        let c = self.container(&req.container_id)?;
        let resources = spec::rewrite_resources(&req.resources_json, &sys::cgroup_controllers())?;
        static N: AtomicU64 = AtomicU64::new(0);
        let file = c.bundle.join(format!("update-{}.json", N.fetch_add(1, Ordering::SeqCst)));
        write_json(&file, &resources)?;
        let r = crun::run(&["update", &format!("--resources={}", file.display()), &c.id]);
        let _ = std::fs::remove_file(&file);
        r.map(|_| pb::Empty {})
    }

    pub fn exec_process(&self, req: pb::ExecProcessRequest) -> RpcResult<pb::ExecProcessResponse> {
        let c = self.container(&req.container_id)?;
        validate_id("exec id", &req.exec_id)?;
        let exec_id = req.exec_id.as_str();
        {
            let mut busy = c.exec_busy.lock().unwrap();
            if c.execs.lock().unwrap().contains_key(exec_id) || busy.contains(exec_id) {
                return Err(err(code::ALREADY_EXISTS, format!("exec {exec_id} already exists")));
            }
            busy.insert(exec_id.to_string());
        }
        let _reservation = Reservation { set: &c.exec_busy, id: exec_id.to_string() };
        let process = spec::rewrite_process(&req.process_json, req.terminal)?;
        // A process joining a frozen cgroup would freeze, and crun exec with it.
        if std::fs::read_to_string(c.cgroup().join("cgroup.freeze")).is_ok_and(|f| f.trim() == "1") {
            return Err(err(code::FAILED_PRECONDITION, format!("container {} is paused", c.id)));
        }
        let file = c.bundle.join(format!("exec-{exec_id}.json"));
        write_json(&file, &process)?;
        let (child_io, keep) = make_stdio(req.terminal, req.stdin)?;
        let launched = crun::launch(
            "exec",
            &["exec", "-d", &format!("--process={}", file.display())],
            &c.id,
            &c.bundle.join(format!("exec-{exec_id}.pid")),
            &c.bundle.join(format!("exec-{exec_id}.log")),
            req.terminal,
            child_io,
        );
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(c.bundle.join(format!("exec-{exec_id}.pid")));
        let launched = launched?;
        let p = make_proc(&format!("{}-{exec_id}", c.id), launched, keep, req.stdin);
        let pid = p.pid;
        let mut execs = c.execs.lock().unwrap();
        // Forgotten here rather than on a timer (an idle guest must not wake up for it).
        let now = Instant::now();
        execs.retain(|_, p| !p.expired(now));
        execs.insert(exec_id.to_string(), p);
        drop(execs);
        crate::debug!("container {}: exec {exec_id} pid {pid}", c.id);
        Ok(pb::ExecProcessResponse { pid: pid as u32 })
    }

    fn kill_all(&self, c: &Container, sig: i32) {
        for pid in cgroup_pids(&c.cgroup()) {
            let _ = kill(pid as i32, sig);
        }
    }

    pub fn signal_process(&self, req: pb::SignalProcessRequest) -> RpcResult<pb::Empty> {
        let sig = req.signal as i32;
        if !(1..=64).contains(&sig) {
            return Err(err(code::INVALID_ARGUMENT, format!("invalid signal {}", req.signal)));
        }
        let (c, p) = self.process(&req.container_id, &req.exec_id)?;
        if req.all {
            self.kill_all(&c, sig);
            // The init may not be in the cgroup listing yet/any more; signal it directly too.
            if p.exit.get().is_none() {
                let _ = kill(p.pid, sig);
            }
            return Ok(pb::Empty {});
        }
        if p.exit.get().is_some() {
            return Err(err(code::NOT_FOUND, format!("process {} already exited", p.pid)));
        }
        kill(p.pid, sig).map_err(|e| internal(&format!("kill {}", p.pid), e))?;
        Ok(pb::Empty {})
    }

    pub fn wait_process(&self, req: pb::ProcessRequest) -> RpcResult<pb::WaitProcessResponse> {
        let (c, p) = self.process(&req.container_id, &req.exec_id)?;
        let status = p.exit.wait();
        p.waited.store(true, Ordering::SeqCst);
        self.forget_exec_if_done(&c, &req.exec_id);
        Ok(pb::WaitProcessResponse { status })
    }

    fn forget_exec_if_done(&self, c: &Container, exec_id: &str) {
        if exec_id.is_empty() {
            return;
        }
        let mut execs = c.execs.lock().unwrap();
        if execs.get(exec_id).is_some_and(|p| p.finished_and_collected()) {
            execs.remove(exec_id);
        }
    }

    pub fn write_stdin(&self, req: pb::WriteStdinRequest) -> RpcResult<pb::WriteStdinResponse> {
        let (_, p) = self.process(&req.container_id, &req.exec_id)?;
        // Another writer must not interleave; the lock is held while the pipe has no room.
        let mut stdin = p.stdin.lock().unwrap();
        let f = stdin
            .as_mut()
            .ok_or_else(|| err(code::FAILED_PRECONDITION, "stdin is closed or was not requested"))?;
        f.write_all(&req.data).map_err(|e| err(code::FAILED_PRECONDITION, format!("writing stdin: {e}")))?;
        Ok(pb::WriteStdinResponse { written: req.data.len() as u32 })
    }

    pub fn close_stdin(&self, req: pb::ProcessRequest) -> RpcResult<pb::Empty> {
        let (_, p) = self.process(&req.container_id, &req.exec_id)?;
        let mut stdin = p.stdin.lock().unwrap();
        if let (Some(f), Some(_)) = (stdin.as_mut(), p.tty.as_ref()) {
            // A terminal has no half-close: send EOF (^D) as a user would.
            let _ = f.write_all(&[4]);
        }
        *stdin = None;
        Ok(pb::Empty {})
    }

    /// ReadStdout / ReadStderr. Also returns how to put the data back should the answer not
    /// reach the host.
    pub fn read_stream(
        &self,
        req: pb::ReadStreamRequest,
        stderr: bool,
    ) -> (RpcResult<pb::ReadStreamResponse>, Option<Undo>) {
        let (c, p) = match self.process(&req.container_id, &req.exec_id) {
            Ok(x) => x,
            Err(e) => return (Err(e), None),
        };
        let s = if stderr { &p.stderr } else { &p.stdout };
        let (data, eof) = s.read(req.max_bytes as usize);
        if eof {
            self.forget_exec_if_done(&c, &req.exec_id);
            return (Ok(pb::ReadStreamResponse { data, eof }), None);
        }
        let (s, back) = (Arc::clone(s), data.clone());
        (Ok(pb::ReadStreamResponse { data, eof }), Some(Box::new(move || s.unread(&back))))
    }

    pub fn resize_terminal(&self, req: pb::ResizeTerminalRequest) -> RpcResult<pb::Empty> {
        let (_, p) = self.process(&req.container_id, &req.exec_id)?;
        let tty =
            p.tty.as_ref().ok_or_else(|| err(code::FAILED_PRECONDITION, "the process has no terminal"))?;
        let rows = u16::try_from(req.rows).map_err(|_| err(code::INVALID_ARGUMENT, "rows out of range"))?;
        let cols =
            u16::try_from(req.columns).map_err(|_| err(code::INVALID_ARGUMENT, "columns out of range"))?;
        stdio::resize(tty, rows, cols).map_err(|e| internal("TIOCSWINSZ", e))?;
        Ok(pb::Empty {})
    }

    /// GetOOMEvent, and how to put the event back should the answer not reach the host.
    pub fn get_oom_event(self: &Arc<Self>) -> (RpcResult<pb::OomEvent>, Option<Undo>) {
        let mut q = self.oom.lock().unwrap();
        loop {
            if let Some(id) = q.events.pop_front() {
                let (a, back) = (Arc::clone(self), id.clone());
                let undo: Undo = Box::new(move || {
                    a.oom.lock().unwrap().events.push_front(back);
                    a.oom_cv.notify_all();
                });
                return (Ok(pb::OomEvent { container_id: id }), Some(undo));
            }
            q = self.oom_cv.wait(q).unwrap();
        }
    }

    pub fn update_interface(&self, req: pb::UpdateInterfaceRequest) -> RpcResult<pb::Empty> {
        netlink::update_interface(&req)?;
        Ok(pb::Empty {})
    }

    pub fn update_routes(&self, req: pb::UpdateRoutesRequest) -> RpcResult<pb::Empty> {
        netlink::update_routes(&req)?;
        Ok(pb::Empty {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let cpu = "usage_usec 1200\nuser_usec 1000\nsystem_usec 200\nnr_periods 0\n";
        assert_eq!(keyed(cpu, "usage_usec"), 1200);
        assert_eq!(keyed(cpu, "system_usec"), 200);
        assert_eq!(keyed(cpu, "missing"), 0);
        let ev = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed(ev, "oom_kill"), 2);
        assert_eq!(keyed(ev, "oom"), 1);
    }
}
