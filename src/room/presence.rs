//! Who is in a project's room (PROTOCOL §9.2), across every node.
//!
//! A member is a user in `jwt` mode (its sockets counted as `connections`), a socket otherwise.
//! Each node counts its own members' sockets per project and tells the other nodes through one
//! Redis channel of ragcast's own (`presence`): each change as it happens, and all of its members
//! every quarter of `--node-lease-secs`, so a node that starts later learns them and a node that
//! stops without saying so is forgotten (its members `left`) after half a lease without a word
//! from it (two of its lists missed): within the lease, as PROTOCOL §9.2 asks. A join or leave costs one lock and two hash lookups here; the joining socket's
//! `presence` lists the project's members, merged from the nodes' counts.
//!
//! `presence_changed` goes to the room when a member's first socket anywhere joins, or its last
//! one leaves. Two nodes that see a user's first sockets at the same instant may both say
//! `joined`; the counts stay right.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide::socket::Sid;

use crate::broadcast::{Audience, Broadcaster};
use crate::cluster::Cluster;
use crate::protocol::names;
use crate::protocol::PublicId;
use crate::{rooms, time};

/// The channel the nodes tell each other their members on.
const CHANNEL: &str = "presence";

/// Who a member is: a user (`jwt` mode), or one socket (auth mode `none`, the API key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKey {
    User(String),
    Socket(String),
}

/// One member as the room sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub public_id: Option<String>,
    pub connections: usize,
    /// When its first socket joined, ISO-8601.
    pub since: String,
}

/// A member on one node: its sockets there, and since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    user_id: Option<String>,
    name: Option<String>,
    public_id: Option<String>,
    connections: usize,
    since_ms: i64,
}

/// One socket joining: who it is.
#[derive(Debug, Clone)]
pub struct Joiner {
    pub sid: Sid,
    pub public_id: PublicId,
    pub user_id: Option<String>,
    pub name: Option<String>,
}

impl Joiner {
    fn key(&self) -> MemberKey {
        match &self.user_id {
            Some(user) => MemberKey::User(user.clone()),
            None => MemberKey::Socket(self.public_id.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PresenceSettings {
    /// A node silent this long is forgotten, its members `left`.
    pub lease: Duration,
}

/// What nodes tell each other.
#[derive(Debug, Serialize, Deserialize)]
struct Update {
    node_id: String,
    #[serde(flatten)]
    kind: UpdateKind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum UpdateKind {
    /// A member's count on the sending node changed (`None`: it has none left there).
    Changed {
        project_id: i64,
        key: MemberKey,
        entry: Option<Entry>,
    },
    /// All of the sending node's members.
    All {
        projects: Vec<(i64, Vec<(MemberKey, Entry)>)>,
    },
    /// The sending node stops: forget its members now.
    Leaving,
}

type Members = HashMap<i64, HashMap<MemberKey, Entry>>;

struct OtherNode {
    members: Members,
    heard_at: Instant,
}

#[derive(Default)]
struct State {
    here: Members,
    others: HashMap<String, OtherNode>,
}

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: String,
    settings: PresenceSettings,
    broadcaster: Broadcaster,
    cluster: Cluster,
    state: Mutex<State>,
}

/// What a join or leave changed for the room.
enum Change {
    Joined(Member),
    Left(Member),
    Nothing,
}

impl Presence {
    pub fn new(cluster: Cluster, broadcaster: Broadcaster, settings: PresenceSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                node_id: cluster.node_id().to_owned(),
                settings,
                broadcaster,
                cluster,
                state: Mutex::default(),
            }),
        }
    }

    /// Listens to the other nodes and tells them this node's members (with several nodes).
    pub async fn start(&self) -> Result<(), crate::socket::PubSubError> {
        let Some(updates) = self.inner.cluster.subscribe(CHANNEL).await? else {
            return Ok(());
        };
        tokio::spawn(self.clone().listen(updates));
        tokio::spawn(self.clone().keep_telling());
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A socket entered `project_id`'s room: the project's members now (for its `presence`),
    /// and `presence_changed` `joined` to the rest of the room when it is the member's first
    /// socket anywhere.
    pub fn join(&self, project_id: i64, joiner: &Joiner) -> Vec<Member> {
        let key = joiner.key();
        let (change, entry, members) = {
            let mut state = self.lock();
            let before = state.connections(project_id, &key);
            let entry = state
                .here
                .entry(project_id)
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| Entry {
                    user_id: joiner.user_id.clone(),
                    name: joiner.name.clone(),
                    public_id: joiner
                        .user_id
                        .is_none()
                        .then(|| joiner.public_id.to_string()),
                    connections: 0,
                    since_ms: time::unix_ms(),
                });
            entry.connections += 1;
            let entry = entry.clone();
            let change = if before == 0 {
                Change::Joined(
                    state
                        .member(project_id, &key)
                        .unwrap_or_else(|| entry.member()),
                )
            } else {
                Change::Nothing
            };
            (change, entry, state.members(project_id))
        };
        self.announce(project_id, change, Some(joiner.sid));
        self.tell(UpdateKind::Changed {
            project_id,
            key,
            entry: Some(entry),
        });
        members
    }

    /// A socket left `project_id`'s room (a leave, a switch, a disconnect): `presence_changed`
    /// `left` when it was the member's last socket anywhere.
    pub fn leave(&self, project_id: i64, joiner: &Joiner) {
        let key = joiner.key();
        let (change, entry) = {
            let mut state = self.lock();
            let Some(project) = state.here.get_mut(&project_id) else {
                return;
            };
            let Some(entry) = project.get_mut(&key) else {
                return;
            };
            entry.connections = entry.connections.saturating_sub(1);
            let left = entry.clone();
            let entry = (entry.connections > 0).then(|| entry.clone());
            if entry.is_none() {
                project.remove(&key);
                if project.is_empty() {
                    state.here.remove(&project_id);
                }
            }
            let change = if state.connections(project_id, &key) == 0 {
                Change::Left(left.member())
            } else {
                Change::Nothing
            };
            (change, entry)
        };
        self.announce(project_id, change, None);
        self.tell(UpdateKind::Changed {
            project_id,
            key,
            entry,
        });
    }

    /// The members of a project, on every node.
    pub fn members(&self, project_id: i64) -> Vec<Member> {
        self.lock().members(project_id)
    }

    fn announce(&self, project_id: i64, change: Change, except: Option<Sid>) {
        let (member, status) = match change {
            Change::Joined(member) => (member, "joined"),
            Change::Left(member) => (member, "left"),
            Change::Nothing => return,
        };
        let mut audience = Audience::room(rooms::project(project_id));
        if let Some(sid) = except {
            audience = audience.except(sid);
        }
        self.inner.broadcaster.send(
            &audience,
            names::PRESENCE_CHANGED,
            &PresenceChanged {
                project_id,
                member: &member,
                status,
            },
        );
    }

    /// Tells the other nodes, off the caller's path.
    fn tell(&self, kind: UpdateKind) {
        if !self.inner.cluster.is_multi_node() {
            return;
        }
        let update = Update {
            node_id: self.inner.node_id.clone(),
            kind,
        };
        let cluster = self.inner.cluster.clone();
        tokio::spawn(async move {
            let bytes = serde_json::to_vec(&update).expect("presence updates serialize");
            if let Err(e) = cluster.publish_to(CHANNEL, bytes).await {
                tracing::warn!("cannot tell the other nodes about presence: {e}");
            }
        });
    }

    /// This node stops: the others forget its members at once.
    pub async fn leave_cluster(&self) {
        if !self.inner.cluster.is_multi_node() {
            return;
        }
        let update = Update {
            node_id: self.inner.node_id.clone(),
            kind: UpdateKind::Leaving,
        };
        let bytes = serde_json::to_vec(&update).expect("presence updates serialize");
        let _ = self.inner.cluster.publish_to(CHANNEL, bytes).await;
    }

    /// All of this node's members, every quarter of a lease; other nodes silent for half a lease
    /// are forgotten.
    async fn keep_telling(self) {
        let mut tick = tokio::time::interval(self.inner.settings.lease / 4);
        loop {
            tick.tick().await;
            let projects = {
                let state = self.lock();
                state
                    .here
                    .iter()
                    .map(|(project, members)| {
                        let members = members
                            .iter()
                            .map(|(key, entry)| (key.clone(), entry.clone()))
                            .collect();
                        (*project, members)
                    })
                    .collect()
            };
            self.tell(UpdateKind::All { projects });
            self.forget_silent_nodes();
        }
    }

    fn forget_silent_nodes(&self) {
        let lease = self.inner.settings.lease / 2;
        let silent: Vec<String> = self
            .lock()
            .others
            .iter()
            .filter(|(_, node)| node.heard_at.elapsed() > lease)
            .map(|(id, _)| id.clone())
            .collect();
        for node_id in silent {
            tracing::warn!(node = %node_id, "a node went silent: its room members leave");
            self.forget(&node_id);
        }
    }

    /// Drops a node's members; each that is now gone everywhere leaves, told to this node's
    /// sockets only (every node finds it out by itself).
    fn forget(&self, node_id: &str) {
        let gone = {
            let mut state = self.lock();
            let Some(node) = state.others.remove(node_id) else {
                return;
            };
            let mut gone = Vec::new();
            for (project_id, members) in node.members {
                for (key, entry) in members {
                    if state.connections(project_id, &key) == 0 {
                        gone.push((project_id, entry.member()));
                    }
                }
            }
            gone
        };
        for (project_id, member) in gone {
            self.inner.broadcaster.send_here(
                &Audience::room(rooms::project(project_id)),
                names::PRESENCE_CHANGED,
                &PresenceChanged {
                    project_id,
                    member: &member,
                    status: "left",
                },
            );
        }
    }

    async fn listen(self, mut updates: futures::stream::BoxStream<'static, Vec<u8>>) {
        while let Some(bytes) = updates.next().await {
            let update: Update = match serde_json::from_slice(&bytes) {
                Ok(update) => update,
                Err(e) => {
                    tracing::warn!("unreadable presence update: {e}");
                    continue;
                }
            };
            if update.node_id == self.inner.node_id {
                continue;
            }
            match update.kind {
                UpdateKind::Leaving => self.forget(&update.node_id),
                UpdateKind::All { projects } => {
                    let mut state = self.lock();
                    let node = state.node(&update.node_id);
                    node.members = projects
                        .into_iter()
                        .map(|(project, members)| (project, members.into_iter().collect()))
                        .collect();
                }
                UpdateKind::Changed {
                    project_id,
                    key,
                    entry,
                } => {
                    let mut state = self.lock();
                    let node = state.node(&update.node_id);
                    match entry {
                        Some(entry) => {
                            node.members
                                .entry(project_id)
                                .or_default()
                                .insert(key, entry);
                        }
                        None => {
                            if let Some(project) = node.members.get_mut(&project_id) {
                                project.remove(&key);
                            }
                        }
                    }
                }
            }
        }
        tracing::warn!("presence channel closed");
    }
}

impl State {
    /// A member's sockets in a project, on every node.
    fn connections(&self, project_id: i64, key: &MemberKey) -> usize {
        let here = self
            .here
            .get(&project_id)
            .and_then(|m| m.get(key))
            .map_or(0, |e| e.connections);
        let others: usize = self
            .others
            .values()
            .filter_map(|node| node.members.get(&project_id)?.get(key))
            .map(|e| e.connections)
            .sum();
        here + others
    }

    /// One member as merged from every node: its sockets summed, the earliest `since`.
    fn member(&self, project_id: i64, key: &MemberKey) -> Option<Member> {
        self.entries(project_id)
            .filter(|(k, _)| *k == key)
            .map(|(_, e)| e.clone())
            .reduce(Entry::merge)
            .map(|e| e.member())
    }

    fn members(&self, project_id: i64) -> Vec<Member> {
        let mut merged: HashMap<&MemberKey, Entry> = HashMap::new();
        for (key, entry) in self.entries(project_id) {
            merged
                .entry(key)
                .and_modify(|e| *e = e.clone().merge(entry.clone()))
                .or_insert_with(|| entry.clone());
        }
        let mut members: Vec<Entry> = merged.into_values().collect();
        members.sort_by_key(|e| e.since_ms);
        members.into_iter().map(|e| e.member()).collect()
    }

    fn entries(&self, project_id: i64) -> impl Iterator<Item = (&MemberKey, &Entry)> {
        self.here
            .get(&project_id)
            .into_iter()
            .chain(
                self.others
                    .values()
                    .filter_map(move |node| node.members.get(&project_id)),
            )
            .flat_map(|members| members.iter())
            .filter(|(_, e)| e.connections > 0)
    }

    fn node(&mut self, node_id: &str) -> &mut OtherNode {
        let node = self
            .others
            .entry(node_id.to_owned())
            .or_insert_with(|| OtherNode {
                members: HashMap::new(),
                heard_at: Instant::now(),
            });
        node.heard_at = Instant::now();
        node
    }
}

impl Entry {
    fn merge(self, other: Entry) -> Entry {
        Entry {
            connections: self.connections + other.connections,
            since_ms: self.since_ms.min(other.since_ms),
            name: self.name.or(other.name),
            ..self
        }
    }

    fn member(&self) -> Member {
        Member {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            public_id: self.public_id.clone(),
            connections: self.connections,
            since: time::iso_ms(self.since_ms),
        }
    }
}

#[derive(Serialize)]
struct PresenceChanged<'a> {
    project_id: i64,
    member: &'a Member,
    status: &'static str,
}
