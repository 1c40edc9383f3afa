//! GAS-Station (weekly) datasets, as the network reads them (GASBench
//! `dataset/utils/gasstation_utils.py`, `dataset/download/core.py::_process_gasstation`,
//! `dataset/iterator.py`): a dataset whose name contains `gasstation` is organised by ISO week —
//! metadata parquet files under a folder naming the week (`data_2025W40/….parquet`, column
//! `archive_filename`) and the media in tar archives at `archives/<week>/<archive_filename>`.
//!
//! - **Which weeks** ([`target_weeks`]): with `num_weeks = N`, the N most recent ISO weeks
//!   counting back from today in steps of 7 days; without it, the current week, plus — when the
//!   current week has no file yet — the newest of the four weeks before it that has one. Sorted
//!   oldest first.
//! - **Which files**: per week, the listed files of the dataset's `source_format` whose path
//!   contains the week: `archives_per_dataset` of them, newest name first (−1: all of them, in
//!   listing order).
//! - **Which samples**: per parquet, the distinct `archive_filename`s (the network iterates a
//!   Python `set`, an order that changes from process to process; gascli takes them sorted), each
//!   archive's media entries drawn as for any archive (`media_per_archive`, seeded
//!   `random.Random.sample`), in extraction order.
//! - **Read back**: weeks oldest first; within a week, the newest extracted sample first.
//!
//! `today` is the local date, as the network's `datetime.now()`; tests pass a fixed one.

use chrono::{Datelike, Days, NaiveDate};

/// How GAS-Station datasets are read (part of [`crate::OpenOptions`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GasStationOptions {
    /// gasbench's `--num-weeks`: the N most recent ISO weeks; `None`: the current week (with the
    /// fall-back to an earlier week, see the module doc).
    pub num_weeks: Option<u32>,
    /// The day weeks count back from; `None`: today (local time).
    pub today: Option<NaiveDate>,
    /// Read GAS-Station hub datasets from the cache only (gasbench's `run` without
    /// `--download-latest-gasstation-data` downloads none of them).
    pub cache_only: bool,
}

impl GasStationOptions {
    /// The day weeks are counted from.
    pub fn today(&self) -> NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Local::now().date_naive())
    }
}

/// `2025W07`: the ISO year and week of `day`, as the network writes them.
pub fn iso_week(day: NaiveDate) -> String {
    let w = day.iso_week();
    format!("{}W{:02}", w.year(), w.week())
}

fn weeks_back(today: NaiveDate, i: u32) -> String {
    let day = today
        .checked_sub_days(Days::new(7 * u64::from(i)))
        .unwrap_or(today);
    iso_week(day)
}

/// The weeks a run reads (module doc), oldest first. `has_data(week)` says whether the dataset
/// lists a file for that week.
pub fn target_weeks(
    today: NaiveDate,
    num_weeks: Option<u32>,
    has_data: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut weeks = Vec::new();
    match num_weeks.filter(|&n| n > 0) {
        Some(n) => {
            // bounded: a week count beyond a few years names weeks no dataset has
            for i in 0..n.min(520) {
                weeks.push(weeks_back(today, i));
            }
        }
        None => {
            let current = iso_week(today);
            let empty = !has_data(&current);
            weeks.push(current);
            if empty && let Some(prev) = (1..5).map(|i| weeks_back(today, i)).find(|w| has_data(w))
            {
                weeks.push(prev);
            }
        }
    }
    weeks.sort();
    weeks.dedup();
    weeks
}

/// The first `YYYYWww` in a path (the network's `(\d{4}W\d{2})`).
pub fn week_in_path(path: &str) -> Option<&str> {
    let b = path.as_bytes();
    (0..b.len().saturating_sub(6)).find_map(|i| {
        let w = &b[i..i + 7];
        (w[..4].iter().all(u8::is_ascii_digit)
            && w[4] == b'W'
            && w[5..].iter().all(u8::is_ascii_digit))
        .then(|| &path[i..i + 7])
    })
}

/// Where the network fetches a GAS-Station archive named in a parquet of `week`.
pub fn archive_path(week: &str, archive_filename: &str) -> String {
    format!("archives/{week}/{archive_filename}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn iso_weeks_cross_years_as_python_isocalendar() {
        // 2024-12-30 is Monday of ISO week 1 of 2025; 2021-01-03 is in week 53 of 2020
        assert_eq!(iso_week(d(2024, 12, 30)), "2025W01");
        assert_eq!(iso_week(d(2021, 1, 3)), "2020W53");
        assert_eq!(iso_week(d(2026, 11, 30)), "2026W49");
    }

    #[test]
    fn recent_weeks_count_back_in_sevens_and_sort() {
        let w = target_weeks(d(2025, 1, 2), Some(3), |_| false);
        assert_eq!(w, ["2024W51", "2024W52", "2025W01"]);
    }

    #[test]
    fn without_a_count_falls_back_to_the_newest_earlier_week_with_data() {
        let today = d(2026, 11, 30);
        assert_eq!(target_weeks(today, None, |_| true), ["2026W49"]);
        let w = target_weeks(today, None, |w| w == "2026W46" || w == "2026W45");
        assert_eq!(w, ["2026W46", "2026W49"]);
        // nothing in the four weeks before: the current week alone
        assert_eq!(target_weeks(today, None, |w| w == "2026W40"), ["2026W49"]);
    }

    #[test]
    fn finds_the_week_in_a_path() {
        assert_eq!(week_in_path("data_2025W40/part-0.parquet"), Some("2025W40"));
        assert_eq!(week_in_path("archives/2025W39/a.tar.gz"), Some("2025W39"));
        assert_eq!(week_in_path("data/2025-W40/x"), None);
        assert_eq!(week_in_path("W40"), None);
        assert_eq!(week_in_path("ééé2025W01"), Some("2025W01"));
    }
}
