//! The functions given the fault handlers' entry contract, and what holds
//! on their entry: the fields designated initializers put them in
//! (`.pfn_mkwrite = f`) give facts (`[fault_path.entry_facts]`).

use std::collections::{BTreeSet, HashMap};

use crate::catalogue::Catalogue;

/// Per handler name, the fields it is put in (`None`: an entry contract
/// of the catalogue, no field).
#[derive(Default)]
pub(super) struct Handlers {
    fields: HashMap<String, BTreeSet<Option<String>>>,
}

impl Handlers {
    pub(super) fn add(&mut self, name: &str, field: Option<&String>) {
        self.fields
            .entry(name.to_string())
            .or_default()
            .insert(field.cloned());
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &String> {
        self.fields.keys()
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// The facts on entry of handler `name` defined in `file` with first
    /// parameter `param`: those every field it is put in gives (a function
    /// in two tables is entered both ways).
    pub(super) fn entry_facts(
        &self,
        cat: &Catalogue,
        name: &str,
        file: &str,
        param: Option<&String>,
    ) -> Vec<(String, i64)> {
        let (Some(fields), Some(param)) = (self.fields.get(name), param) else {
            return Vec::new();
        };
        let mut common: Option<Vec<(String, i64)>> = None;
        for field in fields {
            let facts = field
                .as_ref()
                .and_then(|f| cat.fault_path.entry_facts.get(f))
                .map(|e| e.for_handler(file, param))
                .unwrap_or_default();
            common = Some(match common {
                None => facts,
                Some(c) => c.into_iter().filter(|x| facts.contains(x)).collect(),
            });
        }
        common.unwrap_or_default()
    }
}
