//! Which sets of servers form a quorum. Majority of voters; observers never count.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVerifier {
    voters: BTreeSet<u64>,
    observers: BTreeSet<u64>,
}

impl QuorumVerifier {
    pub fn new(
        voters: impl IntoIterator<Item = u64>,
        observers: impl IntoIterator<Item = u64>,
    ) -> Self {
        QuorumVerifier {
            voters: voters.into_iter().collect(),
            observers: observers.into_iter().collect(),
        }
    }

    pub fn is_voter(&self, id: u64) -> bool {
        self.voters.contains(&id)
    }

    pub fn is_observer(&self, id: u64) -> bool {
        self.observers.contains(&id)
    }

    pub fn is_member(&self, id: u64) -> bool {
        self.is_voter(id) || self.is_observer(id)
    }

    pub fn voters(&self) -> &BTreeSet<u64> {
        &self.voters
    }

    pub fn observers(&self) -> &BTreeSet<u64> {
        &self.observers
    }

    /// All members but `me`.
    pub fn others(&self, me: u64) -> impl Iterator<Item = u64> + '_ {
        self.voters
            .iter()
            .chain(self.observers.iter())
            .copied()
            .filter(move |&id| id != me)
    }

    /// More than half of the voters are in `ids` (anything else in it is ignored).
    /// Counted without allocating: the leader asks this on every ACK.
    pub fn contains_quorum<'a, I>(&self, ids: I) -> bool
    where
        I: IntoIterator<Item = &'a u64> + Copy,
    {
        let n = self
            .voters
            .iter()
            .filter(|v| ids.into_iter().any(|id| id == *v))
            .count();
        n > self.voters.len() / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majorities_of_voters_only() {
        let q = QuorumVerifier::new([1, 2, 3], [4, 5]);
        assert!(!q.contains_quorum(&[1]));
        assert!(q.contains_quorum(&[1, 3]));
        assert!(!q.contains_quorum(&[1, 4, 5]));
        assert!(!q.contains_quorum(&[1, 1, 1]));
        let five = QuorumVerifier::new([1, 2, 3, 4, 5], []);
        assert!(!five.contains_quorum(&[1, 2]));
        assert!(five.contains_quorum(&[1, 2, 5]));
        let two = QuorumVerifier::new([1, 2], []);
        assert!(!two.contains_quorum(&[1]));
        assert!(two.contains_quorum(&[1, 2]));
        assert_eq!(q.others(1).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
    }
}
