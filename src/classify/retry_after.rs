//! Extracting the wait an upstream asked for, in the order of `failure-classes.md`:
//! `retry-after-ms`, `retry-after`, a hint in the body, provider reset headers.

use crate::reply::ReplyRef;

/// Longest wait we report: 400 days. Anything larger is junk, not a request to wait.
pub const MAX_RETRY_AFTER_MS: u64 = 400 * 24 * 3600 * 1000;

/// Hints found in a body, gathered by the JSON reader.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BodyHints {
    /// From the message text ("try again in 26.604s"): the most precise.
    pub message_ms: Option<u64>,
    /// From a structured field: `retryDelay`, `resets_in_seconds`, `retry_after`.
    pub field_ms: Option<u64>,
    /// An absolute reset time, epoch milliseconds (needs the `date` header).
    pub reset_at_ms: Option<i64>,
}

impl BodyHints {
    pub(crate) fn merge(&mut self, other: BodyHints) {
        self.message_ms = self.message_ms.or(other.message_ms);
        self.field_ms = self.field_ms.or(other.field_ms);
        self.reset_at_ms = self.reset_at_ms.or(other.reset_at_ms);
    }
}

fn clamp_ms(ms: f64) -> Option<u64> {
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    let ms = ms.round();
    if ms > MAX_RETRY_AFTER_MS as f64 {
        return Some(MAX_RETRY_AFTER_MS);
    }
    Some(ms as u64)
}

/// Seconds (maybe fractional) as milliseconds.
pub(crate) fn secs_to_ms(s: f64) -> Option<u64> {
    clamp_ms(s * 1000.0)
}

/// Anthropic's subscription windows (`anthropic-ratelimit-unified-*`): whether one of an hour
/// or longer is rejected. Per window, `-5h-status` / `-7d-status` (any `{n}h` or `{n}d`, with a
/// suffix such as `7d_opus`); overall, `-status` with the `-representative-claim` that names
/// the window (`five_hour`, `seven_day`), or failing that a `-reset` an hour or more after the
/// reply's `date`. Failure rule 8: such a window is a quota, whatever the body calls it.
pub(crate) fn long_window_rejected<H: AsRef<str>>(reply: &ReplyRef<'_, H>) -> bool {
    const P: &str = "anthropic-ratelimit-unified-";
    let rejected = |v: &str| v.trim().eq_ignore_ascii_case("rejected");
    let mut aggregate = false;
    for (name, value) in reply.headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        let Some(rest) = name.strip_prefix(P) else {
            continue;
        };
        if rest == "status" {
            aggregate = rejected(value);
        } else if let Some(window) = rest.strip_suffix("-status") {
            if rejected(value) && window_hours(window).is_some_and(|h| h >= 1) {
                return true;
            }
        }
    }
    if !aggregate {
        return false;
    }
    if let Some(claim) = reply.header_value("anthropic-ratelimit-unified-representative-claim") {
        let c = claim.to_ascii_lowercase();
        return ["hour", "day", "week", "month"]
            .iter()
            .any(|w| c.contains(w));
    }
    let date = reply.header_value("date").and_then(parse_http_date);
    reply
        .header_value("anthropic-ratelimit-unified-reset")
        .and_then(|v| reset_value(v, date))
        .is_some_and(|ms| ms >= 3_600_000)
}

/// Whether a limiter named for a day or longer has nothing left
/// (`x-ratelimit-remaining-requests-day: 0`, `x-ratelimit-remaining-tokens-daily: 0`).
pub(crate) fn long_limiter_exhausted<H: AsRef<str>>(reply: &ReplyRef<'_, H>) -> bool {
    reply.headers.iter().any(|(name, value)| {
        name.as_ref()
            .strip_prefix("x-ratelimit-remaining-")
            .is_some_and(|limiter| {
                let l = limiter.to_ascii_lowercase();
                ["day", "daily", "week", "month", "rpd", "tpd"]
                    .iter()
                    .any(|w| l.split(['-', '_']).any(|part| part == *w))
                    && value.as_ref().trim().parse::<f64>() == Ok(0.0)
            })
    })
}

/// The length in hours of a window named like `5h`, `7d` or `7d_opus`.
fn window_hours(w: &str) -> Option<u64> {
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = w[..digits].parse().ok()?;
    match w.as_bytes().get(digits) {
        Some(b'h') => Some(n),
        Some(b'd') => n.checked_mul(24),
        Some(b'w') => n.checked_mul(24 * 7),
        _ => None,
    }
}

/// The retry-after for a reply whose class is already known.
///
/// `provider_resets` says whether the class may use provider reset headers (rate limits and
/// quotas only: a reset header on an overload says nothing about the overload).
///
/// The second value says the wait came from the `retry-after` / `retry-after-ms` headers (the
/// only source some gateways read).
pub(crate) fn retry_after<H: AsRef<str>>(
    reply: &ReplyRef<'_, H>,
    hints: &BodyHints,
    provider_resets: bool,
) -> (Option<u64>, bool) {
    let date = reply.header_value("date").and_then(parse_http_date);
    if let Some(ms) = header_wait(reply, date) {
        return (Some(ms), true);
    }
    (
        body_or_reset_wait(reply, hints, provider_resets, date),
        false,
    )
}

/// The `retry-after-ms` or `retry-after` header (seconds, or an HTTP date against `date`).
fn header_wait<H: AsRef<str>>(reply: &ReplyRef<'_, H>, date: Option<i64>) -> Option<u64> {
    if let Some(v) = reply.header_value("retry-after-ms") {
        if let Some(ms) = v.trim().parse::<f64>().ok().and_then(clamp_ms) {
            return Some(ms);
        }
    }
    let v = reply.header_value("retry-after")?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        secs_to_ms(secs)
    } else if let (Some(at), Some(now)) = (parse_http_date(v), date) {
        Some(((at - now).max(0) as u64).min(MAX_RETRY_AFTER_MS))
    } else {
        None
    }
}

fn body_or_reset_wait<H: AsRef<str>>(
    reply: &ReplyRef<'_, H>,
    hints: &BodyHints,
    provider_resets: bool,
    date: Option<i64>,
) -> Option<u64> {
    // Body: the message is preferred when it is a more precise form of the same wait.
    match (hints.message_ms, hints.field_ms) {
        (Some(m), Some(f)) => {
            let close = m.abs_diff(f) < 1000 || m.abs_diff(f) * 20 <= f;
            return Some(if close { m } else { f });
        }
        (Some(m), None) => return Some(m),
        (None, Some(f)) => return Some(f),
        (None, None) => {}
    }
    if let (Some(at), Some(now)) = (hints.reset_at_ms, date) {
        if at >= now {
            return Some(((at - now) as u64).min(MAX_RETRY_AFTER_MS));
        }
    }
    if provider_resets {
        return provider_reset(reply, date);
    }
    None
}

/// `x-ratelimit-reset-*` and `anthropic-ratelimit-*-reset` for the limiter that is exhausted
/// (remaining 0). With no remaining-count headers at all, the longest reset is taken.
fn provider_reset<H: AsRef<str>>(reply: &ReplyRef<'_, H>, date: Option<i64>) -> Option<u64> {
    let mut best_exhausted: Option<u64> = None;
    let mut best_any: Option<u64> = None;
    let mut saw_remaining = false;
    for (name, value) in reply.headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        let (limiter, ms) = if name == "x-ratelimit-reset" {
            // One limiter, its reset as epoch seconds, epoch milliseconds or a delta.
            ("", reset_value(value, date))
        } else if let Some(l) = name.strip_prefix("x-ratelimit-reset-") {
            (l, parse_duration(value.trim()))
        } else if let Some(rest) = name.strip_prefix("anthropic-ratelimit-") {
            let Some(l) = rest.strip_suffix("-reset") else {
                continue;
            };
            let ms = if l.starts_with("unified") {
                // Subscription windows reset at an epoch second.
                reset_value(value, date)
            } else {
                match (parse_iso8601(value.trim()), date) {
                    (Some(at), Some(now)) => Some((at - now).max(0) as u64),
                    _ => None,
                }
            };
            (l, ms)
        } else {
            continue;
        };
        let Some(ms) = ms else { continue };
        let ms = ms.min(MAX_RETRY_AFTER_MS);
        let remaining = remaining_for(reply, name, limiter);
        if remaining.is_some() {
            saw_remaining = true;
        }
        if remaining == Some(0) {
            best_exhausted = Some(best_exhausted.map_or(ms, |b: u64| b.max(ms)));
        }
        best_any = Some(best_any.map_or(ms, |b: u64| b.max(ms)));
    }
    if best_exhausted.is_some() {
        best_exhausted
    } else if saw_remaining {
        None
    } else {
        best_any
    }
}

/// An `X-RateLimit-Reset` value: epoch milliseconds (above 10^11), epoch seconds (above 10^9,
/// both against the `date`), else seconds from now. Milliseconds of wait.
pub(crate) fn reset_value(v: &str, date: Option<i64>) -> Option<u64> {
    let v: f64 = v.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    if v > 1e9 {
        let at = epoch_to_ms(v)?;
        let now = date?;
        return Some((at - now).max(0) as u64).map(|m| m.min(MAX_RETRY_AFTER_MS));
    }
    secs_to_ms(v)
}

fn remaining_for<H: AsRef<str>>(
    reply: &ReplyRef<'_, H>,
    reset_name: &str,
    limiter: &str,
) -> Option<u64> {
    if reset_name == "x-ratelimit-reset" {
        return reply
            .header_value("x-ratelimit-remaining")?
            .trim()
            .parse()
            .ok();
    }
    if limiter.starts_with("unified") {
        // A subscription window has a status, not a count: rejected is exhausted.
        let status = reply.header_value(&format!("anthropic-ratelimit-{limiter}-status"))?;
        return Some(u64::from(!status.trim().eq_ignore_ascii_case("rejected")));
    }
    let name = if reset_name.starts_with("x-ratelimit-") {
        format!("x-ratelimit-remaining-{limiter}")
    } else {
        format!("anthropic-ratelimit-{limiter}-remaining")
    };
    reply.header_value(&name)?.trim().parse().ok()
}

/// Parses a Go-style or spoken duration: "644ms", "1m47.5854s", "9m38.016s", "38s", "2h",
/// "1 seconds", "30 minutes", "1.5 hours". Returns milliseconds.
///
/// ```
/// use keypool::classify::parse_duration;
/// assert_eq!(parse_duration("1m47.5854s"), Some(107585));
/// assert_eq!(parse_duration("644ms"), Some(644));
/// assert_eq!(parse_duration("after"), None);
/// ```
pub fn parse_duration(s: &str) -> Option<u64> {
    let (ms, used) = parse_duration_prefix(s)?;
    if s[used..].trim().is_empty() {
        Some(ms)
    } else {
        None
    }
}

/// Parses a duration at the start of `s`; returns milliseconds and the bytes consumed.
pub(crate) fn parse_duration_prefix(s: &str) -> Option<(u64, usize)> {
    parse_duration_prefix_bytes(s.as_bytes())
}

/// [`parse_duration_prefix`] over bytes (the classifier's haystack).
pub(crate) fn parse_duration_prefix_bytes(b: &[u8]) -> Option<(u64, usize)> {
    let mut i = 0;
    let mut total = 0f64;
    let mut any = false;
    loop {
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        if j == start {
            break;
        }
        // Digits and dots only, so always UTF-8.
        let Some(n) = std::str::from_utf8(&b[start..j])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        else {
            break;
        };
        let mut k = j;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let unit_start = k;
        while k < b.len() && b[k].is_ascii_alphabetic() {
            k += 1;
        }
        let mut unit = [0u8; 12];
        let unit = match b.get(unit_start..k) {
            Some(u) if u.len() <= unit.len() => {
                let unit = &mut unit[..u.len()];
                unit.copy_from_slice(u);
                unit.make_ascii_lowercase();
                &*unit
            }
            _ => break,
        };
        let factor = match unit {
            b"ms" | b"msec" | b"msecs" | b"millisecond" | b"milliseconds" => 1.0,
            b"s" | b"sec" | b"secs" | b"second" | b"seconds" => 1000.0,
            b"m" | b"min" | b"mins" | b"minute" | b"minutes" => 60_000.0,
            b"h" | b"hr" | b"hrs" | b"hour" | b"hours" => 3_600_000.0,
            b"d" | b"day" | b"days" => 86_400_000.0,
            _ => break,
        };
        total += n * factor;
        any = true;
        i = k;
        // "1 minute and 30 seconds", "1h, 2m"
        let skip = b[i..]
            .iter()
            .take_while(|c| matches!(c, b' ' | b','))
            .count();
        if b[i + skip..].starts_with(b"and ") {
            i += skip + 4;
        }
    }
    if !any {
        return None;
    }
    Some((clamp_ms(total)?, i))
}

/// A wait written as a clock, `H:MM:SS` with an optional `D.` of days before it, as .NET
/// prints a `TimeSpan` (Azure API Management: "Out of call volume quota. Quota will be
/// replenished in 00:59:12."). Its callers read it only after a cue that says "in": after
/// "after", a clock is a time of day.
pub(crate) fn clock_duration_ms(b: &[u8]) -> Option<u64> {
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let number = |i: usize, n: usize| -> Option<u64> {
        std::str::from_utf8(&b[i..i + n]).ok()?.parse().ok()
    };
    let mut i = 0;
    let mut n = digits(i);
    if n == 0 || n > 6 {
        return None;
    }
    let mut days = 0;
    if b.get(i + n) == Some(&b'.') {
        days = number(i, n)?;
        i += n + 1;
        n = digits(i);
        if n == 0 || n > 2 {
            return None;
        }
    }
    let hours = number(i, n)?;
    i += n;
    let mut rest = [0u64; 2];
    for part in &mut rest {
        if b.get(i) != Some(&b':') || digits(i + 1) != 2 {
            return None;
        }
        *part = number(i + 1, 2)?;
        i += 3;
    }
    if rest.iter().any(|&p| p > 59) || b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b':') {
        return None;
    }
    let secs = ((days * 24 + hours) * 60 + rest[0]) * 60 + rest[1];
    secs_to_ms(secs as f64)
}

/// Finds a wait in free text: "try again in 26.604s", "retry after 6 seconds",
/// "please try again after 1 seconds", "Please retry in 38.9s". The classifier reads it from
/// its haystack scan; this is the same reading for one text.
#[cfg(test)]
pub(crate) fn duration_in_text(text: &str) -> Option<u64> {
    let mut hay = super::text::Hay::default();
    hay.push(text);
    hay.scan().wait_ms
}

/// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: f64) -> Option<i64> {
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 24
        || mi > 59
        || !(0.0..61.0).contains(&s)
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(days * 86_400_000 + h * 3_600_000 + mi * 60_000 + (s * 1000.0).round() as i64)
}

/// Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into epoch milliseconds.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = |m: &str| {
        let m = m.to_ascii_lowercase();
        MONTHS
            .iter()
            .position(|x| m.starts_with(x))
            .map(|i| i as i64 + 1)
    };
    let time = |t: &str| -> Option<(i64, i64, f64)> {
        let mut hms = t.split(':');
        Some((
            hms.next()?.parse().ok()?,
            hms.next()?.parse().ok()?,
            hms.next().unwrap_or("0").parse().ok()?,
        ))
    };
    let s = s.trim();
    let rest = s.split_once(',').map(|(_, r)| r.trim()).unwrap_or(s);
    let parts: Vec<&str> = rest.split_whitespace().collect();
    // RFC 850 (obsolete, but recipients must accept it): "Sunday, 06-Nov-94 08:49:37 GMT".
    if let [dmy, t, ..] = parts.as_slice() {
        let f: Vec<&str> = dmy.split('-').collect();
        if let [d, mo, y] = f.as_slice() {
            if let (Ok(d), Some(mo), Ok(y)) = (d.parse::<i64>(), month(mo), y.parse::<i64>()) {
                // Two-digit years within 50 years (RFC 9110 §5.6.7).
                let y = match y {
                    0..=69 => 2000 + y,
                    70..=99 => 1900 + y,
                    _ => y,
                };
                let (h, mi, sec) = time(t)?;
                return civil_ms(y, mo, d, h, mi, sec);
            }
        }
    }
    // asctime: "Sun Nov  6 08:49:37 1994".
    if let [wd, mo, d, t, y] = parts.as_slice() {
        if wd.bytes().all(|c| c.is_ascii_alphabetic()) {
            if let (Some(mo), Ok(d), Ok(y)) = (month(mo), d.parse::<i64>(), y.parse::<i64>()) {
                let (h, mi, sec) = time(t)?;
                return civil_ms(y, mo, d, h, mi, sec);
            }
        }
    }
    if parts.len() < 4 {
        return parse_iso8601(s);
    }
    let d: i64 = parts[0].parse().ok()?;
    let mo = month(parts[1])?;
    let y: i64 = parts[2].parse().ok()?;
    let (h, mi, sec) = time(parts[3])?;
    civil_ms(y, mo, d, h, mi, sec)
}

/// Parses ISO-8601 / RFC 3339 ("2025-03-14T10:20:12Z", "2025-03-14 10:20:12.5+01:00",
/// "2025-07-01 at 00:00 UTC") into epoch milliseconds; `None` for a time without a zone.
pub(crate) fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let mo: i64 = s.get(5..7)?.parse().ok()?;
    let d: i64 = s.get(8..10)?.parse().ok()?;
    let mut rest = &s[10..];
    rest = rest.trim_start_matches(['T', 't', ' ']);
    rest = rest.strip_prefix("at ").unwrap_or(rest);
    let (mut h, mut mi, mut sec) = (0i64, 0i64, 0f64);
    let tb = rest.as_bytes();
    if tb.len() >= 5 && tb[2] == b':' {
        h = rest.get(0..2)?.parse().ok()?;
        mi = rest.get(3..5)?.parse().ok()?;
        rest = &rest[5..];
        if rest.starts_with(':') {
            let end = rest[1..]
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map_or(rest.len(), |e| e + 1);
            sec = rest[1..end].parse().ok()?;
            rest = &rest[end..];
        }
    }
    let rest = rest.trim();
    let mut offset_ms = 0i64;
    if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
        let z = &rest[1..];
        let digits: String = z.chars().filter(|c| c.is_ascii_digit()).take(4).collect();
        if digits.len() != 4 {
            return None;
        }
        let oh: i64 = digits[0..2].parse().ok()?;
        let om: i64 = digits[2..4].parse().ok()?;
        offset_ms = (oh * 60 + om) * 60_000 * if sign == '+' { 1 } else { -1 };
    } else if !(rest.starts_with(['Z', 'z'])
        || rest
            .get(..3)
            .is_some_and(|z| z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt")))
    {
        // A time without a zone gives no wait: the zone would be a guess (Zhipu's "将在
        // 2026-08-25 07:41:44 重置" is Beijing time; the same wording from z.ai is read as
        // UTC by some clients), and a guess off by hours benches a key for the wrong time.
        return None;
    }
    Some(civil_ms(y, mo, d, h, mi, sec)? - offset_ms)
}

/// Finds an absolute reset time inside free text ("You will regain access on 2025-07-01 at
/// 00:00 UTC", "Your limit will reset at 2026-11-25 18:00:00"). Only a date after a reset cue
/// counts: an API version ("2024-02-01") is not a reset.
pub(crate) fn date_in_text(text: &str) -> Option<i64> {
    const CUES: [&str; 7] = [
        "reset",
        "regain",
        "until",
        "after",
        "available",
        "refresh",
        "renew",
    ];
    let b = text.as_bytes();
    // Most texts hold no date at all: look for one before looking for cues.
    let first_date = memchr::memchr_iter(b'-', b).find_map(|dash| date_at(b, dash))?;
    // Where the first cue ends, found once: a date counts when it comes after it. (Looking
    // back from every date instead made a body of repeated dates quadratic.)
    let first_cue_end = {
        let lower = text.to_ascii_lowercase();
        CUES.iter()
            .filter_map(|c| {
                memchr::memmem::find(lower.as_bytes(), c.as_bytes()).map(|p| p + c.len())
            })
            .min()
    };
    first_cue_end?;
    // A date is `dddd-dd-dd`: jump from one '-' to the next instead of testing every byte.
    for dash in memchr::memchr_iter(b'-', &b[first_date + 4..]) {
        let Some(i) = date_at(b, first_date + 4 + dash) else {
            continue;
        };
        // Only a date that follows a reset cue is a reset time.
        if first_cue_end.is_some_and(|end| end <= i) {
            let mut end = (i + 40).min(b.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            if let Some(ms) =
                parse_iso8601(&text[i..end]).or_else(|| text.get(i..i + 10).and_then(parse_iso8601))
            {
                return Some(ms);
            }
        }
    }
    None
}

/// Where a `dddd-dd-dd` date starts, given the position of its first dash.
fn date_at(b: &[u8], dash: usize) -> Option<usize> {
    let i = dash.checked_sub(4)?;
    (i + 10 <= b.len()
        && b[i..i + 4].iter().all(u8::is_ascii_digit)
        && b[i + 7] == b'-'
        && (i == 0 || !b[i - 1].is_ascii_digit()))
    .then_some(i)
}

/// An epoch value in seconds or milliseconds (told apart by size), as milliseconds.
pub(crate) fn epoch_to_ms(v: f64) -> Option<i64> {
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    if v > 1e14 {
        return None;
    }
    Some(if v > 1e11 {
        v as i64
    } else {
        (v * 1000.0) as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("26.604s"), Some(26604));
        assert_eq!(parse_duration("9m38.016s"), Some(578016));
        assert_eq!(parse_duration("6ms"), Some(6));
        assert_eq!(parse_duration("1m2s"), Some(62000));
        assert_eq!(parse_duration("2 minutes and 3 seconds"), Some(123000));
        assert_eq!(
            duration_in_text("please try again after 1 seconds"),
            Some(1000)
        );
        assert_eq!(
            duration_in_text("Please retry after 6 seconds."),
            Some(6000)
        );
        assert_eq!(
            duration_in_text("Please try again in 1m47.5854s. Visit"),
            Some(107585)
        );
        assert_eq!(duration_in_text("Please try again later."), None);
    }

    #[test]
    fn dates() {
        let a = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(a, 784111777000);
        assert_eq!(parse_iso8601("1994-11-06T08:49:37Z"), Some(a));
        assert_eq!(parse_iso8601("1994-11-06T09:49:37+01:00"), Some(a));
        assert_eq!(parse_iso8601("1994-11-06 08:49:37 GMT"), Some(a));
        // No zone, no time: a guessed zone would be hours off.
        assert_eq!(parse_iso8601("1994-11-06T08:49:37"), None);
        assert_eq!(parse_iso8601("1994-11-06"), None);
        assert_eq!(parse_iso8601("1994-11-06T09:49:37+1"), None);
        assert_eq!(
            date_in_text("Your limit will reset at 1994-11-06 08:49:37."),
            None
        );
        assert_eq!(
            date_in_text("regain access on 1994-11-06 at 08:49 UTC."),
            Some(a - 37000)
        );
    }

    #[test]
    fn headers_first() {
        let r = Reply::new(429, "")
            .header("retry-after-ms", "250")
            .header("retry-after", "3");
        assert_eq!(
            retry_after(&r.as_ref(), &BodyHints::default(), true).0,
            Some(250)
        );
        assert!(
            retry_after(&r.as_ref(), &BodyHints::default(), true).1,
            "from a header"
        );
        let r = Reply::new(429, "")
            .header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT");
        assert_eq!(
            retry_after(&r.as_ref(), &BodyHints::default(), true).0,
            Some(60000)
        );
        // Without a date header an absolute time is not guessed.
        let r = Reply::new(429, "").header("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT");
        assert_eq!(
            retry_after(&r.as_ref(), &BodyHints::default(), true).0,
            None
        );
    }

    #[test]
    fn absurd_values_never_panic() {
        for v in [
            "1e309",
            "-5",
            "NaN",
            "inf",
            "99999999999999999999999",
            "abc",
            "",
        ] {
            let r = Reply::new(429, "").header("retry-after", v);
            let got = retry_after(&r.as_ref(), &BodyHints::default(), true).0;
            assert!(
                got.is_none_or(|ms| ms <= MAX_RETRY_AFTER_MS),
                "{v} -> {got:?}"
            );
        }
    }

    #[test]
    fn provider_reset_picks_exhausted_limiter() {
        let r = Reply::new(429, "")
            .header("x-ratelimit-remaining-requests", "10")
            .header("x-ratelimit-reset-requests", "1s")
            .header("x-ratelimit-remaining-tokens", "0")
            .header("x-ratelimit-reset-tokens", "1m2s");
        assert_eq!(
            retry_after(&r.as_ref(), &BodyHints::default(), true).0,
            Some(62000)
        );
        assert!(
            !retry_after(&r.as_ref(), &BodyHints::default(), true).1,
            "a reset is no retry-after"
        );
        assert_eq!(
            retry_after(&r.as_ref(), &BodyHints::default(), false).0,
            None
        );
    }
}
