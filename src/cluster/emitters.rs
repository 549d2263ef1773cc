//! The Socket.IO emitters back ends already use (PROTOCOL §9.4), read from Redis by every node
//! and delivered to that node's own sockets (so each socket gets each event once):
//!
//! - `@socket.io/redis-emitter` (and the emitters of other languages sharing its format):
//!   msgpack `[uid, { type, data: [event, …args], nsp }, { rooms, except, flags }]` on
//!   `{key}#/#` and `{key}#/#{room}#`; `socketsJoin` / `socketsLeave` / `disconnectSockets` as
//!   JSON on `{key}-request#/#`.
//! - python-socketio's `RedisManager` / `AsyncRedisManager` with `write_only=True`:
//!   `{ method: "emit", event, data, namespace, room, skip_sid, … }` on `{channel}`, as JSON
//!   (python-socketio 5.12 and later) or pickled (earlier). A pickle is read as data only
//!   (serde-pickle, which refuses class instances and executes nothing).
//!
//! Only namespace `/` is served, acknowledgements are not supported (as with node's adapter), an
//! event named like one of the contract's server events is dropped, and anything else that is not
//! a plain emit or room request is refused; each is counted in
//! `ragcast_emitter_messages_total{format, outcome}`.

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use super::Cluster;
use crate::broadcast::{Audience, Broadcaster};
use crate::protocol::names;
use crate::socket::PubSubError;

/// Where the emitters publish.
#[derive(Debug, Clone)]
pub struct EmitterSettings {
    /// `@socket.io/redis-emitter`'s `key` (its channels' prefix).
    pub key: String,
    /// python-socketio's `RedisManager` channel.
    pub channel: String,
}

/// What one message asks for.
#[derive(Debug, PartialEq)]
enum Order {
    Emit {
        rooms: Vec<String>,
        except: Vec<String>,
        event: String,
        payload: Value,
    },
    Join {
        rooms: Vec<String>,
        except: Vec<String>,
        join: Vec<String>,
    },
    Leave {
        rooms: Vec<String>,
        except: Vec<String>,
        leave: Vec<String>,
    },
    Disconnect {
        rooms: Vec<String>,
        except: Vec<String>,
    },
}

/// Why a message was not carried out.
#[derive(Debug, PartialEq)]
enum Refusal {
    /// Not readable in its format.
    Unreadable(String),
    /// Readable, but not something this server does (another namespace, acks, a method).
    Unsupported(String),
    /// An event named like one of the contract's own.
    Reserved(String),
}

impl Refusal {
    fn outcome(&self) -> &'static str {
        match self {
            Refusal::Unreadable(_) => "unreadable",
            Refusal::Unsupported(_) => "unsupported",
            Refusal::Reserved(_) => "reserved",
        }
    }
}

/// Starts listening to both emitters' channels (with several nodes; nothing alone).
pub async fn start(
    cluster: &Cluster,
    settings: EmitterSettings,
    broadcaster: Broadcaster,
) -> Result<(), PubSubError> {
    let key = &settings.key;
    let broadcasts = cluster.listen_foreign(&format!("{key}#/#*"), true).await?;
    let requests = cluster
        .listen_foreign(&format!("{key}-request#/#"), false)
        .await?;
    let python = cluster.listen_foreign(&settings.channel, false).await?;
    let (Some(broadcasts), Some(requests), Some(python)) = (broadcasts, requests, python) else {
        return Ok(());
    };
    let handle = move |format: &'static str, order: Result<Order, Refusal>| match order {
        Ok(order) => {
            metrics::counter!("ragcast_emitter_messages_total", "format" => format, "outcome" => "delivered").increment(1);
            carry_out(&broadcaster, order);
        }
        Err(refusal) => {
            metrics::counter!("ragcast_emitter_messages_total", "format" => format, "outcome" => refusal.outcome()).increment(1);
            tracing::warn!(format, "an emitter's message was refused: {refusal:?}");
        }
    };
    let messages = futures::stream::select_all([
        broadcasts
            .map(|(_, bytes)| ("redis-emitter", read_emitter_broadcast(&bytes)))
            .boxed(),
        requests
            .map(|(_, bytes)| ("redis-emitter", read_emitter_request(&bytes)))
            .boxed(),
        python
            .map(|(_, bytes)| ("python-socketio", read_python(&bytes)))
            .boxed(),
    ]);
    tokio::spawn(async move {
        let mut messages = messages;
        while let Some((format, order)) = messages.next().await {
            handle(format, order);
        }
    });
    Ok(())
}

fn carry_out(broadcaster: &Broadcaster, order: Order) {
    match order {
        Order::Emit {
            rooms,
            except,
            event,
            payload,
        } => {
            broadcaster.send_here(&Audience::emitter(rooms, except), &event, &payload);
        }
        Order::Join {
            rooms,
            except,
            join,
        } => {
            for socket in broadcaster.sockets_here(&Audience::emitter(rooms, except)) {
                socket.join(join.clone());
            }
        }
        Order::Leave {
            rooms,
            except,
            leave,
        } => {
            for socket in broadcaster.sockets_here(&Audience::emitter(rooms, except)) {
                socket.leave(leave.clone());
            }
        }
        Order::Disconnect { rooms, except } => {
            for socket in broadcaster.sockets_here(&Audience::emitter(rooms, except)) {
                if let Err(e) = socket.disconnect() {
                    tracing::debug!("an emitter's disconnect did not reach a socket: {e}");
                }
            }
        }
    }
}

/// An event's name and arguments as one payload: one argument as it is, none as `null`; more
/// than one cannot be a ragcast event (its events carry one payload).
fn emit_order(
    rooms: Vec<String>,
    except: Vec<String>,
    mut data: Vec<Value>,
) -> Result<Order, Refusal> {
    if data.is_empty() {
        return Err(Refusal::Unreadable("an emit without an event name".into()));
    }
    let Value::String(event) = data.remove(0) else {
        return Err(Refusal::Unreadable("the event name is not a string".into()));
    };
    if names::SERVER_EVENTS.contains(&event.as_str()) {
        return Err(Refusal::Reserved(event));
    }
    let payload = match data.len() {
        0 => Value::Null,
        1 => data.remove(0),
        n => {
            return Err(Refusal::Unsupported(format!(
                "`{event}` has {n} arguments: ragcast's events carry one"
            )))
        }
    };
    Ok(Order::Emit {
        rooms,
        except,
        event,
        payload,
    })
}

#[derive(Deserialize)]
struct EmitterPacket {
    #[serde(rename = "type")]
    kind: u8,
    data: Vec<Value>,
    #[serde(default = "main_namespace")]
    nsp: String,
}

#[derive(Deserialize, Default)]
struct EmitterOptions {
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
}

fn main_namespace() -> String {
    "/".to_owned()
}

/// Socket.IO's EVENT packet type.
const EVENT: u8 = 2;

/// `@socket.io/redis-emitter`'s broadcast: msgpack `[uid, packet, opts]`.
fn read_emitter_broadcast(bytes: &[u8]) -> Result<Order, Refusal> {
    let (_uid, packet, opts): (Value, EmitterPacket, EmitterOptions) =
        rmp_serde::from_slice(bytes).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    if packet.nsp != "/" {
        return Err(Refusal::Unsupported(format!("namespace {}", packet.nsp)));
    }
    if packet.kind != EVENT {
        return Err(Refusal::Unsupported(format!("packet type {}", packet.kind)));
    }
    emit_order(opts.rooms, opts.except, packet.data)
}

#[derive(Deserialize)]
struct EmitterRequest {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    opts: EmitterOptions,
    #[serde(default)]
    rooms: Vec<String>,
}

/// `@socket.io/redis-emitter`'s `socketsJoin` (2), `socketsLeave` (3), `disconnectSockets` (4).
fn read_emitter_request(bytes: &[u8]) -> Result<Order, Refusal> {
    let request: EmitterRequest =
        serde_json::from_slice(bytes).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    let EmitterOptions { rooms, except } = request.opts;
    match request.kind {
        2 => Ok(Order::Join {
            rooms,
            except,
            join: request.rooms,
        }),
        3 => Ok(Order::Leave {
            rooms,
            except,
            leave: request.rooms,
        }),
        4 => Ok(Order::Disconnect { rooms, except }),
        other => Err(Refusal::Unsupported(format!("request type {other}"))),
    }
}

/// A room or a list of rooms (python-socketio takes both).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
struct PythonMessage {
    method: String,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    room: Option<OneOrMany>,
    #[serde(default)]
    skip_sid: Option<OneOrMany>,
    #[serde(default)]
    callback: Value,
    #[serde(default)]
    binary: bool,
}

/// python-socketio's message, JSON or pickled; only `emit` is carried out.
fn read_python(bytes: &[u8]) -> Result<Order, Refusal> {
    let message: PythonMessage = if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| Refusal::Unreadable(e.to_string()))?
    } else {
        serde_pickle::from_slice(bytes, serde_pickle::DeOptions::new())
            .map_err(|e| Refusal::Unreadable(e.to_string()))?
    };
    if message.method != "emit" {
        return Err(Refusal::Unsupported(format!("method {}", message.method)));
    }
    if message.namespace.as_deref().unwrap_or("/") != "/" {
        return Err(Refusal::Unsupported(format!(
            "namespace {}",
            message.namespace.unwrap_or_default()
        )));
    }
    if !message.callback.is_null() {
        return Err(Refusal::Unsupported("acknowledgements".into()));
    }
    if message.binary {
        return Err(Refusal::Unsupported("binary attachments".into()));
    }
    let Some(event) = message.event else {
        return Err(Refusal::Unreadable("an emit without an event".into()));
    };
    // python-socketio 5 sends the arguments as a list (one argument: a list of one).
    let mut data = vec![Value::String(event)];
    match message.data {
        Value::Array(args) => data.extend(args),
        Value::Null => {}
        other => data.push(other),
    }
    emit_order(
        message.room.map(OneOrMany::into_vec).unwrap_or_default(),
        message
            .skip_sid
            .map(OneOrMany::into_vec)
            .unwrap_or_default(),
        data,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_redis_emitter_broadcast_is_read_with_its_rooms() {
        let bytes = rmp_serde::to_vec(&json!([
            "emitter",
            { "type": 2, "data": ["build_done", { "ok": 1 }], "nsp": "/" },
            { "rooms": ["project_1"], "except": ["user:bob"], "flags": {} }
        ]))
        .unwrap();
        assert_eq!(
            read_emitter_broadcast(&bytes),
            Ok(Order::Emit {
                rooms: vec!["project_1".into()],
                except: vec!["user:bob".into()],
                event: "build_done".into(),
                payload: json!({ "ok": 1 }),
            })
        );
    }

    #[test]
    fn contract_events_other_namespaces_and_garbage_are_refused() {
        let reserved = rmp_serde::to_vec(&json!([
            "emitter", { "type": 2, "data": ["message_token", {}], "nsp": "/" }, {}
        ]))
        .unwrap();
        assert_eq!(
            read_emitter_broadcast(&reserved),
            Err(Refusal::Reserved("message_token".into()))
        );
        let admin = rmp_serde::to_vec(&json!([
            "emitter", { "type": 2, "data": ["x"], "nsp": "/admin" }, {}
        ]))
        .unwrap();
        assert!(matches!(
            read_emitter_broadcast(&admin),
            Err(Refusal::Unsupported(_))
        ));
        assert!(matches!(
            read_emitter_broadcast(b"\xc1garbage"),
            Err(Refusal::Unreadable(_))
        ));
        assert!(matches!(
            read_python(b"not a pickle"),
            Err(Refusal::Unreadable(_))
        ));
    }

    #[test]
    fn python_socketio_messages_are_read_as_json_or_pickle() {
        let json = br#"{"method":"emit","event":"news","data":[{"n":1}],"binary":false,"namespace":"/","room":"project_1","skip_sid":null,"callback":null,"host_id":"abc"}"#;
        let expected = Order::Emit {
            rooms: vec!["project_1".into()],
            except: vec![],
            event: "news".into(),
            payload: json!({ "n": 1 }),
        };
        assert_eq!(read_python(json), Ok(expected));
        // pickle.dumps({"method": "emit", "event": "news", "data": [1], "namespace": "/",
        // "room": None, "skip_sid": None, "callback": None}, protocol=4)
        let pickled = serde_pickle::to_vec(
            &json!({ "method": "emit", "event": "news", "data": [1], "namespace": "/",
                     "room": null, "skip_sid": null, "callback": null }),
            serde_pickle::SerOptions::new(),
        )
        .unwrap();
        assert_eq!(
            read_python(&pickled),
            Ok(Order::Emit {
                rooms: vec![],
                except: vec![],
                event: "news".into(),
                payload: json!(1),
            })
        );
        let other = br#"{"method":"enter_room","sid":"x","room":"r"}"#;
        assert!(matches!(read_python(other), Err(Refusal::Unsupported(_))));
    }

    #[test]
    fn room_requests_are_read() {
        let join = br#"{"type":2,"opts":{"rooms":["project_1"],"except":[]},"rooms":["vip"]}"#;
        assert_eq!(
            read_emitter_request(join),
            Ok(Order::Join {
                rooms: vec!["project_1".into()],
                except: vec![],
                join: vec!["vip".into()],
            })
        );
        let disconnect = br#"{"type":4,"opts":{"rooms":["vip"],"except":[]},"close":false}"#;
        assert_eq!(
            read_emitter_request(disconnect),
            Ok(Order::Disconnect {
                rooms: vec!["vip".into()],
                except: vec![],
            })
        );
    }
}
