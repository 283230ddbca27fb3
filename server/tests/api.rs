//! The server API (docs/SERVER_API.md) over real sockets: HTTP calls against the real server,
//! their effect seen by real WebSocket clients.

mod common;

use common::*;
use resocket_server::{ApiSettings, Server, DISCONNECTED};
use serde_json::{json, Value};
use std::net::SocketAddr;

const KEY: &str = "server-api-test-key-0123456789";

fn api(max_body_bytes: usize) -> ApiSettings {
    ApiSettings {
        key: resocket_server::auth::ApiKey::new(KEY, "test").expect("key"),
        addr: None,
        max_body_bytes,
    }
}

async fn start_api() -> Server {
    start(|config| config.api = Some(api(4096))).await
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    api_call(addr, KEY, method, path, body).await
}

#[tokio::test]
async fn publish_reaches_members_with_the_returned_seq_and_stays_in_history() {
    let server = start_api().await;
    let addr = server.local_addr();
    let (mut member, _) = handshake(&server, Some("alice"), None).await;
    send(&mut member, r#"{"kind":"join","id":1,"room":"chat"}"#).await;
    expect_kind(&mut member, "joined").await;

    let (status, body) = call(
        addr,
        "POST",
        "/api/v1/rooms/chat/publish",
        r#"{"payload":{"text":"from the backend"}}"#,
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"seq": 1, "members": 1}))
    );
    let msg = expect_kind(&mut member, "msg").await;
    assert_eq!(
        msg,
        json!({"kind":"msg","room":"chat","seq":1,"payload":{"text":"from the backend"}})
    );
    // A client publish continues the same sequence.
    send(
        &mut member,
        r#"{"kind":"publish","room":"chat","payload":{"text":"hi"}}"#,
    )
    .await;
    assert_eq!(expect_kind(&mut member, "msg").await["seq"], 2);

    let (status, history) = call(addr, "GET", "/api/v1/rooms/chat/history?limit=10", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        history,
        json!({"room":"chat","messages":[
            {"seq":1,"payload":{"text":"from the backend"}},
            // The client's message carries its author, stamped by the server.
            {"seq":2,"user":"alice","payload":{"text":"hi"}}
        ]})
    );
    let (_, last) = call(addr, "GET", "/api/v1/rooms/chat/history?limit=1", "").await;
    assert_eq!(
        last["messages"],
        json!([{"seq":2,"user":"alice","payload":{"text":"hi"}}])
    );
    let (_, none) = call(addr, "GET", "/api/v1/rooms/nobody/history", "").await;
    assert_eq!(none, json!({"room":"nobody","messages":[]}));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn notify_reaches_only_that_users_connections_and_notify_all_everyone() {
    let server = start_api().await;
    let addr = server.local_addr();
    let (mut alice_1, _) = handshake(&server, Some("alice"), None).await;
    let (mut alice_2, _) = handshake(&server, Some("alice"), None).await;
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;

    let (status, body) = call(
        addr,
        "POST",
        "/api/v1/users/alice/notify",
        r#"{"payload":{"n":1}}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"delivered": 2})));
    for ws in [&mut alice_1, &mut alice_2] {
        assert_eq!(
            next_json(ws).await,
            json!({"kind":"notify","payload":{"n":1}})
        );
    }
    expect_quiet(&mut bob).await;

    let (status, body) = call(
        addr,
        "POST",
        "/api/v1/users/carol/notify",
        r#"{"payload":1}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"delivered": 0})));

    let (status, body) = call(addr, "POST", "/api/v1/notify", r#"{"payload":"all"}"#).await;
    assert_eq!((status, body), (200, json!({"delivered": 3})));
    for ws in [&mut alice_1, &mut alice_2, &mut bob] {
        assert_eq!(
            next_json(ws).await,
            json!({"kind":"notify","payload":"all"})
        );
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn disconnect_closes_every_connection_of_the_user_with_4410() {
    let server = start_api().await;
    let addr = server.local_addr();
    let (mut alice_1, _) = handshake(&server, Some("alice"), None).await;
    let (mut alice_2, _) = handshake(&server, Some("alice"), None).await;
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;

    let (status, body) = call(addr, "POST", "/api/v1/users/alice/disconnect", "").await;
    assert_eq!((status, body), (200, json!({"disconnected": 2})));
    for ws in [&mut alice_1, &mut alice_2] {
        assert_eq!(
            expect_close(ws).await,
            (DISCONNECTED, "disconnected by the server".to_owned())
        );
    }
    sync(&mut bob).await;
    let (_, body) = call(addr, "POST", "/api/v1/users/alice/disconnect", "{}").await;
    assert_eq!(body, json!({"disconnected": 0}));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn presence_lists_the_members() {
    let server = start_api().await;
    let addr = server.local_addr();
    let (mut alice, welcome) = handshake(&server, Some("alice"), None).await;
    send(
        &mut alice,
        r#"{"kind":"join","id":1,"room":"chat","payload":{"meta":{"name":"Alice"}}}"#,
    )
    .await;
    expect_kind(&mut alice, "joined").await;
    let (status, body) = call(addr, "GET", "/api/v1/rooms/chat/presence", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"room":"chat","members":[{"id": welcome.session, "user":"alice","meta":{"name":"Alice"}}]})
    );
    let (_, empty) = call(addr, "GET", "/api/v1/rooms/empty/presence", "").await;
    assert_eq!(empty, json!({"room":"empty","members":[]}));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn server_side_key_ops_reach_a_synced_document() {
    let server = start_api().await;
    let addr = server.local_addr();
    let (mut ws, _) = handshake(&server, None, None).await;
    send(&mut ws, r#"{"kind":"sync","id":1,"room":"board"}"#).await;
    expect_kind(&mut ws, "snapshot").await;

    let (status, body) = call(
        addr,
        "PUT",
        "/api/v1/docs/board/keys/card-1",
        r#"{"value":{"x":1}}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"rev": 1})));
    let op = expect_kind(&mut ws, "op").await;
    assert_eq!(
        op,
        json!({"kind":"op","room":"board","seq":1,"payload":{"origin":"server","cseq":1,"key":"card-1","op":"set","value":{"x":1}}})
    );
    // Compare-and-set.
    let (status, body) = call(
        addr,
        "PUT",
        "/api/v1/docs/board/keys/card-1",
        r#"{"value":2,"ifRev":7}"#,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let (status, body) = call(
        addr,
        "PUT",
        "/api/v1/docs/board/keys/card-2",
        r#"{"value":2,"ifRev":0}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"rev": 2})));
    assert_eq!(expect_kind(&mut ws, "op").await["payload"]["cseq"], 2);

    let (_, doc) = call(addr, "GET", "/api/v1/docs/board", "").await;
    assert_eq!(
        doc,
        json!({"doc":"board","rev":2,"entries":{"card-1":{"value":{"x":1},"rev":1},"card-2":{"value":2,"rev":2}}})
    );
    let (status, body) = call(addr, "DELETE", "/api/v1/docs/board/keys/card-1?ifRev=1", "").await;
    assert_eq!((status, body), (200, json!({"rev": 3})));
    let op = expect_kind(&mut ws, "op").await;
    assert_eq!(op["payload"]["op"], "delete");
    assert_eq!(op["seq"], 3);
    let (_, doc) = call(addr, "GET", "/api/v1/docs/board", "").await;
    assert_eq!(doc["entries"], json!({"card-2":{"value":2,"rev":2}}));
    // A document never written.
    let (_, fresh) = call(addr, "GET", "/api/v1/docs/fresh", "").await;
    assert_eq!(fresh, json!({"doc":"fresh","rev":0,"entries":{}}));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_401_and_an_oversized_body_413() {
    let server = start_api().await;
    let addr = server.local_addr();
    let path = "/api/v1/notify";
    for headers in [
        vec![],
        vec![("Authorization", "Bearer not-the-key-not-the-key")],
        vec![("Authorization", KEY)],
    ] {
        let response = http(addr, "POST", path, &headers, r#"{"payload":1}"#).await;
        assert_eq!(response.status, 401);
        assert_eq!(response.json()["error"]["code"], "unauthorized");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    let big = format!(r#"{{"payload":"{}"}}"#, "x".repeat(5000));
    let (status, body) = call(addr, "POST", path, &big).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "too_large");
    // The WebSocket side keeps serving.
    let (mut ws, _) = welcomed(&server).await;
    sync(&mut ws).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn without_a_key_the_api_is_off_and_with_api_addr_it_is_on_its_own_listener() {
    let server = start(|_| {}).await;
    let (status, _) = call(
        server.local_addr(),
        "POST",
        "/api/v1/notify",
        r#"{"payload":1}"#,
    )
    .await;
    assert_eq!(status, 404);
    server.shutdown().await.expect("clean shutdown");

    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api_addr = free.local_addr().expect("addr");
    drop(free);
    let server = start(|config| {
        config.api = Some(ApiSettings {
            addr: Some(api_addr),
            ..api(4096)
        })
    })
    .await;
    let (mut ws, _) = handshake(&server, Some("alice"), None).await;
    let mut delivered = None;
    for _ in 0..50 {
        // The API listener is bound by the server task; give it a moment.
        if tokio::net::TcpStream::connect(api_addr).await.is_ok() {
            delivered = Some(
                call(
                    api_addr,
                    "POST",
                    "/api/v1/users/alice/notify",
                    r#"{"payload":1}"#,
                )
                .await,
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(delivered, Some((200, json!({"delivered": 1}))));
    assert_eq!(
        next_json(&mut ws).await,
        json!({"kind":"notify","payload":1})
    );
    let (status, _) = call(
        server.local_addr(),
        "POST",
        "/api/v1/notify",
        r#"{"payload":1}"#,
    )
    .await;
    assert_eq!(status, 404, "not on the main listener");
    server.shutdown().await.expect("clean shutdown");
}
