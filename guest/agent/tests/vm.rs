//! End-to-end test of the agent in a real VM (QEMU, TCG): boots build/guest's kernel and
//! initramfs, talks ttrpc over the virtio-serial socket, runs containers from a busybox rootfs
//! shared with 9p, and checks that DestroySandbox ends QEMU.
//!
//! Runs only when KATA_GUEST_DIR names a directory with vmlinux and rootfs.cpio.gz (for
//! example `KATA_GUEST_DIR=$PWD/build/guest guest/agent/check.sh` after `make guest`);
//! otherwise it reports itself skipped and passes.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use kata_agent::pb;
use kata_agent::ttrpc::{self, code, Frame, Request, Response, TYPE_REQUEST};
use prost::Message;

struct Client {
    sock: Mutex<UnixStream>,
    next: Mutex<u32>,
    responses: Arc<(Mutex<HashMap<u32, Response>>, Condvar)>,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let deadline = Instant::now() + Duration::from_secs(10);
        let sock = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("connecting to {}: {e}", path.display()),
            }
        };
        let responses: Arc<(Mutex<HashMap<u32, Response>>, Condvar)> = Arc::default();
        let r = Arc::clone(&responses);
        let mut reader = sock.try_clone().unwrap();
        std::thread::spawn(move || {
            while let Ok(Some(Frame::Message { header, payload })) = ttrpc::read_frame(&mut reader) {
                let resp = Response::decode(&payload[..]).expect("a Response");
                r.0.lock().unwrap().insert(header.stream_id, resp);
                r.1.notify_all();
            }
        });
        Client { sock: Mutex::new(sock), next: Mutex::new(1), responses }
    }

    fn send<M: Message>(&self, method: &str, msg: &M) -> u32 {
        let mut next = self.next.lock().unwrap();
        let id = *next;
        *next += 2;
        let req = Request {
            service: ttrpc::SERVICE_NAME.into(),
            method: method.into(),
            payload: msg.encode_to_vec(),
            ..Default::default()
        };
        let frame = ttrpc::encode_frame(id, TYPE_REQUEST, &req.encode_to_vec());
        self.sock.lock().unwrap().write_all(&frame).unwrap();
        id
    }

    fn wait<R: Message + Default>(&self, id: u32, timeout: Duration) -> Result<R, (i32, String)> {
        let deadline = Instant::now() + timeout;
        let mut map = self.responses.0.lock().unwrap();
        loop {
            if let Some(resp) = map.remove(&id) {
                let st = resp.status.unwrap_or_default();
                if st.code != code::OK {
                    return Err((st.code, st.message));
                }
                return Ok(R::decode(&resp.payload[..]).unwrap());
            }
            let now = Instant::now();
            assert!(now < deadline, "no response to stream {id} within {timeout:?}");
            map = self.responses.1.wait_timeout(map, deadline - now).unwrap().0;
        }
    }

    fn call<M: Message, R: Message + Default>(&self, method: &str, msg: &M) -> Result<R, (i32, String)> {
        let id = self.send(method, msg);
        self.wait(id, Duration::from_secs(60))
    }

    fn read_all(&self, cid: &str, eid: &str, stderr: bool) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let req = pb::ReadStreamRequest { container_id: cid.into(), exec_id: eid.into(), max_bytes: 0 };
            let method = if stderr { "ReadStderr" } else { "ReadStdout" };
            let r: pb::ReadStreamResponse = self.call(method, &req).unwrap();
            if r.eof {
                return out;
            }
            out.extend(r.data);
        }
    }
}

struct Vm {
    qemu: Child,
    dir: PathBuf,
    /// Host mounts the test made under `dir`, unmounted (in reverse) before `dir` is removed.
    mounts: Vec<PathBuf>,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
            eprintln!("---- guest console\n{log}");
        }
        for m in self.mounts.iter().rev() {
            let ok = Command::new("umount").arg("-R").arg(m).status().is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-R").arg("-l").arg(m).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(cmd: &[&str]) {
    let st = Command::new(cmd[0]).args(&cmd[1..]).status().unwrap();
    assert!(st.success(), "{cmd:?}: {st}");
}

fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static at /bin/busybox");
    for a in ["sh", "cat", "echo", "sleep", "uname", "hostname", "true", "touch"] {
        std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
    }
}

fn spec(args: &[&str]) -> Vec<u8> {
    spec_value(args).to_string().into_bytes()
}

fn spec_value(args: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ctr",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/host/only/hosts", "options": ["rbind", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                           {"type": "network", "path": "/var/run/netns/host-only"}],
            "resources": {"memory": {"limit": 67108864}}
        }
    })
}

#[test]
fn agent_in_a_vm() {
    let Some(guest) = std::env::var_os("KATA_GUEST_DIR").map(PathBuf::from) else {
        eprintln!("skipped: set KATA_GUEST_DIR to a directory with vmlinux and rootfs.cpio.gz");
        return;
    };
    let (kernel, initrd) = (guest.join("vmlinux"), guest.join("rootfs.cpio.gz"));
    assert!(kernel.exists() && initrd.exists(), "{} lacks vmlinux or rootfs.cpio.gz", guest.display());

    let dir = std::env::temp_dir().join(format!("kata-agent-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = dir.join("rootfs");
    busybox_rootfs(&rootfs);
    let sock = dir.join("agent.sock");
    // The test plays the host for read-only volumes: the shim binds a volume into the share
    // with --rbind, then makes the top of it read-only (not the mounts inside).
    let mut mounts = Vec::new();
    // SAFETY: geteuid has no arguments and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        let (src, vol) = (dir.join("volume"), rootfs.join("vol"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(&vol).unwrap();
        run(&["mount", "-t", "tmpfs", "tmpfs", src.join("sub").to_str().unwrap()]);
        mounts.push(src.join("sub"));
        run(&["mount", "--rbind", src.to_str().unwrap(), vol.to_str().unwrap()]);
        mounts.push(vol.clone());
        run(&["mount", "-o", "remount,bind,ro", vol.to_str().unwrap()]);
    }
    std::fs::create_dir_all(rootfs.join("grun")).unwrap();
    let started = Instant::now();
    let qemu = Command::new("qemu-system-x86_64")
        .args(["-M", "pc", "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1"])
        .args(["-nodefaults", "-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .arg("-serial")
        .arg(format!("file:{}", dir.join("console.log").display()))
        .args(["-device", "virtio-serial-pci", "-chardev"])
        .arg(format!("socket,id=agent,path={},server=on,wait=off", sock.display()))
        .args(["-device", "virtserialport,chardev=agent,name=agent.0", "-fsdev"])
        .arg(format!("local,id=fs0,path={},security_model=none", rootfs.display()))
        .args(["-device", "virtio-9p-pci,fsdev=fs0,mount_tag=kataShared"])
        .stdin(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let mut vm = Vm { qemu, dir: dir.clone(), mounts };
    let c = Client::connect(&sock);

    // The request waits in the socket until the agent opens the port.
    let id = c.send("Health", &pb::HealthRequest {});
    let h: pb::HealthResponse = c.wait(id, Duration::from_secs(120)).expect("Health");
    eprintln!("Health after {:.2?}: {h:?}", started.elapsed());
    assert_eq!(h.agent_version, env!("CARGO_PKG_VERSION"));
    assert!(h.oci_runtime.contains("crun"), "{h:?}");

    let unknown: Result<pb::Empty, _> = c.call("NoSuchMethod", &pb::Empty {});
    assert_eq!(unknown.unwrap_err().0, code::UNIMPLEMENTED);

    let sandbox = pb::CreateSandboxRequest {
        sandbox_id: "sb".into(),
        hostname: "guest".into(),
        dns_servers: vec!["192.0.2.53".into()],
        shared_filesystems: vec![pb::SharedFilesystem {
            kind: pb::shared_filesystem::Kind::Virtio9p as i32,
            tag: "kataShared".into(),
            mount_point: "/run/kata/shared".into(),
        }],
        ..Default::default()
    };
    let _: pb::Empty = c.call("CreateSandbox", &sandbox).expect("CreateSandbox");

    let create = |id: &str, args: &[&str]| -> Result<pb::Empty, (i32, String)> {
        let req = pb::CreateContainerRequest {
            container_id: id.into(),
            oci_spec_json: spec(args),
            rootfs_path: "/run/kata/shared".into(),
            ..Default::default()
        };
        c.call("CreateContainer", &req)
    };
    let create_spec = |id: &str, spec: serde_json::Value| -> Result<pb::Empty, (i32, String)> {
        let req = pb::CreateContainerRequest {
            container_id: id.into(),
            oci_spec_json: spec.to_string().into_bytes(),
            rootfs_path: "/run/kata/shared".into(),
            ..Default::default()
        };
        c.call("CreateContainer", &req)
    };
    let container = |id: &str| pb::ContainerRequest { container_id: id.into() };
    let run_to_end = |id: &str, spec: serde_json::Value| -> (String, i32) {
        create_spec(id, spec).expect("CreateContainer");
        let wait =
            c.send("WaitProcess", &pb::ProcessRequest { container_id: id.into(), exec_id: String::new() });
        let _: pb::StartContainerResponse = c.call("StartContainer", &container(id)).expect("StartContainer");
        let out = String::from_utf8(c.read_all(id, "", false)).unwrap();
        let w: pb::WaitProcessResponse = c.wait(wait, Duration::from_secs(60)).unwrap();
        let _: pb::Empty = c.call("RemoveContainer", &container(id)).unwrap();
        (out, w.status)
    };

    // A container: output on both streams, resolv.conf from the sandbox, exit status.
    create("c1", &["/bin/sh", "-c", "uname -r; hostname; cat /etc/resolv.conf; echo oops >&2; exit 7"])
        .expect("CreateContainer");
    let wait_id =
        c.send("WaitProcess", &pb::ProcessRequest { container_id: "c1".into(), exec_id: String::new() });
    let s: pb::StartContainerResponse = c.call("StartContainer", &container("c1")).expect("StartContainer");
    assert!(s.pid > 1);
    let out = String::from_utf8(c.read_all("c1", "", false)).unwrap();
    assert_eq!(out, format!("{}\nctr\nnameserver 192.0.2.53\n", h.kernel_release));
    assert_eq!(c.read_all("c1", "", true), b"oops\n");
    let w: pb::WaitProcessResponse = c.wait(wait_id, Duration::from_secs(60)).unwrap();
    assert_eq!(w.status, 7);
    let _: pb::Empty = c.call("RemoveContainer", &container("c1")).unwrap();

    // A missing command is an error from the agent, not a hang.
    let err = create("c2", &["/bin/no-such-command"]).and_then(|_| {
        c.call::<_, pb::StartContainerResponse>("StartContainer", &container("c2")).map(|_| pb::Empty {})
    });
    let (code, msg) = err.unwrap_err();
    assert!(msg.contains("no-such-command"), "{code}: {msg}");

    // Ids are validated, specs parsed.
    assert_eq!(create("../x", &["true"]).unwrap_err().0, code::INVALID_ARGUMENT);

    // Exec with stdin into a running container; signals.
    create("c3", &["/bin/sleep", "1000"]).unwrap();
    let _: pb::StartContainerResponse = c.call("StartContainer", &container("c3")).unwrap();
    let process =
        serde_json::json!({"args": ["cat"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}});
    let exec = pb::ExecProcessRequest {
        container_id: "c3".into(),
        exec_id: "e1".into(),
        process_json: process.to_string().into_bytes(),
        terminal: false,
        stdin: true,
    };
    let _: pb::ExecProcessResponse = c.call("ExecProcess", &exec).expect("ExecProcess");
    let write =
        pb::WriteStdinRequest { container_id: "c3".into(), exec_id: "e1".into(), data: b"ping\n".to_vec() };
    let wr: pb::WriteStdinResponse = c.call("WriteStdin", &write).unwrap();
    assert_eq!(wr.written, 5);
    let proc_e1 = pb::ProcessRequest { container_id: "c3".into(), exec_id: "e1".into() };
    let _: pb::Empty = c.call("CloseStdin", &proc_e1).unwrap();
    assert_eq!(c.read_all("c3", "e1", false), b"ping\n");
    let w: pb::WaitProcessResponse = c.call("WaitProcess", &proc_e1).unwrap();
    assert_eq!(w.status, 0);
    let stats: pb::StatsContainerResponse = c.call("StatsContainer", &container("c3")).unwrap();
    assert_eq!(stats.memory_limit_bytes, 67108864);
    assert!(stats.pids_current >= 1, "{stats:?}");
    let kill =
        pb::SignalProcessRequest { container_id: "c3".into(), exec_id: String::new(), signal: 9, all: false };
    let _: pb::Empty = c.call("SignalProcess", &kill).unwrap();
    let w: pb::WaitProcessResponse = c
        .call("WaitProcess", &pb::ProcessRequest { container_id: "c3".into(), exec_id: String::new() })
        .unwrap();
    assert_eq!(w.status, 137);

    // The pod: its sandbox container (the one whose id is the sandbox id) holds the pod's
    // sysctls in its IPC namespace. A container whose spec names host paths for its pid, ipc
    // and uts namespaces (containerd's pod namespaces) joins the sandbox container's and reads
    // them back; one with namespaces of its own sees the defaults.
    let mut sb = spec_value(&["/bin/sleep", "1000"]);
    sb["linux"]["sysctl"] = serde_json::json!({"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100"});
    create_spec("sb", sb).expect("the sandbox container");
    let _: pb::StartContainerResponse = c.call("StartContainer", &container("sb")).unwrap();
    // StartContainer returns once the init runs the workload, not crun (as runc's start does).
    let cmdline = serde_json::json!({"args": ["cat", "/proc/1/cmdline"], "cwd": "/", "env": ["PATH=/bin"],
                                      "user": {"uid": 0, "gid": 0}});
    let exec = pb::ExecProcessRequest {
        container_id: "sb".into(),
        exec_id: "cmdline".into(),
        process_json: cmdline.to_string().into_bytes(),
        ..Default::default()
    };
    let _: pb::ExecProcessResponse = c.call("ExecProcess", &exec).expect("ExecProcess");
    assert_eq!(c.read_all("sb", "cmdline", false), b"/bin/sleep\x001000\x00");
    let read_back = "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/fs/mqueue/msg_max /proc/1/cmdline";
    let mut app = spec_value(&["/bin/sh", "-c", read_back]);
    app["linux"]["namespaces"] = serde_json::json!([
        {"type": "pid", "path": "/proc/4242/ns/pid"}, {"type": "ipc", "path": "/proc/4242/ns/ipc"},
        {"type": "uts", "path": "/proc/4242/ns/uts"}, {"type": "mount"}]);
    assert_eq!(run_to_end("app", app), ("1\n100\n/bin/sleep\x001000\x00".to_string(), 0));
    let (own, status) = run_to_end("own", spec_value(&["/bin/sh", "-c", read_back]));
    assert_eq!(status, 0);
    assert!(own.starts_with("0\n10\n"), "{own:?}");

    // Read-only binds cover the top mount only, as on a node. /run/kata in the guest is a tmpfs
    // with the 9p share mounted inside (crun's ro, in the guest); /run/kata/shared/vol is the
    // host's read-only bind with a tmpfs inside (the agent leaves ro to the host).
    let mut ro = spec_value(&["/bin/sh", "-c",
        "touch /grun/shared/g && echo guest-sub-rw; touch /grun/g 2>/dev/null || echo guest-top-ro; \
         if [ -d /vol/sub ]; then touch /vol/sub/f && echo host-sub-rw; touch /vol/f 2>/dev/null || echo host-top-ro; fi"]);
    ro["mounts"].as_array_mut().unwrap().extend([
        serde_json::json!({"destination": "/grun", "type": "bind", "source": "/run/kata", "options": ["rbind", "ro"]}),
        serde_json::json!({"destination": "/vol", "type": "bind", "source": "/run/kata/shared/vol", "options": ["rbind", "ro"]}),
    ]);
    let (out, status) = run_to_end("ro", ro);
    let want = if as_root {
        "guest-sub-rw\nguest-top-ro\nhost-sub-rw\nhost-top-ro\n"
    } else {
        "guest-sub-rw\nguest-top-ro\n"
    };
    assert_eq!((out.as_str(), status), (want, 0));
    if !as_root {
        eprintln!("not root: the host's read-only bind was not tested");
    }

    // DestroySandbox answers, then the guest powers off and QEMU (-no-reboot) exits.
    let _: pb::Empty = c.call("DestroySandbox", &pb::DestroySandboxRequest {}).expect("DestroySandbox");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = vm.qemu.try_wait().unwrap() {
            assert!(st.success(), "qemu: {st}");
            break;
        }
        assert!(Instant::now() < deadline, "QEMU did not exit after DestroySandbox");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("whole VM test: {:.2?}", started.elapsed());
}
