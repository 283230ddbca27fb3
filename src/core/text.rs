//! Builds short messages without `core::fmt`: error messages are built in the WASM build, where
//! the formatting machinery costs far more of the size budget than these few lines.

use alloc::{borrow::ToOwned, string::String};

/// Concatenates message parts.
pub struct Text(String);

impl Text {
    pub fn new(start: &str) -> Self {
        Text(start.to_owned())
    }

    pub fn add(mut self, part: &str) -> Self {
        self.0.push_str(part);
        self
    }

    /// Appends `n` in decimal.
    pub fn num(mut self, n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut rest = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.0.push(char::from(d));
        }
        self
    }

    pub fn done(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn numbers_and_parts() {
        assert_eq!(
            Text::new("a ").num(0).add(" b ").num(1234567890123).done(),
            "a 0 b 1234567890123"
        );
        assert_eq!(Text::new("").num(u64::MAX).done(), u64::MAX.to_string());
    }
}
