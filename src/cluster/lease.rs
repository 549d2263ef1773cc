//! Heartbeats: each node writes one every quarter lease; every node looks for `streaming` replies
//! whose node has been silent for a whole lease and ends them as `interrupted`.

use std::time::Duration;

use super::Cluster;
use crate::chat::ChatService;
use crate::store;

/// How many leases a silent node's row is kept before it is deleted.
const FORGET_AFTER_LEASES: u32 = 60;

pub(super) async fn keep(cluster: Cluster, chat: ChatService) {
    let lease = cluster.lease();
    let mut tick = tokio::time::interval((lease / 4).max(Duration::from_millis(250)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beating = true;
    loop {
        tick.tick().await;
        if cluster.is_leaving() {
            return;
        }
        match store::nodes::heartbeat(chat.db(), cluster.node_id(), cluster.node_name()).await {
            Ok(()) if !beating => {
                tracing::info!("node heartbeat written again");
                beating = true;
            }
            Ok(()) => {}
            Err(e) => {
                if beating {
                    tracing::error!("cannot write the node heartbeat: {e}");
                }
                beating = false;
                continue;
            }
        }
        let now = crate::time::now();
        let Ok(lease) = chrono::Duration::from_std(lease) else {
            continue;
        };
        if let Err(e) = chat.take_over_orphans(now - lease).await {
            tracing::warn!("cannot look for streams of stopped nodes: {e}");
        }
        if let Err(e) =
            store::nodes::remove_silent(chat.db(), now - lease * FORGET_AFTER_LEASES as i32).await
        {
            tracing::warn!("cannot forget stopped nodes: {e}");
        }
    }
}

/// Leaves the cluster at a clean stop, so nobody waits a lease for this node's streams.
pub async fn leave(cluster: &Cluster, chat: &ChatService) {
    if let Err(e) = store::nodes::remove(chat.db(), cluster.node_id()).await {
        tracing::warn!("cannot remove this node's heartbeat: {e}");
    }
}
