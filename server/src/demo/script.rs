//! What the demo model says: a deterministic, readable reply built from the
//! prompt, with some Markdown, cut into word-sized tokens.

/// The reply to `prompt`, as tokens: each is a word with the whitespace that
/// follows it, so joining them gives back the text exactly.
pub fn reply_tokens(prompt: &str) -> Vec<String> {
    tokenize(&reply_text(prompt))
}

/// The full text of the reply to `prompt`.
pub fn reply_text(prompt: &str) -> String {
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
    text.push_str(&format!(
        "\n> Every token you see was paced by the demo model; every token you did not see \
         after pressing Stop was never generated.\n\n\
         That is all the demo model has to say about *{topic}*."
    ));
    text
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
        let text = reply_text("How do I stop a runaway model?");
        let tokens = tokenize(&text);
        assert_eq!(tokens.concat(), text);
        assert!(tokens.len() > 150, "long enough to stop midway: {} tokens", tokens.len());
        assert!(tokens.iter().all(|token| !token.trim().is_empty()), "no whitespace-only tokens");
    }

    #[test]
    fn same_prompt_same_reply_different_prompt_different_reply() {
        assert_eq!(reply_text("tell me about rust"), reply_text("tell me about rust"));
        assert_ne!(reply_text("tell me about rust"), reply_text("tell me about tokio"));
    }

    #[test]
    fn the_reply_uses_the_prompt_and_markdown() {
        let text = reply_text("Explain backpressure in streams");
        assert!(text.contains("*Explain backpressure in streams*"));
        assert!(text.contains("backpressure"), "the longest word is the keyword");
        assert!(text.contains("## ") && text.contains("```rust") && text.contains("- "));
    }

    #[test]
    fn an_empty_or_markdown_heavy_prompt_still_reads_well() {
        assert!(reply_text("").contains("*nothing at all*"));
        let text = reply_text("**bold** _x_ `code`");
        assert!(text.contains("*bold x code*"), "prompt Markdown cannot break the emphasis");
    }

    #[test]
    fn tokenize_keeps_leading_whitespace_and_newlines() {
        assert_eq!(tokenize("  a b\n\nc"), vec!["  ", "a ", "b\n\n", "c"]);
        assert_eq!(tokenize(""), Vec::<String>::new());
    }
}
