//! Joins: only both sides' items (and outer levels) visible to the condition, LATERAL right
//! sides and functions seeing the left, USING/NATURAL columns merged first in `*` order (and
//! recorded as equality lookups), a join alias hiding the tables inside.

use pg_query::protobuf::JoinExpr;

use super::analyzer::{Analyzer, Check};
use super::from::{rename, FromOut};
use super::nodes::{strings, unreadable};
use super::scope::{Col, Columns, Item, Scope};
use super::sources::Lineage;
use crate::denial::Denial;

impl Analyzer<'_> {
    pub(super) fn join(&mut self, j: &JoinExpr, scope: &Scope) -> Result<FromOut, Denial> {
        let left = match j.larg.as_deref() {
            Some(l) => self.range_item(l, scope)?,
            None => return Err(unreadable()),
        };
        let right = {
            // The left side joins this level's items for the right side: LATERAL items (and
            // functions) see it, a plain subquery sees none of this level.
            let with_left = Scope::within(scope, left.items.clone(), false);
            match j.rarg.as_deref() {
                Some(r) => self.range_item(r, &with_left)?,
                None => return Err(unreadable()),
            }
        };
        // The ON clause sees the two sides and the levels above, not this level's other
        // items (transformJoinOnClause).
        let both_items = left.items.iter().chain(right.items.iter()).cloned();
        let both = Scope::within(scope, both_items.collect(), true);
        let mut merged: Vec<String> = strings(&j.using_clause)
            .into_iter()
            .map(str::to_string)
            .collect();
        if j.is_natural {
            merged = left
                .star
                .cols
                .iter()
                .filter(|l| right.star.cols.iter().any(|r| r.name == l.name))
                .map(|c| c.name.clone())
                .collect();
        }
        let mut star = Columns::default();
        for name in &merged {
            let l = Lineage::union(
                left.star
                    .cols
                    .iter()
                    .filter(|c| &c.name == name)
                    .map(|c| &c.lineage),
            );
            let r = Lineage::union(
                right
                    .star
                    .cols
                    .iter()
                    .filter(|c| &c.name == name)
                    .map(|c| &c.lineage),
            );
            // A merged column is each side's own column: one of no table is computed.
            self.checks.push(Check::Equal {
                left_set: l.is_empty() || l.is_made(),
                right_set: r.is_empty() || r.is_made(),
                left: l.clone(),
                right: r.clone(),
                what: "a join",
            });
            // An outer join's merged column takes the unmatched side's rows: where one side
            // copies no table, those rows are made.
            star.cols.push(Col {
                name: name.clone(),
                lineage: Lineage::rows_of([&l, &r]),
            });
        }
        for side in [&left.star, &right.star] {
            let rest = Columns {
                cols: side
                    .cols
                    .iter()
                    .filter(|c| !merged.contains(&c.name))
                    .cloned()
                    .collect(),
                tail: side.tail.clone(),
            };
            star.extend(rest);
        }
        if let Some(quals) = j.quals.as_deref() {
            self.predicate(quals, &both, "a join condition")?;
        }
        let mut items = both.items;
        if let Some(alias) = j.alias.as_ref() {
            let columns = rename(star.clone(), Some(alias));
            items = vec![Item {
                name: alias.aliasname.clone(),
                columns: columns.cols.clone(),
                rest: columns.tail.clone(),
                unknown: None,
            }];
            star = columns;
        }
        if let Some(using_alias) = j.join_using_alias.as_ref() {
            items.push(Item::new(
                using_alias.aliasname.clone(),
                star.cols[..merged.len().min(star.cols.len())].to_vec(),
            ));
        }
        Ok(FromOut { items, star })
    }
}
