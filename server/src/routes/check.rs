//! A layer that checks every request before the routes see it, in plain
//! code: the check refuses the request with an error, which becomes the
//! response, or lets it through (after adding to its extensions, if it
//! likes).
//!
//! Why not axum's `middleware::from_fn`, which reads more simply: for every
//! request it clones the whole stack beneath it (the CORS layer's settings
//! among it), boxes that clone as a service and boxes a future, and the
//! trust model's two guards and the API's refusals ran three of them, nested,
//! for every request. Here a check is one function call and the inner
//! service's future is returned as it is. Measured in "The checks before the
//! routes" under the README's Benchmark.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::{Either, Ready, ready};
use tower::{Layer, Service};

/// Wraps each route in a [`Check`] that calls `check` first.
#[derive(Clone)]
pub struct CheckLayer<F> {
    check: F,
}

impl<F, E> CheckLayer<F>
where
    F: Fn(&mut Request) -> Result<(), E> + Clone,
    E: IntoResponse,
{
    /// A layer whose `check` refuses a request with `Err(refusal)`.
    pub fn new(check: F) -> Self {
        Self { check }
    }
}

impl<S, F: Clone> Layer<S> for CheckLayer<F> {
    type Service = Check<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        Check { inner, check: self.check.clone() }
    }
}

/// The service [`CheckLayer`] makes.
#[derive(Clone)]
pub struct Check<S, F> {
    inner: S,
    check: F,
}

impl<S, F, E> Service<Request> for Check<S, F>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    F: Fn(&mut Request) -> Result<(), E>,
    E: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // A refused request leaves the inner service's readiness unused:
        // axum's routes are always ready and reserve nothing for a call.
        match (self.check)(&mut request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(refusal) => Either::Left(ready(Ok(refusal.into_response()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    /// Carried from the check to the handler in the request's extensions.
    #[derive(Clone)]
    struct Mark(&'static str);

    fn app() -> Router {
        Router::new()
            .route(
                "/",
                get(|request: Request| async move {
                    request.extensions().get::<Mark>().map_or("unmarked", |mark| mark.0)
                }),
            )
            .layer(CheckLayer::new(|request: &mut Request| {
                if request.headers().contains_key("x-refuse") {
                    return Err((StatusCode::FORBIDDEN, "refused by the check"));
                }
                request.extensions_mut().insert(Mark("marked by the check"));
                Ok(())
            }))
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_passed_request_reaches_the_route_with_what_the_check_added() {
        let response = app().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "marked by the check");
    }

    #[tokio::test]
    async fn a_refused_request_gets_the_checks_response_and_never_reaches_the_route() {
        let request = Request::get("/").header("x-refuse", "1").body(Body::empty()).unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(body(response).await, "refused by the check");
    }
}
