//! Control endpoints over real sockets: drop/outage, injected frames, stats; and their guard:
//! routed only with `--test-controls`, the control secret, CORS for allowed origins only, and
//! the demo's same-origin secret endpoint.

mod common;

use common::*;
use resocket_server::auth::OriginPolicy;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn drop_kills_sockets_without_a_close_frame_and_the_outage_refuses_upgrades() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let (mut a, _) = welcomed(&server).await;
    let mut b = connect(&server).await; // still handshaking: dropped too

    let started = Instant::now();
    let reply = control_post(addr, "/control/drop?outage_ms=400", "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), serde_json::json!({"dropped": 2}));
    for ws in [&mut a, &mut b] {
        match next_event(ws).await {
            Event::Abnormal(_) => {}
            other => panic!("expected the socket to end without a close frame, got {other:?}"),
        }
    }

    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(other) => panic!("expected HTTP 503, got {other}"),
        Ok(_) => panic!("upgrade accepted during the outage"),
    }
    let stats = control_get(addr, "/control/stats").await.json();
    assert_eq!(stats["refused"], 1, "{stats}");
    assert_eq!(stats["connections"], 0, "{stats}");
    assert!(
        stats["outage_remaining_ms"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );

    // After the outage upgrades are accepted again.
    let mut ws = loop {
        match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
            Ok((ws, _)) => break ws,
            Err(tungstenite::Error::Http(response)) if response.status() == 503 => {
                assert!(started.elapsed() < WAIT, "outage did not end");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("unexpected connect error {other}"),
        }
    };
    assert!(started.elapsed() >= Duration::from_millis(400));
    send(&mut ws, HELLO).await;
    assert_eq!(json(&next_text(&mut ws).await)["kind"], "welcome");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn drop_without_an_outage_allows_reconnecting_at_once() {
    let server = start(|_| {}).await;
    let (mut ws, _) = welcomed(&server).await;
    let reply = control_post(server.local_addr(), "/control/drop", "").await;
    assert_eq!(reply.json(), serde_json::json!({"dropped": 1}));
    assert!(matches!(next_event(&mut ws).await, Event::Abnormal(_)));
    let (mut again, _) = welcomed(&server).await;
    send(&mut again, r#"{"kind":"msg","payload":true}"#).await;
    assert_eq!(
        next_text(&mut again).await,
        r#"{"kind":"msg","payload":true}"#
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_absurd_outage_is_a_bad_request() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    for path in [
        "/control/drop?outage_ms=99999999999",
        "/control/drop?outage_ms=soon",
    ] {
        assert_eq!(control_post(addr, path, "").await.status, 400, "{path}");
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn malformed_reaches_every_open_connection() {
    let server = start(|_| {}).await;
    let (mut a, _) = welcomed(&server).await;
    let (mut b, _) = welcomed(&server).await;
    let _pending = connect(&server).await;
    let reply = control_post(server.local_addr(), "/control/malformed", "").await;
    assert_eq!(reply.json(), serde_json::json!({"sent": 2}));
    for ws in [&mut a, &mut b] {
        assert_eq!(next_text(ws).await, "this is not json{");
        // The client side can carry on.
        send(ws, r#"{"kind":"ping","id":2}"#).await;
        assert_eq!(next_text(ws).await, r#"{"kind":"pong","id":2}"#);
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn send_delivers_the_exact_body_as_a_text_frame() {
    let server = start(|_| {}).await;
    let (mut ws, _) = welcomed(&server).await;
    let frame = r#"{"kind":"teleport","id":7,"payload":{"to":"mars"}}"#;
    let reply = control_post(server.local_addr(), "/control/send", frame).await;
    assert_eq!(reply.json(), serde_json::json!({"sent": 1}));
    assert_eq!(next_text(&mut ws).await, frame);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn stats_count_open_handshaking_and_accepted() {
    let server = start(|_| {}).await;
    let (_a, _) = welcomed(&server).await;
    let (_b, _) = welcomed(&server).await;
    let _pending = connect(&server).await;
    let reply = control_get(server.local_addr(), "/control/stats").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let stats = reply.json();
    assert_eq!(
        (
            &stats["connections"],
            &stats["handshaking"],
            &stats["accepted"]
        ),
        (&2.into(), &1.into(), &3.into()),
        "{stats}"
    );
    assert_eq!(stats["outage_remaining_ms"], 0);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_path_is_rejected_cleanly() {
    let server = start(|_| {}).await;
    let reply = get(server.local_addr(), "/ws").await;
    assert!((400..500).contains(&reply.status), "{}", reply.status);
    assert_eq!(get(server.local_addr(), "/nothing-here").await.status, 404);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn flood_delivers_every_frame_in_order_even_past_the_outbound_queue_size() {
    let server = start(|_| {}).await;
    let (mut ws, _) = welcomed(&server).await;
    let count = 3_000; // more than the 1024-frame outbound queue: the flood must wait, not drop
    let reply = control_post(
        server.local_addr(),
        &format!("/control/flood?count={count}&pad=8"),
        "",
    )
    .await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"connections": 1, "count": count})
    );
    for i in 0..count {
        let frame = json(&next_text(&mut ws).await);
        assert_eq!(frame["kind"], "msg");
        assert_eq!(frame["payload"]["i"], i);
        assert_eq!(frame["payload"]["pad"], "xxxxxxxx");
    }
    let too_big = control_post(server.local_addr(), "/control/flood?count=1000001", "").await;
    assert_eq!(too_big.status, 400);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn notify_reaches_one_users_connections_or_everyone() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let (mut alice1, _) = handshake(&server, Some("alice"), None).await;
    let (mut alice2, _) = handshake(&server, Some("alice"), None).await;
    let (mut bob, _) = handshake(&server, Some("bob"), None).await;
    let (mut anonymous, _) = handshake(&server, None, None).await;
    let _pending = connect(&server).await;

    let body = r#"{"title": "hi", "n": 1.50}"#;
    let reply = control_post(addr, "/control/notify?user=alice", body).await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, serde_json::json!({"sent": 2}))
    );
    for ws in [&mut alice1, &mut alice2] {
        assert_eq!(
            next_text(ws).await,
            format!(r#"{{"kind":"notify","payload":{body}}}"#)
        );
    }
    expect_quiet(&mut bob).await;
    expect_quiet(&mut anonymous).await;

    let reply = control_post(addr, "/control/notify", "[1]").await;
    assert_eq!(reply.json(), serde_json::json!({"sent": 4}));
    for ws in [&mut alice1, &mut alice2, &mut bob, &mut anonymous] {
        assert_eq!(next_text(ws).await, r#"{"kind":"notify","payload":[1]}"#);
    }
    assert_eq!(
        control_post(addr, "/control/notify?user=nobody", "1")
            .await
            .json(),
        serde_json::json!({"sent": 0})
    );
    for body in ["", "{", "1 2"] {
        assert_eq!(
            control_post(addr, "/control/notify", body).await.status,
            400,
            "{body:?}"
        );
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn stats_count_sessions_and_rooms_with_members() {
    let server = start(|c| c.feed_interval = Duration::ZERO).await;
    let addr = server.local_addr();
    let stats = control_get(addr, "/control/stats").await.json();
    assert_eq!(
        (&stats["sessions"], &stats["rooms"]),
        (&0.into(), &0.into()),
        "{stats}"
    );

    let (mut a, welcome) = handshake(&server, None, None).await;
    let (mut b, _) = handshake(&server, None, None).await;
    for (ws, room) in [(&mut a, "x"), (&mut b, "x")] {
        send(ws, &format!(r#"{{"kind":"join","room":"{room}"}}"#)).await;
        expect_kind(ws, "joined").await;
    }
    send(&mut b, r#"{"kind":"join","room":"y"}"#).await;
    expect_kind(&mut b, "joined").await;
    let stats = control_get(addr, "/control/stats").await.json();
    assert_eq!(
        (&stats["sessions"], &stats["rooms"]),
        (&2.into(), &2.into()),
        "{stats}"
    );

    // A closed connection leaves its rooms; its session stays resumable for the TTL.
    close(b).await;
    wait_for_stat(addr, "rooms", 1).await;
    assert_eq!(
        control_get(addr, "/control/stats").await.json()["sessions"],
        2
    );
    // Resuming does not create a session.
    drop(a);
    let (_a, again) = handshake(&server, None, welcome.resume()).await;
    assert!(again.resumed);
    wait_for_stat(addr, "rooms", 0).await;
    assert_eq!(
        control_get(addr, "/control/stats").await.json()["sessions"],
        2
    );
    server.shutdown().await.expect("clean shutdown");
}

const PATHS: [(&str, &str); 8] = [
    ("POST", "/control/drop"),
    ("POST", "/control/malformed"),
    ("POST", "/control/send"),
    ("POST", "/control/notify"),
    ("POST", "/control/publish?room=r"),
    ("POST", "/control/flood?count=1"),
    ("GET", "/control/doc?name=d"),
    ("GET", "/control/stats"),
];

#[tokio::test]
async fn without_test_controls_nothing_is_routed() {
    let server = start(|c| c.control_secret = None).await;
    let addr = server.local_addr();
    for (method, path) in PATHS {
        let reply = http(addr, method, path, &[CONTROL], "1").await;
        assert_eq!(reply.status, 404, "{method} {path}");
    }
    let preflight = http(
        addr,
        "OPTIONS",
        "/control/drop",
        &[
            ("Origin", "http://127.0.0.1:9"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    assert_eq!(get(addr, "/demo/control-secret").await.status, 404);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn calls_without_the_secret_are_refused_and_change_nothing() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let (mut ws, _) = welcomed(&server).await;
    let missing = serde_json::json!({"error": {
        "code": "control_secret_missing",
        "message": "the X-Resocket-Control-Secret header is missing"
    }});
    let wrong_secret = (
        "X-Resocket-Control-Secret",
        "control-secret-of-the-server-testz",
    );
    for (method, path) in PATHS {
        let reply = http(addr, method, path, &[], "1").await;
        assert_eq!(
            (reply.status, reply.json()),
            (403, missing.clone()),
            "{method} {path}"
        );
        let reply = http(addr, method, path, &[wrong_secret], "1").await;
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(reply.json()["error"]["code"], "control_secret_wrong");
        for short in ["", "control"] {
            let reply = http(
                addr,
                method,
                path,
                &[("X-Resocket-Control-Secret", short)],
                "1",
            )
            .await;
            assert_eq!(reply.json()["error"]["code"], "control_secret_wrong");
        }
    }
    // A form a foreign page can send without a preflight: no custom header, so refused.
    let simple = http(
        addr,
        "POST",
        "/control/drop?outage_ms=60000",
        &[
            ("Origin", "https://evil.example"),
            ("Content-Type", "text/plain"),
        ],
        "",
    )
    .await;
    assert_eq!(simple.status, 403);
    assert_eq!(simple.header("access-control-allow-origin"), None);

    // Nothing happened: the socket is alive and got no frame, no outage, nothing published.
    expect_quiet(&mut ws).await;
    let stats = control_get(addr, "/control/stats").await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let stats = stats.json();
    assert_eq!(
        (
            &stats["connections"],
            &stats["accepted"],
            &stats["rooms"],
            &stats["docs"],
            &stats["outage_remaining_ms"]
        ),
        (&1.into(), &1.into(), &0.into(), &0.into(), &0.into()),
        "{stats}"
    );
    assert_eq!(control_get(addr, "/control/doc?name=d").await.status, 404);
    server.shutdown().await.expect("clean shutdown");
}

/// A CORS preflight for a control call, as a browser sends it before adding the secret header.
async fn preflight(addr: std::net::SocketAddr, origin: &str) -> HttpResponse {
    http(
        addr,
        "OPTIONS",
        "/control/drop?outage_ms=10",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type,x-resocket-control-secret",
            ),
        ],
        "",
    )
    .await
}

#[tokio::test]
async fn cors_answers_the_allowed_origins_only() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let same_host = format!("http://{addr}");
    for origin in ["http://127.0.0.1:9", "http://localhost:5173", &same_host] {
        let reply = preflight(addr, origin).await;
        assert_eq!(reply.status, 200, "{origin}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        let methods = reply.header("access-control-allow-methods").unwrap_or("");
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{methods}"
        );
        let headers = reply.header("access-control-allow-headers").unwrap_or("");
        assert!(headers.contains("x-resocket-control-secret"), "{headers}");

        let stats = http(
            addr,
            "GET",
            "/control/stats",
            &[("Origin", origin), CONTROL],
            "",
        )
        .await;
        assert_eq!(stats.status, 200);
        assert_eq!(stats.header("access-control-allow-origin"), Some(origin));
    }
    for origin in [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        let reply = preflight(addr, origin).await;
        assert_eq!(
            reply.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        let stats = http(
            addr,
            "GET",
            "/control/stats",
            &[("Origin", origin), CONTROL],
            "",
        )
        .await;
        assert_eq!(
            stats.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
    }
    server.shutdown().await.expect("clean shutdown");

    // With --allowed-origin, exactly those origins: loopback is not implicit any more.
    let server = start(|c| {
        c.auth.origins = OriginPolicy::new(&["https://app.example.com"]).expect("origins")
    })
    .await;
    let addr = server.local_addr();
    let reply = preflight(addr, "https://app.example.com").await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let reply = preflight(addr, "http://127.0.0.1:9").await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_demo_hands_the_secret_to_its_own_pages_only() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let own = http(
        addr,
        "GET",
        "/demo/control-secret",
        &[("Sec-Fetch-Site", "same-origin")],
        "",
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json(), serde_json::json!({"secret": CONTROL_SECRET}));
    assert_eq!(own.header("cache-control"), Some("no-store"));
    assert_eq!(own.header("access-control-allow-origin"), None);
    let same_origin = format!("http://{addr}");
    let with_origin = http(
        addr,
        "GET",
        "/demo/control-secret",
        &[("Origin", &same_origin)],
        "",
    )
    .await;
    assert_eq!(with_origin.status, 200);

    for headers in [
        [
            ("Sec-Fetch-Site", "cross-site"),
            ("Origin", "https://evil.example"),
        ],
        [
            ("Sec-Fetch-Site", "same-site"),
            ("Origin", "http://127.0.0.1:9"),
        ],
        [("Origin", "http://localhost:5173"), ("X-Any", "1")],
    ] {
        let reply = http(addr, "GET", "/demo/control-secret", &headers, "").await;
        assert_eq!(reply.status, 403, "{headers:?}");
        assert_eq!(reply.json()["error"]["code"], "foreign_page");
        assert!(!reply.body.contains(CONTROL_SECRET));
        assert_eq!(reply.header("access-control-allow-origin"), None);
    }
    server.shutdown().await.expect("clean shutdown");

    // Only in demo mode.
    let server = start(|c| c.demo = false).await;
    assert_eq!(
        get(server.local_addr(), "/demo/control-secret")
            .await
            .status,
        404
    );
    server.shutdown().await.expect("clean shutdown");
}
