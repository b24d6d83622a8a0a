//! Shell-style globs for names: `*` matches any run of characters (`/` included), `?` one byte;
//! every other character, `[`, `{` and `\` included, is literal. Used for file names (log
//! sources), container names and images (isolation policies), rule ids (the responder) and Sigma
//! identifier patterns (`1 of selection_*`).
//!
//! Matching is `globset`'s (a compiled regex: linear time, no backtracking); this module only
//! keeps the narrower `*`/`?` syntax that the configuration documents, by escaping the rest.
//! `?` is one byte because globset matches bytes: the names we match (container names, image
//! references, rule ids, log file names) are ASCII in practice.

/// A compiled glob: build once, match many names.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    matcher: globset::GlobMatcher,
}

impl Glob {
    /// Compiles `pattern`. Every pattern is valid: only `*` and `?` are special.
    pub fn new(pattern: &str) -> Glob {
        Glob::build(pattern, false)
    }

    /// Like [`Glob::new`], ASCII letters matching either case.
    pub fn new_ascii_case_insensitive(pattern: &str) -> Glob {
        Glob::build(pattern, true)
    }

    fn build(pattern: &str, case_insensitive: bool) -> Glob {
        let mut escaped = String::with_capacity(pattern.len() + 8);
        let mut prev_star = false;
        for c in pattern.chars() {
            match c {
                // A run of stars means one star here; globset would read `**` as a path wildcard.
                '*' if prev_star => continue,
                '*' | '?' => escaped.push(c),
                '[' | ']' | '{' | '}' => {
                    escaped.push('[');
                    escaped.push(c);
                    escaped.push(']');
                }
                c => escaped.push(c),
            }
            prev_star = c == '*';
        }
        let matcher = globset::GlobBuilder::new(&escaped)
            .literal_separator(false)
            .backslash_escape(false)
            .case_insensitive(case_insensitive)
            .build()
            // Unreachable: the escaping above leaves no unclosed class or alternation, the only
            // syntax errors globset has. A pattern that matches nothing is the safe fallback.
            .unwrap_or_else(|_| never())
            .compile_matcher();
        Glob {
            pattern: pattern.to_owned(),
            matcher,
        }
    }

    /// Whether `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        self.matcher
            .is_match_candidate(&globset::Candidate::from_bytes(name))
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// A glob no name matches (an empty class cannot be written in glob syntax, so a literal NUL:
/// names never contain one).
fn never() -> globset::Glob {
    globset::Glob::new("\0never\0").unwrap_or_else(|_| unreachable!("a literal is a valid glob"))
}

/// Compiled patterns kept per thread by [`glob_match`]; past this many, the cache starts over.
const CACHE_CAPACITY: usize = 256;

thread_local! {
    /// Callers pass the same few configured patterns again and again (policy filters, rule ids,
    /// file names): compiling costs about 400 matches (bench/glob.sh: 19.9 µs vs 48 ns cached), so keep them.
    /// Per thread, so matching takes no lock.
    static CACHE: std::cell::RefCell<std::collections::HashMap<Box<str>, Glob>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Whether `name` matches `pattern`. Compiled patterns are cached per thread (at most
/// [`CACHE_CAPACITY`]); where one pattern meets many names, a [`Glob`] built once is cheaper still.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    // Patterns without wildcards are the common case in configs and need no compilation.
    if !pattern.contains(['*', '?']) {
        return pattern == name;
    }
    CACHE.with_borrow_mut(|cache| {
        if let Some(g) = cache.get(pattern) {
            return g.is_match(name);
        }
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        let g = Glob::new(pattern);
        let hit = g.is_match(name);
        cache.insert(pattern.into(), g);
        hit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_cases() {
        for (p, n, want) in [
            ("*.log", "auth.log", true),
            ("*.log", "auth.log.1", false),
            ("auth.log*", "auth.log.1", true),
            ("a?th.log", "auth.log", true),
            ("a?th.log", "ath.log", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a**b", "axb", true),
            ("a**b", "ab", true),
            ("exact", "exact", true),
            ("exact", "Exact", false),
            ("web-*", "web-1", true),
            ("nginx:*", "nginx:1.25", true),
            ("nginx:*", "node:20", false),
            ("docker.io/*", "docker.io/library/nginx", true),
            // Only `*` and `?` are special: brackets, braces and backslashes are literal.
            ("[ab]", "a", false),
            ("[ab]", "[ab]", true),
            ("{a,b}*", "a1", false),
            ("{a,b}*", "{a,b}1", true),
            (r"a\*", r"a\xyz", true),
            (r"a\*", "a*", false),
            ("x]y", "x]y", true),
            // `?` is one byte: a two-byte character needs two.
            ("caf?", "café", false),
            ("caf??", "café", true),
            ("caf*", "café", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} ~ {n}");
            assert_eq!(Glob::new(p).is_match(n), want, "compiled {p} ~ {n}");
        }
    }

    #[test]
    fn the_cache_starts_over_when_full_and_keeps_answering() {
        for i in 0..CACHE_CAPACITY * 2 {
            let p = format!("p{i}-*");
            assert!(glob_match(&p, &format!("p{i}-x")));
            assert!(!glob_match(&p, &format!("q{i}-x")));
        }
        assert!(CACHE.with_borrow(|c| c.len()) <= CACHE_CAPACITY);
    }

    #[test]
    fn case_insensitive_is_ascii() {
        let g = Glob::new_ascii_case_insensitive("selection_*");
        assert!(g.is_match("Selection_Main"));
        assert!(!g.is_match("filter_main"));
        assert_eq!(g.pattern(), "selection_*");
    }
}
