//! The wasm entry crate of the `<reins-chat>` element that `embed.js`
//! defines, and, with the `hosted` feature, of the hosted page. It renders on
//! the client only (Leptos `csr`): it leaves out hydration's code and stays
//! within the embed's size budget (see the README).

#[cfg(feature = "hosted")]
mod hosted;

use app::{Chat, ChatController, ChatEvent, TokenSource};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{CustomEvent, CustomEventInit, HtmlElement};

/// A chat mounted into an element by [`mount_chat`].
#[wasm_bindgen]
pub struct EmbeddedChat {
    controller: ChatController,
    /// Dropping it unmounts the chat, which aborts its request.
    mounted: Option<Box<dyn std::any::Any>>,
}

#[wasm_bindgen]
impl EmbeddedChat {
    /// Sends `text` as the user's message, unless a reply is in flight.
    pub fn send(&self, text: String) {
        self.controller.send(text);
    }

    /// Stops the reply in flight, if any.
    pub fn stop(&self) {
        self.controller.stop();
    }

    /// Removes the chat; its request, if any, is aborted.
    pub fn unmount(&mut self) {
        self.mounted.take();
    }
}

/// Mounts a chat into `container`, and reports on `host` with the events
/// `reins-status` (`detail.status`), `reins-finish` (`detail.text`,
/// `detail.stopped`) and `reins-error` (`detail.message`). `token` is called
/// before each request and returns a promise of the bearer token, or of
/// `null` for none.
#[wasm_bindgen]
pub fn mount_chat(
    container: HtmlElement,
    host: HtmlElement,
    endpoint: String,
    storage_key: String,
    placeholder: Option<String>,
    title: Option<String>,
    token: js_sys::Function,
) -> EmbeddedChat {
    // No panic hook: this build aborts on a panic at once, without running
    // one (`-Cpanic=immediate-abort` in scripts/lib/small-wasm.sh), so a hook would
    // be dead weight in the wasm.
    let controller = ChatController::new();
    let host = send_wrapper::SendWrapper::new(host);
    let on_event = Callback::new(move |event: ChatEvent| dispatch(&host, event));
    let placeholder = placeholder.unwrap_or_else(|| "Message".into());
    // `embed.js` passes an async function: its result is always a promise.
    let token = TokenSource::new(move || {
        let promise = token.call0(&JsValue::NULL).map(JsCast::unchecked_into::<js_sys::Promise>);
        async move {
            let value: JsValue = wasm_bindgen_futures::JsFuture::from(promise.ok()?).await.ok()?;
            value.as_string()
        }
    });
    let mounted = leptos::mount::mount_to(container, move || {
        view! { <Chat endpoint storage_key placeholder title controller on_event token/> }
    });
    EmbeddedChat { controller, mounted: Some(Box::new(mounted)) }
}

fn dispatch(host: &HtmlElement, event: ChatEvent) {
    let detail = js_sys::Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = js_sys::Reflect::set(&detail, &key.into(), &value);
    };
    let name = match event {
        ChatEvent::Status(status) => {
            set("status", status.into());
            "reins-status"
        }
        ChatEvent::Finished { text, stopped } => {
            set("text", text.into());
            set("stopped", stopped.into());
            "reins-finish"
        }
        ChatEvent::Error { message } => {
            set("message", message.into());
            "reins-error"
        }
    };
    let init = CustomEventInit::new();
    init.set_detail(&detail);
    init.set_bubbles(true);
    init.set_composed(true);
    if let Ok(event) = CustomEvent::new_with_event_init_dict(name, &init) {
        let _ = host.dispatch_event(&event);
    }
}
