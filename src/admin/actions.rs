//! What the Admin UI asks of the server: `join` / `leave` (`nsp, room, filter?`), `_disconnect`
//! (`nsp, close, filter?`) and `emit` (`nsp, filter, event, ...args`). A filter is a room; a
//! socket's id is the room it alone is in, so it names that socket. Without a filter the action
//! is for the whole namespace. They reach every node (the adapter's cluster-wide operations).

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::TryData;
use socketioxide::operators::BroadcastOperators;

use super::{Admin, MAIN, NAMESPACE};
use crate::broadcast::Audience;
use crate::socket::{Adapter, Socket};

pub(super) fn register(socket: &Socket, admin: Arc<Admin>) {
    for action in ["join", "leave", "_disconnect", "emit"] {
        let admin = admin.clone();
        socket.on(action, move |TryData(args): TryData<Args>| {
            let admin = admin.clone();
            async move {
                let Args(args) = args.unwrap_or_default();
                if let Err(why) = admin.act(action, &args).await {
                    tracing::warn!(action, "Admin UI action refused: {why}");
                }
            }
        });
    }
}

/// All the arguments of an event, however many. socketioxide hands a handler every argument
/// only when its type reads a tuple (anything else gets the first one), so this one asks for a
/// tuple of any length.
#[derive(Debug, Default)]
struct Args(Vec<Value>);

impl<'de> serde::Deserialize<'de> for Args {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Collect;
        impl<'de> serde::de::Visitor<'de> for Collect {
            type Value = Args;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the arguments of an event")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(Args(args))
            }
        }
        deserializer.deserialize_tuple(usize::MAX, Collect)
    }
}

/// The namespace (`/` or `/admin`) an action names.
fn namespace(arg: Option<&Value>) -> Result<&'static str, String> {
    match arg.and_then(Value::as_str) {
        Some(MAIN) => Ok(MAIN),
        Some(NAMESPACE) => Ok(NAMESPACE),
        other => Err(format!("no namespace {other:?}")),
    }
}

fn room(arg: Option<&Value>) -> Result<String, String> {
    match arg.and_then(Value::as_str) {
        Some(room) if !room.is_empty() => Ok(room.to_owned()),
        _ => Err("no room".into()),
    }
}

/// The filter, when one is given (`null` or missing: the whole namespace).
fn filter(arg: Option<&Value>) -> Result<Option<String>, String> {
    match arg {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(room)) if !room.is_empty() => Ok(Some(room.clone())),
        Some(other) => Err(format!("bad filter {other}")),
    }
}

impl Admin {
    async fn act(&self, action: &str, args: &[Value]) -> Result<(), String> {
        let nsp = namespace(args.first())?;
        let ops = self
            .io
            .of(nsp)
            .ok_or_else(|| format!("no namespace {nsp}"))?;
        match action {
            "join" | "leave" => {
                let (room, filter) = (room(args.get(1))?, filter(args.get(2))?);
                tracing::info!(nsp, room, ?filter, "Admin UI: {action}");
                let targets = targets(ops, filter.as_deref());
                let done = if action == "join" {
                    targets.join(room).await
                } else {
                    targets.leave(room).await
                };
                done.map_err(|e| e.to_string())
            }
            "_disconnect" => {
                // `close` (the whole client, not only this namespace) is the same here: each
                // client has one namespace.
                let filter = filter(args.get(2))?;
                tracing::info!(nsp, ?filter, "Admin UI: disconnect");
                targets(ops, filter.as_deref())
                    .disconnect()
                    .await
                    .map_err(|e| e.to_string())
            }
            "emit" => {
                let filter = filter(args.get(1))?;
                let event = room(args.get(2)).map_err(|_| "no event name".to_owned())?;
                let payload = args.get(3).cloned().unwrap_or(Value::Null);
                if args.len() > 4 {
                    tracing::warn!(
                        event,
                        "Admin UI: emit with several arguments sends the first"
                    );
                }
                tracing::info!(nsp, event, ?filter, "Admin UI: emit");
                if let (MAIN, Some(room)) = (nsp, &filter) {
                    // ragcast's clients get it through their outboxes, in order with the rest.
                    self.broadcaster
                        .send(&Audience::room(room.clone()), &event, &payload);
                    Ok(())
                } else {
                    targets(ops, filter.as_deref())
                        .emit(&event, &payload)
                        .await
                        .map_err(|e| e.to_string())
                }
            }
            other => Err(format!("unknown action {other}")),
        }
    }
}

fn targets(ops: BroadcastOperators<Adapter>, filter: Option<&str>) -> BroadcastOperators<Adapter> {
    match filter {
        Some(room) => ops.within(room.to_owned()),
        None => ops,
    }
}
