//! Maps ttrpc method names of kataagent.v1.Agent to the agent's handlers.

use std::sync::Arc;

use prost::Message;

use crate::agent::{Agent, Undo};
use crate::pb;
use crate::portforward::Forwards;
use crate::sys;
use crate::ttrpc::{code, After, RpcError, RpcResult, Service};

pub struct AgentService {
    pub agent: Arc<Agent>,
    pub forwards: Forwards,
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
            "AdoptIdentity" => decode(p).and_then(|r| enc(a.adopt_identity(r))),
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
            "PortForwardOpen" => decode(p).and_then(|r| enc(self.forwards.open(r))),
            "PortForwardWrite" => decode(p).and_then(|r| enc(self.forwards.write(r))),
            "PortForwardRead" => {
                let (r, undo) = match decode(p) {
                    Ok(req) => self.forwards.read(req),
                    Err(e) => (Err(e), None),
                };
                return with_undo(enc(r), undo);
            }
            "PortForwardClose" => decode(p).and_then(|r| enc(self.forwards.close(r))),
            m => Err(RpcError::new(code::UNIMPLEMENTED, format!("unknown method {m}"))),
        };
        (r, After::Nothing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn port_forward_calls_are_dispatched() {
        let svc = AgentService { agent: Agent::new(), forwards: Forwards::default() };
        let call = |m: &str, req: &dyn Fn() -> Vec<u8>| svc.call(m, &req());
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port() as u32;

        let (r, _) = call("PortForwardOpen", &|| pb::PortForwardOpenRequest { port: 0 }.encode_to_vec());
        assert_eq!(r.unwrap_err().code, code::INVALID_ARGUMENT);
        let (r, _) = call("PortForwardOpen", &|| pb::PortForwardOpenRequest { port }.encode_to_vec());
        let id = pb::PortForwardOpenResponse::decode(&r.unwrap()[..]).unwrap().id;
        let (mut peer, _) = l.accept().unwrap();

        let w = pb::PortForwardWriteRequest { id: id.clone(), data: b"ping".to_vec() };
        assert!(call("PortForwardWrite", &|| w.encode_to_vec()).0.is_ok());
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");

        peer.write_all(b"pong").unwrap();
        let rd = pb::PortForwardReadRequest { id: id.clone(), max_bytes: 4 };
        let (r, after) = call("PortForwardRead", &|| rd.encode_to_vec());
        assert_eq!(pb::ReadStreamResponse::decode(&r.unwrap()[..]).unwrap().data, b"pong");
        assert!(matches!(after, After::IfUndelivered(_)));

        let c = pb::PortForwardRequest { id };
        assert!(call("PortForwardClose", &|| c.encode_to_vec()).0.is_ok());
        assert_eq!(call("PortForwardClose", &|| c.encode_to_vec()).0.unwrap_err().code, code::NOT_FOUND);
    }
}
