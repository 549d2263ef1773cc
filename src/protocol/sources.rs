//! The passages a reply cites, exactly as `message_sources` carries them (and as stored).

use serde::{Deserialize, Serialize};

/// One retrieved passage, exactly as `message_sources` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The chunk id; for a back end's source, its position from 1.
    pub id: i64,
    pub content: String,
    pub metadata: Metadata,
    /// Fused relevance in [0, 1]; higher is better (see `fusion`).
    pub score: f64,
}

/// Where a source comes from: a chunk of a project's document, or what a back end streaming
/// its own answer said of it (its own object, passed on as it came: PROTOCOL §9.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metadata {
    Document(SourceMetadata),
    Backend(serde_json::Map<String, serde_json::Value>),
}

impl Metadata {
    /// The document's details, for a source found in the project's documents.
    pub fn document(&self) -> Option<&SourceMetadata> {
        match self {
            Metadata::Document(document) => Some(document),
            Metadata::Backend(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMetadata {
    pub document_id: i64,
    pub filename: String,
    pub page: Option<i32>,
    pub chunk_index: i32,
    /// How it was found (absent on sources stored before hybrid retrieval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<Retrieval>,
}

/// Which ranking found a source: both, or one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retrieval {
    Hybrid,
    Keyword,
    Vector,
}
