//! Word extraction with a regex.
use regex::Regex;

pub fn words(text: &str) -> Vec<String> {
    let re = Regex::new(r"[A-Za-z]+").expect("valid regex");
    re.find_iter(text).map(|m| m.as_str().to_lowercase()).collect()
}
