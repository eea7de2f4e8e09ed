//! Container logs as the runtime writes them (the CRI log format) and as clients read them:
//! `kubectl logs` with `--follow`, `--previous`, `--tail`, `--since`, `--since-time`,
//! `--timestamps` and `--limit-bytes`.
//!
//! A CRI log line is `<RFC 3339 nano time> <stdout|stderr> <P|F> <text>`: `P` marks a partial
//! line continued by the next, `F` a full one.

use chrono::{DateTime, Utc};

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine<'a> {
    /// When the runtime wrote it.
    pub time: DateTime<Utc>,
    /// The raw time text.
    pub time_text: &'a str,
    /// Whether a newline ends it.
    pub full: bool,
    /// What the program wrote.
    pub text: &'a str,
}

/// Parses one CRI log line; `None` for a malformed one.
pub fn parse(line: &str) -> Option<LogLine<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time_text = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    let time = DateTime::parse_from_rfc3339(time_text)
        .ok()?
        .with_timezone(&Utc);
    Some(LogLine {
        time,
        time_text,
        full: !tag.split(':').any(|t| t == "P"),
        text,
    })
}

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep streaming.
    pub follow: bool,
    /// The previous instance's log.
    pub previous: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Only lines written at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with its time.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
}

/// Renders a line as the client sees it.
pub fn render(line: &LogLine<'_>, timestamps: bool, out: &mut Vec<u8>) {
    if timestamps {
        out.extend_from_slice(line.time_text.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(line.text.as_bytes());
    if line.full {
        out.push(b'\n');
    }
}

/// Renders the whole of a log file's current contents per the options (tail, since).
pub fn render_all(content: &str, opts: &LogOptions) -> Vec<u8> {
    let lines: Vec<LogLine<'_>> = content
        .lines()
        .filter_map(parse)
        .filter(|l| opts.since.is_none_or(|s| l.time >= s))
        .collect();
    let skip = match opts.tail_lines {
        Some(n) => {
            // Count whole lines (a partial line belongs to the full line that ends it).
            let full_total = lines.iter().filter(|l| l.full).count();
            let mut to_skip_full = full_total.saturating_sub(n);
            let mut idx = 0;
            while to_skip_full > 0 && idx < lines.len() {
                if lines[idx].full {
                    to_skip_full -= 1;
                }
                idx += 1;
            }
            idx
        }
        None => 0,
    };
    let mut out = Vec::new();
    for line in &lines[skip..] {
        render(line, opts.timestamps, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-11-30T10:00:00.000000001Z stdout F first\n\
2026-11-30T10:00:01.5Z stderr P par\n\
2026-11-30T10:00:01.6Z stderr F tial\n\
2026-11-30T10:00:02Z stdout F third\n";

    #[test]
    fn lines_join_partials_and_honour_tail_and_since() {
        let all = render_all(LOG, &LogOptions::default());
        assert_eq!(String::from_utf8(all).unwrap(), "first\npartial\nthird\n");
        let tail = render_all(
            LOG,
            &LogOptions {
                tail_lines: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(String::from_utf8(tail).unwrap(), "partial\nthird\n");
        let since = render_all(
            LOG,
            &LogOptions {
                since: Some("2026-11-30T10:00:02Z".parse().unwrap()),
                ..Default::default()
            },
        );
        assert_eq!(String::from_utf8(since).unwrap(), "third\n");
        let stamped = render_all(
            LOG,
            &LogOptions {
                tail_lines: Some(1),
                timestamps: true,
                ..Default::default()
            },
        );
        assert_eq!(
            String::from_utf8(stamped).unwrap(),
            "2026-11-30T10:00:02Z third\n"
        );
        assert!(parse("garbage").is_none());
    }
}
