//! Demo mode as `scripts/demo.sh` runs it: `--demo` without a JWT key verifies tokens signed with
//! a generated secret, and `/demo/token` hands them out to the demo's pages.

mod common;

use common::*;
use resocket_server::{parse_args_with_env, Command, Server, ServerConfig};
use serde_json::json;

/// A server configured from the command line, as the demo script starts it.
async fn demo_server(extra: &[&str]) -> Server {
    let args = ["--demo", "--addr", "127.0.0.1:0"]
        .iter()
        .chain(extra)
        .copied();
    let config: ServerConfig = match parse_args_with_env(args, |_| None) {
        Ok(Command::Run(config)) => config,
        other => panic!("expected a config, got {other:?}"),
    };
    Server::start(config).await.expect("server starts")
}

fn hello_with_token(token: &str) -> String {
    json!({"kind": "hello", "payload": {"version": 1, "token": token}}).to_string()
}

#[tokio::test]
async fn dev_tokens_authenticate_the_user_they_name() {
    let server = demo_server(&[]).await;
    let addr = server.local_addr();
    let reply = http(
        addr,
        "GET",
        "/demo/token?user=alice",
        &[("Sec-Fetch-Site", "same-origin")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("access-control-allow-origin"), None);
    let body = reply.json();
    assert_eq!(
        (&body["user"], &body["expiresIn"]),
        (&json!("alice"), &json!(300))
    );
    let token = body["token"].as_str().expect("a token");

    let mut ws = connect(&server).await;
    send(&mut ws, &hello_with_token(token)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    assert!(
        welcome["payload"]["expiresIn"].as_u64().is_some(),
        "{welcome}"
    );
    // The token's user is who the connection is: a room's presence shows it.
    send(&mut ws, r#"{"kind":"join","room":"lobby","presence":{}}"#).await;
    let joined = expect_kind(&mut ws, "joined").await;
    assert_eq!(joined["payload"]["members"][0]["user"], "alice", "{joined}");

    // Without a token the demo refuses, as a production server would.
    let mut anonymous = connect(&server).await;
    send(&mut anonymous, HELLO).await;
    assert_eq!(
        expect_close(&mut anonymous).await,
        (4401, "token_missing".to_owned())
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn dev_tokens_refuse_bad_users_and_other_sites() {
    let server = demo_server(&["--allow-anonymous"]).await;
    let addr = server.local_addr();
    for path in ["/demo/token", "/demo/token?user=", "/demo/token?user=a%20b"] {
        let reply = get(addr, path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "bad_request");
    }
    for headers in [
        [
            ("Sec-Fetch-Site", "cross-site"),
            ("Origin", "https://evil.example"),
        ],
        [
            ("Sec-Fetch-Site", "same-site"),
            ("Origin", "http://127.0.0.1:9"),
        ],
    ] {
        let reply = http(addr, "GET", "/demo/token?user=alice", &headers, "").await;
        assert_eq!(reply.status, 403, "{headers:?}");
        assert!(!reply.body.contains("token\""), "{}", reply.body);
        assert_eq!(reply.header("access-control-allow-origin"), None);
    }
    // With --allow-anonymous a tokenless hello is welcome (the plain demo page).
    let mut anonymous = connect(&server).await;
    send(&mut anonymous, HELLO).await;
    expect_kind(&mut anonymous, "welcome").await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn no_dev_tokens_without_a_generated_secret() {
    // The insecure test mode: nothing to sign with.
    let server = start(|_| {}).await;
    assert_eq!(
        get(server.local_addr(), "/demo/token?user=a").await.status,
        404
    );
    server.shutdown().await.expect("clean shutdown");
    // A configured key: the app backend mints tokens, not the server.
    let env = |name: &str| {
        (name == "RESOCKET_JWT_SECRET").then(|| "0123456789abcdef0123456789abcdef".to_owned())
    };
    let config = match parse_args_with_env(["--demo", "--addr", "127.0.0.1:0"], env) {
        Ok(Command::Run(config)) => config,
        other => panic!("expected a config, got {other:?}"),
    };
    let server = Server::start(config).await.expect("server starts");
    assert_eq!(
        get(server.local_addr(), "/demo/token?user=a").await.status,
        404
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn order_is_the_app_backends_not_a_built_in_method() {
    let server = start(|_| {}).await;
    let (mut ws, _) = handshake(&server, Some("alice"), None).await;
    request(
        &mut ws,
        1,
        "order",
        json!({"symbol": "BTC", "side": "buy", "qty": 1}),
    )
    .await;
    let res = expect_kind(&mut ws, "res").await;
    assert_eq!(res["error"]["code"], "not_found", "{res}");
    server.shutdown().await.expect("clean shutdown");
}
