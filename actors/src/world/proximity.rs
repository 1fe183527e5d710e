//! Who stands near whom: for each user the set of users within `radius`
//! tiles (Chebyshev distance), and groups: the connected components of
//! "near", so a cluster of people can share one call.
//!
//! Private areas override distance: people inside the same area are each
//! other's nearby set wherever they stand in it, and nobody outside it is
//! near them. Updates are incremental: a move looks only at the 3×3 cells
//! (of side `radius`) around the mover. Groups change only where an edge
//! changed: an added edge merges two groups; a removed edge whose ends are
//! still connected (the usual case in a crowd) changes nothing; only a
//! removed edge that really cuts a group recomputes that group.

use std::collections::{BTreeSet, VecDeque};

// User ids are server-made UUIDs, so a fast non-keyed hash is safe here,
// and SipHash on 36-byte keys was most of a crowded space's move cost.
type HashMap<K, V> = rustc_hash::FxHashMap<K, V>;
type HashSet<K> = rustc_hash::FxHashSet<K>;

use metaverse_protocol::Position;

use super::{Rect, UserId};

/// Groups larger than this get no pairwise hang-ups when they split (a
/// mesh call holds a handful of peers; the clients' own `proximity`
/// handling covers the rest).
const PARTED_PAIRS_MAX_GROUP: usize = 64;

/// Nearby sets and groups kept current move by move, so a step costs a few
/// cells rather than a pass over everyone.
#[derive(Debug, Default)]
pub struct Proximity {
    radius: i32,
    areas: Vec<Rect>,
    at: HashMap<UserId, (Position, Option<usize>)>,
    cells: HashMap<(i32, i32), HashSet<UserId>>,
    in_area: HashMap<usize, HashSet<UserId>>,
    near: HashMap<UserId, HashSet<UserId>>,
    /// A group's id is its smallest user id; users alone have none.
    group: HashMap<UserId, UserId>,
    members: HashMap<UserId, HashSet<UserId>>,
}

/// What an update changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Users whose nearby set or group changed (sorted).
    pub changed: Vec<UserId>,
    /// Pairs that shared a group and no longer do.
    pub parted: Vec<(UserId, UserId)>,
}

fn contains(r: &Rect, p: Position) -> bool {
    p.x >= r.x && p.y >= r.y && p.x < r.x + r.width && p.y < r.y + r.height
}

impl Proximity {
    /// `areas` are the space's private areas; a negative radius counts as 0,
    /// leaving only the areas.
    pub fn new(radius: i32, areas: Vec<Rect>) -> Self {
        Self { radius: radius.max(0), areas, ..Self::default() }
    }

    /// Sent in `proximity` messages, so clients know the distance the server
    /// judges by.
    pub fn radius(&self) -> i32 {
        self.radius
    }

    fn cell_of(&self, p: Position) -> (i32, i32) {
        let s = self.radius.max(1);
        (p.x.div_euclid(s), p.y.div_euclid(s))
    }

    fn area_of(&self, p: Position) -> Option<usize> {
        self.areas.iter().position(|r| contains(r, p))
    }

    /// Sorted, for messages.
    pub fn nearby(&self, u: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.near.get(u).map(|s| s.iter().map(|x| x.to_string()).collect()).unwrap_or_default();
        v.sort();
        v
    }

    /// Unsorted and without copying, for fanning nearby chat out on the hot
    /// path.
    pub fn nearby_ids(&self, u: &str) -> impl Iterator<Item = &UserId> {
        self.near.get(u).into_iter().flatten()
    }

    /// The id clients key one shared call on; `None` for a user near nobody.
    pub fn group(&self, u: &str) -> Option<&str> {
        self.group.get(u).map(|g| &**g)
    }

    /// Near each other, or in one group.
    pub fn connected(&self, a: &str, b: &str) -> bool {
        self.near.get(a).is_some_and(|s| s.contains(b))
            || self.group.get(a).is_some_and(|g| self.group.get(b) == Some(g))
    }

    fn unindex(&mut self, u: &UserId) {
        if let Some((p, area)) = self.at.remove(u) {
            match area {
                Some(a) => {
                    if let Some(s) = self.in_area.get_mut(&a) {
                        s.remove(u);
                    }
                }
                None => {
                    let c = self.cell_of(p);
                    if let Some(s) = self.cells.get_mut(&c) {
                        s.remove(u);
                        if s.is_empty() {
                            self.cells.remove(&c);
                        }
                    }
                }
            }
        }
    }

    fn index(&mut self, u: &UserId, p: Position) {
        let area = self.area_of(p);
        match area {
            Some(a) => {
                self.in_area.entry(a).or_default().insert(u.clone());
            }
            None => {
                let c = self.cell_of(p);
                self.cells.entry(c).or_default().insert(u.clone());
            }
        }
        self.at.insert(u.clone(), (p, area));
    }

    fn compute_near(&self, u: &UserId) -> HashSet<UserId> {
        let Some(&(p, area)) = self.at.get(u) else {
            return HashSet::default();
        };
        if let Some(a) = area {
            return self.in_area.get(&a).map(|s| s.iter().filter(|v| *v != u).cloned().collect()).unwrap_or_default();
        }
        if self.radius == 0 {
            return HashSet::default();
        }
        let (cx, cy) = self.cell_of(p);
        let mut out = HashSet::default();
        for dx in -1..=1 {
            for dy in -1..=1 {
                let Some(users) = self.cells.get(&(cx + dx, cy + dy)) else { continue };
                for v in users {
                    if v == u {
                        continue;
                    }
                    let q = self.at[v].0;
                    if (q.x - p.x).abs() <= self.radius && (q.y - p.y).abs() <= self.radius {
                        out.insert(v.clone());
                    }
                }
            }
        }
        out
    }

    /// Puts `u` (new or moving) at `p`.
    pub fn place(&mut self, u: &UserId, p: Position) -> Update {
        self.unindex(u);
        self.index(u, p);
        let new = self.compute_near(u);
        self.relink(u, new)
    }

    /// Takes `u` out.
    pub fn remove(&mut self, u: &UserId) -> Update {
        self.unindex(u);
        let mut update = self.relink(u, HashSet::default());
        self.near.remove(u);
        update.changed.retain(|v| v != u);
        update
    }

    /// Replaces the private areas (the space's elements changed).
    pub fn set_areas(&mut self, areas: Vec<Rect>) -> Update {
        let users: Vec<(UserId, Position)> = self.at.iter().map(|(u, (p, _))| (u.clone(), *p)).collect();
        let old_near = std::mem::take(&mut self.near);
        let old_group = std::mem::take(&mut self.group);
        let old_members = std::mem::take(&mut self.members);
        self.areas = areas;
        self.at.clear();
        self.cells.clear();
        self.in_area.clear();
        for (u, p) in &users {
            self.index(u, *p);
        }
        for (u, _) in &users {
            let n = self.compute_near(u);
            self.near.insert(u.clone(), n);
        }
        let all: Vec<UserId> = users.into_iter().map(|(u, _)| u).collect();
        self.regroup(&all);
        let mut changed = BTreeSet::new();
        for u in &all {
            if old_near.get(u) != self.near.get(u) || old_group.get(u) != self.group.get(u) {
                changed.insert(u.clone());
            }
        }
        let parted = self.parted(old_members.values(), &old_group);
        Update { changed: changed.into_iter().collect(), parted }
    }

    /// Sets `u`'s nearby set to `new`, keeping the relation symmetric, and
    /// regroups what the changed edges touched.
    fn relink(&mut self, u: &UserId, new: HashSet<UserId>) -> Update {
        let old = self.near.remove(u).unwrap_or_default();
        let lost: Vec<UserId> = old.difference(&new).cloned().collect();
        let gained: Vec<UserId> = new.difference(&old).cloned().collect();
        for v in &lost {
            if let Some(s) = self.near.get_mut(v) {
                s.remove(u);
            }
        }
        for v in &gained {
            self.near.entry(v.clone()).or_default().insert(u.clone());
        }
        self.near.insert(u.clone(), new);
        if lost.is_empty() && gained.is_empty() {
            return Update::default();
        }
        let mut seeds: Vec<UserId> = vec![u.clone()];
        seeds.extend(lost.iter().cloned());
        seeds.extend(gained.iter().cloned());
        if lost.iter().all(|v| self.reachable(u, v)) {
            return self.merge(u, &gained, seeds);
        }
        // Everyone in the components the seeds were in before.
        let mut before: HashSet<UserId> = HashSet::default();
        let mut old_components = Vec::new();
        for s in &seeds {
            if let Some(g) = self.group.get(s).cloned()
                && let Some(m) = self.members.get(&g)
                && before.insert(g.clone())
            {
                old_components.push(m.clone());
            }
        }
        let old_group: HashMap<UserId, UserId> =
            old_components.iter().flatten().filter_map(|v| self.group.get(v).map(|g| (v.clone(), g.clone()))).collect();
        let mut touched: Vec<UserId> = seeds.clone();
        touched.extend(old_components.iter().flatten().cloned());
        let regrouped = self.regroup(&touched);
        let mut changed: BTreeSet<UserId> = seeds.into_iter().collect();
        for v in regrouped {
            if old_group.get(&v) != self.group.get(&v) {
                changed.insert(v);
            }
        }
        let parted = self.parted(old_components.iter(), &old_group);
        Update { changed: changed.into_iter().collect(), parted }
    }

    /// Whether `b` is reachable from `a` over "near": a breadth-first
    /// search that stops when it finds `b`, in a crowd within two hops.
    fn reachable(&self, a: &UserId, b: &UserId) -> bool {
        if !self.at.contains_key(a) || !self.at.contains_key(b) {
            return false;
        }
        let mut visited: HashSet<&UserId> = HashSet::default();
        visited.insert(a);
        let mut queue = VecDeque::from([a]);
        while let Some(v) = queue.pop_front() {
            for w in self.near.get(v).into_iter().flatten() {
                if w == b {
                    return true;
                }
                if visited.insert(w) {
                    queue.push_back(w);
                }
            }
        }
        false
    }

    /// No group was cut: `u`'s new edges merge its group with the groups
    /// of `gained`. The merged group takes the smallest id; everyone whose
    /// id changes is reported, with the seeds (their nearby sets changed).
    fn merge(&mut self, u: &UserId, gained: &[UserId], seeds: Vec<UserId>) -> Update {
        let mut changed: BTreeSet<UserId> = seeds.into_iter().collect();
        for w in gained {
            let (gu, gw) = (self.group.get(u).cloned(), self.group.get(w).cloned());
            if gu.is_some() && gu == gw {
                continue;
            }
            let side = |g: &Option<UserId>, v: &UserId, members: &HashMap<UserId, HashSet<UserId>>| match g {
                Some(g) => members.get(g).cloned().unwrap_or_default(),
                None => HashSet::from_iter([v.clone()]),
            };
            let mut all = side(&gu, u, &self.members);
            all.extend(side(&gw, w, &self.members));
            for g in [&gu, &gw].into_iter().flatten() {
                self.members.remove(g);
            }
            let id = all.iter().min().cloned().expect("a merge joins two users");
            for v in &all {
                if self.group.get(v) != Some(&id) {
                    self.group.insert(v.clone(), id.clone());
                    changed.insert(v.clone());
                }
            }
            self.members.insert(id, all);
        }
        Update { changed: changed.into_iter().collect(), parted: Vec::new() }
    }

    /// Recomputes the components reachable from `from`; returns everyone
    /// visited.
    fn regroup(&mut self, from: &[UserId]) -> Vec<UserId> {
        let mut visited: HashSet<UserId> = HashSet::default();
        let mut all = Vec::new();
        for start in from {
            if visited.contains(start) || !self.at.contains_key(start) {
                continue;
            }
            let mut component = vec![start.clone()];
            visited.insert(start.clone());
            let mut queue = VecDeque::from([start.clone()]);
            while let Some(v) = queue.pop_front() {
                for w in self.near.get(&v).into_iter().flatten() {
                    if visited.insert(w.clone()) {
                        component.push(w.clone());
                        queue.push_back(w.clone());
                    }
                }
            }
            for v in &component {
                if let Some(old) = self.group.remove(v)
                    && let Some(m) = self.members.get_mut(&old)
                {
                    m.remove(v);
                    if m.is_empty() {
                        self.members.remove(&old);
                    }
                }
            }
            if component.len() > 1 {
                let id = component.iter().min().cloned().expect("not empty");
                for v in &component {
                    self.group.insert(v.clone(), id.clone());
                }
                self.members.insert(id, component.iter().cloned().collect());
            }
            all.extend(component);
        }
        // Seeds that left (not placed) lose their group too.
        for u in from {
            if !self.at.contains_key(u)
                && let Some(old) = self.group.remove(u)
                && let Some(m) = self.members.get_mut(&old)
            {
                m.remove(u);
                if m.is_empty() {
                    self.members.remove(&old);
                }
            }
        }
        all
    }

    /// Pairs of an old component that no longer share a group.
    fn parted<'a>(
        &self,
        old_components: impl Iterator<Item = &'a HashSet<UserId>>,
        old_group: &HashMap<UserId, UserId>,
    ) -> Vec<(UserId, UserId)> {
        let mut out = Vec::new();
        for component in old_components {
            if component.len() > PARTED_PAIRS_MAX_GROUP {
                continue;
            }
            let mut members: Vec<&UserId> = component.iter().collect();
            members.sort();
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    let was = old_group.contains_key(*a) && old_group.get(*a) == old_group.get(*b);
                    let is = self.group.contains_key(*a) && self.group.get(*a) == self.group.get(*b);
                    if was && !is {
                        out.push(((*a).clone(), (*b).clone()));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "proximity_tests.rs"]
mod tests;
