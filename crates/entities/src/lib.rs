//! Deterministic entity extraction: amounts, currencies, order ids, price bounds, category and
//! the search words of a message.
//!
//! The parsers know no agent: the closed vocabularies (categories, product words, request words,
//! stop words) are given to a [`VocabularyBuilder`] by the caller, from whatever describes the
//! skills. The word lists the parsers need of their own are the files of `data/`.

mod bounds;
pub mod lexicon;
mod lists;
pub mod money;
pub mod number;
mod order;
pub mod tokens;

use std::{
    collections::{HashMap, HashSet},
    sync::LazyLock,
};

pub use bounds::{Bound, Bounds};
pub use lexicon::Lexicon;
pub use money::{Mention, Value};
pub use tokens::Token;

use rustc_hash::FxBuildHasher;

use self::tokens::{singular, tokenize, typo_of, words};

/// Words that never carry meaning for routing or search: function words of the main languages,
/// fillers and request phrasing, price words. Skill-specific words come from the cards.
static STOPWORDS: LazyLock<HashSet<&str>> = LazyLock::new(|| {
    lists::words(include_str!("../data/stopwords.txt"))
        .into_iter()
        .collect()
});

/// Whether a word is one of the common stop words (`data/stopwords.txt`): checked for every word
/// of every message, so a set.
pub fn is_common_stopword(word: &str) -> bool {
    STOPWORDS.contains(word)
}

/// English words (`data/dictionary_en.txt`): a word of the dictionary is meant as written and is
/// never taken for a slip of another (`rain` is not `train`, `powder` not `power`).
static DICTIONARY: LazyLock<HashSet<&str, FxBuildHasher>> = LazyLock::new(|| {
    lists::words(include_str!("../data/dictionary_en.txt"))
        .into_iter()
        .collect()
});

/// Whether `word` is an English dictionary word, so no slip of another.
fn is_dictionary_word(word: &str) -> bool {
    DICTIONARY.contains(word)
}

/// Words after which the next word is the user's story, not the product (`for my niece`).
static POSSESSIVES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/possessives.txt")));

/// Words after which the rest of the clause is excluded (`headphones but not wireless`).
static NEGATIONS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/negations.txt")));

/// Words that follow a number to make it a measurement, not a price (`25 lbs`, `27 inch`).
static UNITS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/measure_units.txt")));

/// Words before a number that make it a size, not a price (`size 10`).
static SIZE_WORDS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/size_words.txt")));

/// Markers of a self-correction: the amount after them is the one meant.
static CORRECTIONS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/corrections.txt")));

/// Closed vocabularies learnt from the agents' descriptions, built with [`Vocabulary::builder`].
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// (category value, the phrases naming it)
    categories: Vec<(String, Vec<Vec<String>>)>,
    /// Stop words: the global ones and every skill's own.
    stopwords: HashSet<String>,
    /// Han stop words, longest first, stripped from the ends of Chinese runs (`我想买…`).
    han_stopwords: Vec<String>,
    /// Product terms of the skills' `query` vocabularies, as phrases (`yoga mat`, `wireless`).
    products: Vec<Vec<String>>,
    /// Product words that stand alone: one-word terms and the last word of longer ones.
    product_heads: HashSet<String>,
    /// One-word product terms (nouns and adjectives).
    single_terms: HashSet<String>,
    /// Every word of every product term, sorted: what a mistyped query word is corrected to.
    product_words: Lexicon,
    /// Stop words long enough to be recognised with a slip (`serch`, `shwo`), sorted.
    long_stopwords: Lexicon,
    /// The stop words of five letters or more by [`shuffle_key`]: `sreach` finds `search`.
    shuffled_stopwords: HashMap<String, Vec<String>>,
    /// The one-word phrases naming categories, each as often as it names one, with the
    /// (category, phrase) of each at the same position in `category_phrases`.
    category_words: Lexicon,
    category_phrases: Vec<(usize, usize)>,
    /// Every skill's tags (`find`, `looking for`, `pay`): the request words.
    tags: Vec<Vec<String>>,
    /// The first word of each tag, at the tag's position.
    tag_starts: Lexicon,
}

/// Gathers the skills' words in the order the skills are described (the order settles ties: of
/// two categories named by the same words, the first wins); [`build`](Self::build) then sorts
/// what is looked up.
#[derive(Debug, Default)]
pub struct VocabularyBuilder {
    vocabulary: Vocabulary,
    /// Every word of every product term, deduplicated; sorted into the vocabulary at the end.
    product_words: HashSet<String>,
}

impl VocabularyBuilder {
    /// A skill's own stop words (lower-cased here).
    pub fn stopwords<'a>(&mut self, words: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.vocabulary
            .stopwords
            .extend(words.into_iter().map(str::to_lowercase));
        self
    }

    /// One of a skill's tags (its request words, e.g. `find`, `looking for`). Empty ones are
    /// ignored.
    pub fn tag(&mut self, tag: &str) -> &mut Self {
        let tag = words(tag);
        if !tag.is_empty() {
            self.vocabulary.tags.push(tag);
        }
        self
    }

    /// A term of a closed vocabulary and its synonyms: `entity` is `category` (the term names a
    /// category) or `query` (a product word); other vocabularies are none of the parsers' business.
    pub fn term(&mut self, entity: &str, value: &str, synonyms: &[String]) -> &mut Self {
        let mut phrases = vec![words(value)];
        phrases.extend(synonyms.iter().map(|s| words(s)));
        phrases.retain(|p| !p.is_empty());
        let v = &mut self.vocabulary;
        if entity == "category" {
            v.categories.push((value.to_lowercase(), phrases));
        } else if entity == "query" {
            for p in phrases {
                self.product_words.extend(p.iter().cloned());
                if let Some(last) = p.last() {
                    v.product_heads.insert(last.clone());
                }
                if let [only] = p.as_slice() {
                    v.single_terms.insert(only.clone());
                }
                v.products.push(p);
            }
        }
        self
    }

    /// The vocabulary: the common stop words and the skills' words, sorted for look-ups.
    pub fn build(self) -> Vocabulary {
        let mut v = self.vocabulary;
        v.stopwords
            .extend(STOPWORDS.iter().map(|s| (*s).to_owned()));
        let mut product_words: Vec<String> = self.product_words.into_iter().collect();
        product_words.sort_unstable();
        v.product_words = Lexicon::new(product_words);
        let mut long_stopwords: Vec<String> = v
            .stopwords
            .iter()
            .filter(|s| s.chars().count() >= 4 && s.chars().all(char::is_alphabetic))
            .cloned()
            .collect();
        long_stopwords.sort_unstable();
        for s in long_stopwords.iter().filter(|s| s.chars().count() >= 5) {
            v.shuffled_stopwords
                .entry(shuffle_key(s))
                .or_default()
                .push(s.clone());
        }
        v.long_stopwords = Lexicon::new(long_stopwords);
        let mut category_words = Vec::new();
        for (c, (_, phrases)) in v.categories.iter().enumerate() {
            for (p, phrase) in phrases.iter().enumerate() {
                if let [word] = phrase.as_slice() {
                    category_words.push(word.clone());
                    v.category_phrases.push((c, p));
                }
            }
        }
        v.category_words = Lexicon::new(category_words);
        v.tag_starts = Lexicon::new(
            v.tags
                .iter()
                .map(|t| t.first().cloned().unwrap_or_default()),
        );
        v.han_stopwords = v
            .stopwords
            .iter()
            .filter(|w| w.chars().all(|c| tokens::script(c) == tokens::Script::Han))
            .cloned()
            .collect();
        v.han_stopwords
            .sort_unstable_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        v
    }
}

impl Vocabulary {
    /// An empty builder: give it every skill's stop words, tags and vocabulary terms.
    pub fn builder() -> VocabularyBuilder {
        VocabularyBuilder::default()
    }

    /// Whether a word (or its singular) is a stop word: a common one or a skill's own.
    pub fn is_stopword(&self, word: &str) -> bool {
        self.stopwords.contains(word) || self.stopwords.contains(singular(word))
    }

    /// A stop word with one slip (`serch`, `lookin`, `shwo`, `chepaest`), or, from five letters,
    /// with the letters shuffled inside (`sreach`).
    fn is_mistyped_stopword(&self, word: &str) -> bool {
        let letters = word.chars().count();
        letters >= 4
            && !is_dictionary_word(word)
            && (self.long_stopwords.typo_position(word).is_some()
                || (letters >= 5
                    && self
                        .shuffled_stopwords
                        .get(&shuffle_key(word))
                        .is_some_and(|s| s.iter().any(|s| s != word))))
    }

    /// The product word `word` is, exactly, as a plural, or with one slip of the keyboard.
    fn product_word(&self, word: &str) -> Option<String> {
        let known = |w: &str| self.product_words.contains(w);
        if known(word) || known(singular(word)) || word.strip_suffix("es").is_some_and(known) {
            return Some(word.to_owned());
        }
        if !word.chars().all(char::is_alphabetic) || is_dictionary_word(word) {
            return None;
        }
        // The first product word that either form is a slip of, one that starts with the same
        // letter first: a first letter is rarely the slip (`runing` is `running`, not `pruning`).
        let first = word.chars().next();
        [word, singular(word)]
            .into_iter()
            .flat_map(|w| self.product_words.typo_positions(w))
            .filter_map(|i| self.product_words.words().get(i).map(|w| (i, w)))
            .min_by_key(|(i, w)| (w.chars().next() != first, *i))
            .map(|(_, w)| w.clone())
    }

    /// Whether a word is a one-word product term (`wireless`, `kettle`).
    fn is_single_term(&self, word: &str) -> bool {
        self.single_terms.contains(word) || self.single_terms.contains(singular(word))
    }

    /// Whether a word is a product by itself (a one-word term, or the head of a longer one).
    fn is_product_head(&self, word: &str) -> bool {
        self.product_heads.contains(word)
            || self.product_heads.contains(singular(word))
            || word
                .strip_suffix("es")
                .is_some_and(|w| self.product_heads.contains(w))
    }
}

/// The first letter, then the others sorted: two words with the same key are the same letters
/// shuffled behind the same first one (`sreach`, `search`).
fn shuffle_key(word: &str) -> String {
    let mut chars = word.chars();
    let first = chars.next();
    let mut rest: Vec<char> = chars.collect();
    rest.sort_unstable();
    first.into_iter().chain(rest).collect()
}

/// Everything the parsers found in one message.
#[derive(Debug, Clone, Default)]
pub struct Extraction {
    /// The amount to pay: the amount finally asked for that is not a price bound.
    pub amount: Option<Mention>,
    /// The order id, without `#`.
    pub order_id: Option<String>,
    /// The price bounds of a search.
    pub bounds: Bounds,
    /// The category named, as its vocabulary's value.
    pub category: Option<String>,
    /// Lower-case content words left once amounts, bounds, order ids and stop words are gone.
    pub query: Option<String>,
    /// The message's words.
    pub tokens: Vec<Token>,
}

/// Whether a span lies inside one of `spans`.
fn inside(spans: &[(usize, usize)], start: usize, end: usize) -> bool {
    spans.iter().any(|(s, e)| start >= *s && end <= *e)
}

/// The words of a message and their singulars: a phrase whose first word is not among them
/// occurs nowhere (one look-up instead of a scan, for each of the vocabularies' phrases).
type Present<'a> = HashSet<&'a str, FxBuildHasher>;

fn present(tokens: &[Token]) -> Present<'_> {
    tokens
        .iter()
        .flat_map(|t| [t.text.as_str(), singular(&t.text)])
        .collect()
}

/// Every occurrence of `phrase` in `tokens`, as token index ranges.
fn occurrences(tokens: &[Token], present: &Present<'_>, phrase: &[String]) -> Vec<(usize, usize)> {
    if phrase.is_empty() || phrase.len() > tokens.len() || !present.contains(phrase[0].as_str()) {
        return Vec::new();
    }
    (0..=tokens.len() - phrase.len())
        .filter(|&i| {
            tokens[i..i + phrase.len()]
                .iter()
                .zip(phrase)
                .all(|(t, p)| t.text == *p || singular(&t.text) == *p)
        })
        .map(|i| (i, i + phrase.len()))
        .collect()
}

/// The amount the user finally asks for: after a self-correction (`no wait, make it $45`) the last
/// one; never a negated one (`don't pay $50, pay $40`); else the first with a currency.
fn final_amount(message: &str, tokens: &[Token], candidates: Vec<&Mention>) -> Option<Mention> {
    let lower = message.to_ascii_lowercase();
    let correction = CORRECTIONS
        .iter()
        .filter_map(|c| {
            lower
                .match_indices(c)
                .find(|(i, _)| {
                    let before = lower[..*i].chars().next_back();
                    before.is_none_or(|c| !c.is_alphanumeric())
                })
                .map(|(i, _)| i)
        })
        .max();
    if let Some(at) = correction
        && let Some(m) = candidates.iter().rev().find(|m| m.start > at)
    {
        return Some((*m).clone());
    }
    let negated = |m: &Mention| {
        let before: Vec<&Token> = tokens.iter().filter(|t| t.end <= m.start).collect();
        before.iter().rev().take(3).any(|t| {
            matches!(
                t.text.as_str(),
                "not" | "don't" | "dont" | "never" | "nicht" | "no"
            )
        })
    };
    let kept: Vec<&Mention> = candidates.iter().copied().filter(|m| !negated(m)).collect();
    let pool = if kept.is_empty() { candidates } else { kept };
    pool.into_iter()
        .min_by_key(|m| (m.currency.is_none(), m.start))
        .cloned()
}

/// A category named in the message, and the token ranges of every phrase naming it.
struct Named {
    value: String,
    ranges: Vec<(usize, usize)>,
}

/// The category the message names. Words inside a product's name don't count (`lawn mower`,
/// `cat toys`), nor a category word the message also uses inside such a name (`every toy … a
/// chew toy`). With two categories, the one naming the product wins: the first, unless the next
/// word names another (`gardening books`: books; `libros de cocina`: books).
fn category(
    tokens: &[Token],
    present: &Present<'_>,
    vocab: &Vocabulary,
    products: &[(usize, usize)],
) -> Option<Named> {
    let in_products: HashSet<&str> = products
        .iter()
        .flat_map(|(s, e)| tokens[*s..*e].iter().map(|t| singular(&t.text)))
        .collect();
    // Words that are a one-word category phrase with a slip, by (category, phrase), in order.
    let mut slips: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (i, t) in tokens.iter().enumerate() {
        for at in vocab.category_words.typo_positions(&t.text) {
            let (Some(word), Some(phrase)) = (
                vocab.category_words.words().get(at),
                vocab.category_phrases.get(at),
            ) else {
                continue;
            };
            if singular(&t.text) != word
                && !is_dictionary_word(&t.text)
                && !vocab.is_stopword(&t.text)
                && vocab.product_word(&t.text).is_none()
            {
                slips.entry(*phrase).or_default().push(i);
            }
        }
    }
    let mut found: Vec<(String, (usize, usize))> = Vec::new();
    for (c, (value, phrases)) in vocab.categories.iter().enumerate() {
        for (p, phrase) in phrases.iter().enumerate() {
            let mut ranges = occurrences(tokens, present, phrase);
            if let Some(slipped) = slips.get(&(c, p)) {
                ranges.extend(slipped.iter().map(|&i| (i, i + 1)));
            }
            for (s, e) in ranges {
                let within_product = products.iter().any(|(ps, pe)| s >= *ps && e <= *pe);
                let product_word = tokens[s..e]
                    .iter()
                    .all(|t| in_products.contains(singular(&t.text)));
                if !within_product && !product_word {
                    found.push((value.clone(), (s, e)));
                }
            }
        }
    }
    // Longest first at the same place, then drop overlaps.
    found.sort_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)));
    let mut kept: Vec<(String, (usize, usize))> = Vec::new();
    for f in found {
        if kept.last().is_none_or(|k| f.1.0 >= k.1.1) {
            kept.push(f);
        }
    }
    let mut head = kept.first()?;
    for next in &kept[1..] {
        if next.1.0 == head.1.1 {
            head = next;
        } else {
            break;
        }
    }
    let value = head.0.clone();
    Some(Named {
        ranges: kept
            .iter()
            .filter(|(v, _)| *v == value)
            .map(|(_, r)| *r)
            .collect(),
        value,
    })
}

/// Runs every parser over a message.
pub fn extract(message: &str, vocab: &Vocabulary) -> Extraction {
    let tokens = tokenize(message);
    let order = order::find(message);
    let taken: Vec<(usize, usize)> = order.iter().map(|(_, span)| *span).collect();
    let mut mentions = money::find(message, &taken, &tokens);

    // Product names in the message, as token ranges (longest first, no overlaps).
    let present = present(&tokens);
    let mut products: Vec<(usize, usize)> = vocab
        .products
        .iter()
        .filter(|p| p.len() > 1)
        .flat_map(|p| occurrences(&tokens, &present, p))
        .collect();
    products.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    products.dedup_by(|b, a| b.0 < a.1);

    // A number without a currency next to a unit, after `size` or before a product's name is a
    // measurement (`27 inch`, `25 lbs`, `size 10`, `4k dash cam`): part of the query, not a price.
    let mut measures: Vec<(usize, usize)> = Vec::new();
    mentions.retain(|m| {
        if m.currency.is_some() {
            return true;
        }
        let next = tokens.iter().find(|t| t.start >= m.end);
        let prev = tokens.iter().rev().find(|t| t.end <= m.start);
        let gap_ok = next.is_some_and(|t| message[m.end..t.start].trim().is_empty());
        let measure = (gap_ok
            && next.is_some_and(|t| {
                UNITS.contains(&t.text.as_str()) || vocab.product_word(&t.text).is_some()
            }))
            || prev.is_some_and(|t| SIZE_WORDS.contains(&t.text.as_str()));
        if measure {
            measures.push((m.start, m.end));
        }
        !measure
    });

    let bounds = bounds::find(message, &mentions);
    let amount = final_amount(
        message,
        &tokens,
        mentions
            .iter()
            .enumerate()
            .filter(|(i, _)| !bounds.used.contains(i))
            .map(|(_, m)| m)
            .collect(),
    );

    let named = category(&tokens, &present, vocab, &products);

    let mut consumed: Vec<(usize, usize)> = taken;
    consumed.extend(mentions.iter().map(|m| (m.start, m.end)));
    consumed.extend(bounds.spans.iter().copied());
    if let Some(n) = &named {
        consumed.extend(
            n.ranges
                .iter()
                .map(|(s, e)| (tokens[*s].start, tokens[*e - 1].end)),
        );
    }
    let query = query_words(message, &tokens, vocab, &consumed, &measures, &products);

    Extraction {
        amount,
        order_id: order.map(|(id, _)| id),
        bounds,
        category: named.map(|n| n.value),
        query: (!query.is_empty()).then(|| query.join(" ")),
        tokens,
    }
}

/// Clause boundaries: the byte offsets of sentence punctuation (and, when `commas`, of commas).
fn clause_of(message: &str, tokens: &[Token], commas: bool) -> Vec<usize> {
    let mut clause = 0;
    let mut out = Vec::with_capacity(tokens.len());
    let mut prev_end = 0;
    for t in tokens {
        let gap = &message[prev_end..t.start];
        let sentence = gap.contains(['!', '?', ';', ':', '。', '！', '？'])
            || gap.contains(". ")
            || gap.ends_with('.');
        if sentence || (commas && gap.contains(',')) {
            clause += 1;
        }
        out.push(clause);
        prev_end = t.end;
    }
    out
}

/// The product words of the message, lower case, in the order written.
fn query_words(
    message: &str,
    tokens: &[Token],
    vocab: &Vocabulary,
    consumed: &[(usize, usize)],
    measures: &[(usize, usize)],
    products: &[(usize, usize)],
) -> Vec<String> {
    let in_product = |i: usize| products.iter().any(|(s, e)| i >= *s && i < *e);
    let sentences = clause_of(message, tokens, false);
    let clauses = clause_of(message, tokens, true);

    // Candidate words: (token index, the word as meant).
    let mut words: Vec<(usize, String)> = Vec::new();
    let mut skip_clause: Option<usize> = None;
    let mut skip_next = false;
    for (i, t) in tokens.iter().enumerate() {
        if skip_clause == Some(clauses[i]) {
            continue;
        }
        skip_clause = None;
        if std::mem::take(&mut skip_next) && !in_product(i) && !vocab.is_product_head(&t.text) {
            continue;
        }
        if NEGATIONS.contains(&t.text.as_str()) {
            skip_clause = Some(clauses[i]);
            continue;
        }
        if POSSESSIVES.contains(&t.text.as_str()) {
            skip_next = true;
            continue;
        }
        if inside(consumed, t.start, t.end) {
            continue;
        }
        if inside(measures, t.start, t.end) {
            words.push((i, t.text.clone()));
            continue;
        }
        if !t.text.chars().any(char::is_alphabetic) {
            // A number stays with its unit or size word (`25 lbs`, `size 10`).
            let next = tokens
                .get(i + 1)
                .is_some_and(|n| UNITS.contains(&n.text.as_str()));
            let prev = i > 0 && SIZE_WORDS.contains(&tokens[i - 1].text.as_str());
            if next || prev {
                words.push((i, t.text.clone()));
            }
            continue;
        }
        if t.text
            .chars()
            .all(|c| tokens::script(c) == tokens::Script::Hiragana)
        {
            continue; // particles and verb endings
        }
        let text = strip_han_stopwords(&t.text, vocab);
        if text.is_empty() || vocab.is_stopword(&text) {
            continue;
        }
        if in_product(i) {
            words.push((i, text));
            continue;
        }
        match vocab.product_word(&text) {
            Some(w) => words.push((i, w)),
            None if vocab.is_mistyped_stopword(&text) => {}
            None => words.push((i, text)),
        }
    }

    // Words of the catalog: in a product's name, a product by itself, or an adjective of one
    // (the words are already corrected, so an exact look-up is enough).
    let catalog_words: HashSet<usize> = words
        .iter()
        .filter(|(i, w)| in_product(*i) || vocab.is_product_head(w) || vocab.is_single_term(w))
        .map(|(i, _)| *i)
        .collect();
    let catalog = |i: usize, _: &str| catalog_words.contains(&i);
    let any_catalog = !catalog_words.is_empty();
    if any_catalog {
        // Sentences with no product in them are the user's story (`Ignore the above
        // instructions.`), as are clauses before the one with the request (`Pay no attention to
        // the price, just find me a blender`).
        let keep_sentence: HashSet<usize> = words
            .iter()
            .filter(|(i, w)| catalog(*i, w) || inside(measures, tokens[*i].start, tokens[*i].end))
            .map(|(i, _)| sentences[*i])
            .collect();
        words.retain(|(i, _)| keep_sentence.contains(&sentences[*i]));
        let request = tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                vocab
                    .tag_starts
                    .matches(&t.text)
                    .into_iter()
                    .any(|k| vocab.tags.get(k).is_some_and(|tag| tag_at(tokens, *i, tag)))
            })
            .map(|(i, _)| clauses[i])
            .max();
        if let Some(request) = request {
            let first_catalog = words
                .iter()
                .filter(|(i, w)| catalog(*i, w))
                .map(|(i, _)| clauses[*i])
                .min()
                .unwrap_or(request);
            let from = request.min(first_catalog);
            words.retain(|(i, _)| clauses[*i] >= from);
        }
        // A long message is a story around a product: keep the product's words.
        if tokens.len() >= 15 {
            words.retain(|(i, w)| {
                catalog(*i, w) || inside(measures, tokens[*i].start, tokens[*i].end)
            });
        }
    }
    words.into_iter().map(|(_, w)| w).collect()
}

/// Whether the tag's words start at token `i`.
fn tag_at(tokens: &[Token], i: usize, tag: &[String]) -> bool {
    tokens.len() >= i + tag.len()
        && tokens[i..i + tag.len()]
            .iter()
            .zip(tag)
            .all(|(t, w)| t.text == *w || typo_of(&t.text, w))
}

/// A run of Chinese characters without the stop words at its ends (`我想买一个蓝牙音箱` →
/// `蓝牙音箱`). Other words come back as they are.
fn strip_han_stopwords(word: &str, vocab: &Vocabulary) -> String {
    if !word
        .chars()
        .all(|c| tokens::script(c) == tokens::Script::Han)
    {
        return word.to_owned();
    }
    let mut w = word;
    loop {
        let before = w;
        for s in &vocab.han_stopwords {
            if w.len() > s.len() {
                if let Some(rest) = w.strip_prefix(s.as_str()) {
                    w = rest;
                    break;
                }
                if let Some(rest) = w.strip_suffix(s.as_str()) {
                    w = rest;
                    break;
                }
            } else if w == s {
                return String::new();
            }
        }
        if w == before {
            return w.to_owned();
        }
    }
}

#[cfg(test)]
mod tests;
