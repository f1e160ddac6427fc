//! An ordered parallel map over the lines of a stream: one reader, `jobs` workers, output in
//! input order, memory bounded by the batches in flight (never the input's size).
//!
//! Batches are whatever each `read` returned, cut at the last newline, so a pipe fed one line
//! at a time is answered line by line while a file is read in large blocks.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

/// How much one `read` asks for.
const READ_SIZE: usize = 1 << 20;

/// A line that is not ended within this many bytes is rejected unread.
pub const MAX_LINE: usize = 64 << 20;

/// What a worker is handed of one line.
pub enum Line<'a> {
    /// The line's bytes, without the newline.
    Bytes(&'a [u8]),
    /// The line was longer than the limit; its bytes were skipped.
    TooLong,
}

/// The end of a run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Lines the function rejected.
    pub rejected: u64,
    /// The output could not be written (the reader went away); the run stopped early.
    pub write_failed: bool,
}

struct Batch {
    /// The number (from 1) of the batch's first line.
    first: usize,
    bytes: Vec<u8>,
    too_long: bool,
}

type Done = (Vec<u8>, u64);

/// Calls `f(out, n, line)` for every line of `input` on `jobs` threads and writes what each
/// call appended to `out`, in input order; `f` returns whether the line was accepted.
/// `max_line` bounds one line. A read error ends the run after the lines read before it.
pub fn map_lines<F>(
    input: impl Read + Send,
    output: impl Write,
    jobs: usize,
    max_line: usize,
    f: F,
) -> io::Result<Outcome>
where
    F: Fn(&mut Vec<u8>, usize, Line<'_>) -> bool + Sync,
{
    let jobs = jobs.max(1);
    let (work_tx, work_rx) = sync_channel::<(Batch, SyncSender<Done>)>(jobs);
    let (order_tx, order_rx) = sync_channel::<Receiver<Done>>(2 * jobs);
    // Read buffers go back to the reader once classified: fresh ones would be zeroed pages.
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(2 * jobs);
    let work_rx = Mutex::new(work_rx);
    std::thread::scope(|s| {
        let reader = s.spawn(move || read_batches(input, max_line, work_tx, order_tx, free_rx));
        for _ in 0..jobs {
            let (work_rx, f, free_tx) = (&work_rx, &f, free_tx.clone());
            s.spawn(move || loop {
                // The lock is held only to take the next batch.
                let job = work_rx
                    .lock()
                    .map_err(|_| ())
                    .and_then(|r| r.recv().map_err(|_| ()));
                let Ok((batch, done)) = job else { break };
                let _ = done.send(run_batch(&batch, max_line, f));
                if batch.bytes.capacity() <= 2 * READ_SIZE {
                    let _ = free_tx.try_send(batch.bytes);
                }
            });
        }
        drop(free_tx);
        let outcome = write_in_order(order_rx, output);
        // Dropping the order receiver (done in write_in_order) stops the reader at its next send.
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
        match (outcome, read) {
            (o, _) if o.write_failed => Ok(o),
            (o, Ok(())) => Ok(o),
            (_, Err(e)) => Err(e),
        }
    })
}

fn run_batch<F>(batch: &Batch, max_line: usize, f: &F) -> Done
where
    F: Fn(&mut Vec<u8>, usize, Line<'_>) -> bool,
{
    let mut out = Vec::with_capacity(batch.bytes.len() / 8 + 64);
    let mut rejected = 0;
    if batch.too_long {
        if !f(&mut out, batch.first, Line::TooLong) {
            rejected += 1;
        }
        return (out, rejected);
    }
    let mut start = 0;
    let bytes = &batch.bytes;
    let ends = memchr::memchr_iter(b'\n', bytes)
        .chain((bytes.last() != Some(&b'\n') && !bytes.is_empty()).then_some(bytes.len()));
    for (n, end) in (batch.first..).zip(ends) {
        let line = &bytes[start..end];
        // However the input was split into reads, a line over the limit is rejected.
        let line = if line.len() > max_line {
            Line::TooLong
        } else {
            Line::Bytes(line)
        };
        if !f(&mut out, n, line) {
            rejected += 1;
        }
        start = end + 1;
    }
    (out, rejected)
}

fn read_batches(
    mut input: impl Read,
    max_line: usize,
    work: SyncSender<(Batch, SyncSender<Done>)>,
    order: SyncSender<Receiver<Done>>,
    free: Receiver<Vec<u8>>,
) -> io::Result<()> {
    let send = |batch: Batch| -> bool {
        let (tx, rx) = sync_channel(1);
        order.send(rx).is_ok() && work.send((batch, tx)).is_ok()
    };
    // `buf[..filled]` is input not yet sent; `buf` beyond it is zeroed room to read into,
    // zeroed once per buffer rather than once per read (a pipe's reads are small).
    let mut buf: Vec<u8> = Vec::new();
    let mut filled = 0;
    let mut line_no = 1usize;
    // Bytes of an over-long line are being skipped up to its newline.
    let mut skipping = false;
    loop {
        if buf.len() - filled < READ_SIZE / 16 {
            buf.resize(filled + READ_SIZE, 0);
        }
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                flush_tail(buf, filled, line_no, skipping, &send);
                return Err(e);
            }
        };
        if n == 0 {
            flush_tail(buf, filled, line_no, skipping, &send);
            return Ok(());
        }
        let fresh = filled;
        filled += n;
        if skipping {
            match memchr::memchr(b'\n', &buf[fresh..filled]) {
                Some(p) => {
                    buf.copy_within(fresh + p + 1..filled, 0);
                    filled -= fresh + p + 1;
                    skipping = false;
                    line_no += 1;
                }
                None => {
                    filled = 0;
                    continue;
                }
            }
        }
        if let Some(p) = memchr::memrchr(b'\n', &buf[..filled]) {
            // The complete lines are copied out, so the read buffer is zeroed only once.
            let mut bytes = free.try_recv().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(&buf[..=p]);
            buf.copy_within(p + 1..filled, 0);
            filled -= p + 1;
            if buf.len() > 4 * READ_SIZE && filled < READ_SIZE {
                // Grown for one long line: back to the usual size.
                buf.truncate(READ_SIZE);
                buf.shrink_to_fit();
            }
            let first = line_no;
            line_no += memchr::memchr_iter(b'\n', &bytes).count();
            if !send(Batch {
                first,
                bytes,
                too_long: false,
            }) {
                return Ok(());
            }
        }
        if filled > max_line {
            if !send(Batch {
                first: line_no,
                bytes: Vec::new(),
                too_long: true,
            }) {
                return Ok(());
            }
            filled = 0;
            skipping = true;
        }
    }
}

/// The last, unterminated line (if any).
fn flush_tail(
    mut buf: Vec<u8>,
    filled: usize,
    line_no: usize,
    skipping: bool,
    send: &impl Fn(Batch) -> bool,
) {
    if !skipping && filled > 0 {
        buf.truncate(filled);
        send(Batch {
            first: line_no,
            bytes: buf,
            too_long: false,
        });
    }
}

fn write_in_order(order: Receiver<Receiver<Done>>, output: impl Write) -> Outcome {
    let mut out = io::BufWriter::with_capacity(1 << 16, output);
    let mut outcome = Outcome::default();
    loop {
        // Flush whenever nothing is ready, so an interactive caller sees each answer.
        let next = match order.try_recv() {
            Ok(r) => r,
            Err(_) => {
                if out.flush().is_err() {
                    outcome.write_failed = true;
                    return outcome;
                }
                match order.recv() {
                    Ok(r) => r,
                    Err(_) => return outcome,
                }
            }
        };
        let Ok((bytes, rejected)) = next.recv() else {
            // A worker died: nothing more can be written in order.
            return outcome;
        };
        outcome.rejected += rejected;
        if out.write_all(&bytes).is_err() {
            outcome.write_failed = true;
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads at most `step` bytes per call, like a pipe.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(b.len()).min(self.0.len());
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn echo(out: &mut Vec<u8>, n: usize, l: Line<'_>) -> bool {
        match l {
            Line::Bytes(b) => {
                out.extend_from_slice(format!("{n}:").as_bytes());
                out.extend_from_slice(b);
                out.push(b'\n');
                !b.starts_with(b"bad")
            }
            Line::TooLong => {
                out.extend_from_slice(format!("{n}:too long\n").as_bytes());
                false
            }
        }
    }

    #[test]
    fn order_numbers_and_rejections_survive_any_split_and_any_jobs() {
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend_from_slice(if i % 7 == 0 { b"bad" } else { b"ok" });
            input.extend_from_slice(format!("{i}\n").as_bytes());
        }
        input.extend_from_slice(b"tail");
        let mut want = Vec::new();
        let o = map_lines(Trickle(&input, usize::MAX), &mut want, 1, MAX_LINE, echo).unwrap();
        assert_eq!(o.rejected, 715);
        assert!(want.ends_with(b"5001:tail\n"));
        for (step, jobs) in [(1, 3), (13, 2), (4096, 8), (usize::MAX, 4)] {
            let mut got = Vec::new();
            let o = map_lines(Trickle(&input, step), &mut got, jobs, MAX_LINE, echo).unwrap();
            assert_eq!((o.rejected, &got), (715, &want), "step {step}, jobs {jobs}");
        }
    }

    #[test]
    fn an_over_long_line_is_rejected_and_the_next_is_read() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend_from_slice(b"\nb\n");
        for step in [7, 100, 4096, usize::MAX] {
            let mut got = Vec::new();
            let o = map_lines(Trickle(&input, step), &mut got, 2, 1000, echo).unwrap();
            assert_eq!(o.rejected, 1);
            assert_eq!(
                String::from_utf8(got).unwrap(),
                "1:a\n2:too long\n3:b\n",
                "step {step}"
            );
        }
        // Unterminated and over-long at the end.
        let mut got = Vec::new();
        let o = map_lines(&[b'x'; 5000][..], &mut got, 2, 1000, echo).unwrap();
        assert_eq!((o.rejected, got), (1, b"1:too long\n".to_vec()));
    }

    #[test]
    fn a_closed_output_stops_the_run() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        // An endless input: the run must end because nobody reads the output.
        let endless = io::repeat(b'\n');
        let o = map_lines(endless, Closed, 2, MAX_LINE, echo).unwrap();
        assert!(o.write_failed);
    }
}
