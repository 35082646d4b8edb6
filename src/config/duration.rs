//! Durations in the environment file: every `*_ms` key takes milliseconds as an integer
//! (`soak_ms = 30000`) or a human duration (`soak_ms = "30s"`, `"10m"`, `"1m30s"`, `"250ms"`,
//! `"1h"`). One parser for all of them.

use serde::{Deserialize, Deserializer};

/// Milliseconds in a human duration: one or more `<number><unit>` parts, unit ms, s, m or h.
pub fn parse_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || {
        format!("`{text}` is not a duration: write milliseconds as a number, or e.g. \"30s\", \"10m\", \"1m30s\", \"250ms\"")
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// serde: a `*_ms` value as an integer or a human duration.
pub fn ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Human(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Millis(ms) => Ok(ms),
        Raw::Human(text) => parse_ms(&text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_forms() {
        assert_eq!(parse_ms("30s"), Ok(30_000));
        assert_eq!(parse_ms("10m"), Ok(600_000));
        assert_eq!(parse_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_ms("250ms"), Ok(250));
        assert_eq!(parse_ms(" 1h "), Ok(3_600_000));
    }

    #[test]
    fn refusals_say_how_to_write_it() {
        for bad in [
            "",
            "30",
            "s",
            "30 s",
            "3.5s",
            "10x",
            "99999999999999999999h",
        ] {
            let why = parse_ms(bad).unwrap_err();
            assert!(why.contains("not a duration"), "{bad}: {why}");
        }
    }
}
