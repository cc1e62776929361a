//! Policy documents (inline or read from a file) and the redaction of file-policy errors.

use super::*;

/// A policy element path with every segment that is not a policy grammar word replaced by
/// `<key>` (a file's own keys never appear in an error).
pub(super) fn redact_policy_path(p: &str) -> String {
    const WORDS: [&str; 11] = [
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
    ];
    let mut out = String::new();
    for seg in p.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match seg.find('[') {
            Some(i) => seg.split_at(i),
            None => (seg, ""),
        };
        let index_ok = index
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'[' || b == b']');
        if !out.is_empty() {
            out.push('.');
        }
        if WORDS.contains(&name) || name == "Condition" {
            out.push_str(name);
        } else {
            out.push_str("<key>");
        }
        if index_ok {
            out.push_str(index);
        }
    }
    out
}

/// A message with every double-quoted part that is not a fixed grammar word replaced by `"…"`.
pub(super) fn redact_quoted(m: &str) -> String {
    const KEEP: [&str; 6] = [
        "Allow",
        "Deny",
        "*",
        "service:action",
        "2012-10-17",
        "2008-10-17",
    ];
    let mut out = String::with_capacity(m.len());
    let mut parts = m.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        if inside {
            out.push('"');
            out.push_str(if KEEP.contains(&part) { part } else { "…" });
            out.push('"');
        } else {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

impl Loader<'_> {
    pub(super) fn policy(
        &mut self,
        v: &Value,
        path: &str,
        ctx: &Ctx,
        api_id: Option<&str>,
    ) -> Option<Policy> {
        if !v.is_object() {
            self.err(
                path,
                format!("a policy document must be a mapping, found {}", kind(v)),
            );
            return None;
        }
        let ectx = ExpandCtx {
            region: &ctx.region,
            account_id: &ctx.account_id,
            api_id,
        };
        match parse_policy(v, &ectx) {
            Ok(p) => Some(p),
            Err(errs) => {
                if errs.is_empty() {
                    self.err(path, "invalid policy");
                }
                for PolicyError { path: p, message } in errs {
                    let full = if p.is_empty() {
                        path.to_owned()
                    } else {
                        join(path, &p)
                    };
                    self.err(full, message);
                }
                None
            }
        }
    }

    /// [`Self::policy`] for a document read from a file: every error names the file and the
    /// element's place with the file's own keys and quoted values left out (a policy file may
    /// be any file the gateway can read, e.g. `/etc/shadow` parses as a YAML mapping).
    pub(super) fn file_policy(
        &mut self,
        v: &Value,
        at: &str,
        file: &Path,
        ctx: &Ctx,
        api_id: Option<&str>,
    ) -> Option<Policy> {
        let before = self.errors.len();
        let p = self.policy(v, at, ctx, api_id);
        let file = file.display().to_string();
        for e in self.errors.iter_mut().skip(before) {
            let inner = e.path.strip_prefix(at).unwrap_or("");
            let place = redact_policy_path(inner);
            e.message = format!(
                "{file} is not a valid policy document{}{place}: {}",
                if place.is_empty() { "" } else { " at " },
                redact_quoted(&e.message)
            );
            e.path = at.to_owned();
        }
        p
    }

    /// An API's resource policy, inline or from a file.
    pub(super) fn resource_policy(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
        ctx: &Ctx,
        raw_id: &str,
    ) -> Option<Policy> {
        let mut rp = None;
        match (
            o.get("resource_policy").filter(|v| !v.is_null()),
            o.get("resource_policy_file").filter(|v| !v.is_null()),
        ) {
            (Some(_), Some(_)) => self.err(
                p.to_owned(),
                "resource_policy and resource_policy_file are mutually exclusive",
            ),
            (Some(doc), None) => {
                rp = self.policy(doc, &join(p, "resource_policy"), ctx, Some(raw_id))
            }
            (None, Some(Value::String(f))) => {
                let path = self.resolve(Path::new(f));
                let at = join(p, "resource_policy_file");
                // Errors name the file and a position, never its content: the path may
                // come from an admin API caller and name any file the gateway can read.
                match std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    .and_then(|t| {
                        check_depth(&t).map_err(|e| format!("{}: {e}", path.display()))?;
                        serde_yaml_ng::from_str::<Value>(&t).map_err(|e| {
                            format!(
                                "{} is not valid JSON/YAML: syntax error {}",
                                path.display(),
                                yaml_position(&e)
                            )
                        })
                    }) {
                    Ok(doc) => rp = self.file_policy(&doc, &at, &path, ctx, Some(raw_id)),
                    Err(e) => self.err(at, e),
                }
            }
            _ => {}
        }
        rp
    }
}
