//! Area of interest: who sees whom in a space larger than the view window.
//!
//! The map is cut into cells a fifth of the configured view window wide and
//! high, and a viewer sees a block of cells around its own: two each way
//! for the configured window, more or fewer for a client that asked for
//! its own size (a `Sight`). Everyone in one cell with the same reach sees
//! exactly the same cells, so a tick's events are selected and packed once
//! per (cell, reach) and the same bytes go to all of them. A viewer that
//! sees everything (a space that fits in the window, a client shown the
//! whole space while it is not crowded) has `Sight::Whole`, which all such
//! viewers share wherever they stand.

use metaverse_protocol::Position;

use super::UserId;

/// The view window, in tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewWindow {
    /// Columns a client is assumed to show; events from much farther away
    /// are not sent.
    pub width: i32,
    /// Rows a client is assumed to show; events from much farther away are
    /// not sent.
    pub height: i32,
}

impl Default for ViewWindow {
    fn default() -> Self {
        Self { width: 40, height: 30 }
    }
}

/// Cells on each side of the viewer's own cell that the configured window
/// covers: the window is five cells wide.
const REACH: i32 = 2;

/// One cell of the map, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell(u32);

/// How many cells each way a viewer sees, per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reach {
    x: i32,
    y: i32,
}

/// Where a viewer looks from; viewers with equal sights get equal events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sight {
    /// Every cell, wherever the viewer stands.
    Whole,
    /// The cells within `reach` of `cell`.
    Around {
        /// The viewer's own cell.
        cell: Cell,
        /// How far it sees.
        reach: Reach,
    },
}

#[derive(Clone, Copy, Debug)]
struct Axis {
    /// Tiles per cell.
    size: i32,
    cells: i32,
    /// The configured window on this axis, in tiles.
    window: i32,
}

impl Axis {
    fn new(tiles: i32, window: i32) -> Self {
        let tiles = tiles.max(1);
        let window = window.max(1);
        if tiles <= window {
            return Self { size: tiles, cells: 1, window };
        }
        let size = (window / (2 * REACH + 1)).max(1);
        Self { size, cells: (tiles + size - 1) / size, window }
    }

    fn of(&self, v: i32) -> i32 {
        (v / self.size).clamp(0, self.cells - 1)
    }

    /// Cells each way that cover `tiles` around a viewer: the configured
    /// window gives `REACH`; asks are capped at twice the window, so a
    /// client cannot make itself a whole-map viewer of a crowd. An axis
    /// of one cell needs no reach.
    fn reach(&self, tiles: i32) -> i32 {
        if self.cells == 1 {
            return 0;
        }
        let tiles = tiles.clamp(1, 2 * self.window);
        (((tiles + self.size - 1) / self.size) / 2).max(1)
    }
}

/// Who stands in which cell, so a tick selects and encodes its events once per
/// cell instead of once per viewer.
pub struct Aoi {
    x: Axis,
    y: Axis,
    /// The configured window's reach, asked for every member each tick in
    /// a crowded space.
    default: Reach,
    /// Who stands in each cell.
    occupants: Vec<Vec<UserId>>,
}

impl Aoi {
    /// Sized once per space: the cells depend only on the map and the
    /// configured window.
    pub fn new(width: i32, height: i32, window: ViewWindow) -> Self {
        let x = Axis::new(width, window.width);
        let y = Axis::new(height, window.height);
        let default = Reach { x: x.reach(x.window), y: y.reach(y.window) };
        Self { x, y, default, occupants: vec![Vec::new(); (x.cells * y.cells) as usize] }
    }

    /// True when everyone sees everyone (the space fits in the window).
    pub fn is_whole(&self) -> bool {
        self.occupants.len() == 1
    }

    /// The cell a tile belongs to; positions off the map clamp to the edge
    /// cell rather than panic.
    pub fn cell_of(&self, p: Position) -> Cell {
        Cell((self.y.of(p.y) * self.x.cells + self.x.of(p.x)) as u32)
    }

    /// The reach of a window of `asked` tiles, or of the configured window.
    pub fn reach(&self, asked: Option<ViewWindow>) -> Reach {
        match asked {
            Some(w) => Reach { x: self.x.reach(w.width), y: self.y.reach(w.height) },
            None => self.default,
        }
    }

    /// What a viewer at `at` with `reach` sees; `Whole` when that is every
    /// cell wherever it stands, so such viewers share one selection.
    pub fn sight(&self, at: Position, reach: Reach) -> Sight {
        if reach.x >= self.x.cells - 1 && reach.y >= self.y.cells - 1 {
            return Sight::Whole;
        }
        Sight::Around { cell: self.cell_of(at), reach }
    }

    // Hot (every viewer/cell pair per tick), and a cell index is built from
    // non-negative `i32`s (`cell_of`, `visible`), so it never wraps.
    #[allow(clippy::cast_possible_wrap)]
    fn coords(&self, c: Cell) -> (i32, i32) {
        (c.0 as i32 % self.x.cells, c.0 as i32 / self.x.cells)
    }

    /// Whether a viewer with `sight` sees someone in `other`.
    pub fn sees(&self, sight: Sight, other: Cell) -> bool {
        let Sight::Around { cell, reach } = sight else { return true };
        let (vx, vy) = self.coords(cell);
        let (ox, oy) = self.coords(other);
        (vx - ox).abs() <= reach.x && (vy - oy).abs() <= reach.y
    }

    /// The cells a viewer with `sight` sees.
    pub fn visible(&self, sight: Sight) -> impl Iterator<Item = Cell> + '_ {
        let (xs, ys) = match sight {
            Sight::Whole => (0..=self.x.cells - 1, 0..=self.y.cells - 1),
            Sight::Around { cell, reach } => {
                let (vx, vy) = self.coords(cell);
                (
                    (vx - reach.x).max(0)..=(vx + reach.x).min(self.x.cells - 1),
                    (vy - reach.y).max(0)..=(vy + reach.y).min(self.y.cells - 1),
                )
            }
        };
        ys.flat_map(move |y| xs.clone().map(move |x| Cell((y * self.x.cells + x) as u32)))
    }

    /// Everyone standing in `cell`, so the tick can hand them one shared
    /// selection.
    pub fn occupants(&self, cell: Cell) -> &[UserId] {
        &self.occupants[cell.0 as usize]
    }

    /// Adds a user who joined; the caller must pass the cell of their tile, or
    /// they would miss events.
    pub fn insert(&mut self, user: &UserId, cell: Cell) {
        self.occupants[cell.0 as usize].push(user.clone());
    }

    /// Drops a user who left from the cell they were last in; unknown users
    /// are ignored.
    pub fn remove(&mut self, user: &str, cell: Cell) {
        let list = &mut self.occupants[cell.0 as usize];
        if let Some(i) = list.iter().position(|u| &**u == user) {
            list.swap_remove(i);
        }
    }

    /// Moves `user` between cells; nothing when the cell is the same.
    pub fn relocate(&mut self, user: &UserId, from: Cell, to: Cell) {
        if from != to {
            self.remove(user, from);
            self.insert(user, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: i32, y: i32) -> Position {
        Position { x, y }
    }

    #[test]
    fn a_space_that_fits_is_one_cell() {
        let aoi = Aoi::new(40, 30, ViewWindow::default());
        assert!(aoi.is_whole());
        assert_eq!(aoi.sight(p(0, 0), aoi.reach(None)), Sight::Whole);
        assert_eq!(aoi.sight(p(0, 0), aoi.reach(Some(ViewWindow { width: 1, height: 1 }))), Sight::Whole);
        assert!(aoi.sees(Sight::Whole, aoi.cell_of(p(39, 29))));
    }

    #[test]
    fn a_big_space_sees_two_cells_each_way() {
        let aoi = Aoi::new(200, 200, ViewWindow::default());
        assert!(!aoi.is_whole());
        // Cells are 8×6 tiles.
        let me = aoi.sight(p(100, 100), aoi.reach(None));
        assert!(aoi.sees(me, aoi.cell_of(p(80, 84))));
        assert!(!aoi.sees(me, aoi.cell_of(p(79, 100))));
        assert!(!aoi.sees(me, aoi.cell_of(p(100, 83))));
        assert_eq!(aoi.visible(me).count(), 25);
        assert!(aoi.visible(me).all(|c| aoi.sees(me, c)));
        // At a corner the block is clipped.
        assert_eq!(aoi.visible(aoi.sight(p(0, 0), aoi.reach(None))).count(), 9);
        assert_eq!(aoi.visible(Sight::Whole).count(), 25 * 34);
    }

    #[test]
    fn a_long_narrow_space_is_cut_along_one_axis_only() {
        let aoi = Aoi::new(400, 20, ViewWindow::default());
        let me = aoi.sight(p(0, 0), aoi.reach(None));
        assert!(aoi.sees(me, aoi.cell_of(p(23, 19))));
        assert!(!aoi.sees(me, aoi.cell_of(p(24, 0))));
    }

    #[test]
    fn an_asked_window_is_rounded_to_cells_and_capped() {
        let aoi = Aoi::new(200, 200, ViewWindow::default());
        let at = p(100, 100);
        // The configured window asked for explicitly is the default.
        assert_eq!(aoi.reach(Some(ViewWindow::default())), aoi.reach(None));
        // A small window still sees the neighbouring cells.
        let small = aoi.sight(at, aoi.reach(Some(ViewWindow { width: 1, height: 1 })));
        assert_eq!(aoi.visible(small).count(), 9);
        // A wide one sees farther, up to twice the configured window.
        let wide = aoi.sight(at, aoi.reach(Some(ViewWindow { width: 80, height: 60 })));
        assert!(aoi.sees(wide, aoi.cell_of(p(60, 100))));
        let huge = aoi.sight(at, aoi.reach(Some(ViewWindow { width: 10_000, height: 10_000 })));
        assert_eq!(huge, wide, "capped at twice the window");
        assert!(!aoi.sees(huge, aoi.cell_of(p(0, 0))));
        // A window that covers the map from anywhere is the whole map.
        let small_map = Aoi::new(48, 36, ViewWindow::default());
        assert!(!small_map.is_whole());
        let all = small_map.reach(Some(ViewWindow { width: 96, height: 72 }));
        assert_eq!(small_map.sight(p(0, 0), all), Sight::Whole);
    }

    #[test]
    fn occupants_follow_moves() {
        let mut aoi = Aoi::new(200, 200, ViewWindow::default());
        let ada: UserId = "ada".into();
        let (a, b) = (aoi.cell_of(p(0, 0)), aoi.cell_of(p(150, 150)));
        aoi.insert(&ada, a);
        aoi.relocate(&ada, a, b);
        assert!(aoi.occupants(a).is_empty());
        assert_eq!(aoi.occupants(b), std::slice::from_ref(&ada));
        aoi.remove("ada", b);
        assert!(aoi.occupants(b).is_empty());
    }
}
