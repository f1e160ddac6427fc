//! Dates on the virtual clock: header values that follow the clock instead of standing still.
//!
//! A script that writes `"date": "Wed, 25 Nov 2026 12:00:00 GMT"` serves that date at every
//! virtual time, so an absolute reset served again an hour later still says "3 s from now".
//! Header values may hold placeholders instead, filled in when the reply is sent:
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{now}`, `{now+N}`, `{now-N}` | the HTTP date (IMF-fixdate) of now, N seconds later or earlier |
//! | `{epoch}`, `{epoch+N}`, `{epoch-N}` | Unix seconds of the same |
//!
//! In the simulator, virtual time 0 is [`VIRTUAL_EPOCH_S`]; `keypool serve` uses the machine's
//! clock, as a real upstream would.

/// The date of virtual time 0: 2026-11-25T12:00:00Z, in Unix seconds.
pub const VIRTUAL_EPOCH_S: i64 = 1_795_608_000;

/// Whether a header value holds a clock placeholder.
///
/// ```
/// assert!(keypool::sim::clock::is_dated("{now+3}"));
/// assert!(!keypool::sim::clock::is_dated("3"));
/// ```
pub fn is_dated(value: &str) -> bool {
    value.contains("{now") || value.contains("{epoch")
}

/// `value` with every placeholder filled in for the Unix time `now_s`; `Err` names a malformed
/// placeholder. One pass over the value.
///
/// ```
/// use keypool::sim::clock::{fill, VIRTUAL_EPOCH_S};
/// assert_eq!(fill("{now}", VIRTUAL_EPOCH_S).unwrap(), "Wed, 25 Nov 2026 12:00:00 GMT");
/// assert_eq!(fill("{now+3}", VIRTUAL_EPOCH_S).unwrap(), "Wed, 25 Nov 2026 12:00:03 GMT");
/// assert_eq!(fill("{epoch+60}", VIRTUAL_EPOCH_S).unwrap(), "1795608060");
/// assert!(fill("{now+x}", 0).is_err());
/// ```
pub fn fill(value: &str, now_s: i64) -> Result<String, String> {
    let mut out = String::with_capacity(value.len() + 24);
    let mut rest = value;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (kind, after) = if let Some(a) = tail.strip_prefix("{now") {
            (Kind::Date, a)
        } else if let Some(a) = tail.strip_prefix("{epoch") {
            (Kind::Epoch, a)
        } else {
            out.push('{');
            rest = &tail[1..];
            continue;
        };
        let close = after
            .find('}')
            .ok_or_else(|| format!("`{value}`: a placeholder is not closed with `}}`"))?;
        let offset = match &after[..close] {
            "" => 0,
            o => parse_offset(o).ok_or_else(|| {
                format!("`{value}`: `{o}` is not an offset like +3 or -60 (seconds)")
            })?,
        };
        let at = now_s.saturating_add(offset);
        match kind {
            Kind::Date => out.push_str(&http_date(at)),
            Kind::Epoch => out.push_str(&at.to_string()),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

enum Kind {
    Date,
    Epoch,
}

/// `+N` or `-N` whole seconds, at most 400 days.
fn parse_offset(o: &str) -> Option<i64> {
    let (sign, digits) = match o.as_bytes().first()? {
        b'+' => (1, &o[1..]),
        b'-' => (-1, &o[1..]),
        _ => return None,
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    (n <= 400 * 86_400).then_some(sign * n)
}

/// The IMF-fixdate (RFC 9110) of a Unix time: `Wed, 25 Nov 2026 12:00:00 GMT`.
///
/// ```
/// assert_eq!(keypool::sim::clock::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
/// ```
pub fn http_date(epoch_s: i64) -> String {
    const DAY: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = epoch_s.div_euclid(86_400);
    let secs = epoch_s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAY[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A reply's headers with their placeholders filled in for `now_s`, or `None` when it has none.
pub fn stamp(reply: &crate::Reply, now_s: i64) -> Option<crate::Reply> {
    if !reply.headers.iter().any(|(_, v)| is_dated(v)) {
        return None;
    }
    let mut r = reply.clone();
    for (_, v) in &mut r.headers {
        if is_dated(v) {
            // Checked when the scenario was read; a value that fails here is sent as written.
            if let Ok(f) = fill(v, now_s) {
                *v = f;
            }
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_the_classifiers_parser() {
        for t in [0, 951_782_400, VIRTUAL_EPOCH_S, 4_102_444_800] {
            let d = http_date(t);
            assert_eq!(
                crate::classify::retry_after::parse_http_date(&d),
                Some(t * 1000),
                "{d}"
            );
        }
    }

    #[test]
    fn malformed_placeholders_are_named() {
        for bad in [
            "{now",
            "{now+}",
            "{now+1e3}",
            "{epoch*2}",
            "{now+99999999999}",
        ] {
            assert!(fill(bad, 0).is_err(), "{bad}");
        }
        assert_eq!(
            fill("{other} {now-1}", 1).unwrap(),
            "{other} Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
