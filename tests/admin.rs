//! `/readyz` follows the proxy's readiness; `/healthz` answers whenever the process does. (Its own
//! test binary: the metrics recorder the admin endpoint installs is process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardgate_proxy::admin::{MAX_REQUEST_HEAD, Readiness, start};

async fn get(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn readiness_follows_the_proxy_and_oversized_requests_are_refused() {
    let ready = Readiness::default();
    let admin = start("127.0.0.1:0".parse().unwrap(), ready.clone(), None)
        .await
        .unwrap();
    let readyz = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert!(get(admin, readyz).await.starts_with("HTTP/1.1 503"));
    ready.set(true);
    assert!(get(admin, readyz).await.starts_with("HTTP/1.1 200"));
    assert!(
        get(admin, b"GET /healthz HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', MAX_REQUEST_HEAD + 10));
    assert!(get(admin, &huge).await.starts_with("HTTP/1.1 431"));
    ready.set(false);
    assert!(get(admin, readyz).await.starts_with("HTTP/1.1 503"));
}

#[tokio::test]
async fn a_token_protected_endpoint_refuses_requests_without_it() {
    let admin = start(
        "127.0.0.1:0".parse().unwrap(),
        Readiness::default(),
        Some("s3cret-token".into()),
    )
    .await
    .unwrap();
    assert!(
        get(admin, b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 401")
    );
    let wrong = b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret-tokeN\r\n\r\n";
    assert!(get(admin, wrong).await.starts_with("HTTP/1.1 401"));
    let right = b"GET /healthz HTTP/1.1\r\nauthorization: bearer s3cret-token\r\n\r\n";
    assert!(get(admin, right).await.starts_with("HTTP/1.1 200"));
}
