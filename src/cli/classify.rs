//! `keypool classify [FILE] [--explain]`: JSON Lines in, JSON Lines out
//! (`docs/classify.md`). Exit 0 when every line was classified, 2 when any was
//! rejected; never a panic, whatever the bytes.

use keypool::classify_line::{classify_line, error_line, output_line};
use std::io::{self, Read, Write};
use std::path::Path;

pub fn run(file: Option<&Path>, explain: bool) -> i32 {
    let mut input = Vec::new();
    let read = match file {
        None => io::stdin().lock().read_to_end(&mut input),
        Some(p) if p == Path::new("-") => io::stdin().lock().read_to_end(&mut input),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut input)),
    };
    if let Err(e) = read {
        let name = file.map_or("standard input".to_owned(), |p| p.display().to_string());
        eprintln!("keypool classify: cannot read {name}: {e}");
        return 2;
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut rejected = 0usize;
    for (i, raw) in input.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = match std::str::from_utf8(raw) {
            Ok(l) => classify_line(l).map(|c| output_line(&c, explain)),
            Err(e) => Err(format!(
                "line is not UTF-8 (invalid byte at column {})",
                e.valid_up_to() + 1
            )),
        };
        let text = match line {
            Ok(t) => t,
            Err(msg) => {
                rejected += 1;
                error_line(i + 1, &msg)
            }
        };
        if writeln!(out, "{text}").is_err() {
            return if rejected > 0 { 2 } else { 0 }; // reader went away (broken pipe)
        }
    }
    let _ = out.flush();
    if rejected > 0 {
        eprintln!("keypool classify: {rejected} line(s) rejected");
        2
    } else {
        0
    }
}
