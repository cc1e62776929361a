//! The `identities` section: IAM principals, their access keys and identity-based policies.

use super::*;

impl Loader<'_> {
    #[allow(clippy::type_complexity)]
    pub(super) fn identities(
        &mut self,
        obj: &Map<String, Value>,
        ctx: &Ctx,
    ) -> (Vec<Identity>, Vec<Vec<Policy>>, HashMap<String, Credential>) {
        let mut out = Vec::new();
        let mut pols = Vec::new();
        let mut seen = Seen::default();
        for (i, v) in self.list(obj, "identities", "").into_iter().enumerate() {
            let p = index("identities", i);
            let Some(o) = self.object(v, &p) else {
                continue;
            };
            let shell: Option<Identity> = self.shell(
                o,
                &p,
                &[
                    ("access_keys", Value::Array(Vec::new())),
                    ("policies", Value::Array(Vec::new())),
                ],
            );
            let keys = self.access_keys(o, &p, i, &mut seen);
            let mut ipols = Vec::new();
            let pp = join(&p, "policies");
            let raw_pols: Vec<Value> = self.list(o, "policies", &p).into_iter().cloned().collect();
            let mut pols_ok = true;
            for (j, pv) in raw_pols.iter().enumerate() {
                match self.policy(pv, &index(&pp, j), ctx, None) {
                    Some(pol) => ipols.push(pol),
                    None => pols_ok = false,
                }
            }
            let Some(mut ident) = shell else { continue };
            self.check_identity(&ident, &p, &mut seen.arns);
            if let (Some(keys), true) = (keys, pols_ok) {
                ident.access_keys = keys;
                ident.policies = raw_pols;
                out.push(ident);
                pols.push(ipols);
            }
        }
        (out, pols, seen.credentials)
    }

    /// The access keys of identity `i` (at `p`); `None` if one is broken (reported).
    fn access_keys(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
        i: usize,
        seen: &mut Seen,
    ) -> Option<Vec<AccessKey>> {
        let mut keys = Vec::new();
        let mut keys_ok = true;
        let kp = join(p, "access_keys");
        for (j, k) in self.list(o, "access_keys", p).into_iter().enumerate() {
            let at = index(&kp, j);
            let Some(mut key) = deser::<AccessKey>(k, &at, &mut self.errors) else {
                keys_ok = false;
                continue;
            };
            if let Some(prev) = seen.keys.get(&key.id) {
                self.err(
                    join(&at, "id"),
                    format!("access key id \"{}\" is already used at {prev}", key.id),
                );
            }
            seen.keys.insert(key.id.clone(), at.clone());
            let Some((secret, expires, resolved_file)) = self.access_key(&key, &at) else {
                keys_ok = false;
                continue;
            };
            seen.credentials.insert(
                key.id.clone(),
                Credential {
                    identity: i,
                    access_key_id: key.id.clone(),
                    secret,
                    session_token: key.session_token.clone(),
                    expires_unix: expires,
                },
            );
            key.secret_file = resolved_file;
            keys.push(key);
        }
        keys_ok.then_some(keys)
    }

    /// An identity's own fields: ARN, role ARN, user id, tags; one identity per ARN.
    fn check_identity(
        &mut self,
        ident: &Identity,
        p: &str,
        arn_seen: &mut HashMap<String, String>,
    ) {
        if let Err(m) = check_identity_arn(&ident.arn) {
            self.err(join(p, "arn"), m);
        }
        if let Some(role) = &ident.role_arn
            && let Some(info) = tollgate_policy::PrincipalInfo::from_arn(&ident.arn)
            && let Err(m) = info.with_role_arn(role)
        {
            self.err(join(p, "role_arn"), m);
        }
        if ident.user_id.as_deref().is_some_and(str::is_empty) {
            self.err(join(p, "user_id"), "must not be empty");
        }
        if let Some(prev) = arn_seen.get(&ident.arn) {
            self.err(join(p, "arn"), format!("duplicate identity (also {prev})"));
        }
        arn_seen.insert(ident.arn.clone(), p.to_owned());
        for k in ident.tags.keys() {
            if k.is_empty() || k.len() > 128 {
                self.err(
                    join(&join(p, "tags"), k),
                    "tag keys must have 1 to 128 characters",
                );
            }
        }
    }

    /// Check one access key; returns (secret, expiry, resolved secret_file).
    pub(super) fn access_key(
        &mut self,
        k: &AccessKey,
        at: &str,
    ) -> Option<(String, Option<i64>, Option<PathBuf>)> {
        let mut ok = true;
        if k.id.len() < 3 || k.id.len() > 128 || !k.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            self.err(
                join(at, "id"),
                format!(
                    "invalid access key id \"{}\" (3-128 letters and digits)",
                    k.id
                ),
            );
            ok = false;
        }
        let (secret, resolved_file) = self.secret(k, at);
        ok &= secret.is_some();
        if let Some(s) = &secret
            && s.is_empty()
        {
            self.err(at, "the secret is empty");
            ok = false;
        }
        if let Some(t) = &k.session_token
            && t.is_empty()
        {
            self.err(
                join(at, "session_token"),
                "must not be empty (use null for long-term keys)",
            );
            ok = false;
        }
        let mut expires = None;
        if let Some(e) = &k.expires {
            match parse_rfc3339(e) {
                Some(t) => expires = Some(t),
                None => {
                    self.err(
                        join(at, "expires"),
                        format!("invalid RFC 3339 date-time \"{e}\" (e.g. 2030-01-01T00:00:00Z)"),
                    );
                    ok = false;
                }
            }
        }
        if ok {
            secret.map(|s| (s, expires, resolved_file))
        } else {
            None
        }
    }

    /// The secret of a key from exactly one of `secret`, `secret_env`, `secret_file`, and the
    /// resolved `secret_file` path; `None` (reported) when it cannot be had.
    fn secret(&mut self, k: &AccessKey, at: &str) -> (Option<String>, Option<PathBuf>) {
        let n = [
            k.secret.is_some(),
            k.secret_env.is_some(),
            k.secret_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            self.err(
                at,
                format!("exactly one of secret, secret_env, secret_file is required (found {n})"),
            );
            return (None, None);
        }
        if let Some(s) = &k.secret {
            return (Some(s.clone()), None);
        }
        if let Some(name) = &k.secret_env {
            let secret = (self.env)(name);
            if secret.is_none() {
                self.err(
                    join(at, "secret_env"),
                    format!("environment variable {name} is not set"),
                );
            }
            return (secret, None);
        }
        let Some(f) = &k.secret_file else {
            return (None, None);
        };
        let path = self.resolve(f);
        match std::fs::read_to_string(&path) {
            Ok(s) => (
                Some(s.trim_end_matches(['\r', '\n']).to_owned()),
                Some(path),
            ),
            Err(e) => {
                self.err(
                    join(at, "secret_file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                (None, Some(path))
            }
        }
    }
}

/// What the identities seen so far use: access key ids, ARNs (each with the path of its first
/// use) and the credentials of the keys read.
#[derive(Default)]
struct Seen {
    keys: HashMap<String, String>,
    arns: HashMap<String, String>,
    credentials: HashMap<String, Credential>,
}
