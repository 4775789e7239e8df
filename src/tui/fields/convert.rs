//! Form values (`Value`) into the lab's types and back; the errors say why the text cannot be one.

use super::Value;
use crate::lab::Disk;

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn opt_text(s: &Option<String>) -> Value {
    Value::Text(s.clone().unwrap_or_default())
}

pub fn into_text(v: Value) -> String {
    match v {
        Value::Text(s) => s,
        Value::Lines(l) => l.join(","),
        Value::Number(n) => n.to_string(),
    }
}

pub fn into_lines(v: Value) -> Vec<String> {
    match v {
        Value::Lines(l) => l,
        Value::Text(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Value::Number(n) => vec![n.to_string()],
    }
}

pub fn into_number(v: Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => Ok(n),
        Value::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a whole number")),
        Value::Lines(_) => Err("expected a number".into()),
    }
}

pub fn into_port(v: Value) -> Result<u16, String> {
    let n = into_number(v)?;
    u16::try_from(n).map_err(|_| format!("{n} is not a port"))
}

pub fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

pub fn disk0(disks: &[Disk]) -> u64 {
    disks.first().map(|d| u64::from(d.size_gib)).unwrap_or(0)
}

pub fn set_disk0(disks: &mut Vec<Disk>, gib: u64) -> Result<(), String> {
    let size_gib = u32::try_from(gib).map_err(|_| format!("{gib} GiB is too large"))?;
    match disks.first_mut() {
        Some(d) => d.size_gib = size_gib,
        None => disks.push(Disk { size_gib }),
    }
    Ok(())
}

pub fn to_u32(n: u64) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}
