//! The forwarder against a real HTTP backend on 127.0.0.1:0.

use super::*;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What the backend saw: the headers and body of every call.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// Answers by `method`: `ok` echoes, `status` answers `params.status` with `params.body`,
/// `slow` sleeps 500 ms, `big` answers `params.bytes` bytes, `empty` 204, `text` non-JSON 200.
async fn backend(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Json(call): Json<Value>,
) -> Response {
    seen.lock().expect("lock").push((headers, call.clone()));
    let params = call["params"].clone();
    match call["method"].as_str().unwrap_or_default() {
        "ok" => Json(json!({ "echo": params, "user": call["user"] })).into_response(),
        "status" => {
            let status = params["status"].as_u64().unwrap_or(500) as u16;
            let status = StatusCode::from_u16(status).expect("status");
            match params.get("body") {
                Some(Value::String(text)) => (status, text.clone()).into_response(),
                Some(body) => (status, Json(body.clone())).into_response(),
                None => status.into_response(),
            }
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Json(json!("late")).into_response()
        }
        "big" => {
            let bytes = params["bytes"].as_u64().unwrap_or(0) as usize;
            Json(json!("x".repeat(bytes))).into_response()
        }
        "empty" => StatusCode::NO_CONTENT.into_response(),
        "text" => (StatusCode::OK, "not json").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

const SECRET: &str = "rpc-test-secret-0123456789";

async fn start(timeout_ms: u64) -> (RpcForwarder, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/rpc", post(backend))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("backend");
    });
    let setup = RpcSetup {
        url: format!("http://{addr}/rpc"),
        secret: SharedSecret::new(SECRET, "test").expect("secret"),
        timeout: Duration::from_millis(timeout_ms),
    };
    (RpcForwarder::new(&setup).expect("forwarder"), seen)
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("json")
}

fn call<'a>(method: &'a str, params: Option<&'a RawValue>) -> RpcCall<'a> {
    RpcCall {
        method,
        params,
        user: Some("alice"),
        session: "s-1",
        id: 7,
    }
}

#[tokio::test]
async fn success_carries_the_call_the_key_and_the_secret() {
    let (rpc, seen) = start(2_000).await;
    let params = raw(r#"{"a":[1,2]}"#);
    let result = rpc.forward(call("ok", Some(&params))).await.expect("ok");
    let result: Value = serde_json::from_str(result.get()).expect("json");
    assert_eq!(result, json!({"echo": {"a": [1, 2]}, "user": "alice"}));

    let seen = seen.lock().expect("lock");
    let (headers, body) = &seen[0];
    assert_eq!(
        body,
        &json!({"method": "ok", "params": {"a": [1, 2]}, "user": "alice", "session": "s-1", "id": 7})
    );
    assert_eq!(headers[IDEMPOTENCY_HEADER], "s-1:7");
    assert_eq!(headers[SECRET_HEADER], SECRET);
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn no_params_and_anonymous_are_null_and_an_empty_answer_is_null() {
    let (rpc, seen) = start(2_000).await;
    let anonymous = RpcCall {
        user: None,
        ..call("empty", None)
    };
    let result = rpc.forward(anonymous).await.expect("ok");
    assert_eq!(result.get(), "null");
    let seen = seen.lock().expect("lock");
    assert_eq!(seen[0].1["params"], Value::Null);
    assert_eq!(seen[0].1["user"], Value::Null);
}

#[tokio::test]
async fn error_statuses_map_to_typed_codes() {
    let (rpc, _) = start(2_000).await;
    let cases = [
        (400, ErrorCode::BadRequest),
        (422, ErrorCode::BadRequest),
        (401, ErrorCode::Forbidden),
        (403, ErrorCode::Forbidden),
        (404, ErrorCode::NotFound),
        (409, ErrorCode::Conflict),
        (429, ErrorCode::RateLimited),
        (418, ErrorCode::Internal),
        (500, ErrorCode::Internal),
        (502, ErrorCode::Internal),
        (503, ErrorCode::Internal),
        (302, ErrorCode::Internal),
    ];
    for (status, code) in cases {
        let params = raw(&format!(r#"{{"status":{status}}}"#));
        let err = rpc
            .forward(call("status", Some(&params)))
            .await
            .expect_err("error status");
        assert_eq!(err.code, code, "{status}");
        assert_eq!(err.message, format!("the app backend answered {status}"));
    }
}

#[tokio::test]
async fn error_bodies_pass_their_message_through_bounded() {
    let (rpc, _) = start(2_000).await;
    let cases = [
        (
            r#"{"error":{"code":"not_found","message":"no such order"}}"#,
            "no such order",
        ),
        (r#"{"error":"plain text error"}"#, "plain text error"),
        (r#"{"message":"top-level message"}"#, "top-level message"),
        (r#""not an object""#, "the app backend answered 404"),
        (r#"{"error":{"code":"x"}}"#, "the app backend answered 404"),
    ];
    for (body, message) in cases {
        let params = raw(&format!(r#"{{"status":404,"body":{body}}}"#));
        let err = rpc
            .forward(call("status", Some(&params)))
            .await
            .expect_err("404");
        assert_eq!(err.code, ErrorCode::NotFound);
        assert_eq!(err.message, message, "{body}");
    }
    // A text (non-JSON) error body is not passed through.
    let params = raw(r#"{"status":400,"body":"<html>stack trace</html>"}"#);
    let err = rpc
        .forward(call("status", Some(&params)))
        .await
        .expect_err("400");
    assert_eq!(err.message, "the app backend answered 400");
    // A long message is cut to MAX_ERROR_MESSAGE bytes at a char boundary, controls dropped.
    let long = format!("{}\n{}", "é".repeat(200), "z".repeat(200));
    let params =
        serde_json::to_string(&json!({"status": 400, "body": {"error": {"message": long}}}))
            .expect("json");
    let params = raw(&params);
    let err = rpc
        .forward(call("status", Some(&params)))
        .await
        .expect_err("400");
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.len() <= MAX_ERROR_MESSAGE);
    assert!(err.message.len() >= MAX_ERROR_MESSAGE - 1);
    assert!(!err.message.contains('\n'));
}

#[tokio::test]
async fn a_timeout_is_internal_and_says_so() {
    let (rpc, _) = start(100).await;
    let started = std::time::Instant::now();
    let err = rpc.forward(call("slow", None)).await.expect_err("timeout");
    assert!(started.elapsed() < Duration::from_millis(450));
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!(err.message, "the app backend did not answer within 100 ms");
}

#[tokio::test]
async fn an_oversized_answer_is_internal() {
    let (rpc, _) = start(2_000).await;
    let rpc = rpc.with_max_response(1_000);
    let small = raw(r#"{"bytes":900}"#);
    assert!(rpc.forward(call("big", Some(&small))).await.is_ok());
    let big = raw(r#"{"bytes":5000}"#);
    let err = rpc
        .forward(call("big", Some(&big)))
        .await
        .expect_err("too large");
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!(
        err.message,
        "the app backend's answer is larger than 1000 bytes"
    );
    // The default limit is 1 MiB.
    let (rpc, _) = start(5_000).await;
    let huge = raw(&format!(r#"{{"bytes":{}}}"#, MAX_RESPONSE_BYTES + 10));
    let err = rpc
        .forward(call("big", Some(&huge)))
        .await
        .expect_err("too large");
    assert!(err.message.contains("larger than"));
}

#[tokio::test]
async fn a_non_json_answer_and_an_unreachable_backend_are_internal() {
    let (rpc, _) = start(2_000).await;
    let err = rpc.forward(call("text", None)).await.expect_err("not json");
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!(err.message, "the app backend answered with invalid JSON");

    // A port nothing listens on: bind, read the port, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let setup = RpcSetup {
        url: format!("http://{addr}/rpc"),
        secret: SharedSecret::new(SECRET, "test").expect("secret"),
        timeout: Duration::from_millis(1_000),
    };
    let rpc = RpcForwarder::new(&setup).expect("forwarder");
    let err = rpc
        .forward(call("ok", None))
        .await
        .expect_err("unreachable");
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!(err.message, "the app backend is unreachable");
}

#[test]
fn only_http_urls_are_accepted() {
    let setup = |url: &str| RpcSetup {
        url: url.to_owned(),
        secret: SharedSecret::new(SECRET, "test").expect("secret"),
        timeout: Duration::from_millis(1_000),
    };
    assert!(RpcForwarder::new(&setup("http://127.0.0.1:9000/rpc")).is_ok());
    assert!(RpcForwarder::new(&setup("http://backend.internal/rpc")).is_ok());
    assert!(matches!(
        RpcForwarder::new(&setup("https://backend.example.com/rpc")),
        Err(RpcConfigError::Https(_))
    ));
    for bad in ["ftp://x/rpc", "not a url", "/rpc", ""] {
        assert!(
            matches!(RpcForwarder::new(&setup(bad)), Err(RpcConfigError::Url(_))),
            "{bad}"
        );
    }
}
