//! Authentication over real sockets: JWT `hello`s (HS256 tokens from `TokenSigner`), refusals
//! with 4401 counted in `/control/stats`, in-band `refresh` and 4402 on expiry, resume-token
//! rotation with 4409 for the taken-over connection.

mod common;

use common::*;
use resocket_server::auth::{AuthPolicy, JwtConfig, JwtKey, TokenSigner, TokenVerifier};
use resocket_server::Server;
use serde_json::json;
use std::time::Duration;

const SECRET: &[u8] = b"auth-tests-secret-0123456789abcdef";

fn signer() -> TokenSigner {
    TokenSigner::hs256(SECRET).expect("signer")
}

fn token(user: &str, ttl_secs: u64) -> String {
    signer().sign(user, ttl_secs, &[]).expect("token")
}

/// A server that verifies HS256 tokens with no leeway (so expiry tests are quick).
async fn jwt_server() -> Server {
    start(|c| {
        let key = JwtKey::hs256(SECRET.to_vec(), "test secret").expect("key");
        let verifier = TokenVerifier::new(JwtConfig {
            key,
            issuer: None,
            audience: None,
            leeway_secs: 0,
        })
        .expect("verifier");
        c.auth.policy = AuthPolicy::jwt(verifier, false);
        c.feed_interval = Duration::ZERO;
    })
    .await
}

fn hello_with(token: Option<&str>, user: Option<&str>, resume: Option<(&str, &str)>) -> String {
    let mut frame = common::json(&hello(user, resume));
    if let Some(token) = token {
        frame["payload"]["token"] = token.into();
    }
    frame.to_string()
}

/// Sends a hello with `token` and returns the socket and the welcome frame.
async fn welcomed_with(
    server: &Server,
    token: &str,
    resume: Option<(&str, &str)>,
) -> (Ws, serde_json::Value) {
    let mut ws = connect(server).await;
    send(&mut ws, &hello_with(Some(token), None, resume)).await;
    let welcome = expect_kind(&mut ws, "welcome").await;
    (ws, welcome)
}

async fn refused_handshakes(server: &Server) -> u64 {
    let stats = control_get(server.local_addr(), "/control/stats")
        .await
        .json();
    stats["refused_handshakes"]
        .as_u64()
        .expect("refused_handshakes")
}

#[tokio::test]
async fn a_valid_token_is_welcomed_and_its_sub_is_the_presence_user() {
    let server = jwt_server().await;
    let (mut ws, welcome) = welcomed_with(&server, &token("alice", 60), None).await;
    let expires_in = welcome["payload"]["expiresIn"].as_u64().expect("expiresIn");
    assert!((58_000..=60_000).contains(&expires_in), "{welcome}");
    send(&mut ws, r#"{"kind":"join","id":1,"room":"chat"}"#).await;
    let joined = expect_kind(&mut ws, "joined").await;
    assert_eq!(joined["payload"]["members"][0]["user"], "alice", "{joined}");
    // Saying who you are is fine when it agrees with the token.
    let mut again = connect(&server).await;
    send(
        &mut again,
        &hello_with(Some(&token("alice", 60)), Some("alice"), None),
    )
    .await;
    expect_kind(&mut again, "welcome").await;
    assert_eq!(refused_handshakes(&server).await, 0);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn missing_bad_and_expired_tokens_are_refused_with_4401_and_counted() {
    let server = jwt_server().await;
    // An honest client connected throughout keeps being served.
    let (mut honest, _) = welcomed_with(&server, &token("carol", 60), None).await;
    let forged = TokenSigner::hs256(b"another-secret-0123456789abcdef0123")
        .expect("signer")
        .sign("alice", 60, &[])
        .expect("token");
    let expired = {
        // `exp` a minute ago: signed with a negative lifetime through the raw crate.
        let claims = json!({"sub": "alice", "exp": jsonwebtoken::get_current_timestamp() - 60});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET).expect("key"),
        )
        .expect("expired token")
    };
    let cases = [
        (hello_with(None, None, None), "token_missing"),
        (hello_with(None, Some("alice"), None), "token_missing"),
        (hello_with(Some("not.a.jwt"), None, None), "token_malformed"),
        (hello_with(Some(&forged), None, None), "token_bad_signature"),
        (hello_with(Some(&expired), None, None), "token_expired"),
        (
            hello_with(Some(&token("alice", 60)), Some("bob"), None),
            "user_mismatch",
        ),
    ];
    for (n, (hello, reason)) in cases.iter().enumerate() {
        let mut ws = connect(&server).await;
        send(&mut ws, hello).await;
        assert_eq!(
            expect_close(&mut ws).await,
            (4401, (*reason).to_owned()),
            "{hello}"
        );
        assert_eq!(refused_handshakes(&server).await, n as u64 + 1);
        sync(&mut honest).await;
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_short_token_is_refreshed_in_band_and_an_unrefreshed_one_closes_with_4402() {
    let server = jwt_server().await;
    let (mut refreshed, welcome) = welcomed_with(&server, &token("alice", 2), None).await;
    assert!(welcome["payload"]["expiresIn"].as_u64().expect("expiresIn") <= 2000);
    let (mut lapsed, _) = welcomed_with(&server, &token("bob", 2), None).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let frame = json!({"kind": "refresh", "id": 9, "payload": {"token": token("alice", 4)}});
    send(&mut refreshed, &frame.to_string()).await;
    let answer = expect_kind(&mut refreshed, "refreshed").await;
    assert_eq!(answer["id"], 9, "{answer}");
    let expires_in = answer["payload"]["expiresIn"].as_u64().expect("expiresIn");
    assert!((2_000..=4_000).contains(&expires_in), "{answer}");

    // Bob's 2 s token runs out: closed with 4402, while Alice stays connected.
    assert_eq!(
        expect_close(&mut lapsed).await,
        (4402, "token_expired".to_owned())
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    sync(&mut refreshed).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_refused_refresh_answers_unauthorized_and_keeps_the_connection() {
    let server = jwt_server().await;
    let (mut ws, _) = welcomed_with(&server, &token("alice", 60), None).await;
    for (id, token) in [(1, "garbage".to_owned()), (2, token("bob", 60))] {
        let frame = json!({"kind": "refresh", "id": id, "payload": {"token": token}});
        send(&mut ws, &frame.to_string()).await;
        let error = expect_kind(&mut ws, "error").await;
        assert_eq!(error["id"], id, "{error}");
        assert_eq!(error["error"]["code"], "unauthorized", "{error}");
    }
    send(&mut ws, r#"{"kind":"refresh","id":3}"#).await;
    assert_eq!(
        expect_kind(&mut ws, "error").await["error"]["code"],
        "bad_request"
    );
    sync(&mut ws).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_resume_rotates_the_token_and_the_taken_over_connection_gets_4409() {
    let server = jwt_server().await;
    let (mut old, first) = welcomed_with(&server, &token("alice", 60), None).await;
    let session = first["payload"]["session"].as_str().expect("session");
    let resume_token = first["payload"]["token"].as_str().expect("token");
    assert_eq!(resume_token.len(), 64, "CSPRNG, 32 bytes in hex: {first}");
    let (mut new, second) =
        welcomed_with(&server, &token("alice", 60), Some((session, resume_token))).await;
    assert_eq!(second["payload"]["resumed"], true, "{second}");
    let rotated = second["payload"]["token"].as_str().expect("token");
    assert_ne!(rotated, resume_token);
    assert_eq!(
        expect_close(&mut old).await,
        (4409, "session resumed elsewhere".to_owned())
    );
    sync(&mut new).await;
    // The old token no longer resumes anything.
    let (_third, third) =
        welcomed_with(&server, &token("alice", 60), Some((session, resume_token))).await;
    assert_eq!(third["payload"]["resumed"], false, "{third}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn room_messages_carry_the_publishers_verified_user() {
    let server = jwt_server().await;
    let (mut alice, _) = welcomed_with(&server, &token("alice", 60), None).await;
    let (mut bob, _) = welcomed_with(&server, &token("bob", 60), None).await;
    for ws in [&mut alice, &mut bob] {
        send(ws, r#"{"kind":"join","id":1,"room":"chat"}"#).await;
        expect_kind(ws, "joined").await;
    }
    // Claiming another author in the envelope or the payload changes nothing.
    send(
        &mut bob,
        r#"{"kind":"publish","id":2,"room":"chat","user":"alice","payload":{"user":"alice","text":"hi"}}"#,
    )
    .await;
    for ws in [&mut alice, &mut bob] {
        let msg = loop {
            let frame = next_json(ws).await;
            if frame["kind"] == "msg" {
                break frame;
            }
        };
        assert_eq!(msg["user"], "bob", "{msg}");
        assert_eq!(msg["payload"]["text"], "hi", "{msg}");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// Sends a WebSocket upgrade request with `origin` and returns the status line.
async fn upgrade_status(server: &Server, origin: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.local_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0; 256];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_foreign_origin_upgrade_is_refused_with_403_and_nothing_is_dropped() {
    let server = jwt_server().await;
    let (mut alice, _) = welcomed_with(&server, &token("alice", 60), None).await;
    let addr = server.local_addr();
    let same_host = format!("http://{addr}");
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
    ] {
        let status = upgrade_status(&server, Some(origin)).await;
        assert!(status.contains(" 403 "), "{origin}: {status}");
    }
    for origin in [
        Some(same_host.as_str()),
        Some("http://localhost:5173"),
        Some("http://127.0.0.1:9"),
        None,
    ] {
        let status = upgrade_status(&server, origin).await;
        assert!(status.contains(" 101 "), "{origin:?}: {status}");
    }
    sync(&mut alice).await;
    server.shutdown().await.expect("clean shutdown");
}
