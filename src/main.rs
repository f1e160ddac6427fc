//! The `keypool` command line.

mod cli;

// A faster allocator for the binary only (the library leaves the choice to its users); build
// with `--no-default-features` for the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    reset_sigpipe();
    std::process::exit(cli::main());
}

/// Rust ignores SIGPIPE, so a write to a closed pipe (`keypool classify … | head`) fails, and
/// `println!` panics on the failure. Restoring the default makes the binary end quietly on a
/// broken pipe, as Unix tools do.
#[cfg(unix)]
fn reset_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; it sets the
    // disposition of one signal to its default and touches no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn reset_sigpipe() {}
