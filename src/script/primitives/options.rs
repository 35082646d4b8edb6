//! The options map a primitive takes (`#{ timeout_ms: 5000, ... }`), read one way for every row:
//! an unknown key is refused with the keys it knows, and each value is read as the type it must
//! be, a wrong one refused (BAD_OPTION) naming the primitive, the key and what it found. A Secret
//! where a plain value belongs, or plain text where a Secret belongs, is refused too.

use crate::host::{Fail, Outcome};
use crate::rules::error_code::ErrorCode;
use crate::rules::secret::Secret;
use rhai::Dynamic;
use std::time::Duration;

pub(super) struct Options {
    map: rhai::Map,
    primitive: &'static str,
}

impl Options {
    /// The options of `primitive`, refusing a key outside `allowed`.
    pub(super) fn new(
        map: rhai::Map,
        primitive: &'static str,
        allowed: &[super::OptionDoc],
    ) -> Outcome<Options> {
        for k in map.keys() {
            if !allowed.iter().any(|o| o.name == k.as_str()) {
                let names: Vec<&str> = allowed.iter().map(|o| o.name).collect();
                return Err(Fail::error(
                    ErrorCode::BadOption,
                    format!("unknown {primitive} option `{k}`"),
                    format!("options are {}", names.join(", ")),
                ));
            }
        }
        Ok(Options { map, primitive })
    }

    fn wrong(&self, key: &str, wanted: &str, found: &Dynamic) -> Fail {
        Fail::error(
            ErrorCode::BadOption,
            format!(
                "{} option `{key}` must be {wanted}, found {}",
                self.primitive,
                found.type_name()
            ),
            "",
        )
    }

    /// The value as given (for an option that takes more than one type).
    pub(super) fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key)
    }

    pub(super) fn text(&self, key: &str) -> Outcome<Option<String>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(v.clone().into_string().ok()),
            Some(v) if v.is::<Secret>() => Err(Fail::error(
                ErrorCode::BadOption,
                format!(
                    "{} option `{key}` is a Secret where a plain value belongs",
                    self.primitive
                ),
                "",
            )),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub(super) fn required(&self, key: &str) -> Outcome<String> {
        self.text(key)?.ok_or_else(|| {
            Fail::error(
                ErrorCode::BadOption,
                format!("{} needs `{key}`", self.primitive),
                "",
            )
        })
    }

    pub(super) fn int(&self, key: &str) -> Outcome<Option<i64>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .map_err(|_| self.wrong(key, "an integer", v)),
        }
    }

    pub(super) fn bool(&self, key: &str) -> Outcome<Option<bool>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .map_err(|_| self.wrong(key, "true or false", v)),
        }
    }

    /// Milliseconds (at least 1), `default` when absent.
    pub(super) fn millis(&self, key: &str, default: Duration) -> Outcome<Duration> {
        Ok(self
            .int(key)?
            .map_or(default, |ms| Duration::from_millis(ms.max(1) as u64)))
    }

    /// A map (empty when absent); `shape` says what it maps, e.g. "name -> arn".
    pub(super) fn map(&self, key: &str, shape: &str) -> Outcome<rhai::Map> {
        match self.map.get(key) {
            None => Ok(rhai::Map::new()),
            Some(v) => v
                .clone()
                .try_cast::<rhai::Map>()
                .ok_or_else(|| self.wrong(key, &format!("a map {shape}"), v)),
        }
    }

    /// An array of strings (empty when absent).
    pub(super) fn strings(&self, key: &str) -> Outcome<Vec<String>> {
        match self.map.get(key) {
            None => Ok(vec![]),
            Some(v) => v
                .clone()
                .try_cast::<rhai::Array>()
                .ok_or_else(|| self.wrong(key, "an array of strings", v))?
                .into_iter()
                .map(|t| t.into_string().map_err(|t| self.text_item(key, t)))
                .collect(),
        }
    }

    fn text_item(&self, key: &str, found: &str) -> Fail {
        Fail::error(
            ErrorCode::BadOption,
            format!("{} option `{key}` holds a {found}", self.primitive),
            "",
        )
    }

    /// A Secret (from `ssm_secret` or a secret handle); plain text only where `allow_plain`.
    pub(super) fn secret(&self, key: &str, allow_plain: bool) -> Outcome<Option<Secret>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => {
                if let Some(s) = v.read_lock::<Secret>() {
                    return Ok(Some(s.clone()));
                }
                if allow_plain && v.is_string() {
                    return Ok(Some(Secret::new(
                        key,
                        v.clone().into_string().unwrap_or_default(),
                    )));
                }
                Err(Fail::error(
                    ErrorCode::NotASecret,
                    format!("{} option `{key}` must be a Secret", self.primitive),
                    "pass ssm_secret(path) or a handle classified secret; plaintext never passes through scripts",
                ))
            }
        }
    }
}
