//! How a scripted reply reaches the client: when it arrives, whether it arrives whole, and what
//! the client's timeouts make of a slow or stalled one. The simulator, the in-process tokio
//! upstream and `keypool serve` all follow this one model, so a fault means the same thing on
//! the virtual clock and on the wire.

use super::world::{Delivery, Fault, ScriptStep};
use crate::dialect::{pieces, Framing};
use crate::engine::NoReply;
use crate::policy::Timeouts;
use crate::reply::Reply;

/// When the client stops waiting for an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From sending to the headers (ms).
    pub first_byte_ms: Option<u64>,
    /// Between pieces of the body, and from the headers to the first (ms).
    pub idle_ms: Option<u64>,
    /// The attempt ends by this time whatever happens.
    pub deadline: u64,
}

impl Limits {
    /// The policy's timeouts, and an attempt's deadline.
    pub fn new(t: &Timeouts, deadline: u64) -> Limits {
        Limits {
            first_byte_ms: t.first_byte_ms,
            idle_ms: t.idle_ms,
            deadline,
        }
    }
}

/// What the client gets, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The whole reply, complete at this time.
    Reply(u64),
    /// No reply: the attempt ends at this time, for this reason.
    NoReply(u64, NoReply),
}

/// The arrival of a reply sent at `sent` with `latency_ms` before its headers, delivered as
/// `d` in `pieces` pieces, to a client with `lim`.
///
/// ```
/// use keypool::sim::delivery::{arrival, Arrival, Limits};
/// use keypool::sim::world::{Delivery, Fault};
/// use keypool::engine::NoReply;
/// let lim = Limits { first_byte_ms: Some(1_000), idle_ms: Some(500), deadline: 60_000 };
/// let slow = Delivery { gap_ms: 100, ..Delivery::default() };
/// assert_eq!(arrival(0, 50, &slow, 4, &lim), Arrival::Reply(350));
/// let stall = Delivery { fault: Some(Fault::Stall { after: 1 }), ..Delivery::default() };
/// assert_eq!(arrival(0, 50, &stall, 4, &lim), Arrival::NoReply(550, NoReply::Timeout));
/// let cut = Delivery { gap_ms: 10, fault: Some(Fault::Cut { after: 2 }), ..Delivery::default() };
/// assert_eq!(arrival(0, 50, &cut, 4, &lim), Arrival::NoReply(60, NoReply::Cut));
/// ```
pub fn arrival(sent: u64, latency_ms: u64, d: &Delivery, pieces: u32, lim: &Limits) -> Arrival {
    let deadline = lim.deadline.max(sent);
    let timeout = |at: u64| Arrival::NoReply(at.min(deadline), NoReply::Timeout);
    if let Some(fb) = lim.first_byte_ms {
        if latency_ms > fb {
            return timeout(sent.saturating_add(fb));
        }
    }
    let headers = sent.saturating_add(latency_ms);
    if headers > deadline {
        return timeout(deadline);
    }
    if d.fault == Some(Fault::Reset) {
        return Arrival::NoReply(headers, NoReply::Reset);
    }
    let sent_pieces = match d.fault {
        Some(Fault::Cut { after } | Fault::Stall { after }) => after.min(pieces),
        _ => pieces,
    };
    // The first piece comes `first_byte_ms` after the headers (an empty body ends then), each
    // later one a gap after the one before.
    let mut last = headers;
    for i in 0..sent_pieces.max(u32::from(pieces == 0 && d.fault.is_none())) {
        let wait = if i == 0 { d.first_byte_ms } else { d.gap_ms };
        if let Some(idle) = lim.idle_ms {
            if wait > idle {
                return timeout(last.saturating_add(idle));
            }
        }
        last = last.saturating_add(wait);
        if last > deadline {
            return timeout(deadline);
        }
    }
    match d.fault {
        Some(Fault::Cut { .. }) => Arrival::NoReply(last, NoReply::Cut),
        Some(Fault::Stall { .. }) => match lim.idle_ms {
            Some(idle) => timeout(last.saturating_add(idle)),
            None => timeout(deadline),
        },
        _ => Arrival::Reply(last),
    }
}

/// The arrival of a script step's reply sent at `sent` (the body is split into pieces only
/// when the step's timing needs their number).
pub fn step_arrival(step: &ScriptStep, sent: u64, lim: &Limits) -> Arrival {
    let d = &step.delivery;
    let pieces = if d.gap_ms > 0 || matches!(d.fault, Some(Fault::Cut { .. } | Fault::Stall { .. }))
    {
        piece_count(&step.reply)
    } else {
        1
    };
    arrival(sent, step.latency_ms, d, pieces, lim)
}

/// How a reply's body is framed: SSE, a JSON array stream (a 2xx body that is an array), or
/// one whole body.
pub fn framing_of(r: &Reply) -> Framing {
    if r.is_sse() {
        Framing::Sse
    } else if (200..300).contains(&r.status) && r.body.trim_start().starts_with('[') {
        Framing::JsonArray
    } else {
        Framing::Whole
    }
}

/// The number of pieces a reply's body is sent in.
pub fn piece_count(r: &Reply) -> u32 {
    pieces(&r.body, framing_of(r))
        .len()
        .try_into()
        .unwrap_or(u32::MAX)
}

/// The reply with the body faults of `d` applied: one piece made malformed, the stream's last
/// event left out.
///
/// ```
/// use keypool::sim::delivery::with_body_faults;
/// use keypool::sim::world::Delivery;
/// use keypool::Reply;
/// let r = Reply::new(200, "data: {\"a\":1}\n\ndata: [DONE]\n\n").header("content-type", "text/event-stream");
/// let d = Delivery { no_terminator: true, malformed_at: Some(0), ..Delivery::default() };
/// assert_eq!(with_body_faults(r, &d).body, "data: {\"a\n\n");
/// ```
pub fn with_body_faults(r: Reply, d: &Delivery) -> Reply {
    if d.malformed_at.is_none() && !d.no_terminator {
        return r;
    }
    let framing = framing_of(&r);
    let mut parts: Vec<String> = pieces(&r.body, framing)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if d.no_terminator && framing.is_stream() {
        parts.pop();
    }
    if let Some(at) = d.malformed_at {
        if let Some(p) = parts
            .len()
            .checked_sub(1)
            .map(|last| (at as usize).min(last))
        {
            parts[p] = malformed(&parts[p], framing);
        }
    }
    Reply {
        body: parts.concat(),
        ..r
    }
}

/// A piece whose JSON is cut in half: for an SSE event, its last `data:` line's value (the
/// event keeps its blank line, so the stream goes on); otherwise the piece itself.
fn malformed(piece: &str, framing: Framing) -> String {
    let half = |s: &str| {
        let mut cut = s.len() / 2;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s[..cut].to_owned()
    };
    if framing != Framing::Sse {
        return half(piece);
    }
    let body = piece.trim_end_matches(['\n', '\r']);
    let tail = &piece[body.len()..];
    let (before, line) = match body.rfind("\ndata:") {
        Some(i) => body.split_at(i + 1),
        None => ("", body),
    };
    match line.strip_prefix("data:") {
        Some(v) => format!("{before}data:{}{tail}", half(v)),
        None => format!("{}{tail}", half(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        first_byte_ms: Some(1_000),
        idle_ms: Some(300),
        deadline: 10_000,
    };

    #[test]
    fn timeouts_and_faults_end_an_attempt_when_a_client_would() {
        let d = Delivery::default();
        // Headers too late: the first-byte timeout, counted from the send.
        assert_eq!(
            arrival(100, 2_000, &d, 3, &LIM),
            Arrival::NoReply(1_100, NoReply::Timeout)
        );
        // A gap longer than the idle timeout.
        let slow = Delivery { gap_ms: 500, ..d };
        assert_eq!(
            arrival(0, 10, &slow, 3, &LIM),
            Arrival::NoReply(310, NoReply::Timeout)
        );
        // ... but not with one piece: there is no gap.
        assert_eq!(arrival(0, 10, &slow, 1, &LIM), Arrival::Reply(10));
        // A slow first byte.
        let fb = Delivery {
            first_byte_ms: 200,
            ..d
        };
        assert_eq!(arrival(0, 10, &fb, 0, &LIM), Arrival::Reply(210));
        // A reset answers at the headers' time, without a reply.
        let reset = Delivery {
            fault: Some(Fault::Reset),
            ..d
        };
        assert_eq!(
            arrival(0, 40, &reset, 3, &LIM),
            Arrival::NoReply(40, NoReply::Reset)
        );
        // A stall with no idle limit lasts until the deadline.
        let stall = Delivery {
            fault: Some(Fault::Stall { after: 0 }),
            ..d
        };
        let no_idle = Limits {
            idle_ms: None,
            ..LIM
        };
        assert_eq!(
            arrival(0, 40, &stall, 3, &no_idle),
            Arrival::NoReply(10_000, NoReply::Timeout)
        );
        // A cut after every piece is still a cut: the body never ends properly.
        let cut = Delivery {
            fault: Some(Fault::Cut { after: 9 }),
            ..d
        };
        assert_eq!(
            arrival(0, 40, &cut, 3, &LIM),
            Arrival::NoReply(40, NoReply::Cut)
        );
        // Nothing outlives the deadline.
        assert_eq!(
            arrival(9_990, 40, &d, 3, &LIM),
            Arrival::NoReply(10_000, NoReply::Timeout)
        );
    }

    #[test]
    fn body_faults_keep_the_stream_readable_around_the_broken_piece() {
        let r = crate::sim::templates::template(
            "chat.sse_ok",
            crate::sim::templates::TemplateArgs::default(),
        )
        .unwrap();
        let d = Delivery {
            malformed_at: Some(1),
            ..Delivery::default()
        };
        let bad = with_body_faults(r.clone(), &d);
        assert_eq!(piece_count(&bad), piece_count(&r));
        assert!(bad.body.ends_with("data: [DONE]\n\n"));
        assert_eq!(crate::classify(&bad).class, crate::Class::ServerError);
        let no_end = Delivery {
            no_terminator: true,
            ..Delivery::default()
        };
        let cut = with_body_faults(r.clone(), &no_end);
        assert!(!cut.body.contains("[DONE]"));
        // Whole bodies have no terminator to leave out.
        let whole = crate::Reply::new(200, "{\"a\":1}");
        assert_eq!(with_body_faults(whole.clone(), &no_end), whole);
    }
}
