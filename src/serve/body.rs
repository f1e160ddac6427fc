//! A scripted response body: its pieces, sent with the step's delays, ending whole, cut or
//! stalled; and the guard that writes the request's record however the response ends.

use super::record::{End, Record};
use super::Served;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{sleep, Sleep};

/// A response written out: status, headers and the body's pieces.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub status: hyper::StatusCode,
    pub headers: hyper::HeaderMap,
    pub pieces: Vec<Bytes>,
    /// The whole body in one buffer: what is sent when nothing comes between the pieces.
    pub whole: Bytes,
    /// Sent with a `content-length` (a whole body) rather than chunked (a stream).
    pub sized: bool,
}

impl Rendered {
    fn len(&self) -> u64 {
        self.whole.len() as u64
    }
}

/// What happens after the pieces that are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// The body ends.
    End,
    /// The connection closes.
    Cut,
    /// Nothing more, until the client leaves or the server stops.
    Stall,
}

/// Writes its record once: when the response ends, or when it is dropped unfinished (the
/// client went away, or the server stopped).
pub(crate) struct RecordGuard {
    served: Arc<Served>,
    rec: Option<Record>,
}

impl RecordGuard {
    pub(crate) fn new(served: Arc<Served>, rec: Record) -> Self {
        RecordGuard {
            served,
            rec: Some(rec),
        }
    }

    pub(crate) fn rec(&mut self) -> &mut Record {
        self.rec
            .as_mut()
            .expect("a guard holds its record until it finishes")
    }

    pub(crate) fn finish(&mut self, end: End) {
        if let Some(mut r) = self.rec.take() {
            let now = self.served.now_ms();
            r.end = end;
            r.ended_ms = now;
            if end == End::ClientGone {
                r.client_gone_ms = Some(now);
            }
            self.served.sink.push(r);
        }
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let end = if self.served.stopping() {
            End::Shutdown
        } else {
            End::ClientGone
        };
        self.finish(end);
    }
}

/// The error a body ends with when the script cuts it (hyper then closes the connection).
#[derive(Debug)]
pub(crate) struct Closed(&'static str);

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Closed {}

/// A response body that follows a script step.
pub(crate) struct ScriptBody {
    rendered: Arc<Rendered>,
    /// Send `whole` as the one piece.
    one: bool,
    next: usize,
    until: usize,
    after: After,
    first_byte: Duration,
    gap: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    waited: bool,
    flushed: bool,
    stop: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    guard: RecordGuard,
}

impl ScriptBody {
    pub(crate) fn new(
        rendered: Arc<Rendered>,
        sent: usize,
        after: After,
        first_byte: Duration,
        gap: Duration,
        guard: RecordGuard,
    ) -> Self {
        let mut until = sent.min(rendered.pieces.len());
        let mut guard = guard;
        // Nothing between the pieces: one write instead of one per piece.
        let plain = after == After::End && first_byte.is_zero() && gap.is_zero();
        let one = plain && until > 1;
        if one {
            until = 1;
        }
        if until == 0 && after == After::End && first_byte.is_zero() {
            // An empty body is never polled (hyper sees its exact length of 0): it is whole
            // as soon as it is handed over.
            guard.finish(End::Complete);
        }
        ScriptBody {
            rendered,
            one,
            next: 0,
            until,
            after,
            first_byte,
            gap,
            timer: None,
            waited: false,
            flushed: false,
            stop: None,
            guard,
        }
    }

    /// A fixed answer, sent at once.
    pub(crate) fn whole(rendered: Arc<Rendered>, guard: RecordGuard) -> Self {
        let n = rendered.pieces.len();
        ScriptBody::new(
            rendered,
            n,
            After::End,
            Duration::ZERO,
            Duration::ZERO,
            guard,
        )
    }
}

impl Body for ScriptBody {
    type Data = Bytes;
    type Error = Closed;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Closed>>> {
        let this = self.get_mut();
        loop {
            if let Some(t) = this.timer.as_mut() {
                ready!(t.as_mut().poll(cx));
                this.timer = None;
                this.waited = true;
            }
            let delay = if this.next == 0 {
                this.first_byte
            } else {
                this.gap
            };
            let more = this.next < this.until;
            // The delay comes before each piece, and before the end of an empty body.
            if (more || (this.next == 0 && this.after == After::End))
                && !this.waited
                && !delay.is_zero()
            {
                this.timer = Some(Box::pin(sleep(delay)));
                continue;
            }
            if more {
                this.waited = false;
                let piece = if this.one {
                    this.rendered.whole.clone()
                } else {
                    this.rendered.pieces[this.next].clone()
                };
                this.next += 1;
                this.guard.rec().bytes += piece.len() as u64;
                if this.next == this.until && this.after == After::End {
                    // Recorded before the last piece is handed over, so a client that has its
                    // answer finds its record.
                    this.guard.finish(End::Complete);
                }
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            return match this.after {
                After::End => {
                    this.guard.finish(End::Complete);
                    Poll::Ready(None)
                }
                After::Cut if !this.flushed => {
                    // hyper drops what it has buffered when a body fails: give it one turn to
                    // flush the pieces before the cut.
                    this.flushed = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                After::Cut => {
                    this.guard.finish(End::Cut);
                    Poll::Ready(Some(Err(Closed("cut by the script"))))
                }
                After::Stall => {
                    let served = this.guard.served.clone();
                    let stop = this
                        .stop
                        .get_or_insert_with(|| Box::pin(async move { served.stopped().await }));
                    ready!(stop.as_mut().poll(cx));
                    this.guard.finish(End::Shutdown);
                    Poll::Ready(Some(Err(Closed("the server stopped"))))
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        // Only once the record is written: hyper drops a body that says it has ended without
        // polling it again, and an unfinished guard would record the client as gone.
        self.guard.rec.is_none() && self.after == After::End && self.next >= self.until
    }

    fn size_hint(&self) -> SizeHint {
        if self.rendered.sized {
            // The promised length, even when the script cuts or stalls the body: the client
            // then sees a body that ends too soon.
            SizeHint::with_exact(self.rendered.len())
        } else {
            SizeHint::default()
        }
    }
}
