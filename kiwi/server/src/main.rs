//! The `kiwi-server` binary.

/// The storage thread allocates reply values that network threads free;
/// glibc malloc handles that cross-thread pattern poorly (malloc and free
/// were about a fifth of the samples of an LRANGE_100 benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kiwi_server::main_with(&[])
}
