//! `kiwi-server-example`: kiwi-server with this crate's commands added.
//! Run it exactly like `kiwi-server` (same flags, same config file).

fn main() -> std::process::ExitCode {
    kiwi_server::main_with(&[kiwi_example_module::register])
}
