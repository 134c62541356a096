//! kata-agent: PID 1 of every Kata guest VM. Serves the agent API (proto/agent.proto) over
//! ttrpc on the virtio-serial port "agent.0" (and vsock port 1024 when the guest has vsock),
//! and runs containers with crun.

pub mod agent;
pub mod crun;
pub mod log;
pub mod netlink;
pub mod portforward;
pub mod reaper;
pub mod rpc;
pub mod spec;
pub mod stdio;
pub mod sys;
pub mod transport;
pub mod ttrpc;
pub mod watch;

#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/kataagent.v1.rs"));
}

use std::sync::Arc;

/// The agent's main: sets up the guest (as PID 1) and serves the API forever.
pub fn run() -> ! {
    sys::AGENT_STARTED_MS.get_or_init(sys::boottime_ms);
    // Before any thread exists, so that only the reaper thread ever takes SIGCHLD.
    reaper::block_sigchld();
    let pid1 = sys::is_pid1();
    if pid1 {
        sys::install_panic_hook();
        sys::init_mounts();
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut log_level = std::env::var("KATA_AGENT_LOG").unwrap_or_default();
    let mut debug_console = false;
    for (k, v) in sys::agent_params(&cmdline) {
        match k.as_str() {
            "log" => log_level = v,
            "debug_console" => debug_console = true,
            _ => {}
        }
    }
    if !log_level.is_empty() && !log::set_level(&log_level) {
        warn!("unknown log level {log_level:?}");
    }
    info!("kata-agent {} starting (pid {})", env!("CARGO_PKG_VERSION"), std::process::id());
    reaper::start();
    if pid1 {
        if let Err(e) = netlink::loopback_up() {
            warn!("bringing up lo: {e}");
        }
    }
    if pid1 && debug_console {
        sys::debug_console();
    }
    let service = Arc::new(rpc::AgentService { agent: agent::Agent::new(), forwards: Default::default() });
    transport::start_vsock(Arc::clone(&service));
    transport::serve_serial(service);
}
