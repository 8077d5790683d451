//! "Did you mean …?" suggestions by edit distance, for certs-gen's errors and the harness's
//! scenario loader alike.

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean "x"?`, or nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean \"{c}\"?"))
}

/// Levenshtein distance over chars, case-insensitive (typos often differ only in case).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["server_ca", "client_ca", "root_ca"];
        assert_eq!(closest("serverca", names), Some("server_ca"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("ssl-mode", ["sslmode", "sslcert"]), Some("sslmode"));
        assert_eq!(closest("verfy-full", ["verify-ca", "verify-full"]), Some("verify-full"));
        assert_eq!(closest("SSLMode", ["sslmode"]), Some("sslmode"));
        assert_eq!(did_you_mean("serverca", names).as_deref(), Some("did you mean \"server_ca\"?"));
    }
}
