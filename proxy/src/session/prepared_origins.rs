//! The text each named statement was judged from and the search_path epoch it was judged
//! under (see `Prepared::origins`).

use std::sync::Arc;

use pgward_policy::Decision;

use super::{name_key, Prepared};

impl Prepared {
    /// Record the text of statement `name` and the search_path epoch it was judged under.
    pub fn judged_under(&mut self, name: &str, text: &str, epoch: u64) {
        let name = &*name_key(name);
        if self.origins.len() > self.statements.len() + 64 {
            let live = &self.statements;
            self.origins.retain(|n, _| live.contains_key(n));
        }
        self.origins
            .insert(name.to_string(), (Arc::from(text), epoch));
    }

    /// The text of statement `name` when it was judged under another search_path epoch.
    pub fn judged_stale(&self, name: &str, epoch: u64) -> Option<Arc<str>> {
        let name = &*name_key(name);
        let (text, judged) = self.origins.get(name)?;
        (*judged != epoch && self.statements.contains_key(name)).then(|| text.clone())
    }

    /// Statement `name` judged again (under search_path epoch `epoch`).
    pub fn rejudged(&mut self, name: &str, decision: Arc<Decision>, epoch: u64) {
        let name = &*name_key(name);
        if let Some(e) = self.statements.get_mut(name) {
            e.decision = decision;
        }
        if let Some(o) = self.origins.get_mut(name) {
            o.1 = epoch;
        }
    }
}
