//! The input line read in one pass, without serde: the common line (an object whose strings
//! hold only the usual escapes, numbers and nesting of any shape) is validated and read here,
//! the body unescaped while it is checked. Anything this reader is not sure of (a missing or
//! mistyped field, an escaped key, a lone surrogate, deep nesting, malformed JSON) answers
//! `None`, and serde_json reads the line: its answer, and its error message, stand.
//! `tests::the_fast_reader_reads_what_serde_json_reads` holds the two to the same readings.

use super::{lower, LineRef};
use crate::classify::jscan::Cursor;
use crate::reply::Transport;
use std::borrow::Cow;

/// The line as serde_json would read it, or `None` to let serde_json decide.
pub(super) fn read(line: &str) -> Option<LineRef<'_>> {
    let mut c = Cursor::new(line);
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
                "status" => status = Some(read_status(&mut c)?),
                "headers" => {
                    headers.clear();
                    read_headers(&mut c, &mut headers)?;
                }
                "body" => body = nullable(&mut c)?.unwrap_or(Cow::Borrowed("")),
                "transport" => {
                    transport = match nullable(&mut c)?.as_deref() {
                        None => None,
                        Some("http") => Some(Transport::Http),
                        Some("sse") => Some(Transport::Sse),
                        Some(_) => return None,
                    }
                }
                "id" => id = nullable(&mut c)?,
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

/// An HTTP status: a plain integer from 100 to 599.
fn read_status(c: &mut Cursor) -> Option<u16> {
    let d = c.b.get(c.at..c.at + 3)?;
    if !(b'1'..=b'5').contains(&d[0]) || !d[1].is_ascii_digit() || !d[2].is_ascii_digit() {
        return None;
    }
    // A fourth digit, a fraction or an exponent: serde_json reads it and says what is wrong.
    if matches!(c.b.get(c.at + 3), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) {
        return None;
    }
    c.at += 3;
    Some(d.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0')))
}

/// A string or `null`.
fn nullable<'a>(c: &mut Cursor<'a>) -> Option<Option<Cow<'a, str>>> {
    if c.peek()? == b'n' {
        c.literal(b"null")?;
        return Some(None);
    }
    c.string::<true>().map(Some)
}

/// `null` or an object of strings, names lower-cased.
fn read_headers<'a>(c: &mut Cursor<'a>, out: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Option<()> {
    if c.peek()? == b'n' {
        return c.literal(b"null");
    }
    c.eat(b'{')?;
    c.ws();
    if c.peek()? == b'}' {
        c.at += 1;
        return Some(());
    }
    loop {
        c.ws();
        let name = c.string::<true>()?;
        c.ws();
        c.eat(b':')?;
        c.ws();
        let value = c.string::<true>()?;
        out.push((lower(name), value));
        c.ws();
        match c.next()? {
            b',' => {}
            b'}' => return Some(()),
            _ => return None,
        }
    }
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
