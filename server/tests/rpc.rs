//! Requests answered by the app (`--rpc-url`): client requests over a real WebSocket, forwarded
//! to a real HTTP backend started by the test.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post as post_route;
use axum::{Json, Router};
use common::*;
use resocket_server::auth::{RpcSetup, SharedSecret};
use resocket_server::Server;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "rpc-integration-secret-0123456789";

/// Every call the backend got: (Idempotency-Key, X-Resocket-Secret, body).
type Calls = Arc<Mutex<Vec<(String, String, Value)>>>;

async fn backend(
    State(calls): State<Calls>,
    headers: HeaderMap,
    Json(call): Json<Value>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    calls.lock().expect("lock").push((
        header("idempotency-key"),
        header("x-resocket-secret"),
        call.clone(),
    ));
    match call["method"].as_str().unwrap_or_default() {
        "greet" => Json(json!({"hello": call["user"], "params": call["params"]})).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Json(json!("done")).into_response()
        }
        "refuse" => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": {"code": "forbidden", "message": "not your order"}})),
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"message": "no such method"}})),
        )
            .into_response(),
    }
}

async fn start_backend() -> (SocketAddr, Calls) {
    let calls = Calls::default();
    let app = Router::new()
        .route("/rpc", post_route(backend))
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("backend");
    });
    (addr, calls)
}

async fn start_forwarding(backend: SocketAddr, timeout_ms: u64, demo: bool) -> Server {
    start(|config| {
        config.demo = demo;
        config.rpc = Some(RpcSetup {
            url: format!("http://{backend}/rpc"),
            secret: SharedSecret::new(SECRET, "test").expect("secret"),
            timeout: Duration::from_millis(timeout_ms),
        });
    })
    .await
}

fn count(calls: &Calls) -> usize {
    calls.lock().expect("lock").len()
}

#[tokio::test]
async fn a_forwarded_request_carries_the_call_and_its_answer_is_the_reply() {
    let (addr, calls) = start_backend().await;
    let server = start_forwarding(addr, 2_000, false).await;
    let (mut ws, welcome) = handshake(&server, Some("alice"), None).await;
    request(&mut ws, 3, "greet", json!({"lang": "en"})).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":3,"payload":{"hello":"alice","params":{"lang":"en"}}})
    );
    let calls = calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    let (key, secret, body) = &calls[0];
    assert_eq!(key, &format!("{}:3", welcome.session));
    assert_eq!(secret, SECRET);
    assert_eq!(
        body,
        &json!({"method":"greet","params":{"lang":"en"},"user":"alice","session":welcome.session,"id":3})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn backend_errors_become_typed_error_replies() {
    let (addr, _) = start_backend().await;
    let server = start_forwarding(addr, 2_000, false).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    request(&mut ws, 1, "refuse", json!(null)).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":1,"error":{"code":"forbidden","message":"not your order"}})
    );
    request(&mut ws, 2, "nope", json!(null)).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":2,"error":{"code":"not_found","message":"no such method"}})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_timeout_is_internal_with_a_message() {
    let (addr, _) = start_backend().await;
    let server = start_forwarding(addr, 200, false).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    request(&mut ws, 1, "slow", json!(null)).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":1,"error":{"code":"internal","message":"the app backend did not answer within 200 ms"}})
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_request_resent_after_a_forced_drop_reaches_the_backend_once() {
    let (addr, calls) = start_backend().await;
    let server = start_forwarding(addr, 5_000, false).await;
    let (mut first, welcome) = handshake(&server, Some("alice"), None).await;
    request(&mut first, 1, "slow", json!(null)).await;
    sync(&mut first).await;
    // Every socket dropped without a close frame while the backend is still answering.
    assert_eq!(
        control_post(server.local_addr(), "/control/drop", "")
            .await
            .status,
        200
    );
    assert!(matches!(next_event(&mut first).await, Event::Abnormal(_)));

    let (mut second, resumed) = handshake(&server, Some("alice"), welcome.resume()).await;
    assert!(resumed.resumed);
    request(&mut second, 1, "slow", json!(null)).await;
    assert_eq!(
        next_json(&mut second).await,
        json!({"kind":"res","id":1,"payload":"done"})
    );
    expect_quiet(&mut second).await;
    // Once finished, a re-send is answered from the reply cache.
    request(&mut second, 1, "slow", json!(null)).await;
    assert_eq!(
        next_json(&mut second).await,
        json!({"kind":"res","id":1,"payload":"done"})
    );
    assert_eq!(count(&calls), 1, "the backend saw the request once");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn demo_methods_answer_only_in_demo_mode_and_are_not_forwarded() {
    // Neither demo mode nor a backend: every method is not_found.
    let server = start(|config| config.demo = false).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    request(&mut ws, 1, "echo", json!("hi")).await;
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    server.shutdown().await.expect("clean shutdown");

    // Demo mode with a backend: demo methods locally, the others forwarded.
    let (addr, calls) = start_backend().await;
    let server = start_forwarding(addr, 2_000, true).await;
    let (mut ws, _) = handshake(&server, None, None).await;
    request(&mut ws, 1, "echo", json!("hi")).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"res","id":1,"payload":"hi"})
    );
    assert_eq!(count(&calls), 0);
    request(&mut ws, 2, "greet", json!(null)).await;
    assert_eq!(next_json(&mut ws).await["payload"]["hello"], Value::Null);
    assert_eq!(count(&calls), 1);

    // Without demo mode, even `echo` goes to the backend.
    let server_2 = start_forwarding(addr, 2_000, false).await;
    let (mut ws_2, _) = handshake(&server_2, None, None).await;
    request(&mut ws_2, 1, "echo", json!("hi")).await;
    assert_eq!(next_json(&mut ws_2).await["error"]["code"], "not_found");
    assert_eq!(count(&calls), 2);
    server.shutdown().await.expect("clean shutdown");
    server_2.shutdown().await.expect("clean shutdown");
}
