//! Load errors: one [`ConfigError`] per problem, each naming its field path.

use std::fmt;

/// One problem in a configuration, e.g.
/// `apis[0].routes[2].authorizer: unknown authorizer "userz" (known: users, tokens) (line 31)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path: `gateway.listeners[0].bind`, `apis[1].stages.prod`, ... (empty for the whole file).
    pub path: String,
    pub message: String,
    /// The line (1-based) of the node the path names, or of its nearest existing parent
    /// when the path names a missing key; `None` when the text has no such place.
    pub line: Option<u32>,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        match self.line {
            Some(l) => write!(f, " (line {l})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one configuration (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// `"path: message"` strings, as the admin API's `{"errors":[...]}` wants them.
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
