//! The server over an engine whose store cannot be reached: every network input still gets a
//! typed answer, nothing panics, and the server keeps serving.

use super::config::ServerConfig;
use super::{router, AppState};
use crate::protocol::hub::Hub;
use crate::state::{
    Actor, ClientOp, ConnId, Delivery, Engine, EngineError, Entries, OpOutcome, Opened, Published,
    Seen, ServerOpOutcome, Since, StateStats,
};
use axum::extract::ws::Utf8Bytes;
use futures_util::{SinkExt, StreamExt};
use resocket::doc::Op;
use resocket::protocol::Member;
use resocket::protocol::Resume;
use serde_json::value::RawValue;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// An engine whose store is down.
struct Unreachable;

fn down<T>() -> Result<T, EngineError> {
    Err(EngineError::Unavailable("store down".into()))
}

impl Engine for Unreachable {
    async fn presence(&self, _: &str) -> Result<Vec<Member<Box<RawValue>>>, EngineError> {
        down()
    }
    async fn history(&self, _: &str, _: usize) -> Result<Vec<Utf8Bytes>, EngineError> {
        down()
    }
    async fn server_op(&self, _: &str, _: &Op<Value>) -> Result<ServerOpOutcome, EngineError> {
        down()
    }
    async fn open_session(
        &self,
        _: ConnId,
        _: Option<&str>,
        _: Option<&Resume>,
    ) -> Result<Opened, EngineError> {
        down()
    }
    async fn disconnect(&self, _: &Actor) -> Result<(), EngineError> {
        down()
    }
    async fn begin_request(&self, _: &str, _: u64) -> Result<Seen<Utf8Bytes>, EngineError> {
        down()
    }
    async fn finish_request(&self, _: &str, _: u64, _: Utf8Bytes) -> Result<(), EngineError> {
        down()
    }
    async fn finish_request_later(
        &self,
        _: &str,
        _: u64,
        _: Utf8Bytes,
    ) -> Result<bool, EngineError> {
        down()
    }
    async fn join(
        &self,
        _: &Actor,
        _: Option<u64>,
        _: &str,
        _: Option<Since>,
        _: Option<u64>,
        _: Option<Box<RawValue>>,
    ) -> Result<Vec<Utf8Bytes>, EngineError> {
        down()
    }
    async fn leave(&self, _: &Actor, _: &str) -> Result<bool, EngineError> {
        down()
    }
    async fn publish(&self, _: &Actor, _: &str, _: &RawValue) -> Result<Published, EngineError> {
        down()
    }
    async fn publish_as_server(&self, _: &str, _: &RawValue) -> Result<Published, EngineError> {
        down()
    }
    async fn set_meta(&self, _: &Actor, _: &str, _: Box<RawValue>) -> Result<(), EngineError> {
        down()
    }
    async fn sync<Q>(
        &self,
        _: ConnId,
        _: Option<u64>,
        _: &str,
        _: Option<Since>,
        _: Q,
    ) -> Result<Vec<Utf8Bytes>, EngineError>
    where
        Q: FnOnce() -> Vec<Utf8Bytes> + Send,
    {
        down()
    }
    async fn unsync(&self, _: ConnId, _: &str) -> Result<bool, EngineError> {
        down()
    }
    async fn op(
        &self,
        _: ConnId,
        _: &str,
        _: &str,
        _: &ClientOp,
    ) -> Result<OpOutcome, EngineError> {
        down()
    }
    async fn doc_state(&self, _: &str) -> Result<Option<(u64, Entries)>, EngineError> {
        down()
    }
    async fn deliver(&self, _: Delivery) -> Result<usize, EngineError> {
        down()
    }
    async fn stats(&self) -> Result<StateStats, EngineError> {
        down()
    }
}

const API_KEY: &str = "unreachable-api-key-0123456789";
const CONTROL_SECRET: &str = "unreachable-control-secret";

async fn serve_unreachable() -> SocketAddr {
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let config = ServerConfig {
        control_secret: Some(
            crate::auth::SharedSecret::new(CONTROL_SECRET, "test").expect("secret"),
        ),
        ..ServerConfig::default()
    };
    let state = AppState::with_engine(Hub::new(), Arc::new(Unreachable), &config, stopped);
    let api = super::api::ApiConfig {
        key: crate::auth::ApiKey::new(API_KEY, "test").expect("key"),
        max_body_bytes: 1024,
    };
    let app = router(state, None, Some(api)).into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _stopping = stopping;
        axum::serve(listener, app).await
    });
    addr
}

async fn http(addr: SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test]
async fn a_hello_is_closed_with_1001_and_control_calls_get_503() {
    let addr = serve_unreachable().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        for _ in 0..2 {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .expect("upgrade");
            let hello = r#"{"kind":"hello","payload":{"version":1}}"#;
            ws.send(Message::text(hello)).await.expect("send");
            let close = loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => break frame.expect("a close frame"),
                    Some(Ok(_)) => {}
                    other => panic!("expected a close frame, got {other:?}"),
                }
            };
            assert_eq!(u16::from(close.code), 1001);
            assert_eq!(close.reason.as_str(), "shared state unavailable: store down");
        }
        let stats = http(
            addr,
            "GET /control/stats HTTP/1.1\r\nHost: x\r\nX-Resocket-Control-Secret: unreachable-control-secret\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(stats.starts_with("HTTP/1.1 503"), "{stats}");
        assert!(stats.ends_with("shared state unavailable: store down\n"), "{stats}");
        let publish = http(
            addr,
            "POST /control/publish?room=r HTTP/1.1\r\nHost: x\r\nX-Resocket-Control-Secret: unreachable-control-secret\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1",
        )
        .await;
        assert!(publish.starts_with("HTTP/1.1 503"), "{publish}");
    })
    .await
    .expect("answers in time");
}

#[tokio::test]
async fn server_api_calls_get_503_unavailable() {
    let addr = serve_unreachable().await;
    let calls = [
        ("POST", "/api/v1/rooms/r/publish", r#"{"payload":1}"#),
        ("POST", "/api/v1/users/alice/notify", r#"{"payload":1}"#),
        ("POST", "/api/v1/notify", r#"{"payload":1}"#),
        ("GET", "/api/v1/rooms/r/presence", ""),
        ("GET", "/api/v1/rooms/r/history", ""),
        ("GET", "/api/v1/docs/d", ""),
        ("PUT", "/api/v1/docs/d/keys/k", r#"{"value":1}"#),
        ("DELETE", "/api/v1/docs/d/keys/k", ""),
    ];
    tokio::time::timeout(Duration::from_secs(5), async {
        for (method, path, body) in calls {
            let response = http(
                addr,
                &format!(
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
            )
            .await;
            assert!(response.starts_with("HTTP/1.1 503"), "{method} {path}: {response}");
            assert!(
                response.contains(r#"{"error":{"code":"unavailable","message":"shared state unavailable: store down"}}"#),
                "{response}"
            );
        }
        // Disconnect needs only the hub.
        let response = http(
            addr,
            &format!(
                "POST /api/v1/users/alice/disconnect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    })
    .await
    .expect("answers in time");
}
