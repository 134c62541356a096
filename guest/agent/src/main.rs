//! kata-agent: see lib.rs.

fn main() {
    kata_agent::run()
}
