//! The `keypool` command line.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
