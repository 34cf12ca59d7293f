//! Draws a reply's Markdown from the safe tree of [`crate::markdown`].
//!
//! While the reply streams, it is redrawn when the reader tells of new
//! text, which it does in an animation frame, at most once per frame; only
//! its unfinished tail is re-parsed and redrawn, finished blocks are drawn
//! once, and text added at the end of the block being written is added
//! to the text drawn last rather than drawing the block again. The moment the
//! reply closes (finished, stopped or failed), its final text is drawn at
//! once, so Stop freezes what is on screen.

use leptos::html::custom;
use leptos::prelude::*;

use super::message::CopyButton;
use crate::markdown::{Element, Growth, Kind, Node, StreamingDoc};

/// The attributes of every link in a reply: a new tab, no opener, no
/// referrer, and no endorsement.
const LINK_REL: &str = "noopener noreferrer nofollow";

/// A reply's text as Markdown.
#[component]
pub fn Markdown(
    /// Calls its argument with the reply's text, and tracks the text: the
    /// text is read where it is, never copied, however long the reply.
    with_text: impl Fn(&mut dyn FnMut(&str)) + Copy + Send + Sync + 'static,
    /// Whether the reply is still streaming.
    is_open: Signal<bool>,
) -> impl IntoView {
    let mut initial = StreamingDoc::default();
    // Read in one go as the text is read, one closure in the embed: a reply
    // that is over draws its last block as a finished piece; one still
    // growing keeps its tail cheap to draw again (see `TAIL_NODES`).
    untrack(|| {
        initial.settle(!is_open.get());
        with_text(&mut |text| {
            initial.update(text);
        })
    });
    // What the first draw shows already.
    let _ = initial.take_growth();
    let keys = RwSignal::new(initial.keys());
    let doc = StoredValue::new(initial);
    let markdown = NodeRef::<leptos::html::Div>::new();

    // Takes in what the reply holds now, and whether it is still open;
    // returns whether the document is still behind it (a flood of text, or
    // a long reply restored), so another frame must draw the rest.
    let draw = move |open: bool| {
        let latest = doc.try_update_value(|doc| {
            doc.settle(!open);
            untrack(|| {
                with_text(&mut |text| {
                    doc.update(text);
                })
            });
            // What the last box drawn gained at its end goes in where it
            // ends: the browser lays out the lines that changed, not the
            // whole paragraph, code block or list again.
            if let Some((key, growth)) = doc.take_growth()
                && keys.with_untracked(|keys| keys.last() == Some(&key))
                && !markdown.get_untracked().is_some_and(|markdown| grow(&markdown, growth))
            {
                doc.redraw_last();
            }
            (doc.keys(), doc.is_behind())
        });
        // Nothing is left to draw if the chat was removed.
        let Some((latest, behind)) = latest else { return false };
        if keys.with_untracked(|keys| *keys != latest) {
            keys.set(latest);
        }
        behind
    };
    // Whether a frame is already requested.
    let waiting = StoredValue::new(false);
    Effect::new(move |_| {
        with_text(&mut |_| {});
        let open = is_open.get();
        if open && waiting.get_value() {
            // Behind a flood: the frame asked for takes in the next share.
            return;
        }
        // A frame asked for while the reply was open draws nothing now.
        waiting.set_value(false);
        // Drawn at once: the reader tells of new text in an animation frame
        // (see `InFlight::start`), and of the reply closing at once, so Stop
        // freezes the screen. Only a flood the document is still taking in
        // goes on for a few frames.
        if draw(open) {
            draw_on_next_frame(waiting, open, draw);
        }
    });

    view! {
        <div class="reins-markdown" node_ref=markdown>
            // Each finished piece, and each block of the tail, in a box of
            // its own, drawn once per key: an update draws again only the
            // blocks it changed. The browser lays a box out only near the
            // screen (`content-visibility`): a long reply costs layout for
            // what is in view, not for all of it.
            <For each=move || keys.get() key=|key| *key let:key>
                <div class="reins-piece">
                    {doc.with_value(|doc| doc.piece(key)).map(render_nodes)}
                </div>
            </For>
        </div>
    }
}

/// Adds `growth` to the last box in `markdown`: its text to the last text
/// (at the end of the path of last children), then its nodes to the
/// element `depth` steps down that path from the box's node. Returns
/// whether both were there. For every kind of element
/// [`StreamingDoc::take_growth`] goes through, the nodes drawn for it end
/// with those drawn for its last child, and for every kind it adds nodes
/// to, they are its element's children, or for a table its body's (see
/// [`holder_of_children`]).
fn grow(markdown: &leptos::web_sys::Element, Growth { text, nodes, depth }: Growth) -> bool {
    use leptos::tachys::view::{Mountable, Render};
    use leptos::wasm_bindgen::JsCast;
    let markdown = leptos::web_sys::Node::from(markdown.clone());
    if !text.is_empty() {
        let mut node = markdown.clone();
        while node.node_type() != leptos::web_sys::Node::TEXT_NODE {
            let Some(child) = last_drawn_child(&node) else { return false };
            node = child;
        }
        if node.unchecked_ref::<leptos::web_sys::Text>().append_data(&text).is_err() {
            return false;
        }
    }
    if !nodes.is_empty() {
        // The box, then its node, then `depth` steps down.
        let parent = (0..depth + 2)
            .try_fold(markdown, |node, _| last_drawn_child(&holder_of_children(node)?));
        let Some(parent) = parent
            .and_then(holder_of_children)
            .filter(|node| node.node_type() == leptos::web_sys::Node::ELEMENT_NODE)
        else {
            return false;
        };
        let parent = parent.unchecked_into::<leptos::web_sys::Element>();
        // Drawn once and left: a node with no code block has nothing to
        // keep alive (no event handler, no reactive value).
        render_nodes(nodes).build().mount(&parent, None);
    }
    true
}

/// Where the children of a drawn node are: in the node itself, but for a
/// table, whose rows are in its body (`div.reins-table > table > tbody`,
/// drawn by [`render_element`]); a table's growth is only ever new rows, or
/// what a row's last cell gained.
fn holder_of_children(node: leptos::web_sys::Node) -> Option<leptos::web_sys::Node> {
    use leptos::wasm_bindgen::JsCast;
    // The box's only child is the `<table>`: `tagName` is already among the
    // page's imports, where `className` cost 25 bytes of glue.
    let table = last_drawn_child(&node).filter(|child| {
        child.node_type() == leptos::web_sys::Node::ELEMENT_NODE
            && child.unchecked_ref::<leptos::web_sys::Element>().tag_name() == "TABLE"
    });
    match table {
        Some(table) => last_drawn_child(&table),
        None => Some(node),
    }
}

/// The last child of `node` past Leptos's markers, which are comments.
fn last_drawn_child(node: &leptos::web_sys::Node) -> Option<leptos::web_sys::Node> {
    let mut child = node.last_child();
    while let Some(marker) =
        child.take_if(|child| child.node_type() == leptos::web_sys::Node::COMMENT_NODE)
    {
        child = marker.previous_sibling();
    }
    child
}

/// Calls `draw` on the next animation frame, once however many changes come
/// before it, and again on the frames after while it reports being behind;
/// `open` is whether the reply was still open when the frame was asked for.
fn draw_on_next_frame(
    waiting: StoredValue<bool>,
    open: bool,
    draw: impl Fn(bool) -> bool + Copy + 'static,
) {
    if waiting.try_update_value(|waiting| std::mem::replace(waiting, true)).unwrap_or(true) {
        return;
    }
    request_animation_frame(move || {
        // Nothing waits if the reply closed meanwhile (it was drawn at once),
        // and nothing is left if the chat was removed.
        if waiting.try_update_value(std::mem::take).unwrap_or(false) && draw(open) {
            draw_on_next_frame(waiting, open, draw);
        }
    });
}

fn render_nodes(nodes: Vec<Node>) -> Vec<AnyView> {
    nodes.into_iter().map(render_node).collect()
}

fn render_node(node: Node) -> AnyView {
    match node {
        Node::Text(text) => text.into_any(),
        Node::Element(element) => render_element(element),
    }
}

fn render_element(Element { kind, children }: Element) -> AnyView {
    match kind {
        Kind::CodeBlock { language } => {
            let code: String = children
                .into_iter()
                .filter_map(|node| match node {
                    Node::Text(text) => Some(text),
                    Node::Element(_) => None,
                })
                .collect();
            view! { <CodeBlock language code/> }.into_any()
        }
        Kind::Table => {
            let mut children = children.into_iter().peekable();
            let head = children
                .next_if(|node| {
                    matches!(node, Node::Element(Element { kind: Kind::TableHead, .. }))
                })
                .map(render_node);
            let rows = render_nodes(children.collect());
            view! {
                <div class="reins-table">
                    <table>{head}<tbody>{rows}</tbody></table>
                </div>
            }
            .into_any()
        }
        Kind::TableHead => view! { <thead><tr>{render_nodes(children)}</tr></thead> }.into_any(),
        Kind::Link { href } => view! {
            <a href=href rel=LINK_REL target="_blank">{render_nodes(children)}</a>
        }
        .into_any(),
        Kind::ImageLink { href } => view! {
            <a href=href rel=LINK_REL target="_blank" class="reins-image-link">
                "Image: "{render_nodes(children)}
            </a>
        }
        .into_any(),
        Kind::LineBreak => view! { <br/> }.into_any(),
        Kind::PlainText => {
            view! { <span class="reins-plain">{render_nodes(children)}</span> }.into_any()
        }
        Kind::Rule => view! { <hr/> }.into_any(),
        kind => plain_element(kind, children),
    }
}

/// The elements that differ only in their tag, class and start number.
/// They share one view type, built with the tag name as a value: each
/// distinct view type adds its own code to the wasm.
fn plain_element(kind: Kind, children: Vec<Node>) -> AnyView {
    let mut class = None;
    let mut start = None;
    let tag = match kind {
        Kind::Paragraph => "p",
        Kind::Heading(level) => {
            ["h1", "h2", "h3", "h4", "h5", "h6"][usize::from(level.clamp(1, 6)) - 1]
        }
        Kind::BlockQuote => "blockquote",
        Kind::RawBlock => {
            class = Some("reins-raw");
            "p"
        }
        Kind::List { start: None } => "ul",
        Kind::List { start: Some(number) } => {
            start = Some(number.to_string());
            "ol"
        }
        Kind::Item => "li",
        Kind::TableRow => "tr",
        Kind::TableCell { header, align } => {
            class = Some(align.class()).filter(|class| !class.is_empty());
            if header { "th" } else { "td" }
        }
        Kind::Emphasis => "em",
        Kind::Strong => "strong",
        Kind::Strikethrough => "del",
        Kind::InlineCode => "code",
        // A link or image whose URL is not allowed; anything else is drawn
        // by `render_element`.
        _ => "span",
    };
    custom(tag).attr("class", class).attr("start", start).child(render_nodes(children)).into_any()
}

/// A code block: monospace, scrolling sideways, with its language and a Copy
/// button.
#[component]
fn CodeBlock(language: Option<String>, code: String) -> impl IntoView {
    let label = language.clone().unwrap_or_else(|| "code".into());
    let class = language.map(|language| format!("language-{language}")).unwrap_or_default();
    // What the block shows when Copy is pressed: text may have been added
    // to it since it was drawn (see `grow`).
    let shown = NodeRef::<leptos::html::Code>::new();
    let text = Signal::derive(move || {
        shown.get_untracked().and_then(|code| code.text_content()).unwrap_or_default()
    });
    view! {
        <div class="reins-code">
            <div class="reins-code-bar">
                <span>{label}</span>
                <CopyButton text label="Copy code"/>
            </div>
            <pre tabindex="0"><code class=class node_ref=shown>{code}</code></pre>
        </div>
    }
}
