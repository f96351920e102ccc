//! Environment overrides: `CAIRN_SECTION__KEY=value` sets `section.key`.
//! Values are read as TOML literals when they parse as one (numbers, booleans, arrays),
//! otherwise as strings.

use crate::{Error, Result};

const PREFIX: &str = "CAIRN_";
/// Variables with the prefix that are not configuration keys.
const NOT_KEYS: &[&str] = &[
    "CAIRN_CONFIG",
    "CAIRN_MODELS_DIR",
    "CAIRN_FIXTURES_DIR",
    "CAIRN_WHEEL_CACHE",
    "CAIRN_LOG",
    "CAIRN_MASTER_KEY",
    "CAIRN_MASTER_KEY_OLD",
    "CAIRN_API_KEY",
    "CAIRN_PG_BIN",
    "CAIRN_BIN",
];

pub(crate) fn apply_overrides(
    table: &mut toml::Table,
    vars: &[(String, String)],
) -> Result<Vec<String>> {
    let mut applied = Vec::new();
    let mut sorted: Vec<&(String, String)> = vars.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if NOT_KEYS.contains(&name.as_str()) || name.starts_with("CAIRN_TEST") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(Error::Invalid {
                key: name.clone(),
                message: "empty key segment in environment variable name".into(),
            });
        }
        set_path(table, &path, literal(value), name)?;
        applied.push(name.clone());
    }
    Ok(applied)
}

fn literal(value: &str) -> toml::Value {
    let doc = format!("v = {value}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.to_owned())),
        Err(_) => toml::Value::String(value.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value, var: &str) -> Result<()> {
    let (last, parents) = match path.split_last() {
        Some(x) => x,
        None => return Ok(()),
    };
    let mut cur = table;
    for (i, seg) in parents.iter().enumerate() {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(Error::Invalid {
                    key: path[..=i].join("."),
                    message: format!("{var} treats this key as a section, but it is a value"),
                });
            }
        };
    }
    cur.insert(last.clone(), value);
    Ok(())
}
