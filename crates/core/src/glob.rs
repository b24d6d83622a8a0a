//! Shell-style globs for names: `*` matches any run of characters, `?` exactly one. Used for file
//! names (log sources) and container names and images (isolation policies). Linear in practice:
//! the classic single-backtrack algorithm, no recursion.

/// Whether `name` matches `pattern`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("web-*", "web-1", true),
            ("nginx:*", "nginx:1.25", true),
            ("nginx:*", "node:20", false),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} ~ {n}");
        }
    }
}
