//! Configuration errors: each names the JSON path of the field that is wrong and what is wrong.

use std::fmt;

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path of the offending field, e.g. `providers[0].jwks.remote.uri`; `(root)` for the
    /// document itself.
    pub path: String,
    /// What is wrong and, where it helps, what would be accepted.
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a configuration, in the order of the fields of `Config`. Never empty
/// when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn single(path: impl Into<String>, message: impl Into<String>) -> ConfigErrors {
        ConfigErrors {
            errors: vec![ConfigError::new(path, message)],
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// One error per line, `path: message`.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_error_per_line() {
        let errors = ConfigErrors {
            errors: vec![
                ConfigError::new("providers[0].issuer", "must not be empty"),
                ConfigError::new("routes[2].path.glob", "bad"),
            ],
        };
        assert_eq!(
            errors.to_string(),
            "providers[0].issuer: must not be empty\nroutes[2].path.glob: bad"
        );
        assert_eq!(errors.len(), 2);
    }
}
