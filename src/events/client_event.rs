//! A client event, parsed once (as mini-redis parses a `Command`): its name picks the payload
//! type, serde checks the shape and `Payload::validate` the ranges. `dispatch` then admits,
//! parses, runs the handler and answers in one place.

use serde_json::Value;

use super::refresh::AuthRefresh;
use crate::error::AppError;
use crate::protocol::names;
use crate::protocol::payloads::{
    parse, ChatRef, MessageRef, Ping, ProjectRef, ResumeMessage, SendMessage, TaskRef,
};

#[derive(Debug)]
pub enum ClientEvent {
    JoinProject(ProjectRef),
    LeaveProject(ProjectRef),
    SendMessage(Box<SendMessage>),
    CancelMessage(MessageRef),
    ResumeMessage(ResumeMessage),
    Typing(ChatRef, Typing),
    TaskSubscribe(TaskRef),
    TaskUnsubscribe(TaskRef),
    AuthRefresh(AuthRefresh),
    Ping(Ping),
    /// A name no handler serves (never registered, so never dispatched today).
    Unknown(String),
}

/// `typing_start` or `typing_stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    Started,
    Stopped,
}

impl Typing {
    pub fn is_typing(self) -> bool {
        self == Typing::Started
    }
}

impl ClientEvent {
    /// The event `name` with its payload; a payload that does not fit is `invalid_payload`
    /// naming the field.
    pub fn parse(name: &str, data: Option<Value>) -> Result<Self, AppError> {
        if name == names::PING {
            // The one event whose payload may be absent.
            return Ok(ClientEvent::Ping(match data {
                None => Ping::default(),
                Some(given) => parse(given)?,
            }));
        }
        // Absent and `null` alike are not the object the others need.
        let data = data.unwrap_or(Value::Null);
        Ok(match name {
            names::JOIN_PROJECT => ClientEvent::JoinProject(parse(data)?),
            names::LEAVE_PROJECT => ClientEvent::LeaveProject(parse(data)?),
            names::SEND_MESSAGE => ClientEvent::SendMessage(Box::new(parse(data)?)),
            names::CANCEL_MESSAGE => ClientEvent::CancelMessage(parse(data)?),
            names::RESUME_MESSAGE => ClientEvent::ResumeMessage(parse(data)?),
            names::TYPING_START => ClientEvent::Typing(parse(data)?, Typing::Started),
            names::TYPING_STOP => ClientEvent::Typing(parse(data)?, Typing::Stopped),
            names::TASK_SUBSCRIBE => ClientEvent::TaskSubscribe(parse(data)?),
            names::TASK_UNSUBSCRIBE => ClientEvent::TaskUnsubscribe(parse(data)?),
            names::AUTH_REFRESH => ClientEvent::AuthRefresh(parse(data)?),
            other => ClientEvent::Unknown(other.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_name_picks_its_payload() {
        let join = ClientEvent::parse(names::JOIN_PROJECT, Some(json!({ "project_id": 3 })));
        assert!(
            matches!(join, Ok(ClientEvent::JoinProject(ProjectRef { project_id })) if project_id.0 == 3)
        );
        let stop = ClientEvent::parse(names::TYPING_STOP, Some(json!({ "chat_id": "4" })));
        assert!(matches!(stop, Ok(ClientEvent::Typing(_, Typing::Stopped))));
        assert!(matches!(
            ClientEvent::parse(names::PING, None),
            Ok(ClientEvent::Ping(Ping { timestamp: None }))
        ));
        assert!(matches!(
            ClientEvent::parse("shout", Some(json!({}))),
            Ok(ClientEvent::Unknown(name)) if name == "shout"
        ));
    }

    #[test]
    fn a_missing_or_wrong_payload_is_refused_naming_the_field() {
        let missing = ClientEvent::parse(names::JOIN_PROJECT, None).unwrap_err();
        assert_eq!(missing.message, "the payload must be an object");
        let wrong = ClientEvent::parse(names::CANCEL_MESSAGE, Some(json!({ "message_id": -1 })))
            .unwrap_err();
        assert!(wrong.message.contains("message_id"), "{}", wrong.message);
        assert!(ClientEvent::parse(names::PING, Some(Value::Null)).is_err());
    }
}
