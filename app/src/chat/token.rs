//! Where a chat gets the bearer token it sends with each request, for a
//! server that checks who is chatting (Reins with `REINS_AUTH=jwt`).
//!
//! The source is asked again before every request, so a page whose tokens
//! expire hands out a fresh one each time instead of the chat failing once
//! the first has run out.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// A token that may take a while to get (a call to the page's sign-in service).
type PendingToken = Pin<Box<dyn Future<Output = Option<String>>>>;

/// The token the chat sends as `Authorization: Bearer`, asked for before
/// each request; `None` sends no header.
#[derive(Clone)]
pub struct TokenSource(Rc<dyn Fn() -> PendingToken>);

impl TokenSource {
    /// A source that runs `get` before each request, such as a call to the
    /// page's own sign-in service.
    pub fn new<F>(get: impl Fn() -> F + 'static) -> Self
    where
        F: Future<Output = Option<String>> + 'static,
    {
        Self(Rc::new(move || Box::pin(get())))
    }

    /// The same token for every request.
    pub fn fixed(token: impl Into<String>) -> Self {
        let token: String = token.into();
        Self::new(move || std::future::ready(Some(token.clone())))
    }

    /// The token for the next request.
    pub async fn token(&self) -> Option<String> {
        (self.0)().await.filter(|token| !token.trim().is_empty())
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.write_str("TokenSource")
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs a future that is ready at once.
    fn block_on<T>(future: impl Future<Output = T>) -> T {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    }

    #[test]
    fn the_source_is_asked_again_for_each_request() {
        let asked = Rc::new(Cell::new(0));
        let counter = asked.clone();
        let source = TokenSource::new(move || {
            counter.set(counter.get() + 1);
            std::future::ready(Some(format!("token-{}", counter.get())))
        });
        assert_eq!(block_on(source.token()).as_deref(), Some("token-1"));
        assert_eq!(block_on(source.token()).as_deref(), Some("token-2"));
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn a_blank_token_sends_no_header_and_debug_hides_the_token() {
        assert_eq!(block_on(TokenSource::fixed("  ").token()), None);
        let source = TokenSource::fixed("secret-token");
        assert_eq!(block_on(source.token()).as_deref(), Some("secret-token"));
        assert!(!format!("{source:?}").contains("secret"));
    }
}
