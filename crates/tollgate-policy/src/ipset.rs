//! A binary prefix trie over IPv4/IPv6 networks: a lookup walks at most 32 (IPv4) or 128 (IPv6)
//! bits, whatever the number of prefixes stored.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
struct Node {
    /// Child indices; 0 means none (the root is index 0 and is nobody's child).
    child: [u32; 2],
    vals: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn insert(&mut self, bits: u128, width: u8, len: u8, val: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for i in 0..len.min(width) {
            let bit = usize::from((bits >> (width - 1 - i)) & 1 == 1);
            let next = self
                .nodes
                .get(at)
                .and_then(|n| n.child.get(bit))
                .copied()
                .unwrap_or(0);
            at = if next == 0 {
                let idx = self.nodes.len();
                self.nodes.push(Node::default());
                if let Some(slot) = self.nodes.get_mut(at).and_then(|n| n.child.get_mut(bit)) {
                    *slot = u32::try_from(idx).unwrap_or(0);
                }
                idx
            } else {
                next as usize
            };
        }
        if let Some(n) = self.nodes.get_mut(at) {
            n.vals.push(val);
        }
    }

    /// Calls `f` for every value stored on a prefix of `bits`; stops early when `f` returns true.
    fn find(&self, bits: u128, width: u8, f: &mut dyn FnMut(u32) -> bool) -> bool {
        let mut at = 0usize;
        let mut depth = 0u8;
        while let Some(n) = self.nodes.get(at) {
            for v in &n.vals {
                if f(*v) {
                    return true;
                }
            }
            if depth >= width {
                break;
            }
            let bit = usize::from((bits >> (width - 1 - depth)) & 1 == 1);
            let next = n.child.get(bit).copied().unwrap_or(0);
            if next == 0 {
                break;
            }
            at = next as usize;
            depth += 1;
        }
        false
    }
}

/// Maps IP prefixes to `u32` values (statement ids, or 0 for a plain set).
#[derive(Debug, Clone, Default)]
pub(crate) struct IpTrie {
    v4: Trie,
    v6: Trie,
    len: usize,
}

impl IpTrie {
    pub(crate) fn insert(&mut self, net: &IpNet, val: u32) {
        self.len += 1;
        match net {
            IpNet::V4(n) => {
                self.v4
                    .insert(u128::from(u32::from(n.network())), 32, n.prefix_len(), val)
            }
            IpNet::V6(n) => self
                .v6
                .insert(u128::from(n.network()), 128, n.prefix_len(), val),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with the value of every stored prefix containing `ip`, until `f` returns true.
    pub(crate) fn find(&self, ip: IpAddr, mut f: impl FnMut(u32) -> bool) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.find(u128::from(u32::from(a)), 32, &mut f),
            IpAddr::V6(a) => self.v6.find(u128::from(a), 128, &mut f),
        }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.find(ip, |_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let mut t = IpTrie::default();
        for (i, n) in [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.0.2.7/32",
            "2001:db8::/32",
            "0.0.0.0/0",
        ]
        .iter()
        .enumerate()
        {
            t.insert(&n.parse().unwrap(), i as u32);
        }
        let hits = |ip: &str| {
            let mut v = Vec::new();
            t.find(ip.parse().unwrap(), |x| {
                v.push(x);
                false
            });
            v.sort_unstable();
            v
        };
        assert_eq!(hits("10.1.2.3"), vec![0, 1, 4]);
        assert_eq!(hits("10.2.2.3"), vec![0, 4]);
        assert_eq!(hits("192.0.2.7"), vec![2, 4]);
        assert_eq!(hits("192.0.2.8"), vec![4]);
        assert_eq!(hits("2001:db8::1"), vec![3]);
        assert_eq!(hits("2001:db9::1"), Vec::<u32>::new());
        // host bits set in the policy are ignored (network() is stored)
        let mut t = IpTrie::default();
        t.insert(&"123.4.5.6/24".parse().unwrap(), 0);
        assert!(t.contains("123.4.5.200".parse().unwrap()));
        assert!(!t.contains("123.4.6.1".parse().unwrap()));
    }
}
