//! Sessions over real sockets: resume, refusal, TTL expiry and takeover.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test]
async fn a_resume_keeps_the_session_and_says_so() {
    let server = start(|_| {}).await;
    let (ws, first) = handshake(&server, Some("alice"), None).await;
    assert!(
        first.session.starts_with("s-") && !first.resumed,
        "{first:?}"
    );
    drop(ws); // lost without a close frame, as after a network failure

    let (mut again, second) = handshake(&server, Some("alice"), first.resume()).await;
    assert_eq!((&second.session, second.resumed), (&first.session, true));
    assert_ne!(second.token, first.token, "the resume token is rotated");
    send(&mut again, r#"{"kind":"msg","payload":1}"#).await;
    assert_eq!(next_text(&mut again).await, r#"{"kind":"msg","payload":1}"#);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_bad_token_an_unknown_session_or_another_user_gets_a_new_session() {
    let server = start(|_| {}).await;
    let (ws, first) = handshake(&server, Some("alice"), None).await;
    close(ws).await;
    let forged = format!("{}0", first.token);
    for (user, resume) in [
        (Some("alice"), (first.session.as_str(), forged.as_str())),
        (Some("alice"), ("s-999", first.token.as_str())),
        (Some("bob"), (first.session.as_str(), first.token.as_str())),
        (None, (first.session.as_str(), first.token.as_str())),
    ] {
        let (_ws, welcome) = handshake(&server, user, Some(resume)).await;
        assert!(!welcome.resumed, "{user:?} {resume:?}");
        assert_ne!(welcome.session, first.session);
        assert_ne!(welcome.token, first.token);
    }
    // The refused attempts did not disturb the real session.
    let (_ws, welcome) = handshake(&server, Some("alice"), first.resume()).await;
    assert!(welcome.resumed);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_session_expires_after_its_ttl() {
    let server = start(|c| {
        c.session_ttl = Duration::from_millis(100);
        c.feed_interval = Duration::ZERO;
    })
    .await;
    let addr = server.local_addr();
    let (ws, first) = handshake(&server, None, None).await;
    wait_for_stat(addr, "sessions", 1).await;
    close(ws).await;
    wait_for_stat(addr, "sessions", 0).await;
    let (_ws, second) = handshake(&server, None, first.resume()).await;
    assert!(!second.resumed);
    assert_ne!(second.session, first.session);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_resume_takes_over_a_still_open_connection() {
    let server = start(|_| {}).await;
    let (mut old, first) = handshake(&server, None, None).await;
    let (mut new, second) = handshake(&server, None, first.resume()).await;
    assert!(second.resumed);
    assert_ne!(second.token, first.token, "the resume token is rotated");
    assert_eq!(
        expect_close(&mut old).await,
        (4409, "session resumed elsewhere".to_owned())
    );
    send(&mut new, r#"{"kind":"ping","id":1}"#).await;
    assert_eq!(next_text(&mut new).await, r#"{"kind":"pong","id":1}"#);
    // The old connection ending did not detach the session from the new one.
    let stats = control_get(server.local_addr(), "/control/stats")
        .await
        .json();
    assert_eq!(stats["sessions"], 1, "{stats}");
    server.shutdown().await.expect("clean shutdown");
}
