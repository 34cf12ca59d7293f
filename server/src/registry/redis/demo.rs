//! The demo model's generations, shared by every replica: one that ends is
//! written to `{prefix}:demo:{request id}` as JSON, kept as long as a
//! receipt, so the hosted demo's report ("The demo model stopped after…")
//! finds it whichever replica the balancer sends the report's request to.
//! A generation still running is known only to its own replica; the report
//! waits for the end anyway. Only the demo model writes here.

use redis::AsyncCommands;

use super::RedisRegistry;
use crate::demo::{Generation, Generations};
use crate::registry::Unavailable;

impl RedisRegistry {
    fn demo_key(&self, request_id: &str) -> String {
        format!("{}:demo:{request_id}", self.prefix)
    }

    /// Writes each generation of `generations` that ends, and has a request
    /// id, from a task of its own: the demo model never waits on Redis.
    pub fn share_demo_generations(&self, generations: &Generations) {
        let registry = self.clone();
        generations.on_end(move |generation| {
            let Some(request_id) = generation.request_id.clone() else { return };
            // A generation that ends as the runtime shuts down is not shared.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
            let registry = registry.clone();
            runtime.spawn(async move {
                // Numbers, strings and an enum: it serializes.
                let json = serde_json::to_string(&generation).expect("a generation serializes");
                let mut commands = registry.commands.clone();
                let written: redis::RedisResult<()> =
                    commands.set_ex(registry.demo_key(&request_id), json, registry.ttl_secs).await;
                if let Err(error) = written {
                    registry.unavailable(&error);
                }
            });
        });
    }

    /// The ended generation of the demo model with this request id, written
    /// by any replica.
    pub async fn demo_generation(
        &self,
        request_id: &str,
    ) -> Result<Option<Generation>, Unavailable> {
        let mut commands = self.commands.clone();
        let json: Option<String> = commands
            .get(self.demo_key(request_id))
            .await
            .map_err(|error| self.unavailable(&error))?;
        // Read as carefully as a receipt: a value that is not a generation
        // is none.
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }
}
