//! Maps ttrpc method names of kataagent.v1.Agent to the agent's handlers.

use std::sync::Arc;

use prost::Message;

use crate::agent::{Agent, Undo};
use crate::pb;
use crate::sys;
use crate::ttrpc::{code, After, RpcError, RpcResult, Service};

pub struct AgentService {
    pub agent: Arc<Agent>,
}

fn decode<M: Message + Default>(payload: &[u8]) -> RpcResult<M> {
    M::decode(payload).map_err(|e| RpcError::new(code::INVALID_ARGUMENT, format!("bad request message: {e}")))
}

fn enc<M: Message>(r: RpcResult<M>) -> RpcResult<Vec<u8>> {
    r.map(|m| m.encode_to_vec())
}

fn with_undo(r: RpcResult<Vec<u8>>, undo: Option<Undo>) -> (RpcResult<Vec<u8>>, After) {
    match undo {
        Some(u) if r.is_ok() => (r, After::IfUndelivered(u)),
        _ => (r, After::Nothing),
    }
}

impl Service for AgentService {
    fn call(&self, method: &str, p: &[u8]) -> (RpcResult<Vec<u8>>, After) {
        let a = &self.agent;
        let r = match method {
            "Health" => decode::<pb::HealthRequest>(p).and_then(|_| enc(a.health())),
            "CreateSandbox" => decode(p).and_then(|r| enc(a.create_sandbox(r))),
            "DestroySandbox" => {
                let r = decode::<pb::DestroySandboxRequest>(p).and_then(|_| enc(a.destroy_sandbox()));
                if r.is_ok() {
                    let off = Box::new(|| {
                        // Let the response reach the host before the VM goes away.
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        sys::power_off("DestroySandbox");
                    });
                    return (r, After::Then(off));
                }
                r
            }
            "UpdateInterface" => decode(p).and_then(|r| enc(a.update_interface(r))),
            "UpdateRoutes" => decode(p).and_then(|r| enc(a.update_routes(r))),
            "CreateContainer" => decode(p).and_then(|r| enc(a.create_container(r))),
            "StartContainer" => decode(p).and_then(|r| enc(a.start_container(r))),
            "RemoveContainer" => decode(p).and_then(|r| enc(a.remove_container(r))),
            "PauseContainer" => decode(p).and_then(|r| enc(a.pause_container(r))),
            "ResumeContainer" => decode(p).and_then(|r| enc(a.resume_container(r))),
            "StatsContainer" => decode(p).and_then(|r| enc(a.stats_container(r))),
            "ListProcesses" => decode(p).and_then(|r| enc(a.list_processes(r))),
            "UpdateContainer" => decode(p).and_then(|r| enc(a.update_container(r))),
            "ExecProcess" => decode(p).and_then(|r| enc(a.exec_process(r))),
            "SignalProcess" => decode(p).and_then(|r| enc(a.signal_process(r))),
            "WaitProcess" => decode(p).and_then(|r| enc(a.wait_process(r))),
            "WriteStdin" => decode(p).and_then(|r| enc(a.write_stdin(r))),
            "CloseStdin" => decode(p).and_then(|r| enc(a.close_stdin(r))),
            "ReadStdout" | "ReadStderr" => {
                let (r, undo) = match decode(p) {
                    Ok(req) => a.read_stream(req, method == "ReadStderr"),
                    Err(e) => (Err(e), None),
                };
                return with_undo(enc(r), undo);
            }
            "ResizeTerminal" => decode(p).and_then(|r| enc(a.resize_terminal(r))),
            "GetOOMEvent" => {
                if let Err(e) = decode::<pb::GetOomEventRequest>(p) {
                    return (Err(e), After::Nothing);
                }
                let (r, undo) = a.get_oom_event();
                return with_undo(enc(r), undo);
            }
            m => Err(RpcError::new(code::UNIMPLEMENTED, format!("unknown method {m}"))),
        };
        (r, After::Nothing)
    }
}
