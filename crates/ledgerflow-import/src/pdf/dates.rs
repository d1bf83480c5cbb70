//! Dates as statements print them: `09 Sep 23`, `Sep 9, 2023`, `02/07`, `2023-09-09`,
//! `07.02.2024`, `9-Sep-2023`; with or without a year, and numeric ones in either order until
//! the whole statement settles it.

use chrono::NaiveDate;

/// A date read from one to three words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parts {
    Full(NaiveDate),
    /// Day and month, the year to come from the statement period.
    NoYear {
        month: u32,
        day: u32,
    },
    /// `a/b[/y]` with the order not yet known.
    Numeric {
        a: u32,
        b: u32,
        year: Option<i32>,
    },
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_name(s: &str) -> Option<u32> {
    let s = s.trim_end_matches(['.', ',']).to_ascii_lowercase();
    if s.len() < 3 || !s.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&s) || s == "sept")
        .map(|i| i as u32 + 1)
}

fn number(s: &str, max_len: usize) -> Option<u32> {
    let s = s.trim_end_matches([',', '.']);
    (!s.is_empty() && s.len() <= max_len && s.chars().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn day(s: &str) -> Option<u32> {
    let s = s
        .trim_end_matches(['.', ','])
        .trim_end_matches("st")
        .trim_end_matches("nd")
        .trim_end_matches("rd")
        .trim_end_matches("th");
    number(s, 2).filter(|d| (1..=31).contains(d))
}

fn year(s: &str) -> Option<i32> {
    let s = s.trim_end_matches([',', '.']);
    match s.len() {
        2 => number(s, 2).map(|y| {
            if y < 70 {
                2000 + y as i32
            } else {
                1900 + y as i32
            }
        }),
        4 => number(s, 4)
            .map(|y| y as i32)
            .filter(|y| (1970..=2200).contains(y)),
        _ => None,
    }
}

fn full(y: i32, m: u32, d: u32) -> Option<Parts> {
    NaiveDate::from_ymd_opt(y, m, d).map(Parts::Full)
}

fn no_year(m: u32, d: u32) -> Option<Parts> {
    // 2000 is a leap year: 29 Feb is a day and month that exist.
    NaiveDate::from_ymd_opt(2000, m, d).map(|_| Parts::NoYear { month: m, day: d })
}

/// A date in one word: `2023-09-09`, `09/09/2023`, `9-Sep-23`, `07.02.`, `02/07`.
fn one(w: &str) -> Option<Parts> {
    let w = w.trim_end_matches(',');
    let sep = ['/', '-', '.'].into_iter().find(|c| w.contains(*c))?;
    let mut parts: Vec<&str> = w.split(sep).collect();
    // "07.02." is a date; "12.05" is an amount.
    let dotted = sep == '.' && parts.last() == Some(&"");
    if dotted {
        parts.pop();
    }
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => full(year(y)?, number(m, 2)?, number(d, 2)?),
        [d, m, y] if month_name(m).is_some() => full(year(y)?, month_name(m)?, day(d)?),
        [a, b, y] => {
            let (a, b, y) = (number(a, 2)?, number(b, 2)?, year(y)?);
            numeric(a, b, Some(y))
        }
        [d, m] if month_name(m).is_some() => no_year(month_name(m)?, day(d)?),
        [a, b] if sep == '/' || dotted => numeric(number(a, 2)?, number(b, 2)?, None),
        _ => None,
    }
}

fn numeric(a: u32, b: u32, year: Option<i32>) -> Option<Parts> {
    // At least one order must be a real date.
    let ok = |d: u32, m: u32| NaiveDate::from_ymd_opt(year.unwrap_or(2000), m, d).is_some();
    (ok(a, b) || ok(b, a)).then_some(Parts::Numeric { a, b, year })
}

/// The date at the start of `words` (texts) and how many words it took; with `format` (a
/// template's), only that format.
pub(super) fn at_start(words: &[&str], format: Option<&str>) -> Option<(Parts, usize)> {
    if let Some(f) = format {
        return with_format(words, f);
    }
    let w = |i: usize| words.get(i).copied();
    // Three words: "09 Sep 2023", "Sep 9, 2023".
    if let (Some(x), Some(y), Some(z)) = (w(0), w(1), w(2)) {
        if let (Some(d), Some(m), Some(y)) = (day(x), month_name(y), year(z))
            && let Some(p) = full(y, m, d)
        {
            return Some((p, 3));
        }
        if let (Some(m), Some(d), Some(y)) = (month_name(x), day(y), year(z))
            && let Some(p) = full(y, m, d)
        {
            return Some((p, 3));
        }
    }
    // Two words: "09 Sep", "Sep 09".
    if let (Some(x), Some(y)) = (w(0), w(1)) {
        if let (Some(d), Some(m)) = (day(x), month_name(y))
            && let Some(p) = no_year(m, d)
        {
            return Some((p, 2));
        }
        if let (Some(m), Some(d)) = (month_name(x), day(y))
            && let Some(p) = no_year(m, d)
        {
            return Some((p, 2));
        }
    }
    w(0).and_then(one).map(|p| (p, 1))
}

/// A template's date format over the first one to three words; without a year in the format
/// the year comes from the statement period.
fn with_format(words: &[&str], format: &str) -> Option<(Parts, usize)> {
    let has_year = format.contains("%Y") || format.contains("%y") || format.contains("%D");
    for n in (1..=3.min(words.len())).rev() {
        let text = words[..n].join(" ");
        if has_year {
            if let Ok(d) = NaiveDate::parse_from_str(&text, format) {
                return Some((Parts::Full(d), n));
            }
        } else if let Ok(d) =
            NaiveDate::parse_from_str(&format!("{text} 2000"), &format!("{format} %Y"))
        {
            use chrono::Datelike;
            return Some((
                Parts::NoYear {
                    month: d.month(),
                    day: d.day(),
                },
                n,
            ));
        }
    }
    None
}

/// The numeric order a statement uses, decided by its dates: `Some(true)` day-first.
pub(super) fn order(parts: impl Iterator<Item = Parts>) -> Result<Option<bool>, String> {
    let (mut day_first, mut month_first) = (false, false);
    for p in parts {
        if let Parts::Numeric { a, b, .. } = p {
            day_first |= a > 12;
            month_first |= b > 12;
        }
    }
    match (day_first, month_first) {
        (true, true) => Err("the rows' dates are written both day-first and month-first".into()),
        (true, false) => Ok(Some(true)),
        (false, true) => Ok(Some(false)),
        (false, false) => Ok(None),
    }
}

/// A date with its order settled; the year still open when the statement did not print it.
pub(super) fn settle(p: Parts, day_first: bool) -> Option<(Option<i32>, u32, u32)> {
    match p {
        Parts::Full(d) => {
            use chrono::Datelike;
            Some((Some(d.year()), d.month(), d.day()))
        }
        Parts::NoYear { month, day } => Some((None, month, day)),
        Parts::Numeric { a, b, year } => {
            let (d, m) = if day_first { (a, b) } else { (b, a) };
            NaiveDate::from_ymd_opt(year.unwrap_or(2000), m, d).map(|_| (year, m, d))
        }
    }
}

/// The year for a day and month printed without one: the year that puts it nearest the
/// statement period (so December rows of a January statement fall in the year before).
pub(super) fn in_period(
    month: u32,
    day: u32,
    start: Option<NaiveDate>,
    end: NaiveDate,
) -> Option<NaiveDate> {
    use chrono::Datelike;
    let start = start.unwrap_or(end);
    let distance = |d: NaiveDate| {
        if d < start {
            (start - d).num_days()
        } else if d > end {
            (d - end).num_days()
        } else {
            0
        }
    };
    // A row may be posted a little outside the period, never a season away: 29/02 on a
    // statement of a year without it is no date, not the nearest leap year's.
    [end.year() - 1, end.year(), end.year() + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .filter(|d| distance(*d) <= 62)
        .min_by_key(|d| distance(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn dates_as_statements_print_them() {
        let cases: [(&[&str], Parts, usize); 10] = [
            (
                &["09", "Sep", "23", "SWIGGY"],
                Parts::Full(d(2023, 9, 9)),
                3,
            ),
            (&["Sep", "9,", "2023"], Parts::Full(d(2023, 9, 9)), 3),
            (&["2023-09-09", "X"], Parts::Full(d(2023, 9, 9)), 1),
            (&["9-Sep-2023"], Parts::Full(d(2023, 9, 9)), 1),
            (
                &["09", "Sep", "COFFEE"],
                Parts::NoYear { month: 9, day: 9 },
                2,
            ),
            (&["Dec", "31", "X"], Parts::NoYear { month: 12, day: 31 }, 2),
            (
                &["07.02."],
                Parts::Numeric {
                    a: 7,
                    b: 2,
                    year: None,
                },
                1,
            ),
            (
                &["02/07"],
                Parts::Numeric {
                    a: 2,
                    b: 7,
                    year: None,
                },
                1,
            ),
            (
                &["13/02/24"],
                Parts::Numeric {
                    a: 13,
                    b: 2,
                    year: Some(2024),
                },
                1,
            ),
            (&["29", "Feb"], Parts::NoYear { month: 2, day: 29 }, 2),
        ];
        for (words, want, n) in cases {
            assert_eq!(at_start(words, None), Some((want, n)), "{words:?}");
        }
        for bad in [
            &["12.50"][..],
            &["Total"],
            &["32/01/2024"],
            &["31", "Febtember"],
            &["1234567"],
            &["13/13"],
            &["12.05"],
        ] {
            assert_eq!(at_start(bad, None), None, "{bad:?}");
        }
    }

    #[test]
    fn a_template_format_reads_its_own_dates_only() {
        assert_eq!(
            at_start(&["09", "Sep", "23"], Some("%d %b %y")),
            Some((Parts::Full(d(2023, 9, 9)), 3))
        );
        assert_eq!(
            at_start(&["07.02.", "X"], Some("%d.%m.")),
            Some((Parts::NoYear { month: 2, day: 7 }, 1))
        );
        assert_eq!(at_start(&["2023-09-09"], Some("%d %b %y")), None);
    }

    #[test]
    fn the_order_is_decided_by_the_whole_statement() {
        let p = |a, b| Parts::Numeric { a, b, year: None };
        assert_eq!(order([p(1, 2), p(13, 2)].into_iter()), Ok(Some(true)));
        assert_eq!(order([p(1, 2), p(2, 13)].into_iter()), Ok(Some(false)));
        assert_eq!(order([p(1, 2)].into_iter()), Ok(None));
        assert!(order([p(13, 2), p(2, 13)].into_iter()).is_err());
    }

    #[test]
    fn yearless_dates_take_the_year_of_the_period_across_new_year() {
        let (start, end) = (Some(d(2023, 12, 16)), d(2024, 1, 15));
        assert_eq!(in_period(12, 20, start, end), Some(d(2023, 12, 20)));
        assert_eq!(in_period(1, 3, start, end), Some(d(2024, 1, 3)));
        // A row posted a day after the period still belongs to its year.
        assert_eq!(in_period(1, 16, start, end), Some(d(2024, 1, 16)));
        assert_eq!(in_period(2, 29, None, d(2024, 3, 1)), Some(d(2024, 2, 29)));
        // Not in a year without 29 February, nor months away from the period.
        assert_eq!(in_period(2, 29, Some(d(2023, 2, 1)), d(2023, 3, 31)), None);
        assert_eq!(in_period(7, 1, start, end), None);
    }
}
