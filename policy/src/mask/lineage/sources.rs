//! The lineage of a value: which sources feed it and whether it is computed from them.

/// Where a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A column of a relation the snapshot knows (table or view), by oid and attnum.
    Column(u32, i16),
    /// A column of a relation the snapshot does not know (index into the analysis' table).
    Unknown(u32),
    /// An origin pgward cannot establish (a user function, an expression it cannot read).
    Opaque,
}

/// The sources of one value, and whether it is more than a plain copy of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lineage {
    /// Sorted, without duplicates.
    pub sources: Vec<Source>,
    /// Computed from the sources (a function, an operator, a truncating cast) rather than a
    /// copy of one of them.
    pub transformed: bool,
    /// Some of its rows are made rather than copied from the sources (a set operation or
    /// VALUES list putting computed rows beside a table's column): compared with a masked
    /// column, it is a set of guesses even where its other rows are stored values.
    pub made_rows: bool,
    /// An array whose shape (length, dimensions) follows its sources' values: combined with
    /// arrays of another shape it fails, so where it may be combined it is an oracle.
    pub shaped: bool,
    /// May be NULL or not according to the masked value (`nullif(x, '7')`, a subscript, a
    /// regular expression's match): PostgreSQL then skips a strict call or a subscript
    /// around it, so anything there that can fail tells the value.
    pub nullable: bool,
}

impl Lineage {
    pub fn of(source: Source) -> Lineage {
        Lineage {
            sources: vec![source],
            transformed: false,
            made_rows: false,
            shaped: false,
            nullable: false,
        }
    }

    pub fn opaque() -> Lineage {
        Lineage {
            sources: vec![Source::Opaque],
            transformed: true,
            made_rows: false,
            shaped: false,
            nullable: false,
        }
    }

    pub fn add(&mut self, other: &Lineage) {
        self.transformed |= other.transformed;
        self.made_rows |= other.made_rows;
        self.shaped |= other.shaped;
        self.nullable |= other.nullable;
        for s in &other.sources {
            if let Err(at) = self.sources.binary_search(s) {
                self.sources.insert(at, *s);
            }
        }
    }

    pub fn union<'a>(items: impl IntoIterator<Item = &'a Lineage>) -> Lineage {
        let mut out = Lineage::default();
        for l in items {
            out.add(l);
        }
        out
    }

    /// The value is computed from these sources.
    pub fn transformed(mut self) -> Lineage {
        self.transformed = !self.sources.is_empty();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The rows of one column from several branches (a set operation's, a VALUES list's):
    /// where a branch copies no stored column, the rows it makes sit beside stored values.
    pub fn rows_of<'a>(branches: impl IntoIterator<Item = &'a Lineage>) -> Lineage {
        let mut out = Lineage::default();
        let mut made = false;
        for l in branches {
            made |= l.is_empty() || l.transformed;
            out.add(l);
        }
        out.made_rows |= made && !out.is_empty();
        out
    }

    /// Compared with a masked column, a set of candidates rather than stored values: it is
    /// computed from what it reads, or some of its rows are.
    pub fn is_made(&self) -> bool {
        !self.is_empty() && (self.transformed || self.made_rows)
    }
}

/// A relation the snapshot lacks: where it may live and what it is called.
#[derive(Clone, Debug)]
pub struct UnknownColumn {
    pub schemas: Vec<String>,
    pub table: String,
    /// `None`: any of its columns (a `*`, a whole-row reference).
    pub column: Option<String>,
}
