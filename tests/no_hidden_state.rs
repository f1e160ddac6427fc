//! Library calls keep no hidden state: memos are objects their owner passes in
//! (`sim::Memo`, `explore::Worker`), never per-thread globals. The one thread-local left is the
//! invariant walk's pool of spare request buffers, which holds allocations, not results.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_per_thread_memo_in_the_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("a source file");
        for (i, line) in text.lines().enumerate() {
            if line.contains(concat!("thread_local", "!")) || line.contains("static mut ") {
                let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
                found.push(format!("{rel}:{}", i + 1));
            }
        }
    }
    found.retain(|at| !at.starts_with("src/invariants/walk.rs:"));
    assert!(found.is_empty(), "per-thread or global state: {found:?}");
}
