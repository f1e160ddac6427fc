//! The input line read in one pass, without serde: the common line (an object whose strings
//! hold only the usual escapes, numbers and nesting of any shape) is validated and read here,
//! the body unescaped while it is checked. Anything this reader is not sure of (a missing or
//! mistyped field, an escaped key, a lone surrogate, deep nesting, malformed JSON) answers
//! `None`, and serde_json reads the line: its answer, and its error message, stand.
//! `tests::the_fast_reader_reads_what_serde_json_reads` holds the two to the same readings.

use super::{lower, LineRef};
use crate::reply::Transport;
use std::borrow::Cow;

/// The line as serde_json would read it, or `None` to let serde_json decide.
pub(super) fn read(line: &str) -> Option<LineRef<'_>> {
    let mut c = Cursor {
        s: line,
        b: line.as_bytes(),
        at: 0,
    };
    c.ws();
    c.eat(b'{')?;
    let mut status = None;
    let mut headers = Vec::new();
    let mut body = Cow::Borrowed("");
    let mut transport = None;
    let mut id = None;
    c.ws();
    if c.peek()? == b'}' {
        c.at += 1;
    } else {
        loop {
            c.ws();
            let key = c.key()?;
            c.ws();
            c.eat(b':')?;
            c.ws();
            // As in serde's reading, the last of a repeated key wins.
            match key {
                "status" => status = Some(c.status()?),
                "headers" => {
                    headers.clear();
                    c.headers(&mut headers)?;
                }
                "body" => body = c.nullable()?.unwrap_or(Cow::Borrowed("")),
                "transport" => {
                    transport = match c.nullable()?.as_deref() {
                        None => None,
                        Some("http") => Some(Transport::Http),
                        Some("sse") => Some(Transport::Sse),
                        Some(_) => return None,
                    }
                }
                "id" => id = c.nullable()?,
                _ => c.skip_value()?,
            }
            c.ws();
            match c.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.ws();
    if c.at != c.b.len() {
        return None;
    }
    Some(LineRef {
        id,
        status: status?,
        headers,
        body,
        transport,
    })
}

/// Containers deeper than this are left to serde_json (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    /// An object key without escapes.
    fn key(&mut self) -> Option<&'a str> {
        match self.string::<true>()? {
            Cow::Borrowed(k) => Some(k),
            Cow::Owned(_) => None,
        }
    }

    /// An HTTP status: a plain integer from 100 to 599.
    fn status(&mut self) -> Option<u16> {
        let d = self.b.get(self.at..self.at + 3)?;
        if !(b'1'..=b'5').contains(&d[0]) || !d[1].is_ascii_digit() || !d[2].is_ascii_digit() {
            return None;
        }
        // A fourth digit, a fraction or an exponent: serde_json reads it and says what is wrong.
        if matches!(
            self.b.get(self.at + 3),
            Some(b'0'..=b'9' | b'.' | b'e' | b'E')
        ) {
            return None;
        }
        self.at += 3;
        Some(d.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0')))
    }

    /// A string or `null`.
    fn nullable(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.string::<true>().map(Some)
    }

    /// `null` or an object of strings, names lower-cased.
    fn headers(&mut self, out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Option<()> {
        if self.peek()? == b'n' {
            return self.literal(b"null");
        }
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.ws();
            let name = self.string::<true>()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = self.string::<true>()?;
            out.push((lower(name), value));
            self.ws();
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// A number as JSON writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digit()?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(())
    }

    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then_some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// Any JSON value, checked and skipped. Nesting is tracked in a bit stack (1: object), not
    /// by recursion.
    fn skip_value(&mut self) -> Option<()> {
        let mut stack = 0u64;
        let mut depth = 0u32;
        loop {
            // A value starts here.
            self.ws();
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.at += 1;
                    self.ws();
                    let object = open == b'{';
                    if self.peek()? == if object { b'}' } else { b']' } {
                        self.at += 1;
                    } else {
                        if depth == MAX_DEPTH {
                            return None;
                        }
                        depth += 1;
                        stack = stack << 1 | u64::from(object);
                        if object {
                            self.member_name()?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.string::<false>()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.number()?,
            }
            // A value ended: close what it ends, or go on to the next one.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.ws();
                let object = stack & 1 == 1;
                match self.next()? {
                    b',' => {
                        if object {
                            self.ws();
                            self.member_name()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                depth -= 1;
                stack >>= 1;
            }
        }
    }

    /// `"name" :` inside a skipped object.
    fn member_name(&mut self) -> Option<()> {
        self.string::<false>()?;
        self.ws();
        self.eat(b':')
    }

    /// A string at the cursor, checked: no control characters, only JSON's escapes, `\u`
    /// surrogates in pairs. With `KEEP` its text is returned (borrowed when it holds no
    /// escape); without, only checked.
    fn string<const KEEP: bool>(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let b = self.b;
        let start = self.at;
        let mut i = start;
        loop {
            i += special(&b[i..])?;
            match b[i] {
                b'"' => break,
                b'\\' if KEEP => {
                    let (text, end) = unescape_from(b, start, i)?;
                    self.at = end;
                    return Some(Cow::Owned(text));
                }
                b'\\' => i += escape(b.get(i + 1..)?)?.1,
                _ => return None,
            }
        }
        self.at = i + 1;
        if !KEEP {
            return Some(Cow::Borrowed(""));
        }
        // The quotes are ASCII, so the slice falls on character boundaries.
        self.s.get(start..i).map(Cow::Borrowed)
    }
}

/// The text of the string whose content starts at `start` and whose first escape is at
/// `first`, and the offset just past its closing quote. The bytes are copied eight at a time
/// as they are scanned (a short copy of fixed size, where copying each run between escapes
/// would cost a call apiece: bodies have an escape every few bytes).
fn unescape_from(b: &[u8], start: usize, first: usize) -> Option<(String, usize)> {
    let mut out = Vec::with_capacity(b.len() - start);
    out.extend_from_slice(&b[start..first]);
    let mut i = first;
    loop {
        // `i` is at a backslash.
        let (c, len) = escape(b.get(i + 1..)?)?;
        if c.is_ascii() {
            out.push(c as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        i += len;
        loop {
            if let Some(w) = b.get(i..i + 8) {
                let w: [u8; 8] = w.try_into().ok()?;
                out.extend_from_slice(&w);
                let m = stops(u64::from_le_bytes(w));
                if m == 0 {
                    i += 8;
                    continue;
                }
                let k = (m.trailing_zeros() / 8) as usize;
                out.truncate(out.len() - 8 + k);
                i += k;
            } else {
                let k = b[i..].iter().position(|&c| is_stop(c))?;
                out.extend_from_slice(&b[i..i + k]);
                i += k;
            }
            break;
        }
        match b[i] {
            b'"' => break,
            b'\\' => {}
            _ => return None,
        }
    }
    // Runs between ASCII stops of a `str`, and whole characters: UTF-8 throughout.
    Some((String::from_utf8(out).ok()?, i + 1))
}

/// The character an escape stands for and the escape's length, backslash included; `rest`
/// follows the backslash. `None` for no JSON escape, and for a `\u` surrogate not in a pair
/// (serde_json says what is wrong with it).
fn escape(rest: &[u8]) -> Option<(char, usize)> {
    Some(match *rest.first()? {
        b'"' => ('"', 2),
        b'\\' => ('\\', 2),
        b'/' => ('/', 2),
        b'b' => ('\u{8}', 2),
        b'f' => ('\u{c}', 2),
        b'n' => ('\n', 2),
        b'r' => ('\r', 2),
        b't' => ('\t', 2),
        b'u' => {
            let hi = hex4(rest.get(1..5)?)?;
            if (0xD800..0xDC00).contains(&hi) {
                if rest.get(5..7)? != b"\\u" {
                    return None;
                }
                let lo = hex4(rest.get(7..11)?)?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return None;
                }
                let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
                (c, 12)
            } else {
                (char::from_u32(hi)?, 6)
            }
        }
        _ => return None,
    })
}

/// Four hex digits.
fn hex4(d: &[u8]) -> Option<u32> {
    d.iter()
        .try_fold(0u32, |n, &c| Some(n << 4 | char::from(c).to_digit(16)?))
}

/// Where a string scan stops: a quote, a backslash or a control character.
fn is_stop(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// The stops among eight bytes (little-endian), as the high bit of each flagged byte. The
/// lowest flagged byte is always a true stop, whatever the borrows above it.
fn stops(v: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v;
    (zero_byte(v ^ (ONES * u64::from(b'"')))
        | zero_byte(v ^ (ONES * u64::from(b'\\')))
        | (v.wrapping_sub(ONES * 0x20) & !v))
        & HIGH
}

/// The offset of the first stop in `b`, eight bytes at a time.
fn special(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8) {
        let m = stops(u64::from_le_bytes(w.try_into().ok()?));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| is_stop(c)).map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::super::parse_with_serde;
    use super::*;
    use proptest::prelude::*;

    /// Where the fast reader answers, serde_json reads the same line; where serde_json
    /// rejects a line, the fast reader does not answer.
    fn agree(line: &str) -> Result<bool, TestCaseError> {
        let slow = parse_with_serde(line);
        match read(line) {
            Some(fast) => {
                prop_assert_eq!(Ok(fast), slow, "{}", line);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            6 => prop::sample::select(vec![
                "null", "true", "false", "0", "-0", "429", "1.5", "2e3", "2E+3", "-1.5e-7",
                "\"\"", "\"plain\"", "\"a\\\"b\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"",
                "\"caf\u{e9}\"", "\"\\/\\b\\f\\n\\r\\t\\\\\"",
            ]),
            1 => prop::sample::select(vec![
                "nul", "truex", "007", "-", "1.", "1e", "\"\\ud83d\"", "\"\\ude00x\"", "\"\\u12\"",
                "\"\\x\"", "\"tab\there\"", "\"open",
            ]),
        ]
        .prop_map(str::to_owned);
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (prop::sample::select(vec!["a", "b\\\"", "status"]), inner),
                    0..4
                )
                .prop_map(|m| {
                    let m: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
            ]
        })
    }

    fn field() -> impl Strategy<Value = String> {
        let string = prop::sample::select(vec![
            "\"\"",
            "\"\"",
            "\"x\"",
            "\"x\"",
            "\"http\"",
            "\"sse\"",
            "\"htt\\u0070\"",
            "\"SSE\"",
            "\"{\\\"error\\\":{\\\"message\\\":\\\"Rate limit \\u00e9 \\ud83d\\ude00\\\"}}\"",
            "\"data: {}\\n\\ndata: [DONE]\\n\\n\"",
            "\"\\ud800\"",
            "null",
            "1",
        ]);
        let status = prop_oneof![
            4 => prop::sample::select(vec!["429", "200", "599", "100", "503"]),
            1 => prop::sample::select(vec![
                "99", "600", "4290", "429.0", "429e0", "-429", "\"429\"", "null", "0429",
            ]),
        ];
        let headers = prop::sample::select(vec![
            "{}",
            "{ }",
            "{\"content-type\":\"application/json\",\"x-ratelimit-reset\":\"1s\"}",
            "null",
            "{\"Retry-After\":\"2\"}",
            "{\"retry-after\":\"2\",\"retry-after\":\"3\"}",
            "{\"X-A\" : \"b\\tc\"}",
            "{\"a\":1}",
            "[]",
            "{\"a\":\"b\",}",
        ]);
        prop_oneof![
            2 => status.prop_map(|v| format!("\"status\":{v}")),
            1 => headers.prop_map(|v| format!("\"headers\":{v}")),
            2 => (prop::sample::select(vec!["body", "id", "transport"]), string)
                .prop_map(|(k, v)| format!("\"{k}\":{v}")),
            1 => (prop::sample::select(vec!["note", "label", "st\\u0061tus"]), value())
                .prop_map(|(k, v)| format!("\"{k}\":{v}")),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        (
            // A status first, most of the time, as a line without one is rejected.
            prop_oneof![4 => Just("\"status\":429,"), 1 => Just("")],
            prop::collection::vec(field(), 0..6),
            prop::sample::select(vec!["", " ", "\t", "\r"]),
            prop_oneof![
                8 => Just(""),
                1 => prop::sample::select(vec![" ", ",", "}", "x"]),
            ],
        )
            .prop_map(|(first, fields, ws, tail)| {
                let fields = fields.join(&format!(",{ws}"));
                let first = if fields.is_empty() {
                    first.trim_end_matches(',')
                } else {
                    first
                };
                format!("{ws}{{{ws}{first}{fields}}}{tail}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]
        #[test]
        fn the_fast_reader_reads_what_serde_json_reads(line in line()) {
            agree(&line)?;
        }

        /// Byte-level damage to real lines: the fast reader never accepts what serde rejects.
        #[test]
        fn damaged_lines_are_left_to_serde_json(at in 0usize..2_000, byte in prop::sample::select(vec![b'"', b'\\', b'{', b'}', b',', b':', 0x01, b'u', b'0', b' '])) {
            let corpus = include_str!("../../tests/fixtures/dev.jsonl");
            let line = corpus.lines().nth(at % 90).unwrap_or_default();
            let mut bytes = line.as_bytes().to_vec();
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                agree(text)?;
            }
        }
    }

    #[test]
    fn the_fast_reader_reads_every_corpus_line() {
        for file in [
            include_str!("../../tests/fixtures/dev.jsonl"),
            include_str!("../../tests/fixtures/probes.jsonl"),
        ] {
            for line in file.lines().filter(|l| !l.trim().is_empty()) {
                assert!(agree(line).unwrap(), "left to serde_json: {line}");
            }
        }
    }

    #[test]
    fn strings_are_checked_as_json_checks_them() {
        let read = |s: &str| {
            read(&format!("{{\"status\":429,\"body\":{s}}}")).map(|l| l.body.into_owned())
        };
        assert_eq!(
            read(r#""a\"b\u00e9\ud83d\ude00""#).as_deref(),
            Some("a\"b\u{e9}\u{1F600}")
        );
        assert_eq!(read(r#""plain""#).as_deref(), Some("plain"));
        let line = r#"{"status":429,"body":"plain"}"#;
        assert!(matches!(
            super::read(line).map(|l| l.body),
            Some(Cow::Borrowed("plain"))
        ));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\q""#,
            r#""\u12""#,
            "\"a\tb\"",
            r#""open"#,
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
        // The word-wide scan finds the first stop in any lane, and the copy after an escape
        // keeps every byte, whatever the lengths of the runs between escapes.
        for n in 0..20 {
            for m in [0, 1, 7, 8, 9, 17] {
                let s = format!(
                    "\"{}\\n{}\\u00e9{}\\\"\"",
                    "x".repeat(n),
                    "\u{e9}".repeat(m),
                    "y".repeat(n + m)
                );
                let want = format!(
                    "{}\n{}\u{e9}{}\"",
                    "x".repeat(n),
                    "\u{e9}".repeat(m),
                    "y".repeat(n + m)
                );
                assert_eq!(read(&s).as_deref(), Some(want.as_str()), "{s}");
                let cut = format!("\"{}\\n{}\ty\"", "x".repeat(n), "y".repeat(m));
                assert_eq!(
                    read(&cut),
                    None,
                    "a control character after an escape: {cut}"
                );
            }
        }
    }
}
