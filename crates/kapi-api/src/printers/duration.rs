//! Durations for humans, with the precision rules of apimachinery's `HumanDuration`.

use chrono::Duration;

/// Formats a duration the way `kubectl get` prints ages: about two significant figures.
///
/// - below -1s: `<invalid>` (a little clock skew, down to -1s, prints `0s`);
/// - below 2 minutes: seconds (`45s`, `119s`);
/// - below 10 minutes: minutes and seconds (`5m3s`, `7m`);
/// - below 3 hours: minutes (`17m`, `179m`);
/// - below 8 hours: hours and minutes (`4h20m`, `5h`);
/// - below 2 days: hours (`47h`);
/// - below 8 days: days and hours (`3d5h`, `4d`);
/// - below 2 years: days (`400d`);
/// - below 8 years: years and days (`2y30d`, `3y`);
/// - otherwise years (`12y`).
///
/// ```
/// use kapi_api::printers::human_duration;
/// assert_eq!(human_duration(chrono::Duration::seconds(303)), "5m3s");
/// assert_eq!(human_duration(chrono::Duration::hours(77)), "3d5h");
/// ```
pub fn human_duration(d: Duration) -> String {
    // Whole seconds, truncated toward zero.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{days}d");
        }
        return format!("{days}d{h}h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let dy = days % 365;
        if dy == 0 {
            return format!("{years}y");
        }
        return format!("{years}y{dy}d");
    }
    format!("{years}y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_table() {
        let sec = Duration::seconds;
        let ms = Duration::milliseconds;
        let min = |m: i64| Duration::minutes(m);
        let hour = |h: i64| Duration::hours(h);
        let day = |d: i64| Duration::days(d);
        let cases: Vec<(Duration, &str)> = vec![
            (sec(-3), "<invalid>"),
            (sec(-2), "<invalid>"),
            (ms(-1999), "0s"),
            (sec(-1), "0s"),
            (ms(-500), "0s"),
            (sec(0), "0s"),
            (ms(999), "0s"),
            (sec(1), "1s"),
            (sec(45), "45s"),
            (sec(60), "60s"),
            (sec(119), "119s"),
            (sec(120), "2m"),
            (sec(121), "2m1s"),
            (sec(303), "5m3s"),
            (min(7), "7m"),
            (sec(599), "9m59s"),
            (sec(600), "10m"),
            (sec(601), "10m"),
            (min(17), "17m"),
            (min(179), "179m"),
            (min(180), "3h"),
            (min(181), "3h1m"),
            (min(260), "4h20m"),
            (hour(5), "5h"),
            (min(479), "7h59m"),
            (hour(8), "8h"),
            (hour(47) + min(59), "47h"),
            (hour(48), "2d"),
            (hour(77), "3d5h"),
            (day(4), "4d"),
            (hour(191), "7d23h"),
            (hour(192), "8d"),
            (day(400), "400d"),
            (day(729), "729d"),
            (day(730), "2y"),
            (day(760), "2y30d"),
            (day(365 * 3), "3y"),
            (day(365 * 8 - 1), "7y364d"),
            (day(365 * 8), "8y"),
            (day(365 * 12 + 100), "12y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }
}
