//! "Did you mean …?" suggestions by edit distance.

/// The candidate closest to `typo`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(typo: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (typo.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(typo, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
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
        assert_eq!(closest("serverca", names).as_deref(), Some("server_ca"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
