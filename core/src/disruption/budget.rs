//! Disruption budgets (pure): how many nodes of a NodePool may be disrupted at once for a
//! reason, from its budgets (count or percentage, optional cron schedule in UTC with a
//! duration, optional reasons). Upstream semantics: the most restrictive active budget wins;
//! nodes already being deleted count against it; a NodePool without budgets allows 10%.

use std::time::Duration;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::api::nodepool::{Budget, DisruptionReason};

/// Why a budget could not be read (the budget then allows nothing: fail safe).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// `nodes` is neither a count nor a percentage.
    #[error("budget nodes {0:?} is not a count or a percentage")]
    Nodes(String),
    /// The cron schedule does not parse.
    #[error("budget schedule {0:?}: {1}")]
    Schedule(String, String),
    /// The duration does not parse.
    #[error("budget duration {0:?} is invalid")]
    Duration(String),
}

/// One cron field: the allowed values.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Field(Vec<bool>);

impl Field {
    fn parse(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Field, String> {
        let mut allowed = vec![false; max as usize + 1];
        let value = |s: &str| -> Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                return Ok(i as u32 + min);
            }
            s.parse::<u32>()
                .map_err(|_| format!("{s:?} is not a number"))
                .and_then(|v| {
                    if (min..=max).contains(&v) {
                        Ok(v)
                    } else {
                        Err(format!("{v} is outside {min}-{max}"))
                    }
                })
        };
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (
                    r,
                    s.parse::<u32>()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("bad step in {part:?}"))?,
                ),
                None => (part, 1),
            };
            let (lo, hi) = if range == "*" || range == "?" {
                (min, max)
            } else if let Some((a, b)) = range.split_once('-') {
                (value(a)?, value(b)?)
            } else {
                let v = value(range)?;
                (v, if part.contains('/') { max } else { v })
            };
            if lo > hi {
                return Err(format!("empty range {range:?}"));
            }
            for v in (lo..=hi).step_by(step as usize) {
                allowed[v as usize] = true;
            }
        }
        Ok(Field(allowed))
    }

    fn has(&self, v: u32) -> bool {
        self.0.get(v as usize).copied().unwrap_or(false)
    }

    fn is_full(&self, min: u32, max: u32) -> bool {
        (min..=max).all(|v| self.has(v))
    }
}

/// A standard five-field cron schedule (minute hour day-of-month month day-of-week, UTC), or
/// one of `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

impl Schedule {
    /// Parses a schedule.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(format!("expected 5 fields, got {}", fields.len()));
        };
        const MONTHS: [&str; 12] = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let mut dow = Field::parse(dow, 0, 7, &DAYS)?;
        if dow.has(7) {
            dow.0[0] = true;
        }
        Ok(Schedule {
            minute: Field::parse(minute, 0, 59, &[])?,
            hour: Field::parse(hour, 0, 23, &[])?,
            dom: Field::parse(dom, 1, 31, &[])?,
            month: Field::parse(month, 1, 12, &MONTHS)?,
            dow,
        })
    }

    /// Whether the schedule fires at the minute of `t` (UTC).
    pub fn matches(&self, t: Timestamp) -> bool {
        let dt = t.to_zoned(TimeZone::UTC).datetime();
        let dow = match dt.weekday() {
            Weekday::Sunday => 0,
            w => w.to_monday_one_offset() as u32,
        };
        let day = self.dom.has(dt.day() as u32);
        let weekday = self.dow.has(dow);
        // Cron: when both day fields are restricted, either may match.
        let day_ok = if self.dom.is_full(1, 31) || self.dow.is_full(0, 6) {
            day && weekday
        } else {
            day || weekday
        };
        self.minute.has(dt.minute() as u32)
            && self.hour.has(dt.hour() as u32)
            && self.month.has(dt.month() as u32)
            && day_ok
    }

    /// Whether the schedule fired within `duration` before `now` (the budget is active).
    pub fn active(&self, now: Timestamp, duration: Duration) -> bool {
        // Minute by minute backwards; a budget window longer than a week is capped there.
        let minutes = (duration.as_secs() / 60).min(7 * 24 * 60);
        let start = now.as_second() - now.as_second().rem_euclid(60);
        (0..=minutes as i64).any(|m| {
            Timestamp::from_second(start - m * 60).is_ok_and(|t| {
                // The firing minute itself counts only while inside the window.
                now.as_second() - t.as_second() < duration.as_secs() as i64 && self.matches(t)
            })
        })
    }
}

/// Whether `budget` is active at `now`.
pub fn is_active(budget: &Budget, now: Timestamp) -> Result<bool, BudgetError> {
    match (&budget.schedule, &budget.duration) {
        (Some(s), Some(d)) => {
            let schedule = Schedule::parse(s).map_err(|e| BudgetError::Schedule(s.clone(), e))?;
            let duration = d
                .duration()
                .map_err(|_| BudgetError::Duration(d.to_string()))?;
            Ok(schedule.active(now, duration))
        }
        _ => Ok(true),
    }
}

/// How many more nodes of a NodePool of `total` nodes (`disrupting` of them already being
/// deleted) may be disrupted for `reason` at `now`. A budget that cannot be read allows none.
pub fn allowed(
    budgets: &[Budget],
    reason: DisruptionReason,
    total: u32,
    disrupting: u32,
    now: Timestamp,
) -> u32 {
    let mut limit = u32::MAX;
    for b in budgets.iter().filter(|b| b.applies_to(reason)) {
        let active = match is_active(b, now) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "invalid disruption budget: blocking disruption");
                return 0;
            }
        };
        if !active {
            continue;
        }
        let Some(nodes) = b.parsed_nodes() else {
            tracing::warn!(error = %BudgetError::Nodes(b.nodes.clone()), "invalid disruption budget: blocking disruption");
            return 0;
        };
        limit = limit.min(nodes.allowed(total));
    }
    limit.min(total).saturating_sub(disrupting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::GoDuration;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn budget(nodes: &str, schedule: Option<&str>, duration: Option<&str>) -> Budget {
        Budget {
            reasons: None,
            nodes: nodes.into(),
            schedule: schedule.map(Into::into),
            duration: duration.map(GoDuration::from),
        }
    }

    #[test]
    fn cron_fields() {
        let s = Schedule::parse("0 9 * * mon-fri").unwrap();
        assert!(s.matches(at("2026-11-26T09:00:30Z"))); // Thursday
        assert!(!s.matches(at("2026-11-29T09:00:00Z"))); // Sunday
        assert!(!s.matches(at("2026-11-26T09:01:00Z")));
        let s = Schedule::parse("*/15 * * * *").unwrap();
        assert!(s.matches(at("2026-11-26T10:45:00Z")));
        assert!(!s.matches(at("2026-11-26T10:46:00Z")));
        assert!(Schedule::parse("@daily")
            .unwrap()
            .matches(at("2026-01-01T00:00:00Z")));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("* * *").is_err());
        assert!(Schedule::parse("1-0 * * * *").is_err());
    }

    #[test]
    fn a_schedule_is_active_for_its_duration() {
        let s = Schedule::parse("0 9 * * *").unwrap();
        let d = Duration::from_secs(3600);
        assert!(s.active(at("2026-11-26T09:00:00Z"), d));
        assert!(s.active(at("2026-11-26T09:59:59Z"), d));
        assert!(!s.active(at("2026-11-26T10:00:00Z"), d));
        assert!(!s.active(at("2026-11-26T08:59:00Z"), d));
    }

    #[test]
    fn the_most_restrictive_active_budget_wins() {
        let now = at("2026-11-26T12:00:00Z");
        // Default-like 10% of 10 nodes, one already going.
        assert_eq!(
            allowed(
                &[budget("10%", None, None)],
                DisruptionReason::Empty,
                10,
                1,
                now
            ),
            0
        );
        assert_eq!(
            allowed(
                &[budget("10%", None, None)],
                DisruptionReason::Empty,
                11,
                0,
                now
            ),
            2
        );
        let budgets = [budget("5", None, None), budget("0", None, None)];
        assert_eq!(allowed(&budgets, DisruptionReason::Drifted, 10, 0, now), 0);
        // A zero budget outside its window does not block.
        let budgets = [
            budget("100%", None, None),
            budget("0", Some("0 9 * * *"), Some("1h")),
        ];
        assert_eq!(
            allowed(&budgets, DisruptionReason::Underutilized, 4, 0, now),
            4
        );
        let inside = at("2026-11-26T09:30:00Z");
        assert_eq!(
            allowed(&budgets, DisruptionReason::Underutilized, 4, 0, inside),
            0
        );
    }

    #[test]
    fn reasons_scope_a_budget_and_bad_budgets_block() {
        let now = at("2026-11-26T12:00:00Z");
        let mut b = budget("0", None, None);
        b.reasons = Some(vec![DisruptionReason::Drifted]);
        assert_eq!(allowed(&[b.clone()], DisruptionReason::Empty, 3, 0, now), 3);
        assert_eq!(allowed(&[b], DisruptionReason::Drifted, 3, 0, now), 0);
        assert_eq!(
            allowed(
                &[budget("x", None, None)],
                DisruptionReason::Empty,
                3,
                0,
                now
            ),
            0
        );
        assert_eq!(
            allowed(
                &[budget("1", Some("bad"), Some("1h"))],
                DisruptionReason::Empty,
                3,
                0,
                now
            ),
            0
        );
    }
}
