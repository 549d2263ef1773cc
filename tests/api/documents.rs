//! Uploads over real HTTP (reqwest, multipart), progress events seen by a Socket.IO client,
//! PDF pages carried into `message_sources`, and every refusal path.

use crate::helpers;

use helpers::socket::{joined, next, Events};
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};
use ragcast::store::DocumentStatus;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

/// A PDF with one line of text per page (an empty string makes a page without text).
fn pdf(pages: &[&str]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier", "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids: Vec<Object> = Vec::new();
    for text in pages {
        let mut operations = Vec::new();
        if !text.is_empty() {
            operations = vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![50.into(), 700.into()]),
                Operation::new("Tj", vec![Object::string_literal(*text)]),
                Operation::new("ET", vec![]),
            ];
        }
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

async fn upload(
    app: &helpers::TestApp,
    project_id: i64,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    );
    let res = app
        .http
        .post(format!("{}/api/projects/{project_id}/documents", app.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The `document_status` events of one document until it settles, then the settled one.
async fn statuses(rx: &mut Events, document_id: &Value) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let status = next(rx, "document_status").await;
        if &status["document_id"] != document_id {
            continue;
        }
        let settled = status["status"] == "completed" || status["status"] == "failed";
        seen.push(status);
        if settled {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_multi_page_pdf_is_indexed_with_page_numbers() {
    let app = helpers::spawn_app().await;
    let (project_id, chat_id) = app.seed("Unrelated notes about gardening.").await;
    let (socket, mut rx) = joined(&app.url, project_id).await;

    let bytes = pdf(&[
        "Introduction to the operations manual.",
        "The secret launch code is pelican seven.",
        "Appendix with tables.",
    ]);
    let (status, body) = upload(&app, project_id, "manual.pdf", "application/pdf", bytes).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let events = statuses(&mut rx, &body["id"]).await;
    let progress: Vec<i64> = events
        .iter()
        .map(|e| e["progress"].as_i64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(events.last().unwrap()["status"], "completed", "{events:?}");
    assert_eq!(*progress.last().unwrap(), 100);
    assert!(events.iter().any(|e| e["status"] == "processing"));
    let added = next(&mut rx, "project_update").await;
    assert_eq!(added["type"], "document_added");
    assert_eq!(added["data"]["document_id"], body["id"]);

    let (_, docs) = app
        .get(&format!("/api/projects/{project_id}/documents"))
        .await;
    let doc = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == body["id"])
        .unwrap();
    assert_eq!(
        (doc["status"].as_str(), doc["progress"].as_i64()),
        (Some("completed"), Some(100))
    );
    assert_eq!(doc["content_type"], "application/pdf");

    let (_, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "What is the secret launch code?" }),
        )
        .await;
    let top = &reply["sources"][0];
    assert_eq!(top["metadata"]["filename"], "manual.pdf");
    assert_eq!(top["metadata"]["page"], 2);
    assert!(
        reply["content"].as_str().unwrap().contains("pelican"),
        "{reply}"
    );

    // Markdown and plain text over multipart too.
    let (status, md) = upload(
        &app,
        project_id,
        "guide.md",
        "text/markdown",
        b"# Guide\n\nOtters hold hands while sleeping.".to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        statuses(&mut rx, &md["id"]).await.last().unwrap()["status"],
        "completed"
    );
    let (status, txt) = upload(
        &app,
        project_id,
        "notes",
        "application/octet-stream",
        b"Plain words about otters.".to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        statuses(&mut rx, &txt["id"]).await.last().unwrap()["status"],
        "completed"
    );
    let (_, docs) = app
        .get(&format!("/api/projects/{project_id}/documents"))
        .await;
    let types: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["content_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"text/markdown") && types.contains(&"text/plain"),
        "{types:?}"
    );

    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_with_their_status() {
    let app = helpers::spawn_app().await;
    let (project_id, _) = app.seed("Some text.").await;

    let (status, body) = upload(
        &app,
        project_id,
        "fake.pdf",
        "application/pdf",
        b"just text".to_vec(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unprocessable");
    let (status, _) = upload(
        &app,
        project_id,
        "broken.pdf",
        "application/pdf",
        b"%PDF-1.4 garbage".to_vec(),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = upload(
        &app,
        project_id,
        "bad.txt",
        "text/plain",
        vec![0xff, 0xfe, 0xfd],
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = upload(
        &app,
        project_id,
        "cat.png",
        "image/png",
        vec![0x89, b'P', b'N', b'G', 0, 1],
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let (status, body) = upload(
        &app,
        project_id,
        "../../etc/passwd",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Larger than the 20 MiB default limit.
    let (status, body) = upload(
        &app,
        project_id,
        "big.txt",
        "text/plain",
        vec![b'a'; 21 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");

    let res = app
        .http
        .post(format!("{}/api/projects/{project_id}/documents", app.url))
        .header("content-type", "text/csv")
        .body("a,b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    app.shutdown().await;
}

#[tokio::test]
async fn documents_without_text_fail_with_a_reason_and_stay_unsearchable() {
    let app = helpers::spawn_app().await;
    let (project_id, chat_id) = app.seed("Some text.").await;
    let (socket, mut rx) = joined(&app.url, project_id).await;

    let (status, body) = upload(
        &app,
        project_id,
        "scan.pdf",
        "application/pdf",
        pdf(&["", ""]),
    )
    .await;
    assert_eq!(status, 202);
    let events = statuses(&mut rx, &body["id"]).await;
    let failed = events.last().unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no extractable text"),
        "{failed}"
    );

    let (status, blank) = upload(
        &app,
        project_id,
        "blank.txt",
        "text/plain",
        b"   \n\n  ".to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    let failed_blank = statuses(&mut rx, &blank["id"]).await.pop().unwrap();
    assert_eq!(failed_blank["status"], "failed");
    assert!(failed_blank["error"].as_str().unwrap().contains("no text"));

    let (_, docs) = app
        .get(&format!("/api/projects/{project_id}/documents"))
        .await;
    let row = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == body["id"])
        .unwrap();
    assert_eq!(row["status"], "failed");
    assert_eq!(row["error"], failed["error"]);
    let (_, reply) = app
        .post(
            &format!("/api/chats/{chat_id}/messages"),
            json!({ "message": "scan" }),
        )
        .await;
    assert!(reply["sources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["metadata"]["filename"] != "scan.pdf"));
    socket.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn documents_of_a_silent_node_are_taken_over_once_and_a_poison_one_is_failed() {
    use ragcast::store::{self, documents::NewDocument};
    use sea_orm::{ActiveModelTrait, Set};

    let app = helpers::spawn_app().await;
    let db = app.db.clone();
    let ingest = app.ingestor.clone();
    let project = store::projects::create(&db, "p").await.unwrap();
    let new = |name: &'static str| NewDocument {
        project_id: project.id,
        filename: name,
        content_type: "text/plain",
        size_bytes: 5,
    };
    store::nodes::heartbeat(&db, "alive", "alive")
        .await
        .unwrap();
    store::nodes::heartbeat(&db, "silent", "silent")
        .await
        .unwrap();
    let orphan = store::documents::create(
        &db,
        new("orphan.txt"),
        b"Rivers flow to the sea.".to_vec(),
        "silent",
    )
    .await
    .unwrap();
    let poison =
        store::documents::create(&db, new("poison.txt"), b"Never indexed.".to_vec(), "silent")
            .await
            .unwrap();
    entities::document::ActiveModel {
        id: Set(poison.id),
        status: Set(DocumentStatus::Processing),
        attempts: Set(ragcast::ingest::MAX_ATTEMPTS),
        ..Default::default()
    }
    .update(&db)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let alive_since = ragcast::time::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store::nodes::heartbeat(&db, "alive", "alive")
        .await
        .unwrap();
    let kept =
        store::documents::create(&db, new("kept.txt"), b"Lakes are still.".to_vec(), "alive")
            .await
            .unwrap();

    assert_eq!(ingest.take_over_orphans(alive_since).await.unwrap(), 2);
    assert_eq!(
        ingest.take_over_orphans(alive_since).await.unwrap(),
        0,
        "taken over once"
    );

    let row = |id| {
        let db = db.clone();
        async move { store::documents::find(&db, id).await.unwrap().unwrap() }
    };
    for _ in 0..200 {
        if row(orphan.id).await.status == DocumentStatus::Completed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let orphan = row(orphan.id).await;
    assert_eq!(orphan.status, DocumentStatus::Completed);
    assert_eq!(orphan.attempts, 1);
    assert!(
        store::documents::upload(&db, orphan.id)
            .await
            .unwrap()
            .is_none(),
        "bytes dropped once indexed"
    );
    let poison = row(poison.id).await;
    assert_eq!(poison.status, DocumentStatus::Failed);
    assert!(poison.error.unwrap().contains("cut off 3 times"));
    assert_eq!(
        row(kept.id).await.status,
        DocumentStatus::Queued,
        "a beating node keeps its own"
    );
}
