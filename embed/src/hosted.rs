//! The hosted page's entry: the chat the server rendered, rendered again on
//! the client in its place.
//!
//! The hosted page runs the embed's wasm (with this feature and the demo
//! report) instead of a build that hydrates: hydration's code was 65 KB
//! gzipped, a third of the embed's whole wasm (see the README's "Size"). The
//! server-rendered chat shows at once, as before; it is live once the wasm has
//! loaded, as it was once hydrated. What the visitor typed in the meantime is
//! carried over, with its cursor and focus.

use app::HostedChat;
use wasm_bindgen::prelude::*;
use web_sys::{Event, EventInit, HtmlElement, HtmlTextAreaElement};

/// Replaces the server-rendered chat with a live one. Named `hydrate` because
/// that is what Leptos's `HydrationScripts` calls once the wasm has loaded.
#[wasm_bindgen]
pub fn hydrate() {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let Some(rendered) = document.query_selector(".reins-chat").ok().flatten() else {
        return;
    };
    let Some(page) = rendered.parent_element().and_then(|page| page.dyn_into::<HtmlElement>().ok())
    else {
        return;
    };
    let typed = composer_in(&rendered).map(|input| {
        let focused = document.active_element().as_deref() == Some(input.as_ref());
        let selection =
            (input.selection_start().ok().flatten(), input.selection_end().ok().flatten());
        (input.value(), focused, selection)
    });

    // Mounting appends the live chat (one `<section>`) to the page; it then
    // takes the server-rendered one's place. Both happen in one task, so no
    // frame shows two chats, or none.
    leptos::mount::mount_to(page.clone(), HostedChat).forget();
    if let Some(live) = page.last_element_child() {
        let _ = rendered.replace_with_with_node_1(&live);
    }

    let Some((text, focused, (start, end))) = typed else {
        return;
    };
    let Some(input) = composer_in(&page) else {
        return;
    };
    if text.is_empty() && !focused {
        return;
    }
    input.set_value(&text);
    // As a keystroke would: the chat's draft follows the box's input events.
    let init = EventInit::new();
    init.set_bubbles(true);
    if let Ok(event) = Event::new_with_event_init_dict("input", &init) {
        let _ = input.dispatch_event(&event);
    }
    // The chat writes its draft back into the box once its effects have run,
    // which puts the cursor at the end: the cursor is set after that.
    leptos::task::spawn_local(async move {
        leptos::task::tick().await;
        if focused {
            let _ = input.focus();
        }
        if let (Some(start), Some(end)) = (start, end) {
            let _ = input.set_selection_range(start, end);
        }
    });
}

/// The message box inside `element`.
fn composer_in(element: &web_sys::Element) -> Option<HtmlTextAreaElement> {
    element.query_selector("textarea.reins-input").ok().flatten()?.dyn_into().ok()
}
