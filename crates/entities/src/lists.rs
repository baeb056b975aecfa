//! The word lists of `data/`: compiled in with `include_str!`, parsed once, on first use.
//!
//! A list is one entry a line; `#` starts a comment line, blank lines are skipped and whitespace
//! around an entry is trimmed. A pair is two columns separated by a tab, since entries may hold
//! spaces (`canadian dollars<TAB>CAD`). Reading a list never fails: a malformed line is left out,
//! and the tests below fail on it, so a slip in a list is caught by `cargo test`, not by a request.

use std::str::FromStr;

/// The entry lines of a list, in order.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// A word or phrase. A tab in it means a pair in a list of words.
fn word(line: &str) -> Option<&str> {
    (!line.contains('\t')).then_some(line)
}

/// Two non-empty columns separated by exactly one tab.
fn pair(line: &str) -> Option<(&str, &str)> {
    let (a, b) = line.split_once('\t')?;
    if b.contains('\t') {
        return None;
    }
    let (a, b) = (a.trim(), b.trim());
    (!a.is_empty() && !b.is_empty()).then_some((a, b))
}

/// A list of words or phrases.
pub(crate) fn words(text: &str) -> Vec<&str> {
    lines(text).filter_map(word).collect()
}

/// A list of pairs of words (`€<TAB>EUR`).
pub(crate) fn pairs(text: &str) -> Vec<(&str, &str)> {
    lines(text).filter_map(pair).collect()
}

/// A list of words and their values (`twenty<TAB>20`).
pub(crate) fn numbers<N: FromStr>(text: &str) -> Vec<(&str, N)> {
    lines(text)
        .filter_map(pair)
        .filter_map(|(w, n)| Some((w, n.parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{collections::HashSet, path::Path};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Words,
        Pairs,
        Numbers,
    }

    /// Every file of `data/` and how the code reads it.
    const FILES: &[(&str, Kind)] = &[
        ("stopwords.txt", Kind::Words),
        ("dictionary_en.txt", Kind::Words),
        ("possessives.txt", Kind::Words),
        ("negations.txt", Kind::Words),
        ("measure_units.txt", Kind::Words),
        ("size_words.txt", Kind::Words),
        ("corrections.txt", Kind::Words),
        ("currency_symbols.txt", Kind::Pairs),
        ("currency_words.txt", Kind::Pairs),
        ("multipliers.txt", Kind::Numbers),
        ("currency_codes.txt", Kind::Words),
        ("number_words.txt", Kind::Numbers),
        ("number_scales.txt", Kind::Numbers),
        ("one_before_scale.txt", Kind::Words),
        ("number_joiners.txt", Kind::Words),
        ("order_keywords.txt", Kind::Words),
        ("order_exact_only.txt", Kind::Words),
        ("bound_max_before.txt", Kind::Words),
        ("bound_min_before.txt", Kind::Words),
        ("bound_max_after.txt", Kind::Words),
        ("bound_min_after.txt", Kind::Words),
        ("range_open.txt", Kind::Words),
        ("range_join.txt", Kind::Words),
        ("range_join_needs_open.txt", Kind::Words),
        ("bound_articles.txt", Kind::Words),
    ];

    fn data_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(data_dir().join(name))
            .unwrap_or_else(|e| panic!("data/{name}: {e}"))
    }

    /// The first column of every entry, as the code reads it.
    fn keys(text: &str, kind: Kind) -> Vec<&str> {
        match kind {
            Kind::Words => words(text),
            Kind::Pairs => pairs(text).into_iter().map(|(w, _)| w).collect(),
            Kind::Numbers => numbers::<u64>(text).into_iter().map(|(w, _)| w).collect(),
        }
    }

    #[test]
    fn every_data_file_is_checked() {
        let listed: HashSet<&str> = FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(listed.len(), FILES.len(), "a file listed twice");
        for entry in std::fs::read_dir(data_dir()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name == "README.md" || listed.contains(name.as_str()),
                "data/{name} is not in lists::tests::FILES"
            );
        }
    }

    #[test]
    fn every_line_is_well_formed() {
        for (name, kind) in FILES {
            let text = read(name);
            let bad: Vec<&str> = lines(&text)
                .filter(|l| match kind {
                    Kind::Words => word(l).is_none(),
                    Kind::Pairs => pair(l).is_none(),
                    // Within both the unsigned and the signed type the code reads them into.
                    Kind::Numbers => pair(l)
                        .and_then(|(_, n)| n.parse::<i64>().ok())
                        .is_none_or(|n| n < 0),
                })
                .collect();
            assert!(bad.is_empty(), "data/{name}: malformed lines {bad:?}");
            assert!(!keys(&text, *kind).is_empty(), "data/{name} is empty");
            assert_eq!(
                keys(&text, *kind).len(),
                lines(&text).count(),
                "data/{name}: a line was left out"
            );
        }
    }

    /// A word twice in one language group is a slip (the same word in two languages is not). In
    /// a pair file the first column is looked up, so a second entry for a word would never count.
    #[test]
    fn no_word_twice() {
        for (name, kind) in FILES {
            let text = read(name);
            let mut section: HashSet<&str> = HashSet::new();
            let mut file: HashSet<&str> = HashSet::new();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if line.starts_with('#') {
                    section.clear();
                    continue;
                }
                let key = match kind {
                    Kind::Words => line,
                    Kind::Pairs | Kind::Numbers => pair(line).map_or(line, |(w, _)| w),
                };
                assert!(section.insert(key), "data/{name}: {key:?} twice in a group");
                if *kind != Kind::Words {
                    assert!(file.insert(key), "data/{name}: {key:?} twice");
                }
            }
        }
    }

    /// The code compares the words with lower-cased text; currency codes are upper case.
    #[test]
    fn words_are_lower_case_and_codes_upper_case() {
        for (name, kind) in FILES {
            let text = read(name);
            if *name != "currency_symbols.txt" {
                for w in keys(&text, *kind) {
                    assert_eq!(w, w.to_lowercase(), "data/{name}: {w:?} is not lower case");
                }
            }
        }
        for name in ["currency_symbols.txt", "currency_words.txt"] {
            let text = read(name);
            for (_, code) in pairs(&text) {
                assert!(
                    code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()),
                    "data/{name}: {code:?} is not a currency code"
                );
            }
        }
    }

    /// The first symbol that matches wins, before or after a number: a symbol after one it ends
    /// or starts with (`$` before `US$`) would never be read.
    #[test]
    fn no_symbol_hides_a_later_one() {
        let text = read("currency_symbols.txt");
        let symbols: Vec<&str> = pairs(&text).into_iter().map(|(s, _)| s).collect();
        for (i, earlier) in symbols.iter().enumerate() {
            for later in &symbols[i + 1..] {
                assert!(
                    !later.ends_with(earlier) && !later.starts_with(earlier),
                    "{earlier:?} hides {later:?}"
                );
            }
        }
    }

    #[test]
    fn the_format() {
        let text = "# a comment\n\n  one  \ncanadian dollars\tCAD\n# de\nzwei\t2\nbad\t\t2\n";
        assert_eq!(words(text), ["one"]);
        assert_eq!(pairs(text), [("canadian dollars", "CAD"), ("zwei", "2")]);
        assert_eq!(numbers::<u64>(text), [("zwei", 2)]);
    }
}
