use chrono::{DateTime, Utc};
use entities::{chat, message};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set, SqlErr, TransactionTrait,
};

pub use entities::{FinishReason, MessageStatus, Role};

pub use entities::message::TokenLog;

pub struct NewExchange<'a> {
    pub chat_id: i64,
    pub content: &'a str,
    pub model: &'a str,
    pub client_message_id: Option<&'a str>,
    pub task_id: Option<&'a str>,
    /// Who asked (the user message's sender, and the reply's asker).
    pub user_id: Option<&'a str>,
    pub sender_name: Option<&'a str>,
    /// The node that will run the stream.
    pub node_id: &'a str,
}

/// A message stored without a reply: a person answering, a note, a back end's post.
pub struct NewPost<'a> {
    pub chat_id: i64,
    pub role: Role,
    pub content: &'a str,
    pub client_message_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub sender_name: Option<&'a str>,
}

/// Stores a message that no reply follows, `complete` at once. A repeated `client_message_id`
/// of the same role in the chat is `Duplicate`.
pub async fn insert_post(
    db: &impl ConnectionTrait,
    new: NewPost<'_>,
) -> Result<message::Model, InsertExchangeError> {
    post_row(&new, crate::time::now())
        .insert(db)
        .await
        .map_err(duplicate_or_db)
}

fn post_row(new: &NewPost<'_>, now: DateTime<Utc>) -> message::ActiveModel {
    message::ActiveModel {
        chat_id: Set(new.chat_id),
        role: Set(new.role),
        content: Set(new.content.to_owned()),
        status: Set(MessageStatus::Complete),
        model: Set(None),
        sources: Set(None),
        token_log: Set(None),
        token_count: Set(0),
        finish_reason: Set(None),
        first_token_ms: Set(None),
        duration_ms: Set(None),
        usage: Set(None),
        client_message_id: Set(new.client_message_id.map(str::to_owned)),
        task_id: Set(None),
        user_id: Set(new.user_id.map(str::to_owned)),
        sender_name: Set(new.sender_name.map(str::to_owned)),
        node_id: Set(None),
        created_at: Set(now),
        completed_at: Set(Some(now)),
        ..Default::default()
    }
}

/// A stream a back end produces: its question (if it gave one) and the `streaming` reply row.
pub struct NewProduced<'a> {
    pub question: Option<NewPost<'a>>,
    pub chat_id: i64,
    pub model: &'a str,
    /// A retried start's key: the reply row's `client_message_id`.
    pub stream_key: Option<&'a str>,
    pub task_id: Option<&'a str>,
    pub node_id: &'a str,
}

/// Stores a back end's question (when given) and its `streaming` reply in one transaction.
pub async fn insert_produced(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: NewProduced<'_>,
) -> Result<(Option<message::Model>, message::Model), InsertExchangeError> {
    let txn = db.begin().await?;
    let now = crate::time::now();
    let question = match &new.question {
        Some(question) => Some(
            post_row(question, now)
                .insert(&txn)
                .await
                .map_err(duplicate_or_db)?,
        ),
        None => None,
    };
    let reply = message::ActiveModel {
        chat_id: Set(new.chat_id),
        role: Set(Role::Assistant),
        content: Set(String::new()),
        status: Set(MessageStatus::Streaming),
        model: Set(Some(new.model.to_owned())),
        sources: Set(None),
        token_log: Set(None),
        token_count: Set(0),
        finish_reason: Set(None),
        first_token_ms: Set(None),
        duration_ms: Set(None),
        usage: Set(None),
        client_message_id: Set(new.stream_key.map(str::to_owned)),
        task_id: Set(new.task_id.map(str::to_owned)),
        user_id: Set(question.as_ref().and_then(|q| q.user_id.clone())),
        sender_name: Set(None),
        node_id: Set(Some(new.node_id.to_owned())),
        created_at: Set(now),
        completed_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(duplicate_or_db)?;
    txn.commit().await?;
    Ok((question, reply))
}

/// The earlier message of `role` that used `client_message_id` in this chat.
pub async fn find_by_client_id(
    db: &impl ConnectionTrait,
    chat_id: i64,
    role: Role,
    client_message_id: &str,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(message::Column::Role.eq(role))
        .filter(message::Column::ClientMessageId.eq(client_message_id))
        .one(db)
        .await
}

/// The user message and the assistant row that will hold its reply.
pub struct Exchange {
    pub user: message::Model,
    pub assistant: message::Model,
}

#[derive(Debug, thiserror::Error)]
pub enum InsertExchangeError {
    #[error("this client_message_id was already used in this chat")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Stores the user message and a `streaming` assistant row in one transaction. The unique index
/// on `(chat_id, role, client_message_id)` turns a repeated id into `Duplicate`, across processes.
pub async fn insert_exchange(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: NewExchange<'_>,
) -> Result<Exchange, InsertExchangeError> {
    let txn = db.begin().await?;
    let now = crate::time::now();
    let row = |role: Role, content: &str, status: MessageStatus, model: Option<&str>| {
        message::ActiveModel {
            chat_id: Set(new.chat_id),
            role: Set(role),
            content: Set(content.to_owned()),
            status: Set(status),
            model: Set(model.map(str::to_owned)),
            sources: Set(None),
            token_log: Set(None),
            token_count: Set(0),
            finish_reason: Set(None),
            first_token_ms: Set(None),
            duration_ms: Set(None),
            usage: Set(None),
            client_message_id: Set(new.client_message_id.map(str::to_owned)),
            task_id: Set(new.task_id.map(str::to_owned)),
            user_id: Set(new.user_id.map(str::to_owned)),
            // The asker's name on the question only: a reply has no sender.
            sender_name: Set((role == Role::User)
                .then(|| new.sender_name.map(str::to_owned))
                .flatten()),
            node_id: Set((status == MessageStatus::Streaming).then(|| new.node_id.to_owned())),
            created_at: Set(now),
            // A user message is complete when stored.
            completed_at: Set((status == MessageStatus::Complete).then_some(now)),
            ..Default::default()
        }
    };
    let user = row(Role::User, new.content, MessageStatus::Complete, None)
        .insert(&txn)
        .await
        .map_err(duplicate_or_db)?;
    let assistant = row(
        Role::Assistant,
        "",
        MessageStatus::Streaming,
        Some(new.model),
    )
    .insert(&txn)
    .await
    .map_err(duplicate_or_db)?;
    txn.commit().await?;
    Ok(Exchange { user, assistant })
}

fn duplicate_or_db(err: DbErr) -> InsertExchangeError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => InsertExchangeError::Duplicate,
        _ => InsertExchangeError::Db(err),
    }
}

/// The earlier exchange that used `client_message_id` in this chat.
pub async fn find_exchange_by_client_id(
    db: &impl ConnectionTrait,
    chat_id: i64,
    client_message_id: &str,
) -> Result<Option<Exchange>, DbErr> {
    let rows = message::Entity::find()
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(message::Column::ClientMessageId.eq(client_message_id))
        .all(db)
        .await?;
    let user = rows.iter().find(|m| m.role == Role::User).cloned();
    let assistant = rows.into_iter().find(|m| m.role == Role::Assistant);
    Ok(user
        .zip(assistant)
        .map(|(user, assistant)| Exchange { user, assistant }))
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find_by_id(id).one(db).await
}

/// The chat's newest assistant row that is still streaming, if any.
pub async fn streaming_in_chat(
    db: &impl ConnectionTrait,
    chat_id: i64,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(message::Column::Role.eq(Role::Assistant))
        .filter(message::Column::Status.eq(MessageStatus::Streaming))
        .order_by_desc(message::Column::Id)
        .one(db)
        .await
}

pub async fn list(
    db: &impl ConnectionTrait,
    chat_id: i64,
    after_id: Option<i64>,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find().filter(message::Column::ChatId.eq(chat_id));
    if let Some(after_id) = after_id {
        query = query.filter(message::Column::Id.gt(after_id));
    }
    query
        .order_by_asc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Turns of history read at most: a prompt keeps only the newest that fit its budget anyway.
const HISTORY_TURNS: u64 = 200;

/// One earlier message, as a prompt uses it.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

/// The chat's newest settled messages before `before_id`, oldest first: the history a prompt may
/// include. Only role and content are read (not the stored token logs).
pub async fn history(
    db: &impl ConnectionTrait,
    chat_id: i64,
    before_id: i64,
) -> Result<Vec<Turn>, DbErr> {
    let mut turns = message::Entity::find()
        .select_only()
        .column(message::Column::Role)
        .column(message::Column::Content)
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(message::Column::Id.lt(before_id))
        .filter(message::Column::Status.ne(MessageStatus::Streaming))
        .filter(message::Column::Content.ne(""))
        .order_by_desc(message::Column::Id)
        .limit(HISTORY_TURNS)
        .into_model::<Turn>()
        .all(db)
        .await?;
    turns.reverse();
    Ok(turns)
}

#[derive(Clone)]
pub struct FinalReply {
    pub status: MessageStatus,
    pub content: String,
    pub sources: serde_json::Value,
    pub token_log: TokenLog,
    pub finish_reason: FinishReason,
    pub first_token_ms: Option<i64>,
    pub duration_ms: i64,
    pub usage: Option<entities::message::Usage>,
    pub completed_at: DateTime<Utc>,
}

/// Stores the final reply of a stream that is still `streaming`; `false` when the row had
/// already ended (another node took the stream over after this one missed its heartbeats).
pub async fn finish(db: &impl ConnectionTrait, id: i64, reply: FinalReply) -> Result<bool, DbErr> {
    let token_count = reply.token_log.tokens.len() as i32;
    let update = message::ActiveModel {
        status: Set(reply.status),
        content: Set(reply.content),
        sources: Set(Some(reply.sources)),
        token_log: Set(Some(reply.token_log)),
        token_count: Set(token_count),
        finish_reason: Set(Some(reply.finish_reason)),
        first_token_ms: Set(reply.first_token_ms),
        duration_ms: Set(Some(reply.duration_ms)),
        usage: Set(reply.usage),
        completed_at: Set(Some(reply.completed_at)),
        ..Default::default()
    };
    update_if_streaming(db, id, update).await
}

/// Writes `update` to row `id` if it is still `streaming`; `false` when it was not.
async fn update_if_streaming(
    db: &impl ConnectionTrait,
    id: i64,
    update: message::ActiveModel,
) -> Result<bool, DbErr> {
    let result = message::Entity::update_many()
        .set(update)
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq(MessageStatus::Streaming))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The update that ends `streaming` rows as `interrupted`: now, by an error, as an ending by
/// SIGTERM is (PROTOCOL §5). Callers add which rows.
pub(super) fn interrupt_streaming_rows() -> sea_orm::UpdateMany<message::Entity> {
    message::Entity::update_many()
        .col_expr(
            message::Column::Status,
            Expr::value(MessageStatus::Interrupted),
        )
        .col_expr(
            message::Column::FinishReason,
            Expr::value(FinishReason::Error),
        )
        .col_expr(
            message::Column::CompletedAt,
            Expr::value(crate::time::now()),
        )
        .filter(message::Column::Status.eq(MessageStatus::Streaming))
}
/// The assistant rows of a project that are still streaming, on any node.
pub async fn streaming_in_project(
    db: &impl ConnectionTrait,
    project_id: i64,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .join(JoinType::InnerJoin, message::Relation::Chat.def())
        .filter(chat::Column::ProjectId.eq(project_id))
        .filter(message::Column::Role.eq(Role::Assistant))
        .filter(message::Column::Status.eq(MessageStatus::Streaming))
        .all(db)
        .await
}

/// Rows left `streaming` by a crash become `interrupted`. Returns how many.
pub async fn interrupt_streaming(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Ok(interrupt_streaming_rows().exec(db).await?.rows_affected)
}

/// One (user, project) pair that ran generations with a task id.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct TaskGeneration {
    /// `None` for generations started with the API key.
    pub user_id: Option<String>,
    pub project_id: i64,
}

/// Who ran generations with `task_id`, and in which projects (task ids are the client's to
/// choose, so several users may have used the same one).
pub async fn task_generations(
    db: &impl ConnectionTrait,
    task_id: &str,
) -> Result<Vec<TaskGeneration>, DbErr> {
    message::Entity::find()
        .select_only()
        .column(message::Column::UserId)
        .column(chat::Column::ProjectId)
        .distinct()
        .join(JoinType::InnerJoin, message::Relation::Chat.def())
        .filter(
            // A generation without a task id of its own goes by its message id (PROTOCOL §3).
            match task_id.parse::<i64>() {
                Ok(id) => message::Column::TaskId
                    .eq(task_id)
                    .or(message::Column::TaskId
                        .is_null()
                        .and(message::Column::Id.eq(id))),
                Err(_) => message::Column::TaskId.eq(task_id),
            },
        )
        .filter(message::Column::Role.eq(Role::Assistant))
        .into_model::<TaskGeneration>()
        .all(db)
        .await
}

/// A live stream's reply so far, with its timings so far.
pub struct Partial {
    pub content: String,
    pub token_log: TokenLog,
    pub sources: serde_json::Value,
    pub first_token_ms: Option<i64>,
    pub duration_ms: i64,
}

/// The partial reply of a live stream, saved periodically so a crash loses at most one interval.
/// `false` when the row is no longer `streaming`: another node ended it (this node missed its
/// heartbeats), or the final write came first.
pub async fn save_partial(
    db: &impl ConnectionTrait,
    id: i64,
    partial: Partial,
) -> Result<bool, DbErr> {
    let token_count = partial.token_log.tokens.len() as i32;
    let update = message::ActiveModel {
        content: Set(partial.content),
        sources: Set(Some(partial.sources)),
        token_log: Set(Some(partial.token_log)),
        token_count: Set(token_count),
        // So a reply cut off by a crash still tells its timings.
        first_token_ms: Set(partial.first_token_ms),
        duration_ms: Set(Some(partial.duration_ms)),
        ..Default::default()
    };
    update_if_streaming(db, id, update).await
}
