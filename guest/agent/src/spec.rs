//! Pure parts of container handling: id validation and rewriting the host's OCI spec into one
//! that crun can apply inside the guest.

use serde_json::{json, Map, Value};

use crate::ttrpc::{code, RpcError, RpcResult};

pub const MAX_ID_LEN: usize = 128;

/// Container and exec ids become path components and crun arguments:
/// 1-128 chars of [A-Za-z0-9_.-], not ".", no "..", not starting with '-'.
pub fn validate_id(kind: &str, id: &str) -> RpcResult<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id != "."
        && !id.contains("..")
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RpcError::new(
            code::INVALID_ARGUMENT,
            format!("invalid {kind} {id:?}: want 1-{MAX_ID_LEN} chars of [A-Za-z0-9_.-], no '..'"),
        ))
    }
}

/// An absolute guest path with no "." or ".." components and no NUL.
pub fn validate_abs_path(what: &str, p: &str) -> RpcResult<()> {
    let ok = p.starts_with('/')
        && !p.contains('\0')
        && p.split('/').all(|c| c != "." && c != "..")
        && p.len() < 4096;
    if ok {
        Ok(())
    } else {
        Err(RpcError::new(
            code::INVALID_ARGUMENT,
            format!("{what} must be an absolute path without '.' or '..' components: {p:?}"),
        ))
    }
}

pub fn cgroup_path(id: &str) -> String {
    format!("/kata/{id}")
}

/// What the guest provides, for rewriting a spec.
pub struct GuestEnv<'a> {
    /// Guest path of the sandbox's resolv.conf, when the sandbox has one.
    pub resolv_conf: Option<&'a str>,
    /// Whether /etc/resolv.conf can be bind-mounted in the rootfs: it exists there, or crun
    /// can create it (the rootfs is writable).
    pub resolv_mountpoint_ok: bool,
    /// cgroup v2 controllers available in the guest (cgroup.controllers of the root).
    pub controllers: &'a [String],
    /// Whether a bind mount's source exists in the guest.
    pub exists: &'a dyn Fn(&str) -> bool,
    /// Guest mount points of host shares that the guest sees as one filesystem, host submounts
    /// included (9p; virtio-fs announces submounts as guest mounts of their own).
    pub one_fs_shares: &'a [String],
    /// For a namespace of [`POD_NAMESPACES`] that the host asks to join (an entry with a path:
    /// containerd's pod namespaces), the guest path of the pod's namespace of that type; None
    /// when the pod has none to join (then the container gets its own).
    pub pod_namespace: &'a dyn Fn(&str) -> RpcResult<Option<String>>,
}

/// Namespaces a container shares with its pod: containerd points these at the sandbox (pause)
/// container's, and pod sysctls (kernel.shm*, fs.mqueue.*) live in them. The network namespace
/// is the guest's own for every container, the mount and cgroup namespaces are never shared.
pub const POD_NAMESPACES: [&str; 3] = ["ipc", "uts", "pid"];

/// The result of rewriting a container spec.
#[derive(Debug)]
pub struct Rewritten {
    pub spec: Value,
    /// Notes for the log: what was dropped and why.
    pub notes: Vec<String>,
    /// net.* sysctls: containers share the guest's network namespace, so the agent applies
    /// these to the guest itself instead of crun refusing them.
    pub net_sysctls: Vec<(String, String)>,
}

fn bad(msg: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_ARGUMENT, msg)
}

fn parse_object(what: &str, json: &[u8]) -> RpcResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad(format!("{what} must be a JSON object"))),
        Err(e) => Err(bad(format!("malformed {what}: {e}"))),
    }
}

fn is_bind(m: &Map<String, Value>) -> bool {
    if m.get("type").and_then(Value::as_str) == Some("bind") {
        return true;
    }
    m.get("options")
        .and_then(Value::as_array)
        .is_some_and(|o| o.iter().any(|v| matches!(v.as_str(), Some("bind") | Some("rbind"))))
}

/// Whether `path` is `root` or below it (both absolute, without "." or "..").
fn under(path: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    path == root || path.strip_prefix(root).is_some_and(|rest| rest.starts_with('/'))
}

/// Read-only options of a bind mount from a 9p share. The guest sees the whole share as one
/// filesystem with no mounts inside, so `ro` applied in the guest covers every host submount
/// below the source as well: a read-only volume with a writable mount inside would turn that
/// mount read-only too. `ro` on a node means the top mount only, and the host enforces exactly
/// that: it binds the source into the share read-only, non-recursively, and QEMU's 9p server
/// works through that mount. So `ro` is left to the host. `rro` (recursive) is what `ro` gives
/// in the guest, so it becomes `ro`. Returns a note when it changed anything.
fn shared_read_only(m: &mut Value) -> Option<String> {
    let opts = m.get_mut("options").and_then(Value::as_array_mut)?;
    let recursive = opts.iter().any(|o| o.as_str() == Some("rro"));
    let before = opts.len();
    opts.retain(|o| !matches!(o.as_str(), Some("ro") | Some("rro")));
    if recursive {
        opts.push(json!("ro"));
        return Some("rro applied as ro: the guest sees the share as one filesystem".into());
    }
    (opts.len() != before).then(|| "ro left to the host's read-only bind (non-recursive)".into())
}

fn clean_process(p: &mut Map<String, Value>, terminal: bool) {
    p.insert("terminal".into(), Value::Bool(terminal));
    p.remove("selinuxLabel");
    p.remove("apparmorProfile");
}

/// Rewrites resources for the guest's cgroup v2: drops what the guest cannot apply.
pub fn clean_resources(r: &mut Map<String, Value>, controllers: &[String], notes: &mut Vec<String>) {
    let has = |c: &str| controllers.iter().any(|x| x == c);
    // The guest has no swap; a swap limit would only fail to apply.
    if let Some(Value::Object(mem)) = r.get_mut("memory") {
        for k in ["swap", "kernel", "kernelTCP", "swappiness"] {
            if mem.remove(k).is_some() {
                notes.push(format!("dropped linux.resources.memory.{k}"));
            }
        }
    }
    let optional = [
        ("hugepageLimits", "hugetlb"),
        ("rdma", "rdma"),
        ("blockIO", "io"),
        ("network", "-"), // cgroup v1 net_cls/net_prio only
    ];
    for (key, ctrl) in optional {
        if !has(ctrl) && r.remove(key).is_some() {
            notes.push(format!("dropped linux.resources.{key}: no {ctrl} controller in the guest"));
        }
    }
}

/// Rewrites the host's config.json for the guest (see CreateContainer in agent.proto).
/// The newest runtime-spec version the guest's crun (1.8) accepts.
pub const CRUN_OCI_VERSION: &str = "1.1.0";

/// Whether `version` ("1.2.1", "1.3.0-rc.1") is newer than [`CRUN_OCI_VERSION`].
fn newer_than_crun(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 1 || (major == 1 && minor > 1)
}

pub fn rewrite_spec(
    json: &[u8],
    id: &str,
    rootfs_path: &str,
    terminal: bool,
    env: &GuestEnv,
) -> RpcResult<Rewritten> {
    let mut spec = parse_object("OCI spec", json)?;
    let mut notes = Vec::new();
    let mut net_sysctls = Vec::new();

    // ociVersion: crun 1.8 refuses any version it does not know ("unknown version specified"),
    // and containerd 2.x writes 1.2+/1.3 specs. Newer fields crun does not know are ignored, so
    // state the newest version it accepts.
    if let Some(v) = spec.get("ociVersion").and_then(Value::as_str) {
        if newer_than_crun(v) {
            notes.push(format!("ociVersion {v} stated as {CRUN_OCI_VERSION} for crun"));
            spec.insert("ociVersion".into(), json!(CRUN_OCI_VERSION));
        }
    }

    // root: the rootfs the host shared into the guest.
    let readonly = spec.get("root").and_then(|r| r.get("readonly")).and_then(Value::as_bool).unwrap_or(false);
    spec.insert("root".into(), json!({ "path": rootfs_path, "readonly": readonly }));

    match spec.get_mut("process") {
        Some(Value::Object(p)) => clean_process(p, terminal),
        Some(_) => return Err(bad("OCI spec: process must be an object")),
        None => return Err(bad("OCI spec: process is missing")),
    }

    if spec.remove("hooks").is_some() {
        notes.push("dropped hooks (they are host programs)".into());
    }

    // mounts: skip binds of host paths that do not exist in the guest.
    let mut has_resolv = false;
    if let Some(mounts) = spec.get_mut("mounts") {
        let Value::Array(list) = mounts else {
            return Err(bad("OCI spec: mounts must be an array"));
        };
        let mut kept = Vec::with_capacity(list.len());
        for m in list.drain(..) {
            let Value::Object(obj) = &m else {
                return Err(bad("OCI spec: each mount must be an object"));
            };
            let dest = obj.get("destination").and_then(Value::as_str).unwrap_or("");
            let src = obj.get("source").and_then(Value::as_str).unwrap_or("");
            if is_bind(obj) && !(env.exists)(src) {
                notes.push(format!("skipped bind mount {dest}: source {src} does not exist in the guest"));
                continue;
            }
            if dest.trim_end_matches('/') == "/etc/resolv.conf" {
                has_resolv = true;
            }
            let shared = is_bind(obj) && env.one_fs_shares.iter().any(|r| under(src, r));
            let dest = dest.to_string();
            let mut m = m;
            if shared {
                if let Some(n) = shared_read_only(&mut m) {
                    notes.push(format!("bind mount {dest}: {n}"));
                }
            }
            kept.push(m);
        }
        *list = kept;
    }
    if !has_resolv && env.resolv_conf.is_some() && !env.resolv_mountpoint_ok {
        notes.push("no /etc/resolv.conf: the rootfs is read-only and has none to mount over".into());
    } else if !has_resolv {
        if let Some(resolv) = env.resolv_conf {
            let mounts = spec.entry("mounts").or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(list) = mounts {
                list.push(json!({
                    "destination": "/etc/resolv.conf",
                    "type": "bind",
                    "source": resolv,
                    "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
                }));
            }
        }
    }

    let linux = spec.entry("linux").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(linux) = linux else {
        return Err(bad("OCI spec: linux must be an object"));
    };
    linux.insert("cgroupsPath".into(), Value::String(cgroup_path(id)));
    linux.remove("mountLabel");
    linux.remove("intelRdt");

    if let Some(ns) = linux.get_mut("namespaces") {
        let Value::Array(list) = ns else {
            return Err(bad("OCI spec: linux.namespaces must be an array"));
        };
        list.retain(|n| n.get("type").and_then(Value::as_str) != Some("network"));
        for n in list.iter_mut() {
            let Value::Object(o) = n else { continue };
            let Some(host) = o.remove("path") else { continue };
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("?").to_string();
            // A host path means "the pod's namespace": the same one in the guest, as runc
            // shares the pause container's on a node.
            let guest =
                if POD_NAMESPACES.contains(&kind.as_str()) { (env.pod_namespace)(&kind)? } else { None };
            match guest {
                Some(g) => {
                    notes.push(format!("namespace {kind}: the pod's ({g}) for host path {host}"));
                    o.insert("path".into(), Value::String(g));
                }
                None => notes.push(format!("namespace {kind}: dropped host path {host}")),
            }
        }
    }

    if let Some(Value::Object(sysctl)) = linux.get_mut("sysctl") {
        let net: Vec<String> = sysctl.keys().filter(|k| k.starts_with("net.")).cloned().collect();
        for k in net {
            if let Some(v) = sysctl.remove(&k) {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                net_sysctls.push((k, v));
            }
        }
    }

    if let Some(Value::Object(r)) = linux.get_mut("resources") {
        clean_resources(r, env.controllers, &mut notes);
    }

    Ok(Rewritten { spec: Value::Object(spec), notes, net_sysctls })
}

/// Rewrites an exec's process object (see ExecProcess in agent.proto).
pub fn rewrite_process(json: &[u8], terminal: bool) -> RpcResult<Value> {
    let mut p = parse_object("process JSON", json)?;
    match p.get("args") {
        Some(Value::Array(a)) if !a.is_empty() => {}
        _ => return Err(bad("process JSON: args must be a non-empty array")),
    }
    clean_process(&mut p, terminal);
    Ok(Value::Object(p))
}

/// Parses UpdateContainer's resources object and drops what the guest cannot apply.
pub fn rewrite_resources(json: &[u8], controllers: &[String]) -> RpcResult<Value> {
    let mut r = parse_object("resources JSON", json)?;
    let mut notes = Vec::new();
    clean_resources(&mut r, controllers, &mut notes);
    Ok(Value::Object(r))
}

/// A sysctl key as a path under /proc/sys, or None if it is not a plain dotted name.
pub fn sysctl_path(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key.len() < 256
        && key
            .split('.')
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    ok.then(|| format!("/proc/sys/{}", key.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_pod(_: &str) -> RpcResult<Option<String>> {
        Ok(None)
    }

    fn env<'a>(exists: &'a dyn Fn(&str) -> bool, controllers: &'a [String]) -> GuestEnv<'a> {
        GuestEnv {
            resolv_conf: Some("/run/kata/resolv.conf"),
            resolv_mountpoint_ok: true,
            controllers,
            exists,
            one_fs_shares: &[],
            pod_namespace: &no_pod,
        }
    }

    #[test]
    fn ids() {
        for ok in ["a", "abc-123_x.y", &"x".repeat(128), "A.b"] {
            assert!(validate_id("container id", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a..b", "a/b", "../x", "-f", "a b", "é", &"x".repeat(129), "a\0"] {
            let e = validate_id("container id", bad).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT, "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert!(validate_abs_path("p", "/run/kata/shared").is_ok());
        assert!(validate_abs_path("p", "relative").is_err());
        assert!(validate_abs_path("p", "/run/../etc").is_err());
        assert!(validate_abs_path("p", "/run/./x").is_err());
    }

    const HOST_SPEC: &str = r#"{
      "ociVersion": "1.1.0",
      "process": {"terminal": true, "args": ["sh"], "cwd": "/", "selinuxLabel": "x", "apparmorProfile": "p"},
      "root": {"path": "/host/rootfs", "readonly": true},
      "hostname": "pod",
      "hooks": {"prestart": [{"path": "/usr/bin/x"}]},
      "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/kubelet/hosts", "options": ["rbind"]},
        {"destination": "/data", "source": "/run/kata/shared/data", "options": ["rbind", "rw"]}
      ],
      "linux": {
        "cgroupsPath": "kubepods-besteffort:cri-containerd:abc",
        "mountLabel": "m",
        "namespaces": [
          {"type": "pid"},
          {"type": "network", "path": "/var/run/netns/cni-1"},
          {"type": "ipc", "path": "/proc/42/ns/ipc"},
          {"type": "mount"}
        ],
        "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1"},
        "resources": {
          "memory": {"limit": 1000000, "swap": 1000000},
          "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
          "pids": {"limit": 10}
        }
      }
    }"#;

    #[test]
    fn rewrites_host_spec() {
        let exists = |p: &str| p.starts_with("/run/kata/shared");
        let ctrls = vec!["cpu".to_string(), "memory".to_string(), "pids".to_string()];
        let r = rewrite_spec(
            HOST_SPEC.as_bytes(),
            "c1",
            "/run/kata/shared/c1/rootfs",
            false,
            &env(&exists, &ctrls),
        )
        .unwrap();
        let s = &r.spec;
        assert_eq!(s["root"], json!({"path": "/run/kata/shared/c1/rootfs", "readonly": true}));
        assert_eq!(s["process"]["terminal"], json!(false));
        assert!(s["process"].get("selinuxLabel").is_none());
        assert!(s["process"].get("apparmorProfile").is_none());
        assert!(s.get("hooks").is_none());
        assert_eq!(s["linux"]["cgroupsPath"], json!("/kata/c1"));
        assert!(s["linux"].get("mountLabel").is_none());
        assert_eq!(s["linux"]["namespaces"], json!([{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]));
        let dests: Vec<&str> =
            s["mounts"].as_array().unwrap().iter().map(|m| m["destination"].as_str().unwrap()).collect();
        assert_eq!(dests, ["/proc", "/data", "/etc/resolv.conf"]);
        assert_eq!(s["mounts"][2]["source"], json!("/run/kata/resolv.conf"));
        assert_eq!(s["linux"]["sysctl"], json!({"kernel.shm_rmid_forced": "1"}));
        assert_eq!(r.net_sysctls, vec![("net.ipv4.ip_unprivileged_port_start".to_string(), "0".to_string())]);
        assert_eq!(s["linux"]["resources"], json!({"memory": {"limit": 1000000}, "pids": {"limit": 10}}));
        assert!(r.notes.iter().any(|n| n.contains("/etc/hosts")));
        assert_eq!(s["hostname"], json!("pod"));
    }

    #[test]
    fn joins_the_pods_namespaces() {
        let spec = br#"{"process": {"args": ["x"]}, "linux": {"namespaces": [
            {"type": "pid"},
            {"type": "ipc", "path": "/proc/42/ns/ipc"},
            {"type": "uts", "path": "/proc/42/ns/uts"},
            {"type": "mount"},
            {"type": "user", "path": "/proc/42/ns/user"},
            {"type": "network", "path": "/var/run/netns/cni-1"}]}}"#;
        let exists = |_: &str| true;
        let pod = |kind: &str| -> RpcResult<Option<String>> { Ok(Some(format!("/proc/7/ns/{kind}"))) };
        let e = GuestEnv { pod_namespace: &pod, ..env(&exists, &[]) };
        let r = rewrite_spec(spec, "c", "/r", false, &e).unwrap();
        assert_eq!(
            r.spec["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "ipc", "path": "/proc/7/ns/ipc"}, {"type": "uts", "path": "/proc/7/ns/uts"},
                   {"type": "mount"}, {"type": "user"}])
        );
        // The pod's namespaces cannot be joined (its sandbox container is gone): an error.
        let gone =
            |_: &str| -> RpcResult<Option<String>> { Err(RpcError::new(code::FAILED_PRECONDITION, "gone")) };
        let e = GuestEnv { pod_namespace: &gone, ..env(&exists, &[]) };
        assert_eq!(rewrite_spec(spec, "c", "/r", false, &e).unwrap_err().code, code::FAILED_PRECONDITION);
    }

    #[test]
    fn read_only_binds_of_a_9p_share_are_left_to_the_host() {
        let spec = br#"{"process": {"args": ["x"]}, "mounts": [
            {"destination": "/ro", "type": "bind", "source": "/run/kata/shared/c/0-vol", "options": ["rbind", "ro"]},
            {"destination": "/rro", "type": "bind", "source": "/run/kata/shared/c/1-vol", "options": ["rbind", "rro"]},
            {"destination": "/rw", "type": "bind", "source": "/run/kata/shared/c/2-vol", "options": ["rbind", "rw"]},
            {"destination": "/fs", "type": "bind", "source": "/run/kata/virtiofs/c/3-vol", "options": ["rbind", "ro"]},
            {"destination": "/guest", "type": "bind", "source": "/run/kata/shared-not", "options": ["rbind", "ro"]}]}"#;
        let exists = |_: &str| true;
        let shares = vec!["/run/kata/shared".to_string()];
        let e = GuestEnv { one_fs_shares: &shares, resolv_conf: None, ..env(&exists, &[]) };
        let r = rewrite_spec(spec, "c", "/r", false, &e).unwrap();
        let opts: Vec<&Value> = r.spec["mounts"].as_array().unwrap().iter().map(|m| &m["options"]).collect();
        assert_eq!(
            opts,
            [
                &json!(["rbind"]),
                &json!(["rbind", "ro"]),
                &json!(["rbind", "rw"]),
                &json!(["rbind", "ro"]),
                &json!(["rbind", "ro"])
            ]
        );
        assert_eq!(
            r.notes.iter().filter(|n| n.contains("host's read-only bind")).count(),
            1,
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn newer_oci_versions_are_stated_as_crun_s() {
        let exists = |_: &str| false;
        let ctrls: Vec<String> = vec![];
        for (given, want) in [("1.3.0", "1.1.0"), ("1.2.1", "1.1.0"), ("1.1.0", "1.1.0"), ("1.0.2", "1.0.2")]
        {
            let spec = format!(r#"{{"ociVersion": "{given}", "process": {{"args": ["x"]}}}}"#);
            let r = rewrite_spec(spec.as_bytes(), "c1", "/r", false, &env(&exists, &ctrls)).unwrap();
            assert_eq!(r.spec["ociVersion"], json!(want), "{given}");
        }
    }

    #[test]
    fn keeps_the_containers_own_resolv_conf() {
        let spec = r#"{"process": {"args": ["x"]}, "mounts": [
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/kata/shared/resolv", "options": ["rbind"]}]}"#;
        let exists = |_: &str| true;
        let r = rewrite_spec(spec.as_bytes(), "c", "/r", true, &env(&exists, &[])).unwrap();
        assert_eq!(r.spec["mounts"].as_array().unwrap().len(), 1);
        assert_eq!(r.spec["mounts"][0]["source"], json!("/run/kata/shared/resolv"));
        assert_eq!(r.spec["process"]["terminal"], json!(true));
        assert_eq!(r.spec["linux"]["cgroupsPath"], json!("/kata/c"));
    }

    #[test]
    fn no_resolv_conf_without_dns() {
        let exists = |_: &str| true;
        let e = GuestEnv { resolv_conf: None, ..env(&exists, &[]) };
        let r = rewrite_spec(br#"{"process": {"args": ["x"]}}"#, "c", "/r", false, &e).unwrap();
        assert!(r.spec.get("mounts").is_none());
    }

    #[test]
    fn no_resolv_conf_on_a_read_only_rootfs_without_one() {
        let exists = |_: &str| true;
        let e = GuestEnv { resolv_mountpoint_ok: false, ..env(&exists, &[]) };
        let r = rewrite_spec(br#"{"process": {"args": ["x"]}}"#, "c", "/r", false, &e).unwrap();
        assert!(r.spec.get("mounts").is_none());
        assert!(r.notes.iter().any(|n| n.contains("read-only")));
    }

    #[test]
    fn malformed_specs_are_invalid_argument() {
        let exists = |_: &str| true;
        for bad in
            [&b"{not json"[..], b"[]", b"{}", br#"{"process": 1}"#, br#"{"process": {}, "mounts": {}}"#]
        {
            let e = rewrite_spec(bad, "c", "/r", false, &env(&exists, &[])).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT, "{}", String::from_utf8_lossy(bad));
        }
        let e = rewrite_spec(b"{\"process\": ", "c", "/r", false, &env(&exists, &[])).unwrap_err();
        assert!(e.message.contains("EOF"), "{}", e.message);
    }

    #[test]
    fn exec_process() {
        let p = rewrite_process(br#"{"args": ["ls"], "cwd": "/", "apparmorProfile": "x"}"#, true).unwrap();
        assert_eq!(p, json!({"args": ["ls"], "cwd": "/", "terminal": true}));
        assert_eq!(rewrite_process(br#"{"args": []}"#, false).unwrap_err().code, code::INVALID_ARGUMENT);
        assert_eq!(rewrite_process(b"nope", false).unwrap_err().code, code::INVALID_ARGUMENT);
    }

    #[test]
    fn resources() {
        let r = rewrite_resources(
            br#"{"memory": {"limit": 5, "swap": 5}, "blockIO": {"weight": 10}}"#,
            &["io".into()],
        )
        .unwrap();
        assert_eq!(r, json!({"memory": {"limit": 5}, "blockIO": {"weight": 10}}));
        let r = rewrite_resources(br#"{"blockIO": {"weight": 10}}"#, &[]).unwrap();
        assert_eq!(r, json!({}));
    }

    #[test]
    fn sysctl_paths() {
        assert_eq!(sysctl_path("net.ipv4.ip_forward").as_deref(), Some("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(sysctl_path("net..x"), None);
        assert_eq!(sysctl_path("net/../../x"), None);
        assert_eq!(sysctl_path(""), None);
    }
}
