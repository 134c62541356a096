// Compiles ../proto/agent.proto (the API shared with the Java shim) with Debian's protoc.
fn main() {
    let proto = "proto/agent.proto";
    println!("cargo:rerun-if-changed={proto}");
    println!("cargo:rerun-if-env-changed=PROTOC");
    prost_build::Config::new()
        .compile_protos(&[proto], &["proto"])
        .expect("compiling proto/agent.proto (is protobuf-compiler installed?)");
}
