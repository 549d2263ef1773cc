//! What an agent does besides answering (PROTOCOL §9.3): its steps, its tool calls and their
//! results, in the one index sequence they share. Stored with the reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An agent's step, as the back end reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Progress,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// A step, a tool call or a tool result, in the one index sequence they share (stored with the
/// reply, replayed after its reasoning and before its tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    Step {
        step: Step,
    },
    ToolCall {
        call: ToolCall,
    },
    ToolResult {
        call_id: String,
        result: Option<Value>,
        error: Option<String>,
    },
}

/// A tool call with what came of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallOutcome {
    pub id: String,
    pub name: String,
    pub arguments: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// Steps as last reported and tool calls with their results, from a reply's actions.
pub fn steps_and_calls(actions: &[Action]) -> (Vec<Step>, Vec<ToolCallOutcome>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut calls: Vec<ToolCallOutcome> = Vec::new();
    for action in actions {
        match action {
            Action::Step { step } => match steps.iter_mut().find(|s| s.id == step.id) {
                Some(known) => *known = step.clone(),
                None => steps.push(step.clone()),
            },
            Action::ToolCall { call } => calls.push(ToolCallOutcome {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                result: None,
                error: None,
            }),
            Action::ToolResult {
                call_id,
                result,
                error,
            } => {
                if let Some(call) = calls.iter_mut().find(|c| &c.id == call_id) {
                    call.result = result.clone();
                    call.error = error.clone();
                }
            }
        }
    }
    (steps, calls)
}
