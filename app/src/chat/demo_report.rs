//! Under a stopped reply on the hosted demo: what the demo model itself says
//! about that generation, the proof that Stop stopped the model.

use leptos::prelude::*;

use super::inflight::RequestIds;
use crate::conversation::Conversation;

/// "The model stopped after 42 tokens, 4 ms after your click." Shown only on
/// the hosted demo page, once the demo model has recorded the generation.
#[component]
pub fn DemoReport(conversation: RwSignal<Conversation>, id: StoredValue<String>) -> impl IntoView {
    let report = RwSignal::new(None::<String>);
    let request_ids = use_context::<RequestIds>();
    // Effects run only in the browser.
    Effect::new(move |_| {
        if !crate::browser::is_demo_page() {
            return;
        }
        // Tracked: the id arrives with the response head.
        let Some(request_id) =
            request_ids.and_then(|ids| ids.0.with(|ids| id.with_value(|id| ids.get(id).cloned())))
        else {
            return;
        };
        let Some(stopped_at) = conversation
            .with_untracked(|chat| id.with_value(|id| chat.message(id).and_then(|m| m.stopped_at)))
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            if let Some(found) = fetch::ended_generation(&request_id).await {
                let ended_at_us = found.ended_at_us.unwrap_or_default();
                report.try_set(Some(describe(found.tokens_sent, ended_at_us, stopped_at)));
            }
        });
    });
    move || report.get().map(|text| view! { <p class="reins-stats reins-demo-report">{text}</p> })
}

/// The sentence for a generation that ended at `ended_at_us` (Unix-epoch
/// microseconds) after `tokens` tokens, for a Stop at `stopped_at` (Unix-epoch
/// milliseconds).
fn describe(tokens: u64, ended_at_us: u64, stopped_at: f64) -> String {
    let after_ms = (ended_at_us as f64 / 1000.0 - stopped_at).max(0.0).round() as u64;
    let noun = if tokens == 1 { "token" } else { "tokens" };
    format!("The demo model stopped after {tokens} {noun}, {after_ms} ms after your click.")
}

/// Server rendering never reaches this; it only has to compile.
#[cfg(not(feature = "browser"))]
mod fetch {
    pub struct Generation {
        pub ended_at_us: Option<u64>,
        pub tokens_sent: u64,
    }

    pub async fn ended_generation(_request_id: &str) -> Option<Generation> {
        None
    }
}

#[cfg(feature = "browser")]
mod fetch {
    use gloo_net::http::Request;
    use serde::Deserialize;

    /// What the report needs of `GET /api/demo/generations?request_id=`.
    #[derive(Deserialize)]
    pub struct Generation {
        outcome: String,
        pub ended_at_us: Option<u64>,
        pub tokens_sent: u64,
    }

    /// The record of the generation for `request_id`, once it has ended;
    /// gives up after a second.
    pub async fn ended_generation(request_id: &str) -> Option<Generation> {
        let id = String::from(js_sys::encode_uri_component(request_id));
        let url = format!("/api/demo/generations?request_id={id}");
        for _ in 0..10 {
            let response = Request::get(&url).send().await.ok()?;
            if response.ok()
                && let Ok(found) = response.json::<Generation>().await
                && found.outcome != "running"
                && found.ended_at_us.is_some()
            {
                return Some(found);
            }
            crate::browser::sleep_ms(100).await;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_well() {
        assert_eq!(
            describe(42, 1_000_004_000, 1_000_000.0),
            "The demo model stopped after 42 tokens, 4 ms after your click."
        );
        assert_eq!(
            describe(1, 1_000_000_000, 1_000_000.0),
            "The demo model stopped after 1 token, 0 ms after your click."
        );
    }
}
