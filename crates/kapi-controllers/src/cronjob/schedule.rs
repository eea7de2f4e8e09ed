//! Cron schedules as CronJobs write them: five fields (minute hour day-of-month month
//! day-of-week), `*`, ranges, steps, lists, month and weekday names, and the `@hourly`-style
//! macros — the standard syntax upstream parses with robfig/cron. When both day fields are
//! restricted a day matches either, as in cron(8). Times are computed on the wall clock of
//! `spec.timeZone` (or a `CRON_TZ=` prefix), UTC by default, from the IANA database.

use chrono_tz::Tz;
use k8s_openapi::chrono::{
    DateTime, Datelike, Duration as TimeDelta, LocalResult, NaiveDate, NaiveDateTime, TimeZone,
    Timelike, Utc,
};

/// Why a schedule could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not five fields (and not a known macro).
    #[error("expected exactly 5 fields, found {0}: {1:?}")]
    Fields(usize, String),
    /// A field's value is not a number or a name, or is out of range.
    #[error("{field}: {value:?} is not valid (allowed {min}-{max})")]
    Value {
        /// Which field.
        field: &'static str,
        /// The text given.
        value: String,
        /// The smallest value allowed.
        min: u32,
        /// The largest value allowed.
        max: u32,
    },
    /// Not a zone of the IANA database (or `Local`, which upstream refuses as well).
    #[error("unknown time zone {0}")]
    TimeZone(String),
}

/// A parsed schedule; each field is a bit set of the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Whether the day-of-month or day-of-week field was `*` (then days must match both).
    dom_star: bool,
    dow_star: bool,
    /// The wall clock the fields are read on.
    tz: Tz,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Field = Field {
    name: "day of week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// The zone `spec.timeZone` names: UTC when unset; any IANA zone but `Local`, which upstream
/// refuses because it would depend on the controller's machine.
pub fn zone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    match name {
        None => Ok(Tz::UTC),
        Some(n) if n.eq_ignore_ascii_case("local") => Err(ScheduleError::TimeZone(n.into())),
        Some(n) => n.parse().map_err(|_| ScheduleError::TimeZone(n.into())),
    }
}

impl Schedule {
    /// Parses a schedule read on the clock of `time_zone` (`spec.timeZone`); without one, a
    /// leading `CRON_TZ=zone` or `TZ=zone` names it, as robfig/cron reads it.
    pub fn parse(spec: &str, time_zone: Option<&str>) -> Result<Self, ScheduleError> {
        let mut spec = spec.trim();
        let mut tz = zone(time_zone)?;
        if let Some(rest) = spec
            .strip_prefix("CRON_TZ=")
            .or_else(|| spec.strip_prefix("TZ="))
        {
            let (name, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let named = zone(Some(name))?;
            if time_zone.is_none() {
                tz = named;
            }
            spec = rest.trim();
        }
        let expanded = match spec.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => spec,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(ScheduleError::Fields(fields.len(), spec.into()));
        };
        let (minute, _) = parse_field(minute, &MINUTE)?;
        let (hour, _) = parse_field(hour, &HOUR)?;
        let (dom, dom_star) = parse_field(dom, &DOM)?;
        let (month, _) = parse_field(month, &MONTH)?;
        let (dow, dow_star) = parse_field(dow, &DOW)?;
        Ok(Self {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
            tz,
        })
    }

    /// The first scheduled minute strictly after `t`. A wall-clock time that a daylight-saving
    /// jump skips runs an hour later, and one that happens twice runs the first time, as Go's
    /// time package resolves them for upstream.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz).naive_local();
        let mut from = local.with_second(0)?.with_nanosecond(0)? + TimeDelta::minutes(1);
        for _ in 0..8 {
            let candidate = self.next_naive(from)?;
            let at = match self.tz.from_local_datetime(&candidate) {
                LocalResult::Single(at) => Some(at),
                LocalResult::Ambiguous(first, second) => {
                    Some(if first > t { first } else { second })
                }
                LocalResult::None => self
                    .tz
                    .from_local_datetime(&(candidate + TimeDelta::hours(1)))
                    .earliest(),
            };
            match at.map(|a| a.with_timezone(&Utc)) {
                Some(at) if at > t => return Some(at),
                _ => from = candidate + TimeDelta::minutes(1),
            }
        }
        None
    }

    /// The first scheduled minute at or after `t` (whole minute), in the schedule's own clock.
    fn next_naive(&self, mut t: NaiveDateTime) -> Option<NaiveDateTime> {
        // Cron never skips five years: every valid schedule fires within them (29 Feb included).
        let limit = t.year() + 5;
        while t.year() <= limit {
            if !has(self.month, t.month()) {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !has(self.hour, t.hour()) {
                t = t.with_minute(0)? + TimeDelta::hours(1);
                continue;
            }
            if !has(self.minute, t.minute()) {
                t += TimeDelta::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        let dom = has(self.dom, d.day());
        let dow = has(self.dow, d.weekday().num_days_from_sunday());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

/// One field: comma-separated items of `*`, `?`, `N`, `N-M`, each with an optional `/step`
/// (`N/step` runs to the field's maximum). Returns the bits and whether the field is a bare
/// star (a star with a step greater than 1 is not, as robfig/cron decides).
fn parse_field(text: &str, f: &Field) -> Result<(u64, bool), ScheduleError> {
    let bad = || ScheduleError::Value {
        field: f.name,
        value: text.into(),
        min: f.min,
        max: f.max,
    };
    let mut bits = 0u64;
    let mut star = false;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().map_err(|_| bad())?)),
            None => (item, None),
        };
        if step == Some(0) {
            return Err(bad());
        }
        let (lo, hi, is_star) = if range == "*" || range == "?" {
            (f.min, f.max, true)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, f).ok_or_else(bad)?,
                value(b, f).ok_or_else(bad)?,
                false,
            )
        } else {
            let v = value(range, f).ok_or_else(bad)?;
            (v, if step.is_some() { f.max } else { v }, false)
        };
        if lo > hi {
            return Err(bad());
        }
        star |= is_star && step.unwrap_or(1) <= 1;
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

fn value(s: &str, f: &Field) -> Option<u32> {
    let lower = s.to_ascii_lowercase();
    let v = match f.names.iter().position(|n| *n == lower) {
        Some(i) => i as u32 + f.min,
        None => s.parse().ok()?,
    };
    (f.min..=f.max).contains(&v).then_some(v)
}

/// The start times a CronJob missed up to `now`: the most recent, and whether there were
/// more than upstream's 100 (it then warns that the clock or `startingDeadlineSeconds` is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// The latest scheduled time in `(earliest, now]`.
    pub most_recent: Option<DateTime<Utc>>,
    /// More than 100 were missed.
    pub too_many: bool,
}

/// Upstream's threshold for "too many missed start times".
const TOO_MANY: usize = 100;

/// The scheduled times after `earliest` (the last schedule time or the creation time, moved
/// up to `now - startingDeadlineSeconds` when that is later) up to `now`.
pub fn missed(schedule: &Schedule, earliest: DateTime<Utc>, now: DateTime<Utc>) -> Missed {
    let mut count = 0;
    let mut last = None;
    let mut t = earliest;
    while let Some(n) = schedule.next_after(t).filter(|n| *n <= now) {
        last = Some(n);
        count += 1;
        t = n;
        if count > TOO_MANY {
            break;
        }
    }
    if count <= TOO_MANY {
        return Missed {
            most_recent: last,
            too_many: false,
        };
    }
    // Too many to walk: find the latest in growing windows before `now`.
    for days in [0, 1, 32, 367, 5 * 367] {
        let from = (now - TimeDelta::days(days) - TimeDelta::hours(1)).max(earliest);
        let mut t = from;
        let mut found = None;
        while let Some(n) = schedule.next_after(t).filter(|n| *n <= now) {
            found = Some(n);
            t = n;
        }
        if found.is_some() {
            return Missed {
                most_recent: found,
                too_many: true,
            };
        }
    }
    Missed {
        most_recent: last,
        too_many: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(spec: &str, from: &str) -> String {
        Schedule::parse(spec, None)
            .unwrap()
            .next_after(at(from))
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    #[test]
    fn every_minute_fires_on_the_next_whole_minute() {
        assert_eq!(
            next("* * * * *", "2024-01-01T10:00:00Z"),
            "2024-01-01T10:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2024-01-01T10:00:59Z"),
            "2024-01-01T10:01:00Z"
        );
    }

    #[test]
    fn ranges_steps_lists_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T10:01:00Z"),
            "2024-01-01T10:15:00Z"
        );
        assert_eq!(
            next("5/20 9-17 * * *", "2024-01-01T17:45:00Z"),
            "2024-01-02T09:05:00Z"
        );
        assert_eq!(
            next("0 0 * * MON,fri", "2024-01-01T00:00:00Z"),
            "2024-01-05T00:00:00Z"
        );
        assert_eq!(
            next("30 6 1 FEB *", "2024-03-01T00:00:00Z"),
            "2025-02-01T06:30:00Z"
        );
        assert_eq!(
            next("0 12 29 2 *", "2024-03-01T00:00:00Z"),
            "2028-02-29T12:00:00Z"
        );
    }

    #[test]
    fn macros_expand_to_their_schedules() {
        assert_eq!(
            next("@hourly", "2024-01-01T10:00:00Z"),
            "2024-01-01T11:00:00Z"
        );
        assert_eq!(
            next("@daily", "2024-01-01T10:00:00Z"),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2024-01-01T10:00:00Z"),
            "2024-01-07T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2024-01-31T10:00:00Z"),
            "2024-02-01T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2024-01-31T10:00:00Z"),
            "2025-01-01T00:00:00Z"
        );
    }

    #[test]
    fn both_day_fields_restricted_match_either() {
        // The 13th, or any Friday: Friday 2024-01-05 comes first.
        assert_eq!(
            next("0 0 13 * 5", "2024-01-01T00:00:00Z"),
            "2024-01-05T00:00:00Z"
        );
        // A stepped star is a restriction too, as in robfig/cron.
        assert_eq!(
            next("0 0 */2 * 5", "2024-01-01T00:00:00Z"),
            "2024-01-03T00:00:00Z"
        );
        // With one day field a star, both must match: Friday the 13th.
        assert_eq!(
            next("0 0 13 * *", "2024-01-01T00:00:00Z"),
            "2024-01-13T00:00:00Z"
        );
    }

    #[test]
    fn bad_schedules_and_unknown_zones_are_refused() {
        let parse = |s| Schedule::parse(s, None);
        assert!(matches!(parse("* * * *"), Err(ScheduleError::Fields(4, _))));
        assert!(matches!(
            parse("60 * * * *"),
            Err(ScheduleError::Value { .. })
        ));
        assert!(matches!(
            parse("*/0 * * * *"),
            Err(ScheduleError::Value { .. })
        ));
        assert!(matches!(
            parse("5-1 * * * *"),
            Err(ScheduleError::Value { .. })
        ));
        assert!(parse("CRON_TZ=UTC 0 * * * *").is_ok());
        assert_eq!(
            parse("CRON_TZ=Mars/Olympus 0 * * * *"),
            Err(ScheduleError::TimeZone("Mars/Olympus".into()))
        );
        assert!(zone(Some("Local")).is_err());
        assert!(zone(Some("Europe/Paris")).is_ok());
    }

    fn next_in(spec: &str, tz: Option<&str>, from: &str) -> DateTime<Utc> {
        Schedule::parse(spec, tz)
            .unwrap()
            .next_after(at(from))
            .unwrap()
    }

    #[test]
    fn time_zones_move_the_wall_clock() {
        // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            next_in("0 9 * * *", Some("Europe/Paris"), "2024-01-10T12:00:00Z"),
            at("2024-01-11T08:00:00Z")
        );
        assert_eq!(
            next_in("0 9 * * *", Some("Europe/Paris"), "2024-07-10T12:00:00Z"),
            at("2024-07-11T07:00:00Z")
        );
        // CRON_TZ in the schedule counts when spec.timeZone is unset.
        assert_eq!(
            next_in("CRON_TZ=Asia/Tokyo 0 0 * * *", None, "2024-01-10T12:00:00Z"),
            at("2024-01-10T15:00:00Z")
        );
        // The day a job runs is the zone's day: Monday 01:00 in Tokyo is Sunday 16:00 UTC.
        assert_eq!(
            next_in("0 1 * * MON", Some("Asia/Tokyo"), "2024-01-01T00:00:00Z"),
            at("2024-01-07T16:00:00Z")
        );
    }

    #[test]
    fn daylight_saving_jumps_neither_lose_nor_repeat_a_run() {
        // New York skips 02:00-03:00 on 2024-03-10: the 02:30 run happens at 03:30 EDT.
        assert_eq!(
            next_in(
                "30 2 * * *",
                Some("America/New_York"),
                "2024-03-10T05:00:00Z"
            ),
            at("2024-03-10T07:30:00Z")
        );
        // 01:30 happens twice on 2024-11-03: the run is the first one, and only that.
        let s = Schedule::parse("30 1 * * *", Some("America/New_York")).unwrap();
        let first = s.next_after(at("2024-11-03T04:00:00Z")).unwrap();
        assert_eq!(first, at("2024-11-03T05:30:00Z"));
        assert_eq!(s.next_after(first).unwrap(), at("2024-11-04T06:30:00Z"));
    }

    #[test]
    fn missed_start_times_give_the_most_recent_and_flag_too_many() {
        let s = Schedule::parse("* * * * *", None).unwrap();
        let now = at("2024-01-01T10:05:30Z");
        let m = missed(&s, at("2024-01-01T10:02:00Z"), now);
        assert_eq!(
            m,
            Missed {
                most_recent: Some(at("2024-01-01T10:05:00Z")),
                too_many: false
            }
        );
        let m = missed(&s, at("2024-01-01T10:05:00Z"), now);
        assert_eq!(m.most_recent, None);
        let m = missed(&s, at("2023-12-01T00:00:00Z"), now);
        assert_eq!(
            m,
            Missed {
                most_recent: Some(at("2024-01-01T10:05:00Z")),
                too_many: true
            }
        );
        let hourly = Schedule::parse("@hourly", None).unwrap();
        let m = missed(&hourly, at("2023-01-01T00:00:00Z"), now);
        assert_eq!(
            m,
            Missed {
                most_recent: Some(at("2024-01-01T10:00:00Z")),
                too_many: true
            }
        );
    }
}
