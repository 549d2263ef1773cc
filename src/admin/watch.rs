//! What this node's admin sockets are told: connections, upgrades, disconnections (with their
//! reason) and events in and out as they happen (`activity`), each stamped when it happened;
//! once a second, room and data changes from comparing this node's sockets with the second
//! before; every other second, `server_stats` to every node's admin sockets.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::{sockets, Admin, MAIN, NAMESPACE};
use crate::activity::{self, Happening};
use crate::chat::GenerationStats;
use crate::socket::Socket;
use crate::{time, traffic};

const TICK: Duration = Duration::from_secs(1);
/// `server_stats` every this many ticks (the UI marks a server unhealthy after 10 s without).
const STATS_EVERY: u32 = 2;

/// One socket as last seen.
struct Seen {
    nsp: String,
    transport: &'static str,
    rooms: BTreeSet<String>,
    data: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServerStats<'a> {
    server_id: &'a str,
    hostname: &'a str,
    pid: u32,
    /// Seconds.
    uptime: f64,
    clients_count: usize,
    polling_clients_count: usize,
    aggregated_events: &'a [AggregatedEvent],
    namespaces: Vec<NamespaceStats>,
    /// Not shown by the UI: the live generations of this node.
    generations: GenerationStats,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct AggregatedEvent {
    /// Unix ms, whole seconds.
    timestamp: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceStats {
    name: &'static str,
    sockets_count: usize,
}

/// Connections and disconnections seen since the last `server_stats`, and the traffic totals
/// then.
#[derive(Default)]
struct Since {
    connections: u64,
    disconnections: u64,
    traffic: traffic::Totals,
}

pub(super) async fn run(admin: Arc<Admin>, mut happenings: tokio::sync::mpsc::Receiver<Happening>) {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut since = Since {
        traffic: traffic::totals(),
        ..Since::default()
    };
    let mut interval = tokio::time::interval(TICK);
    let mut tick = 0u32;
    loop {
        tokio::select! {
            Some(happening) = happenings.recv() => {
                let watched = !admin.local_sockets(NAMESPACE).is_empty();
                for (event, args) in report(&mut seen, &mut since, happening, watched) {
                    admin.to_local_admins(event, &args);
                }
                continue;
            }
            _ = interval.tick() => tick += 1,
        }
        let sockets: Vec<Socket> = [MAIN, NAMESPACE]
            .into_iter()
            .flat_map(|ns| admin.local_sockets(ns))
            .collect();
        let watched = !admin.local_sockets(NAMESPACE).is_empty();
        activity::set_watched(watched);
        let changes = diff(&mut seen, &sockets, &mut since, watched);
        if watched {
            for (event, args) in changes {
                admin.to_local_admins(event, &args);
            }
        }
        if tick.is_multiple_of(STATS_EVERY) {
            let now = traffic::totals();
            let events = aggregated(&since, &now.since(&since.traffic));
            since = Since {
                traffic: now,
                ..Since::default()
            };
            let stats = admin.server_stats(&events);
            // Every node's admins: the Servers page lists each node by its `serverId`.
            if let Some(ops) = admin.io.of(NAMESPACE) {
                if let Err(e) = ops.emit("server_stats", &stats).await {
                    tracing::debug!("server_stats not sent: {e}");
                }
            }
        }
    }
}

/// The UI's events for one happening, as it happened; `seen` follows it so the next comparison
/// does not report it again.
fn report(
    seen: &mut HashMap<String, Seen>,
    since: &mut Since,
    happening: Happening,
    watched: bool,
) -> Vec<(&'static str, Value)> {
    let mut changes = Vec::new();
    match happening {
        Happening::Connected { socket, at_ms } => {
            let id = socket.id.to_string();
            if seen.contains_key(&id) {
                return changes;
            }
            since.connections += 1;
            seen.insert(id, seen_now(&socket));
            if watched {
                let at = time::iso_ms(at_ms);
                changes.push(("socket_connected", json!([sockets::serialize(&socket), at])));
            }
        }
        Happening::Upgraded { socket, .. } => {
            let id = socket.id.to_string();
            if let Some(before) = seen.get_mut(&id) {
                before.transport = "websocket";
            }
            if watched {
                let update = json!({ "id": id, "nsp": socket.ns(), "transport": "websocket" });
                changes.push(("socket_updated", json!([update])));
            }
        }
        Happening::Disconnected {
            nsp,
            id,
            reason,
            at_ms,
        } => {
            let Some(before) = seen.remove(&id) else {
                return changes;
            };
            since.disconnections += 1;
            if watched {
                let at = time::iso_ms(at_ms);
                changes.push(("socket_disconnected", json!([nsp, id, reason, at])));
                // The UI keeps a room until its last socket leaves it.
                for room in &before.rooms {
                    changes.push(("room_left", json!([nsp, room, id, at])));
                }
            }
        }
        Happening::EventIn {
            nsp,
            id,
            event,
            data,
            at_ms,
        } => {
            let mut args = vec![Value::String(event)];
            args.extend(data);
            changes.push((
                "event_received",
                json!([nsp, id, args, time::iso_ms(at_ms)]),
            ));
        }
        Happening::EventOut {
            nsp,
            id,
            event,
            payload,
            at_ms,
        } => {
            let payload: Value = serde_json::from_str(payload.get()).unwrap_or(Value::Null);
            let args = json!([event, payload]);
            changes.push(("event_sent", json!([nsp, id, args, time::iso_ms(at_ms)])));
        }
    }
    changes
}

fn seen_now(socket: &Socket) -> Seen {
    Seen {
        nsp: socket.ns().to_owned(),
        transport: sockets::transport(socket),
        rooms: sockets::rooms(socket),
        data: sockets::data(socket),
    }
}

/// Updates `seen` to `sockets`; returns the UI's events for the differences when `watched`
/// (connections and disconnections the happenings missed included).
fn diff(
    seen: &mut HashMap<String, Seen>,
    sockets: &[Socket],
    since: &mut Since,
    watched: bool,
) -> Vec<(&'static str, Value)> {
    let now = time::iso_ms(time::unix_ms());
    let mut changes = Vec::new();
    let mut present = BTreeSet::new();
    for socket in sockets {
        let id = socket.id.to_string();
        present.insert(id.clone());
        let current = seen_now(socket);
        match seen.get(&id) {
            None => {
                since.connections += 1;
                if watched {
                    let serialized = sockets::serialize(socket);
                    changes.push(("socket_connected", json!([serialized, now])));
                }
            }
            Some(before) if watched => {
                let nsp = &current.nsp;
                if before.transport != current.transport {
                    let update = json!({ "id": id, "nsp": nsp, "transport": current.transport });
                    changes.push(("socket_updated", json!([update])));
                }
                if before.data != current.data {
                    let update = json!({ "id": id, "nsp": nsp, "data": current.data });
                    changes.push(("socket_updated", json!([update])));
                }
                for room in current.rooms.difference(&before.rooms) {
                    changes.push(("room_joined", json!([nsp, room, id, now])));
                }
                for room in before.rooms.difference(&current.rooms) {
                    changes.push(("room_left", json!([nsp, room, id, now])));
                }
            }
            Some(_) => {}
        }
        seen.insert(id, current);
    }
    let gone: Vec<String> = seen
        .keys()
        .filter(|id| !present.contains(*id))
        .cloned()
        .collect();
    for id in gone {
        let Some(before) = seen.remove(&id) else {
            continue;
        };
        since.disconnections += 1;
        if watched {
            changes.push((
                "socket_disconnected",
                json!([before.nsp, id, "disconnected", now]),
            ));
            // The UI keeps a room until its last socket leaves it.
            for room in &before.rooms {
                changes.push(("room_left", json!([before.nsp, room, id, now])));
            }
        }
    }
    changes
}

/// The UI's `aggregatedEvents`: what happened since the last `server_stats`, in this second's
/// bucket (zero counts left out).
fn aggregated(since: &Since, traffic: &traffic::Totals) -> Vec<AggregatedEvent> {
    let timestamp = time::unix_ms() / 1000 * 1000;
    [
        ("rawConnection", since.connections),
        ("rawDisconnection", since.disconnections),
        ("packetsIn", traffic.packets_in),
        ("packetsOut", traffic.packets_out),
        ("bytesIn", traffic.bytes_in),
        ("bytesOut", traffic.bytes_out),
    ]
    .into_iter()
    .filter(|(_, count)| *count > 0)
    .map(|(kind, count)| AggregatedEvent {
        timestamp,
        kind,
        count,
    })
    .collect()
}

impl Admin {
    pub(super) fn server_stats<'a>(&'a self, events: &'a [AggregatedEvent]) -> ServerStats<'a> {
        let main = self.local_sockets(MAIN);
        let admins = self.local_sockets(NAMESPACE).len();
        let polling = main
            .iter()
            .filter(|s| sockets::transport(s) == "polling")
            .count();
        ServerStats {
            server_id: &self.server_id,
            hostname: &self.hostname,
            pid: std::process::id(),
            uptime: self.started.elapsed().as_secs_f64(),
            clients_count: main.len() + admins,
            polling_clients_count: polling,
            aggregated_events: events,
            namespaces: vec![
                NamespaceStats {
                    name: MAIN,
                    sockets_count: main.len(),
                },
                NamespaceStats {
                    name: NAMESPACE,
                    sockets_count: admins,
                },
            ],
            generations: self.chat.generation_stats(),
        }
    }

    /// `args` (a JSON array) as the event's arguments, to this node's admin sockets.
    fn to_local_admins(&self, event: &'static str, args: &Value) {
        let Value::Array(args) = args else {
            return;
        };
        for socket in self.local_sockets(NAMESPACE) {
            if let Err(e) = socket.emit(event, &Arguments(args)) {
                tracing::debug!(event, "admin event not sent: {e}");
            }
        }
    }
}

/// Several arguments of one event (socketioxide sends a serialised tuple's items as separate
/// arguments; a `Vec` would be one array argument).
struct Arguments<'a>(&'a [Value]);

impl Serialize for Arguments<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}
