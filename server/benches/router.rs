//! The cost of the router and the layers every request passes (the host
//! and origin checks, CORS, the security headers, the body timeout), in
//! this process, without sockets: each request is handed to the real
//! `reins::app` as hyper would hand it, and answered without a model, so
//! what is timed is the stack in front of every chat. Prints the median
//! time per request over rounds, with the range, for a request that passes
//! to a route that does nothing, a CORS preflight, a chat refused for its
//! body and a request for a foreign host. Asserts nothing but the answers'
//! status.
//!
//! `cargo bench -p reins --bench router`

// Printing its figures is what a benchmark is for.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Parser;
use tower::ServiceExt;

use reins::config::Config;

// As in the binary: the allocator is part of what a request costs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Requests timed in each round, and rounds of each kind.
const REQUESTS: u32 = 50_000;
const ROUNDS: usize = 9;

/// One kind of request and the status the router must answer it with.
struct Kind {
    name: &'static str,
    request: fn() -> Request<Body>,
    status: StatusCode,
}

const KINDS: [Kind; 4] = [
    Kind {
        name: "passes every check (GET /api/embed/check, same origin)",
        request: || {
            Request::get("/api/embed/check")
                .header("host", "reins.test")
                .header("origin", "https://reins.test")
                .body(Body::empty())
                .unwrap()
        },
        status: StatusCode::NO_CONTENT,
    },
    Kind {
        name: "CORS preflight for POST /api/chat",
        request: || {
            Request::options("/api/chat")
                .header("host", "reins.test")
                .header("origin", "https://reins.test")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .body(Body::empty())
                .unwrap()
        },
        status: StatusCode::OK,
    },
    Kind {
        name: "a chat refused for its body (POST /api/chat as text/plain: the chat route's layers and extractors, no model asked)",
        request: || {
            Request::post("/api/chat")
                .header("host", "reins.test")
                .header("origin", "https://reins.test")
                .header("content-type", "text/plain")
                .body(Body::from("Hi"))
                .unwrap()
        },
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
    },
    Kind {
        name: "refused: a host this server does not serve",
        request: || {
            Request::get("/api/embed/check")
                .header("host", "evil.test")
                .body(Body::empty())
                .unwrap()
        },
        status: StatusCode::MISDIRECTED_REQUEST,
    },
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = Config::parse_from([
        "reins",
        "--upstream-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--public-origin",
        "https://reins.test",
    ]);
    let router = reins::app(reins::state_from_config(&config).await.unwrap());
    println!(
        "Time per request through reins::app's router and layers, in process ({REQUESTS} requests a round, {ROUNDS} rounds)"
    );
    for kind in &KINDS {
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..REQUESTS {
                // As the connection loop does: a clone of the router a request.
                let response = router.clone().oneshot((kind.request)()).await.unwrap();
                assert_eq!(response.status(), kind.status, "{}", kind.name);
            }
            rounds.push(start.elapsed().as_secs_f64() * 1e9 / f64::from(REQUESTS));
        }
        rounds.sort_by(f64::total_cmp);
        println!(
            "{:>6.0} ns median ({:.0}-{:.0}): {}",
            rounds[ROUNDS / 2],
            rounds[0],
            rounds[ROUNDS - 1],
            kind.name
        );
    }
    // Building the request is in every figure above: this is its share.
    let start = Instant::now();
    for _ in 0..REQUESTS {
        std::hint::black_box((KINDS[0].request)());
    }
    let building = start.elapsed().as_secs_f64() * 1e9 / f64::from(REQUESTS);
    println!("{building:>6.0} ns of each is building the request");
}
