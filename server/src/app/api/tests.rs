//! The HTTP layer over a real socket, with recording fake operations.

use super::*;
use axum::http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Mutex;

const KEY: &str = "api-test-key-0123456789abcdef";

/// Records every call; answers fixed values.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn record(&self, call: String) {
        self.calls.lock().expect("lock").push(call);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("json")
}

impl ApiOps for Fake {
    async fn publish(&self, room: &str, payload: &RawValue) -> Result<(u64, usize), ApiError> {
        self.record(format!("publish {room} {}", payload.get()));
        if room == "full" {
            return Err(ApiError::Unavailable("the server is stopping".to_owned()));
        }
        Ok((42, 3))
    }
    async fn notify(&self, user: Option<&str>, payload: &RawValue) -> Result<usize, ApiError> {
        self.record(format!("notify {user:?} {}", payload.get()));
        Ok(2)
    }
    async fn disconnect(&self, user: &str) -> Result<usize, ApiError> {
        self.record(format!("disconnect {user}"));
        Ok(1)
    }
    async fn presence(&self, room: &str) -> Result<Vec<Member>, ApiError> {
        self.record(format!("presence {room}"));
        Ok(vec![Member {
            id: "s-1".to_owned(),
            user: Some("alice".to_owned()),
            meta: Some(raw(r#"{"name":"Alice"}"#)),
        }])
    }
    async fn history(&self, room: &str, limit: usize) -> Result<Vec<HistoryMessage>, ApiError> {
        self.record(format!("history {room} {limit}"));
        Ok(vec![HistoryMessage {
            seq: 5,
            payload: raw(r#"{"text":"hi"}"#),
            user: None,
        }])
    }
    async fn doc(&self, doc: &str) -> Result<DocState, ApiError> {
        self.record(format!("doc {doc}"));
        Ok(DocState {
            rev: 9,
            entries: vec![(
                "card".to_owned(),
                DocEntry {
                    value: raw(r#"{"x":1}"#),
                    rev: 9,
                },
            )],
        })
    }
    async fn change_key(
        &self,
        doc: &str,
        key: &str,
        change: KeyChange,
        if_rev: Option<u64>,
    ) -> Result<u64, ApiError> {
        let what = match change {
            KeyChange::Set(value) => format!("set {}", value.get()),
            KeyChange::Delete => "delete".to_owned(),
        };
        self.record(format!("change {doc} {key} {what} {if_rev:?}"));
        if if_rev == Some(1) {
            return Err(ApiError::Conflict(
                "card is at revision 9, not 1".to_owned(),
            ));
        }
        Ok(10)
    }
}

struct Harness {
    addr: SocketAddr,
    fake: Arc<Fake>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

async fn start(max_body_bytes: usize) -> Harness {
    let fake = Arc::new(Fake::default());
    let config = ApiConfig {
        key: ApiKey::new(KEY, "test").expect("key"),
        max_body_bytes,
    };
    let app = router(Arc::clone(&fake), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Harness {
        addr,
        fake,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Harness {
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let response = self.client.request(request).await.expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
        };
        (status, value)
    }

    async fn call(&self, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        self.send(method, path, Some(&format!("Bearer {KEY}")), body)
            .await
    }
}

fn error(status: StatusCode, code: &str) -> impl Fn((StatusCode, Value)) {
    let code = code.to_owned();
    move |(got, body)| {
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], json!(code), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn every_endpoint_answers_json() {
    let api = start(DEFAULT_MAX_BODY_BYTES).await;
    let post = Method::POST;
    assert_eq!(
        api.call(
            post.clone(),
            "/api/v1/rooms/chat:general/publish",
            r#"{"payload":{"text":"hi"}}"#
        )
        .await,
        (StatusCode::OK, json!({"seq": 42, "members": 3}))
    );
    assert_eq!(
        api.call(
            post.clone(),
            "/api/v1/users/alice/notify",
            r#"{"payload":{"n":1}}"#
        )
        .await,
        (StatusCode::OK, json!({"delivered": 2}))
    );
    assert_eq!(
        api.call(post.clone(), "/api/v1/notify", r#"{"payload":"all"}"#)
            .await,
        (StatusCode::OK, json!({"delivered": 2}))
    );
    assert_eq!(
        api.call(post.clone(), "/api/v1/users/alice/disconnect", "")
            .await,
        (StatusCode::OK, json!({"disconnected": 1}))
    );
    assert_eq!(
        api.call(post.clone(), "/api/v1/users/alice/disconnect", "{}")
            .await,
        (StatusCode::OK, json!({"disconnected": 1}))
    );
    assert_eq!(
        api.call(Method::GET, "/api/v1/rooms/chat/presence", "")
            .await,
        (
            StatusCode::OK,
            json!({"room": "chat", "members": [{"id": "s-1", "user": "alice", "meta": {"name": "Alice"}}]})
        )
    );
    assert_eq!(
        api.call(Method::GET, "/api/v1/rooms/chat/history?limit=7", "")
            .await,
        (
            StatusCode::OK,
            json!({"room": "chat", "messages": [{"seq": 5, "payload": {"text": "hi"}}]})
        )
    );
    assert_eq!(
        api.call(Method::GET, "/api/v1/docs/board", "").await,
        (
            StatusCode::OK,
            json!({"doc": "board", "rev": 9, "entries": {"card": {"value": {"x": 1}, "rev": 9}}})
        )
    );
    assert_eq!(
        api.call(
            Method::PUT,
            "/api/v1/docs/board/keys/card",
            r#"{"value":{"x":2},"ifRev":9}"#
        )
        .await,
        (StatusCode::OK, json!({"rev": 10}))
    );
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/docs/board/keys/card?ifRev=10", "")
            .await,
        (StatusCode::OK, json!({"rev": 10}))
    );
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/docs/board/keys/a%2Fb%20c", "")
            .await,
        (StatusCode::OK, json!({"rev": 10}))
    );
    assert_eq!(
        api.fake.calls(),
        [
            r#"publish chat:general {"text":"hi"}"#,
            r#"notify Some("alice") {"n":1}"#,
            r#"notify None "all""#,
            "disconnect alice",
            "disconnect alice",
            "presence chat",
            "history chat 7",
            "doc board",
            r#"change board card set {"x":2} Some(9)"#,
            "change board card delete Some(10)",
            "change board a/b c delete None",
        ]
    );
    // The default history limit.
    api.call(Method::GET, "/api/v1/rooms/chat/history", "")
        .await;
    assert_eq!(
        api.fake.calls().last().map(String::as_str),
        Some(format!("history chat {DEFAULT_HISTORY_LIMIT}").as_str())
    );
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401_before_anything_runs() {
    let api = start(DEFAULT_MAX_BODY_BYTES).await;
    let path = "/api/v1/rooms/chat/publish";
    let body = r#"{"payload":1}"#;
    for auth in [
        None,
        Some("Bearer wrong-key-wrong-key-wrong"),
        Some(KEY),
        Some("Basic api-test-key-0123456789abcdef"),
        Some("Bearer "),
    ] {
        error(StatusCode::UNAUTHORIZED, "unauthorized")(
            api.send(Method::POST, path, auth, body).await,
        );
    }
    // Also on unknown paths, and before a body over the limit is looked at.
    error(StatusCode::UNAUTHORIZED, "unauthorized")(
        api.send(Method::GET, "/api/v1/nope", None, "").await,
    );
    let big = format!(
        r#"{{"payload":"{}"}}"#,
        "x".repeat(2 * DEFAULT_MAX_BODY_BYTES)
    );
    error(StatusCode::UNAUTHORIZED, "unauthorized")(api.send(Method::POST, path, None, &big).await);
    assert!(api.fake.calls().is_empty());
    // The scheme is case-insensitive.
    let (status, _) = api
        .send(Method::POST, path, Some(&format!("bearer {KEY}")), body)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let api = start(1_000).await;
    let ok = format!(r#"{{"payload":"{}"}}"#, "x".repeat(900));
    assert_eq!(
        api.call(Method::POST, "/api/v1/notify", &ok).await.0,
        StatusCode::OK
    );
    let big = format!(r#"{{"payload":"{}"}}"#, "x".repeat(1_000));
    let (status, body) = api.call(Method::POST, "/api/v1/notify", &big).await;
    error(StatusCode::PAYLOAD_TOO_LARGE, "too_large")((status, body.clone()));
    assert_eq!(
        body["error"]["message"],
        "the request body is larger than 1000 bytes"
    );
    let big = format!(r#"{{"value":"{}"}}"#, "x".repeat(5_000));
    error(StatusCode::PAYLOAD_TOO_LARGE, "too_large")(
        api.call(Method::PUT, "/api/v1/docs/d/keys/k", &big).await,
    );
    assert_eq!(api.fake.calls().len(), 1);
}

#[tokio::test]
async fn bad_input_gets_typed_errors() {
    let api = start(DEFAULT_MAX_BODY_BYTES).await;
    let bad = error(StatusCode::BAD_REQUEST, "bad_request");
    bad(api.call(Method::POST, "/api/v1/notify", "not json").await);
    bad(api.call(Method::POST, "/api/v1/notify", "").await);
    bad(api
        .call(Method::POST, "/api/v1/notify", r#"{"text":"no payload"}"#)
        .await);
    bad(api
        .call(Method::POST, "/api/v1/notify", r#"{"payload":1,"extra":2}"#)
        .await);
    bad(api
        .call(
            Method::POST,
            "/api/v1/users/al%20ice/notify",
            r#"{"payload":1}"#,
        )
        .await);
    bad(api
        .call(
            Method::POST,
            "/api/v1/users/alice/disconnect",
            r#"{"why":1}"#,
        )
        .await);
    let long = "r".repeat(MAX_NAME + 1);
    bad(api
        .call(Method::GET, &format!("/api/v1/rooms/{long}/presence"), "")
        .await);
    bad(api
        .call(Method::GET, "/api/v1/rooms/chat/history?limit=0", "")
        .await);
    bad(api
        .call(Method::GET, "/api/v1/rooms/chat/history?limit=x", "")
        .await);
    bad(api
        .call(Method::GET, "/api/v1/rooms/chat/history?limit=100000", "")
        .await);
    bad(api
        .call(Method::GET, "/api/v1/rooms/chat/history?other=1", "")
        .await);
    bad(api
        .call(Method::PUT, "/api/v1/docs/d/keys/k", r#"{"ifRev":1}"#)
        .await);
    bad(api
        .call(
            Method::PUT,
            "/api/v1/docs/d/keys/k",
            r#"{"value":1,"ifRev":-1}"#,
        )
        .await);
    bad(api
        .call(Method::DELETE, "/api/v1/docs/d/keys/k?ifRev=x", "")
        .await);
    bad(api
        .call(Method::GET, "/api/v1/rooms/%FF/presence", "")
        .await);
    error(StatusCode::NOT_FOUND, "not_found")(api.call(Method::GET, "/api/v1/nope", "").await);
    error(StatusCode::NOT_FOUND, "not_found")(
        api.call(Method::GET, "/api/v1/docs/d/keys", "").await,
    );
    error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")(
        api.call(Method::GET, "/api/v1/notify", "").await,
    );
    assert!(api.fake.calls().is_empty(), "{:?}", api.fake.calls());
    // Errors of the operations themselves.
    error(StatusCode::CONFLICT, "conflict")(
        api.call(
            Method::PUT,
            "/api/v1/docs/d/keys/k",
            r#"{"value":1,"ifRev":1}"#,
        )
        .await,
    );
    error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")(
        api.call(
            Method::POST,
            "/api/v1/rooms/full/publish",
            r#"{"payload":1}"#,
        )
        .await,
    );
    // The server keeps serving.
    assert_eq!(
        api.call(Method::POST, "/api/v1/notify", r#"{"payload":null}"#)
            .await
            .0,
        StatusCode::OK
    );
}

#[test]
fn error_codes_and_statuses() {
    let all = [
        (ApiError::BadRequest(String::new()), 400, "bad_request"),
        (ApiError::Unauthorized, 401, "unauthorized"),
        (ApiError::Forbidden(String::new()), 403, "forbidden"),
        (ApiError::NotFound(String::new()), 404, "not_found"),
        (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
        (ApiError::Conflict(String::new()), 409, "conflict"),
        (ApiError::TooLarge(1), 413, "too_large"),
        (ApiError::RateLimited(String::new()), 429, "rate_limited"),
        (ApiError::Internal(String::new()), 500, "internal"),
        (ApiError::Unavailable(String::new()), 503, "unavailable"),
    ];
    for (error, status, code) in all {
        assert_eq!(error.status().as_u16(), status);
        assert_eq!(error.code(), code);
    }
}
