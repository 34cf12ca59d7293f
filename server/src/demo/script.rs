//! What the demo model says: a deterministic, readable reply built from the
//! prompt, with some Markdown, cut into word-sized tokens.

/// The reply to `prompt`, as tokens: each is a word with the whitespace that
/// follows it, so joining them gives back the text exactly. The reply fills
/// out to about `max_tokens` with whole sections, and always ends with its
/// closing line when it fits.
pub fn reply_tokens(prompt: &str, max_tokens: usize) -> Vec<String> {
    tokenize(&reply_text(prompt, max_tokens))
}

/// The rest of the reply to `prompt` after `partial`, when `partial` is how
/// that reply began (a reply that was stopped); `None` otherwise.
pub fn continuation(prompt: &str, partial: &str, max_tokens: usize) -> Option<Vec<String>> {
    let mut tokens = reply_tokens(prompt, max_tokens);
    let mut said = String::new();
    let already = tokens.iter().take_while(|token| {
        let fits = partial.starts_with(&format!("{said}{token}"));
        if fits {
            said.push_str(token);
        }
        fits
    });
    let count = already.count();
    (said == partial).then(|| tokens.split_off(count))
}

/// The full text of the reply to `prompt`, about `max_tokens` long.
pub fn reply_text(prompt: &str, max_tokens: usize) -> String {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let topic = if words.is_empty() { "nothing at all".to_owned() } else { excerpt(&words, 12) };
    let seed = fnv1a(prompt.as_bytes());
    let keyword = words
        .iter()
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|word| word.chars().count() > 3)
        .max_by_key(|word| word.chars().count())
        .unwrap_or("reins");
    let opening = OPENINGS[(seed % OPENINGS.len() as u64) as usize];

    let mut text = format!(
        "{opening} You wrote: *{topic}*.\n\n\
         This is the **Reins demo model**. It writes the same reply to the same words, \
         one token at a time, so you can watch it stream and press **Stop** whenever you like.\n\n\
         ## Why a stop button matters\n\n\
         - A reply that goes the wrong way costs time, tokens and money.\n\
         - Reins drops the request to the model the moment you stop, so the model stops too.\n\
         - What was already written stays on screen, marked as stopped.\n\n\
         Here is a tiny program about `{keyword}`:\n\n\
         ```rust\n\
         fn main() {{\n    let topic = \"{keyword}\";\n    println!(\"Thinking about {{topic}}...\");\n}}\n\
         ```\n\n"
    );
    for (index, sentence) in THOUGHTS.iter().cycle().skip((seed % 7) as usize).take(6).enumerate() {
        text.push_str(&format!("{}. {}\n", index + 1, sentence.replace("{}", keyword)));
    }
    text.push_str(
        "\n> Every token you see was paced by the demo model; every token you did not see \
         after pressing Stop was never generated.\n\n",
    );
    let closing = format!("That is all the demo model has to say about *{topic}*.");
    let budget = max_tokens.saturating_sub(tokenize(&closing).len());
    let mut section = 1;
    loop {
        let extra = extra_section(section, keyword, seed);
        if tokenize(&text).len() + tokenize(&extra).len() > budget {
            break;
        }
        text.push_str(&extra);
        section += 1;
    }
    text.push_str(&closing);
    text
}

/// One more section for a long reply: a heading, a paragraph and a table.
fn extra_section(number: usize, keyword: &str, seed: u64) -> String {
    let offset = (seed as usize + number) % THOUGHTS.len();
    let first = THOUGHTS[offset].replace("{}", keyword);
    let second = THOUGHTS[(offset + 3) % THOUGHTS.len()].replace("{}", keyword);
    format!(
        "## Part {number}: more on `{keyword}`\n\n\
         {first} {second} Then look again with fresh eyes, and keep what still holds.\n\n\
         | Step | What to do |\n|---|---|\n| {number}.1 | Write it down |\n| {number}.2 | Try it small |\n\n"
    )
}

/// Splits `text` into tokens of one word and the whitespace after it.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if !c.is_whitespace() && in_space {
            tokens.push(std::mem::take(&mut current));
            in_space = false;
        }
        in_space |= c.is_whitespace();
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

const OPENINGS: [&str; 4] =
    ["Good question.", "Let us think it through.", "Happy to help.", "Here goes."];

const THOUGHTS: [&str; 7] = [
    "Start with what you already know about {}, and write it down plainly.",
    "Ask what would change your mind about {}; that question finds the weak spots.",
    "Try the smallest example of {} that still shows the problem.",
    "Measure before you optimise: guesses about {} are often wrong.",
    "Explain {} to a colleague; the gaps show up in the first minute.",
    "Keep the first version of {} simple enough to throw away.",
    "When {} surprises you, write a test that captures the surprise.",
];

fn excerpt(words: &[&str], max_words: usize) -> String {
    let mut text = words.iter().take(max_words).copied().collect::<Vec<_>>().join(" ");
    text.retain(|c| !matches!(c, '*' | '_' | '`'));
    if words.len() > max_words {
        text.push('…');
    }
    text
}

/// FNV-1a: a stable hash, so the same prompt picks the same wording on every
/// machine and every run (the standard library's hasher is randomised).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_join_back_into_the_text() {
        let text = reply_text("How do I stop a runaway model?", 400);
        let tokens = tokenize(&text);
        assert_eq!(tokens.concat(), text);
        assert!(tokens.len() > 300 && tokens.len() <= 400, "{} tokens", tokens.len());
        assert!(tokens.iter().all(|token| !token.trim().is_empty()), "no whitespace-only tokens");
    }

    #[test]
    fn the_reply_fills_out_to_the_limit_and_ends_properly() {
        for max in [400, 2_000] {
            let tokens = reply_tokens("Tell me everything", max);
            assert!(tokens.len() <= max && tokens.len() + 60 > max, "{max}: {}", tokens.len());
            assert!(tokens.concat().ends_with("to say about *Tell me everything*."));
        }
    }

    #[test]
    fn a_stopped_reply_continues_where_it_stopped() {
        let tokens = reply_tokens("Go on", 400);
        let partial = tokens[..25].concat();
        let rest = continuation("Go on", &partial, 400).unwrap();
        assert_eq!(format!("{partial}{}", rest.concat()), tokens.concat());
        assert_eq!(continuation("Go on", "Something else entirely", 400), None);
        assert_eq!(continuation("Go on", "", 400).unwrap(), tokens);
    }

    #[test]
    fn same_prompt_same_reply_different_prompt_different_reply() {
        assert_eq!(reply_text("tell me about rust", 400), reply_text("tell me about rust", 400));
        assert_ne!(reply_text("tell me about rust", 400), reply_text("tell me about tokio", 400));
    }

    #[test]
    fn the_reply_uses_the_prompt_and_markdown() {
        let text = reply_text("Explain backpressure in streams", 400);
        assert!(text.contains("*Explain backpressure in streams*"));
        assert!(text.contains("backpressure"), "the longest word is the keyword");
        assert!(text.contains("## ") && text.contains("```rust") && text.contains("- "));
    }

    #[test]
    fn an_empty_or_markdown_heavy_prompt_still_reads_well() {
        assert!(reply_text("", 400).contains("*nothing at all*"));
        let text = reply_text("**bold** _x_ `code`", 400);
        assert!(text.contains("*bold x code*"), "prompt Markdown cannot break the emphasis");
    }

    #[test]
    fn tokenize_keeps_leading_whitespace_and_newlines() {
        assert_eq!(tokenize("  a b\n\nc"), vec!["  ", "a ", "b\n\n", "c"]);
        assert_eq!(tokenize(""), Vec::<String>::new());
    }
}
