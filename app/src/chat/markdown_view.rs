//! Draws a reply's Markdown from the safe tree of [`crate::markdown`].
//!
//! While the reply streams, it is redrawn at most once per animation frame,
//! and only its unfinished tail is re-parsed and redrawn; finished blocks are
//! drawn once. The moment the reply closes (finished, stopped or failed), its
//! final text is drawn at once, so Stop freezes what is on screen.

use leptos::prelude::*;

use super::message::CopyButton;
use crate::markdown::{Element, Kind, Node, StreamingDoc};

/// The attributes of every link in a reply: a new tab, no opener, no
/// referrer, and no endorsement.
const LINK_REL: &str = "noopener noreferrer nofollow";

/// A reply's text as Markdown.
#[component]
pub fn Markdown(
    text: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
    /// Whether the reply is still streaming.
    is_open: Signal<bool>,
) -> impl IntoView {
    let mut initial = StreamingDoc::default();
    initial.update(&untrack(text).unwrap_or_default());
    let blocks = RwSignal::new((initial.epoch, initial.stable.len()));
    let tail = RwSignal::new(initial.tail.clone());
    let doc = StoredValue::new(initial);

    let draw = move |latest: String| {
        let (epoch, stable, latest_tail) = doc
            .try_update_value(|doc| {
                doc.update(&latest);
                (doc.epoch, doc.stable.len(), doc.tail.clone())
            })
            .unwrap_or_default();
        if blocks.get_untracked() != (epoch, stable) {
            blocks.set((epoch, stable));
        }
        tail.set(latest_tail);
    };
    // The text waiting for the next frame; a frame is requested only when
    // none is waiting yet.
    let waiting = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        let latest = text().unwrap_or_default();
        if !is_open.get() {
            waiting.set_value(None);
            draw(latest);
        } else if waiting.try_update_value(|waiting| waiting.replace(latest)).flatten().is_none() {
            request_animation_frame(move || {
                // Nothing waits if the reply closed meanwhile (it was drawn at
                // once), and nothing is left if the chat was removed.
                if let Some(latest) = waiting.try_update_value(Option::take).flatten() {
                    draw(latest);
                }
            });
        }
    });

    let stable_keys = move || {
        let (epoch, count) = blocks.get();
        (0..count).map(move |index| (epoch, index)).collect::<Vec<_>>()
    };
    view! {
        <div class="reins-markdown">
            <For each=stable_keys key=|key| *key let:key>
                {doc.with_value(|doc| doc.stable.get(key.1).cloned()).map(render_nodes)}
            </For>
            {move || render_nodes(tail.get())}
        </div>
    }
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
        kind => {
            let inner = render_nodes(children);
            match kind {
                Kind::Paragraph => view! { <p>{inner}</p> }.into_any(),
                Kind::Heading(1) => view! { <h1>{inner}</h1> }.into_any(),
                Kind::Heading(2) => view! { <h2>{inner}</h2> }.into_any(),
                Kind::Heading(3) => view! { <h3>{inner}</h3> }.into_any(),
                Kind::Heading(4) => view! { <h4>{inner}</h4> }.into_any(),
                Kind::Heading(5) => view! { <h5>{inner}</h5> }.into_any(),
                Kind::Heading(_) => view! { <h6>{inner}</h6> }.into_any(),
                Kind::BlockQuote => view! { <blockquote>{inner}</blockquote> }.into_any(),
                Kind::RawBlock => view! { <p class="reins-raw">{inner}</p> }.into_any(),
                Kind::List { start: None } => view! { <ul>{inner}</ul> }.into_any(),
                Kind::List { start: Some(start) } => {
                    view! { <ol start=start.to_string()>{inner}</ol> }.into_any()
                }
                Kind::Item => view! { <li>{inner}</li> }.into_any(),
                Kind::TableHead => view! { <thead><tr>{inner}</tr></thead> }.into_any(),
                Kind::TableRow => view! { <tr>{inner}</tr> }.into_any(),
                Kind::TableCell { header: true, align } => {
                    view! { <th class=align.class()>{inner}</th> }.into_any()
                }
                Kind::TableCell { header: false, align } => {
                    view! { <td class=align.class()>{inner}</td> }.into_any()
                }
                Kind::Emphasis => view! { <em>{inner}</em> }.into_any(),
                Kind::Strong => view! { <strong>{inner}</strong> }.into_any(),
                Kind::Strikethrough => view! { <del>{inner}</del> }.into_any(),
                Kind::InlineCode => view! { <code>{inner}</code> }.into_any(),
                Kind::Link { href } => {
                    view! { <a href=href rel=LINK_REL target="_blank">{inner}</a> }.into_any()
                }
                Kind::ImageLink { href } => view! {
                    <a href=href rel=LINK_REL target="_blank" class="reins-image-link">
                        "Image: "{inner}
                    </a>
                }
                .into_any(),
                Kind::Plain => view! { <span>{inner}</span> }.into_any(),
                Kind::LineBreak => view! { <br/> }.into_any(),
                Kind::Rule => view! { <hr/> }.into_any(),
                Kind::CodeBlock { .. } | Kind::Table => unreachable!("handled above"),
            }
        }
    }
}

/// A code block: monospace, scrolling sideways, with its language and a Copy
/// button.
#[component]
fn CodeBlock(language: Option<String>, code: String) -> impl IntoView {
    let label = language.clone().unwrap_or_else(|| "code".into());
    let class = language.map(|language| format!("language-{language}")).unwrap_or_default();
    let text = Signal::derive({
        let code = code.clone();
        move || code.clone()
    });
    view! {
        <div class="reins-code">
            <div class="reins-code-bar">
                <span>{label}</span>
                <CopyButton text label="Copy code"/>
            </div>
            <pre tabindex="0"><code class=class>{code}</code></pre>
        </div>
    }
}
