//! Heartbeats: each node writes one every quarter lease; every node that has itself beaten for a
//! whole lease hands the work of nodes silent for a lease to the `Orphans` it was given (streams
//! are ended as `interrupted`, unfinished documents are ingested again).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::Cluster;
use crate::store;
use sea_orm::DatabaseConnection;

/// Work a stopped node leaves behind, taken over by a live one.
#[async_trait::async_trait]
pub trait Orphans: Send + Sync {
    /// What is taken over, for the log.
    fn what(&self) -> &'static str;
    /// Takes over the work of nodes silent since `alive_since`; how much it took.
    async fn take_over(&self, alive_since: DateTime<Utc>) -> Result<usize, DbErr>;
}

/// How many leases a silent node's row is kept before it is deleted.
const FORGET_AFTER_LEASES: u32 = 60;

pub(super) async fn keep(cluster: Cluster, db: DatabaseConnection, orphans: Vec<Arc<dyn Orphans>>) {
    let lease = cluster.lease();
    let mut tick = tokio::time::interval((lease / 4).max(Duration::from_millis(250)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beating = Beating::default();
    loop {
        tick.tick().await;
        if cluster.is_leaving() {
            return;
        }
        let beat = store::nodes::heartbeat(&db, cluster.node_id(), cluster.node_name()).await;
        match (&beat, beating.record(beat.is_ok(), Instant::now())) {
            (Err(e), Change::Stopped) => tracing::error!("cannot write the node heartbeat: {e}"),
            (Ok(()), Change::Resumed) => tracing::info!("node heartbeat written again"),
            _ => {}
        }
        if !beating.may_take_over(lease, Instant::now()) {
            continue;
        }
        let now = crate::time::now();
        let Ok(lease) = chrono::Duration::from_std(lease) else {
            continue;
        };
        for orphans in &orphans {
            if let Err(e) = orphans.take_over(now - lease).await {
                tracing::warn!("cannot look for {} of stopped nodes: {e}", orphans.what());
            }
        }
        if let Err(e) =
            store::nodes::remove_silent(&db, now - lease * FORGET_AFTER_LEASES as i32).await
        {
            tracing::warn!("cannot forget stopped nodes: {e}");
        }
    }
}

/// Since when this node has written its heartbeat without a failure. A node ends other nodes'
/// streams only once it has beaten for a whole lease itself: after a database outage longer than
/// a lease every node's last beat is old, and the node that reaches the database first must not
/// end the live streams of nodes that have not had their turn to beat yet.
#[derive(Debug, Default)]
struct Beating {
    since: Option<Instant>,
    failed: bool,
}

/// What a heartbeat changed, for the log (each loss and return is logged once).
#[derive(Debug, PartialEq, Eq)]
enum Change {
    None,
    Stopped,
    Resumed,
}

impl Beating {
    fn record(&mut self, written: bool, now: Instant) -> Change {
        match (written, self.failed) {
            (true, failed) => {
                self.since.get_or_insert(now);
                self.failed = false;
                if failed {
                    Change::Resumed
                } else {
                    Change::None
                }
            }
            (false, failed) => {
                self.since = None;
                self.failed = true;
                if failed {
                    Change::None
                } else {
                    Change::Stopped
                }
            }
        }
    }

    fn may_take_over(&self, lease: Duration, now: Instant) -> bool {
        self.since
            .is_some_and(|since| now.duration_since(since) >= lease)
    }
}

/// Leaves the cluster at a clean stop, so nobody waits a lease for this node's streams.
pub async fn leave(cluster: &Cluster, db: &DatabaseConnection) {
    if let Err(e) = store::nodes::remove(db, cluster.node_id()).await {
        tracing::warn!("cannot remove this node's heartbeat: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(10);

    #[test]
    fn a_node_takes_over_only_after_beating_for_a_whole_lease() {
        let start = Instant::now();
        let mut beating = Beating::default();
        assert_eq!(beating.record(true, start), Change::None);
        assert!(!beating.may_take_over(LEASE, start + LEASE / 2));
        beating.record(true, start + LEASE / 2);
        assert!(beating.may_take_over(LEASE, start + LEASE));
    }

    #[test]
    fn a_failed_beat_starts_the_wait_again() {
        let start = Instant::now();
        let mut beating = Beating::default();
        beating.record(true, start);
        assert_eq!(beating.record(false, start + LEASE * 2), Change::Stopped);
        assert_eq!(beating.record(false, start + LEASE * 3), Change::None);
        assert!(!beating.may_take_over(LEASE, start + LEASE * 3));
        // The database is back after an outage of three leases: not before a lease of beats.
        let back = start + LEASE * 4;
        assert_eq!(beating.record(true, back), Change::Resumed);
        assert!(!beating.may_take_over(LEASE, back + LEASE / 4));
        beating.record(true, back + LEASE / 4);
        assert!(beating.may_take_over(LEASE, back + LEASE));
    }
}
