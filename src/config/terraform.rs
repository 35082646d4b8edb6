//! The terraform outputs file, in the shape `terraform output -json` prints:
//! `{"name": {"value": ..., "type": ..., "sensitive": bool}}`. Anything else is a usage error.

use crate::config::read_text;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct TerraformOutput {
    pub value: serde_json::Value,
    pub sensitive: bool,
}

#[derive(Debug, Clone)]
pub struct TerraformOutputs {
    pub path: PathBuf,
    pub outputs: BTreeMap<String, TerraformOutput>,
}

/// The top-level members in the order written, duplicates kept (a JSON map would keep the last
/// silently).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of outputs at the top level")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(pair) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(pair);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visitor)
    }
}

const SHAPE_HELP: &str = "produce the file with `terraform output -json > FILE`: an object whose \
     members are {\"value\": ..., \"type\": ..., \"sensitive\": true|false}";

impl TerraformOutputs {
    pub fn load(path: &Path) -> Result<TerraformOutputs> {
        if !path.is_file() {
            return Err(Error::config(
                path,
                "terraform outputs file not found",
                "fix `inputs.terraform_outputs` in the environment file",
            ));
        }
        Self::parse(path, &read_text(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<TerraformOutputs> {
        // A UTF-8 byte order mark (some editors on Windows write one) is not content (RFC 8259
        // section 8.1 lets a parser ignore it).
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let Members(members) = serde_json::from_str(text)
            .map_err(|e| Error::config(path, format!("invalid JSON: {e}"), SHAPE_HELP))?;
        let mut outputs = BTreeMap::new();
        for (name, member) in members {
            if outputs.contains_key(&name) {
                return Err(Error::config(
                    path,
                    format!("output `{name}` is given twice"),
                    "each output appears once (terraform never writes one twice: the file was edited)",
                ));
            }
            let serde_json::Value::Object(fields) = member else {
                return Err(Error::config(
                    path,
                    format!("output `{name}` is not an object with a `value`"),
                    SHAPE_HELP,
                ));
            };
            let Some(value) = fields.get("value") else {
                return Err(Error::config(
                    path,
                    format!("output `{name}` has no `value`"),
                    SHAPE_HELP,
                ));
            };
            let sensitive = match fields.get("sensitive") {
                None => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(Error::config(
                        path,
                        format!("output `{name}` has a `sensitive` that is not true or false"),
                        SHAPE_HELP,
                    ))
                }
            };
            outputs.insert(
                name,
                TerraformOutput {
                    value: value.clone(),
                    sensitive,
                },
            );
        }
        Ok(TerraformOutputs {
            path: path.to_path_buf(),
            outputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TerraformOutputs> {
        TerraformOutputs::parse(Path::new("outputs.json"), text)
    }

    #[test]
    fn reads_terraform_shape() {
        let o = parse(r#"{"a":{"value":"x","type":"string","sensitive":false},"b":{"value":["s1","s2"],"sensitive":true}}"#).unwrap();
        assert_eq!(o.outputs["a"].value, serde_json::json!("x"));
        assert!(o.outputs["b"].sensitive);
    }

    #[test]
    fn flat_map_is_not_terraform_shape() {
        let m = parse(r#"{"a":"x"}"#).unwrap_err().render();
        assert!(
            m.contains("output `a` is not an object with a `value`"),
            "{m}"
        );
        assert!(m.contains("terraform output -json"), "{m}");
    }

    #[test]
    fn syntax_error_has_position() {
        let m = parse("{\"a\": {\"value\": }").unwrap_err().render();
        assert!(m.contains("line 1"), "{m}");
    }
}
