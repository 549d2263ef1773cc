//! A model server stub on a raw TCP socket, so a test controls every byte and every read
//! boundary: chunked HTTP/1.1 responses written piece by piece, drops mid-stream, and a record
//! of each request and of when the client closed the connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the stub does on one connection.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A complete non-2xx (or any) response with a JSON body.
    Status(u16, String),
    /// A 200 streaming response: each piece is written (and flushed) as its own chunk, `pause`
    /// apart; `finish` says how it ends.
    Stream {
        content_type: &'static str,
        pieces: Vec<Vec<u8>>,
        pause: Duration,
        finish: Finish,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Finish {
    /// The terminating zero-length chunk.
    Complete,
    /// Close the connection without it: the body is cut short.
    Drop,
    /// Keep writing `piece` every `pause` until the client goes away.
    Forever(Vec<u8>),
}

#[derive(Default, Debug)]
pub struct Record {
    /// (authorization header, JSON body) of each request.
    pub requests: Vec<(Option<String>, Value)>,
    /// When the client closed a `Forever` stream.
    pub closed_at: Option<Instant>,
}

pub struct Stub {
    pub addr: SocketAddr,
    pub record: Arc<Mutex<Record>>,
}

impl Stub {
    /// Serves `replies` in order, one per connection; the last one repeats.
    pub async fn start(replies: Vec<Reply>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let record = Arc::new(Mutex::new(Record::default()));
        let shared = record.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies[n.min(replies.len() - 1)].clone();
                n += 1;
                tokio::spawn(serve(socket, reply, shared.clone()));
            }
        });
        Stub { addr, record }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<(Option<String>, Value)> {
        self.record.lock().unwrap().requests.clone()
    }

    pub fn closed_at(&self) -> Option<Instant> {
        self.record.lock().unwrap().closed_at
    }
}

async fn serve(mut socket: TcpStream, reply: Reply, record: Arc<Mutex<Record>>) {
    let Some((auth, body)) = read_request(&mut socket).await else {
        return;
    };
    record.lock().unwrap().requests.push((auth, body));
    match reply {
        Reply::Status(status, body) => {
            let head = format!(
                "HTTP/1.1 {status} Stub\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
        Reply::Stream {
            content_type,
            pieces,
            pause,
            finish,
        } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            );
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for piece in &pieces {
                if write_chunk(&mut socket, piece).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
            match finish {
                Finish::Complete => {
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                }
                Finish::Drop => {}
                Finish::Forever(piece) => {
                    let (mut reader, mut writer) = socket.into_split();
                    let writing = async {
                        loop {
                            if write_chunk(&mut writer, &piece).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(pause).await;
                        }
                    };
                    let mut buf = [0u8; 64];
                    tokio::select! {
                        _ = reader.read(&mut buf) => {}
                        () = writing => {}
                    }
                    record.lock().unwrap().closed_at = Some(Instant::now());
                }
            }
        }
    }
}

async fn write_chunk(
    socket: &mut (impl AsyncWriteExt + Unpin),
    piece: &[u8],
) -> std::io::Result<()> {
    socket
        .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
        .await?;
    socket.write_all(piece).await?;
    socket.write_all(b"\r\n").await?;
    socket.flush().await
}

async fn read_request(socket: &mut TcpStream) -> Option<(Option<String>, Value)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while buf.len() < header_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..header_end + length]).ok()?;
    Some((header("authorization"), body))
}

/// Splits `body` at the given byte offsets, so reads end mid-line or mid-character.
pub fn split_at(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.min(body.len());
        if cut > start {
            pieces.push(body[start..cut].to_vec());
            start = cut;
        }
    }
    pieces.push(body[start..].to_vec());
    pieces
}
