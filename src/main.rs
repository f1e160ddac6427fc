//! The `keypool` command line.

mod cli;

// A faster allocator for the binary only (the library leaves the choice to its users); build
// with `--no-default-features` for the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::main());
}
