//! `REINS_METRICS_ADDR`: the metrics on an address of their own, for a
//! scraper inside the network, which asks by the machine's address; the
//! public address then no longer serves them. The real binary.

mod support;

use support::Binary;

#[tokio::test]
async fn metrics_are_served_apart_under_any_host_and_no_longer_on_the_public_address() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics = free.local_addr().unwrap();
    drop(free);
    let Binary { process: _server, addr, .. } =
        Binary::start(&[("REINS_METRICS_ADDR", &metrics.to_string())]).await;
    let client = reqwest::Client::new();
    let get = |url: String, host: &str| client.get(url).header("host", host).send();

    // Asked by an address that is no public origin, as Prometheus asks.
    let scraped = get(format!("http://{metrics}/metrics"), "10.1.2.3:9464").await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("reins_active_streams"));
    let health = get(format!("http://{metrics}/healthz"), "10.1.2.3:9464").await.unwrap();
    assert_eq!(health.status(), 200);
    // Nothing else: not the page, not the chat.
    for path in ["/", "/api/chat", "/embed.js"] {
        let other = get(format!("http://{metrics}{path}"), "10.1.2.3:9464").await.unwrap();
        assert_eq!(other.status(), 404, "{path}");
    }

    // The public address: no metrics, and its host check as before.
    let public = get(format!("http://{addr}/metrics"), &addr.to_string()).await.unwrap();
    assert_eq!(public.status(), 404);
    let health = get(format!("http://{addr}/healthz"), &addr.to_string()).await.unwrap();
    assert_eq!(health.status(), 200);
    let foreign = get(format!("http://{addr}/"), "10.1.2.3:3000").await.unwrap();
    assert_eq!(foreign.status(), 421);
}
