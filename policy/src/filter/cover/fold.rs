//! Equality's view of constants: PostgreSQL may read two different literals as one value
//! (`'01'` and `1` for a number, `'a '` and `'a'` for char(n), `'A'` and `'a'` for citext).

use super::{cmp_constants, Constant, Keeps, Test};

impl Test {
    /// The test with its constants folded (`fold`), for equality.
    pub(super) fn folded(&self) -> Test {
        let keeps = match &self.keeps {
            Keeps::Compare(op, c) => Keeps::Compare(op, fold(c)),
            Keeps::In(cs) => {
                let mut cs: Vec<Constant> = cs.iter().map(fold).collect();
                cs.sort_by(cmp_constants);
                cs.dedup();
                Keeps::In(cs)
            }
            Keeps::Between(a, b) => Keeps::Between(a.clone(), b.clone()),
            Keeps::Opaque { wide } => Keeps::Opaque { wide: *wide },
        };
        Test {
            expr: self.expr.clone(),
            keeps,
            negated: self.negated,
        }
    }
}

/// A constant as text PostgreSQL may read as the same value as another: a number in its
/// shortest form (`'01'`, `1`, `1.0` are one), trailing spaces dropped (char(n)), lower case
/// (citext). Folding can only make constants equal, so a cover found is one PostgreSQL has too
/// or a predicate pgward refuses for being unclear.
pub(super) fn fold(c: &Constant) -> Constant {
    let number = |n: f64| Constant::Text(format!("{n}"));
    match c {
        Constant::Number(n) => number(*n),
        Constant::Text(t) => {
            let t = t.trim_end().to_lowercase();
            match t.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && t.trim().len() <= 15 => number(n),
                _ => Constant::Text(t),
            }
        }
    }
}
