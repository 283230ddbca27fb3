//! Connection limits over real sockets: in total and per address, refused with 503 before the
//! upgrade; per user, a hello closed with 1013. A place comes back when its connection ends,
//! and other clients are served throughout.

mod common;

use common::*;
use resocket_server::protocol::admission::ConnectionLimits;
use std::time::Duration;

async fn limited(limits: ConnectionLimits) -> resocket_server::Server {
    start(move |c| {
        c.feed_interval = Duration::ZERO;
        c.connection_limits = limits;
    })
    .await
}

/// The HTTP status of a WebSocket upgrade (101 when accepted).
async fn upgrade_status(addr: std::net::SocketAddr) -> u16 {
    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("upgrade failed otherwise: {err}"),
    }
}

#[tokio::test]
async fn past_the_total_or_per_address_limit_upgrades_get_503_until_a_place_frees() {
    for limits in [
        ConnectionLimits {
            total: 2,
            per_ip: 0,
            per_user: 0,
        },
        ConnectionLimits {
            total: 0,
            per_ip: 2,
            per_user: 0,
        },
    ] {
        let server = limited(limits).await;
        let addr = server.local_addr();
        let (first, _) = welcomed(&server).await;
        let (mut second, _) = welcomed(&server).await;
        assert_eq!(upgrade_status(addr).await, 503, "{limits:?}");
        // The connections in place are served as before.
        sync(&mut second).await;
        close(first).await;
        wait_for_stat(addr, "connections", 1).await;
        let (mut third, _) = welcomed(&server).await;
        sync(&mut third).await;
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn past_the_per_user_limit_a_hello_is_closed_with_1013() {
    let server = limited(ConnectionLimits {
        total: 0,
        per_ip: 0,
        per_user: 2,
    })
    .await;
    let addr = server.local_addr();
    let (first, _) = handshake(&server, Some("alice"), None).await;
    let (_second, _) = handshake(&server, Some("alice"), None).await;
    let mut third = connect(&server).await;
    send(&mut third, &hello(Some("alice"), None)).await;
    let (code, reason) = expect_close(&mut third).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("at most 2"), "{reason}");
    // Another user is not affected, and alice gets a place back when one of hers ends.
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;
    sync(&mut bob).await;
    close(first).await;
    wait_for_stat(addr, "connections", 2).await;
    let (mut again, _) = handshake(&server, Some("alice"), None).await;
    sync(&mut again).await;
    server.shutdown().await.expect("clean shutdown");
}
