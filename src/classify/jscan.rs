//! A checking JSON scanner over text, shared by the one-pass readers (`keypool classify`'s
//! line reader, [`parse`](super::jvalue::parse)'s document reader): strings are checked
//! sixteen bytes at a time and borrowed where they hold no escapes, numbers and literals are
//! checked as JSON writes them, and nesting is bounded. Every method answers `None` where the text is not
//! JSON or is JSON it does not read (a lone `\u` surrogate, nesting deeper than
//! [`MAX_DEPTH`]); its callers then let serde_json read the text, so serde_json's answer and
//! its error messages stand.

use std::borrow::Cow;

/// Containers deeper than this are left to serde_json (whose own limit is 128).
pub(crate) const MAX_DEPTH: u32 = 64;

/// A position in a JSON text being read.
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) b: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `s`.
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor {
            s,
            b: s.as_bytes(),
            at: 0,
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    pub(crate) fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    /// An object key without escapes (an escaped key answers `None`).
    pub(crate) fn key(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + special(&self.b[start..])?;
        if self.b[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // The quotes are ASCII, so the slice falls on character boundaries.
        self.s.get(start..end)
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// A number as JSON writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    /// Whether it has a fraction or an exponent.
    pub(crate) fn number(&mut self) -> Option<bool> {
        let mut float = false;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            float = true;
            self.at += 1;
            self.digit()?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            float = true;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(float)
    }

    pub(crate) fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then_some(())
    }

    pub(crate) fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// Any JSON value, checked and skipped. Nesting is tracked in a bit stack (1: object), not
    /// by recursion.
    pub(crate) fn skip_value(&mut self) -> Option<()> {
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
                _ => {
                    self.number()?;
                }
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
    pub(crate) fn member_name(&mut self) -> Option<()> {
        self.string::<false>()?;
        self.ws();
        self.eat(b':')
    }

    /// A string at the cursor, checked: no control characters, only JSON's escapes, `\u`
    /// surrogates in pairs. With `KEEP` its text is returned (borrowed when it holds no
    /// escape); without, only checked.
    pub(crate) fn string<const KEEP: bool>(&mut self) -> Option<Cow<'a, str>> {
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
#[inline(never)]
fn unescape_from(b: &[u8], start: usize, first: usize) -> Option<(String, usize)> {
    // Room for the text before the escape and a kilobyte after (the rest of the input is the
    // bound), so a body string inside an input line rarely regrows; a short string gives back
    // what it does not use below, or a body of many short escaped strings would hold a
    // kilobyte apiece.
    let mut out = Vec::with_capacity((first - start + 1024).min(b.len() - start));
    out.extend_from_slice(&b[start..first]);
    let mut i = first;
    loop {
        // `i` is at a backslash. The two-byte escapes (nearly all of a body's: `\"` around
        // every key) are decoded here, without the call.
        let c = SHORT_ESCAPE[usize::from(*b.get(i + 1)?)];
        if c != 0 {
            out.push(c);
            i += 2;
        } else {
            let (c, len) = escape(b.get(i + 1..)?)?;
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            i += len;
        }
        loop {
            if let Some(w) = b.get(i..i + 16) {
                let w: &[u8; 16] = w.try_into().ok()?;
                out.extend_from_slice(w);
                let m = stops16(w);
                if m == 0 {
                    i += 16;
                    continue;
                }
                let k = m.trailing_zeros() as usize;
                out.truncate(out.len() - 16 + k);
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
    if out.capacity() > 2 * out.len() + 64 {
        out.shrink_to_fit();
    }
    // Runs between ASCII stops of a `str`, and whole characters: UTF-8 throughout.
    Some((String::from_utf8(out).ok()?, i + 1))
}

/// The byte each two-byte escape stands for, by the byte after the backslash; 0 for none.
static SHORT_ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        if let Some(v) = short_escape(c as u8) {
            t[c] = v;
        }
        c += 1;
    }
    t
};

/// The byte a two-byte escape stands for; `e` follows the backslash.
#[inline]
const fn short_escape(e: u8) -> Option<u8> {
    Some(match e {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

/// The character an escape stands for and the escape's length, backslash included; `rest`
/// follows the backslash. `None` for no JSON escape, and for a `\u` surrogate not in a pair
/// (serde_json says what is wrong with it).
fn escape(rest: &[u8]) -> Option<(char, usize)> {
    let e = *rest.first()?;
    if let Some(c) = short_escape(e) {
        return Some((char::from(c), 2));
    }
    if e != b'u' {
        return None;
    }
    let hi = hex4(rest.get(1..5)?)?;
    if !(0xD800..0xDC00).contains(&hi) {
        return Some((char::from_u32(hi)?, 6));
    }
    if rest.get(5..7)? != b"\\u" {
        return None;
    }
    let lo = hex4(rest.get(7..11)?)?;
    if !(0xDC00..0xE000).contains(&lo) {
        return None;
    }
    let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
    Some((c, 12))
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

/// The stops among sixteen bytes, as a bit per byte (bit `k` for byte `k`; callers read only
/// the lowest, the first stop): one SSE2 compare per kind of stop and a byte mask. `keypool
/// classify` runs 8.6 % fewer instructions than with eight-byte words; the portable forms of
/// this loop that were tried compiled to byte-by-byte branches.
#[cfg(target_arch = "x86_64")]
#[inline]
fn stops16(w: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of x86-64, so every x86-64 target enables these intrinsics; the
    // one load reads the sixteen bytes `w` refers to, and `loadu` needs no alignment.
    unsafe {
        let v = _mm_loadu_si128(w.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `v < 0x20` as `max(v, 0x1f) == 0x1f`: SSE2 compares bytes as signed.
        let low = _mm_set1_epi8(0x1f);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// [`stops16`] elsewhere: two eight-byte words. Only the lowest stop's bit is sure (the
/// callers read no other).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn stops16(w: &[u8; 16]) -> u32 {
    stops16_words(w)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn stops16_words(w: &[u8; 16]) -> u32 {
    let (lo, hi) = w.split_at(8);
    let first = |h: &[u8]| stops(u64::from_le_bytes(h.try_into().unwrap_or([0; 8])));
    let (a, b) = (first(lo), first(hi));
    // Only the lowest flag of a word is sure (`stops`), and only the lowest stop is used.
    let bit = |m: u64| {
        if m == 0 {
            0
        } else {
            1u32 << (m.trailing_zeros() / 8)
        }
    };
    bit(a) | if a == 0 { bit(b) << 8 } else { 0 }
}

/// The offset of the first stop in `b`, sixteen bytes at a time, then eight. (A vector
/// search for the quote and backslash cost more than it saved: most strings are short, and
/// its set-up is paid per call.)
pub(crate) fn special(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = b.get(i..i + 16) {
        let m = stops16(w.try_into().ok()?);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
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
    use super::*;

    proptest::proptest! {
        #[test]
        fn sixteen_byte_masks_find_the_first_stop(
            w in proptest::array::uniform16(proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(vec![b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0]),
            ])
        ) {
            let first = w.iter().position(|&c| is_stop(c));
            let lowest = |m: u32| (m != 0).then(|| m.trailing_zeros() as usize);
            proptest::prop_assert_eq!(lowest(stops16(&w)), first);
            proptest::prop_assert_eq!(lowest(stops16_words(&w)), first);
        }
    }

    /// Each string of a long text of short escaped strings, read in turn.
    fn strings(text: &str) -> Vec<Cow<'_, str>> {
        let mut c = Cursor::new(text);
        let mut out = Vec::new();
        while c.peek() == Some(b'"') {
            out.push(c.string::<true>().expect("a string"));
            c.ws();
        }
        assert_eq!(c.at, text.len(), "read to the end");
        out
    }

    #[test]
    fn an_escaped_string_holds_about_its_own_length_not_the_rest_of_the_text() {
        let text = r#""a\nb" "#.repeat(10_000);
        let read = strings(&text);
        assert_eq!(read.len(), 10_000);
        for s in &read {
            assert_eq!(s, "a\nb");
            let Cow::Owned(s) = s else {
                panic!("an escaped string is copied")
            };
            assert!(s.capacity() <= 2 * s.len() + 64, "{}", s.capacity());
        }
    }

    #[test]
    fn a_long_escaped_string_is_read_whole() {
        let body = "x\\\"y".repeat(5_000);
        let text = format!("\"{body}\" \"plain\"");
        let read = strings(&text);
        assert_eq!(read[0], "x\"y".repeat(5_000));
        assert!(matches!(read[1], Cow::Borrowed("plain")));
    }
}
