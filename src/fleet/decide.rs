//! What the fleet does next: a pure function of every cluster's state as its journal shows it, the soak
//! time and the clock. A wave starts only when every cluster of the waves before it is promoted and has
//! soaked; a cluster that rolled back, paused, failed or cannot be reached stops the fleet.

use crate::plan::file::Duration;
use std::fmt;

/// One cluster's run of the fleet's plan, as its journal shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterState {
    /// No run of this plan (or only one of another version of it, closed): the wave starts one.
    NotStarted,
    /// A run of this plan is open (running, or killed while running): `apply` resumes it.
    Running,
    /// Promoted (or finalized) at this time (seconds since the epoch).
    Promoted {
        /// When its last step ended.
        at: i64,
    },
    /// The run rolled back: the release failed on this cluster.
    RolledBack,
    /// The run paused for a person.
    Paused,
    /// The run failed, or a run of another plan is open: the cluster needs attention.
    NeedsAttention(String),
    /// The cluster could not be reached or its journal read.
    Unreachable(String),
}

impl ClusterState {
    /// The state in a word or two, for `fleet status`.
    pub fn label(&self) -> String {
        match self {
            ClusterState::NotStarted => "not started".to_owned(),
            ClusterState::Running => "running".to_owned(),
            ClusterState::Promoted { .. } => "promoted".to_owned(),
            ClusterState::RolledBack => "rolled back".to_owned(),
            ClusterState::Paused => "paused".to_owned(),
            ClusterState::NeedsAttention(why) => format!("needs attention: {why}"),
            ClusterState::Unreachable(why) => format!("unreachable: {why}"),
        }
    }
}

/// Why the fleet stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A cluster rolled back.
    RolledBack,
    /// A cluster paused for a person.
    Paused,
    /// A cluster needs attention or cannot be reached.
    NeedsAttention,
}

/// What the fleet does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAction {
    /// Upgrade these clusters of the wave (indexes into its clusters), in order.
    Run {
        /// The wave's index.
        wave: usize,
        /// The clusters still to upgrade.
        clusters: Vec<usize>,
    },
    /// Wait before the wave starts: the previous one is still soaking.
    Soak {
        /// The wave that starts after the wait.
        wave: usize,
        /// How long is left.
        remaining: Duration,
    },
    /// Every wave is promoted.
    Done,
    /// A cluster stopped the fleet; nothing new starts.
    Stop {
        /// Which kind of stop.
        reason: StopReason,
        /// The wave and cluster (indexes) that stopped it.
        at: (usize, usize),
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::RolledBack => "rolled back",
            StopReason::Paused => "paused",
            StopReason::NeedsAttention => "needs attention",
        })
    }
}

/// The next action for waves whose clusters are in `states` (one list per wave), at `now` (seconds since
/// the epoch); `retry_rolled_back` runs a rolled-back cluster again instead of stopping.
pub fn next_action(states: &[Vec<ClusterState>], soak: Duration, now: i64, retry_rolled_back: bool) -> NextAction {
    let mut promoted_at: Option<i64> = None;
    for (wave, clusters) in states.iter().enumerate() {
        if let Some(stop) = first_stop(wave, clusters, retry_rolled_back) {
            return stop;
        }
        let pending: Vec<usize> = clusters
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s, ClusterState::Promoted { .. }))
            .map(|(i, _)| i)
            .collect();
        if !pending.is_empty() {
            if let Some(at) = promoted_at {
                let soaked_at = at.saturating_add(i64::try_from(soak.to_std().as_secs()).unwrap_or(i64::MAX));
                if soaked_at > now {
                    let remaining = Duration::from_secs(u64::try_from(soaked_at - now).unwrap_or(0));
                    return NextAction::Soak { wave, remaining };
                }
            }
            return NextAction::Run { wave, clusters: pending };
        }
        promoted_at = clusters
            .iter()
            .filter_map(|s| match s {
                ClusterState::Promoted { at } => Some(*at),
                _ => None,
            })
            .max();
    }
    NextAction::Done
}

fn first_stop(wave: usize, clusters: &[ClusterState], retry_rolled_back: bool) -> Option<NextAction> {
    clusters.iter().enumerate().find_map(|(index, state)| {
        let reason = match state {
            ClusterState::RolledBack if !retry_rolled_back => StopReason::RolledBack,
            ClusterState::Paused => StopReason::Paused,
            ClusterState::NeedsAttention(_) | ClusterState::Unreachable(_) => StopReason::NeedsAttention,
            _ => return None,
        };
        Some(NextAction::Stop { reason, at: (wave, index) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClusterState::*;

    const SOAK: Duration = Duration::from_secs(600);

    #[test]
    fn the_first_wave_starts_with_every_cluster_not_started() {
        let states = vec![vec![NotStarted], vec![NotStarted, NotStarted]];
        assert_eq!(next_action(&states, SOAK, 0, false), NextAction::Run { wave: 0, clusters: vec![0] });
    }

    #[test]
    fn the_next_wave_waits_for_the_soak_from_the_last_promotion_of_the_wave_before() {
        let states = vec![vec![Promoted { at: 100 }, Promoted { at: 400 }], vec![NotStarted, Running]];
        assert_eq!(
            next_action(&states, SOAK, 500, false),
            NextAction::Soak { wave: 1, remaining: Duration::from_secs(500) }
        );
        assert_eq!(next_action(&states, SOAK, 1000, false), NextAction::Run { wave: 1, clusters: vec![0, 1] });
    }

    #[test]
    fn a_wave_only_runs_the_clusters_not_yet_promoted() {
        let states = vec![vec![Promoted { at: 0 }, NotStarted, Running]];
        assert_eq!(next_action(&states, SOAK, 0, false), NextAction::Run { wave: 0, clusters: vec![1, 2] });
    }

    #[test]
    fn a_rolled_back_paused_or_unreachable_cluster_stops_the_fleet_and_later_waves_stay_untouched() {
        let rolled = vec![vec![Promoted { at: 0 }], vec![RolledBack, NotStarted], vec![NotStarted]];
        let stop = NextAction::Stop { reason: StopReason::RolledBack, at: (1, 0) };
        assert_eq!(next_action(&rolled, SOAK, 10_000, false), stop);
        let paused = vec![vec![Paused]];
        assert_eq!(next_action(&paused, SOAK, 0, false), NextAction::Stop { reason: StopReason::Paused, at: (0, 0) });
        let gone = vec![vec![Promoted { at: 0 }, Unreachable("timeout".into())]];
        assert_eq!(
            next_action(&gone, SOAK, 0, false),
            NextAction::Stop { reason: StopReason::NeedsAttention, at: (0, 1) }
        );
    }

    #[test]
    fn a_rolled_back_cluster_runs_again_only_when_asked() {
        let states = vec![vec![RolledBack]];
        assert_eq!(next_action(&states, SOAK, 0, true), NextAction::Run { wave: 0, clusters: vec![0] });
    }

    #[test]
    fn every_wave_promoted_is_done_without_a_soak_after_the_last() {
        let states = vec![vec![Promoted { at: 0 }], vec![Promoted { at: 999 }]];
        assert_eq!(next_action(&states, SOAK, 1000, false), NextAction::Done);
    }
}
