//! A trace drawn as a picture: one lane per key, each call a bar coloured by the class of its
//! reply, benches as thin bars under it, and the requests on top with their waits. SVG, no
//! dependencies; `keypool run --timeline DIR` and `keypool conform --timeline DIR` write one per
//! scenario.

use crate::class::Class;
use crate::trace::{Decision, Event, Names};
use std::fmt::Write;

const LEFT: f64 = 90.0;
const WIDTH: f64 = 900.0;
const LANE: f64 = 22.0;

fn colour(c: Class) -> &'static str {
    match c {
        Class::Success => "#2e9d4a",
        Class::RateLimit => "#f0a020",
        Class::QuotaExhausted => "#d43c2c",
        Class::Auth => "#8a3fb8",
        Class::Overloaded => "#e6cf2e",
        Class::ServerError => "#777777",
        Class::EmptySuccess => "#b8d8b8",
        Class::ContentPolicy | Class::ContextOverflow | Class::BadRequest | Class::Cancelled => {
            "#2f6fc2"
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG of a trace.
///
/// ```
/// use keypool::trace::{Event, Names};
/// let names = Names { providers: vec!["p".into()], keys: vec!["k1".into()] };
/// let t = [Event::RequestStart { t: 0, req: 0, provider: 0 },
///          Event::Attempt { t: 0, req: 0, attempt: 1, provider: 0, key: 0, probe: false }];
/// let svg = keypool::timeline::svg(&t, &names, "demo");
/// assert!(svg.starts_with("<svg") && svg.contains("k1"));
/// ```
pub fn svg(trace: &[Event], names: &Names, title: &str) -> String {
    let end = trace.iter().map(Event::t).max().unwrap_or(0).max(1);
    // Bench ends far beyond the run are drawn to the edge.
    let x = |t: u64| LEFT + WIDTH * (t.min(end) as f64) / (end as f64);
    let requests = trace
        .iter()
        .filter_map(|e| match e {
            Event::RequestStart { req, .. } => Some(*req as usize + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let top = 40.0;
    let req_lane = |r: u32| top + (r as f64) * LANE;
    let keys_top = top + requests as f64 * LANE + 20.0;
    let key_lane = |k: u32| keys_top + (k as f64) * LANE;
    let height = keys_top + names.keys.len() as f64 * LANE + 50.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="11">"#,
        LEFT + WIDTH + 20.0
    );
    let _ = write!(
        s,
        r#"<text x="4" y="16" font-size="13">{}</text>"#,
        esc(title)
    );
    // Time axis.
    let axis = height - 30.0;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{axis}" x2="{}" y2="{axis}" stroke="#999"/>"##,
        LEFT + WIDTH
    );
    for i in 0..=5 {
        let t = end * i / 5;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" fill="#555">{} ms</text>"##,
            x(t) - 10.0,
            axis + 14.0,
            t
        );
    }
    for r in 0..requests as u32 {
        let _ = write!(
            s,
            r#"<text x="4" y="{:.1}">request {r}</text>"#,
            req_lane(r) + 14.0
        );
    }
    for (k, label) in names.keys.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="4" y="{:.1}">{}</text>"#,
            key_lane(k as u32) + 14.0,
            esc(label)
        );
    }
    let mut starts: Vec<Option<u64>> = vec![None; requests];
    let mut sent: std::collections::BTreeMap<(u32, u32), (u64, u32)> = Default::default();
    for e in trace {
        match *e {
            Event::RequestStart { t, req, .. } => starts[req as usize] = Some(t),
            Event::Attempt {
                t,
                req,
                attempt,
                key,
                ..
            } => {
                sent.insert((req, attempt), (t, key));
            }
            Event::Reply {
                t,
                req,
                attempt,
                key,
                class,
                status,
                ..
            } => {
                let (t0, _) = sent.get(&(req, attempt)).copied().unwrap_or((t, key));
                let (x0, x1) = (x(t0), x(t).max(x(t0) + 2.0));
                let _ = write!(
                    s,
                    r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="12" fill="{}"><title>request {req} attempt {attempt}: {} {class} at {t} ms</title></rect>"#,
                    key_lane(key) + 3.0,
                    x1 - x0,
                    colour(class),
                    if status == 0 {
                        "no reply".to_owned()
                    } else {
                        status.to_string()
                    },
                );
            }
            Event::Bench {
                t,
                key,
                until,
                reason,
                ..
            } => {
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="3" fill="{}" opacity="0.6"><title>benched until {until} ms ({reason})</title></rect>"#,
                    x(t),
                    key_lane(key) + 17.0,
                    (x(until) - x(t)).max(1.0),
                    colour(reason),
                );
            }
            Event::Disable { t, key, .. } => {
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="3" fill="{}" opacity="0.6"><title>disabled</title></rect>"#,
                    x(t),
                    key_lane(key) + 17.0,
                    (LEFT + WIDTH - x(t)).max(1.0),
                    colour(Class::Auth),
                );
            }
            Event::Decision {
                t,
                req,
                decision: Decision::Wait(_),
                until: Some(u),
                ..
            } => {
                let _ = write!(
                    s,
                    r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="3,2"><title>waits until {u} ms</title></line>"##,
                    x(t),
                    req_lane(req) + 9.0,
                    x(u),
                    req_lane(req) + 9.0,
                );
            }
            Event::RequestEnd {
                t,
                req,
                success,
                class,
                ..
            } => {
                let t0 = starts.get(req as usize).copied().flatten().unwrap_or(t);
                let fill = if success {
                    colour(Class::Success)
                } else {
                    colour(class)
                };
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="4" fill="{fill}"><title>request {req}: {} at {t} ms</title></rect>"#,
                    x(t0),
                    req_lane(req) + 2.0,
                    (x(t) - x(t0)).max(2.0),
                    if success {
                        "success".to_owned()
                    } else {
                        format!("failed, {class}")
                    },
                );
            }
            _ => {}
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_a_bar_with_its_class_and_labels_are_escaped() {
        let sc = crate::scenario::parse(
            r#"{"name":"t","providers":[{"name":"p","keys":[
              {"label":"k<1>","script":["openai.rate_limit"]},{"label":"k2"}]}],
              "workload":{"at_ms":[0, 100]}}"#,
            "t.json",
        )
        .unwrap();
        let w = crate::scenario::world(&sc, None).unwrap();
        let out = crate::sim::run(&w, true);
        let svg = svg(&out.trace, &out.names, "t & u");
        let replies = out
            .trace
            .iter()
            .filter(|e| matches!(e, Event::Reply { .. }))
            .count();
        assert_eq!(svg.matches("attempt ").count(), replies);
        assert!(svg.contains("429 rate_limit") && svg.contains("200 success"));
        assert!(svg.contains("k&lt;1&gt;") && svg.contains("t &amp; u") && !svg.contains("k<1>"));
        assert!(svg.contains("benched until"), "the rate limit benched k1");
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
