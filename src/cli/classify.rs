//! `keypool classify [FILE] [--explain] [--jobs N]`: JSON Lines in, JSON Lines out
//! (`docs/classify.md`), streamed: read in blocks, classified on `jobs` threads, written in
//! input order. Exit 0 when every line was classified, 2 when any was rejected; never a
//! panic, whatever the bytes.

use super::lines::{map_lines, Line, MAX_LINE};
use keypool::classify_line::classify_into;
use std::io::{self, Read};
use std::path::Path;

pub fn run(file: Option<&Path>, explain: bool, jobs: Option<usize>) -> i32 {
    let jobs = match jobs {
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n @ 1..=256) => n,
        Some(n) => {
            eprintln!("keypool classify: --jobs {n} is out of range (1 to 256)");
            return 2;
        }
    };
    let name = || file.map_or("standard input".to_owned(), |p| p.display().to_string());
    let input: Box<dyn Read + Send> = match file {
        None => Box::new(io::stdin()),
        Some(p) if p == Path::new("-") => Box::new(io::stdin()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("keypool classify: cannot read {}: {e}", name());
                return 2;
            }
        },
    };
    let result = map_lines(
        input,
        io::stdout().lock(),
        jobs,
        MAX_LINE,
        |out, n, line| classify_bytes(out, n, line, explain),
    );
    match result {
        Err(e) => {
            eprintln!("keypool classify: cannot read {}: {e}", name());
            2
        }
        // The reader of the output went away (a broken pipe): stop quietly.
        Ok(o) if o.write_failed => i32::from(o.rejected > 0) * 2,
        Ok(o) if o.rejected > 0 => {
            eprintln!("keypool classify: {} line(s) rejected", o.rejected);
            2
        }
        Ok(_) => 0,
    }
}

/// One line: blank lines are skipped, others classified or answered with an error line.
fn classify_bytes(out: &mut Vec<u8>, n: usize, line: Line<'_>, explain: bool) -> bool {
    use keypool::classify_line::error_line;
    let raw = match line {
        Line::Bytes(b) => b.strip_suffix(b"\r").unwrap_or(b),
        Line::TooLong => {
            out.extend_from_slice(
                error_line(n, &format!("line is longer than {} MiB", MAX_LINE >> 20)).as_bytes(),
            );
            out.push(b'\n');
            return false;
        }
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    // The vector check answers only whether; std's says where, for the error.
    match simdutf8::basic::from_utf8(raw).or_else(|_| std::str::from_utf8(raw)) {
        Ok(l) => classify_into(out, n, l, explain),
        Err(e) => {
            let msg = format!(
                "line is not UTF-8 (invalid byte at column {})",
                e.valid_up_to() + 1
            );
            out.extend_from_slice(error_line(n, &msg).as_bytes());
            out.push(b'\n');
            false
        }
    }
}
