//! Area of interest: who sees whom in a space larger than the view window.
//!
//! The map is cut into cells a fifth of the view window wide and high, and
//! a user sees the 5×5 block of cells around their own. Everyone in one
//! cell therefore sees exactly the same cells, so a tick's events are
//! selected and packed once per occupied cell and the same bytes go to all
//! of its occupants. An axis no longer than the window is a single cell, so
//! a space that fits in the window is one cell where everyone sees everyone.

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

/// Cells on each side of the viewer's own cell that it sees.
const REACH: i32 = 2;

/// One cell of the map, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell(u32);

#[derive(Clone, Copy, Debug)]
struct Axis {
    /// Tiles per cell.
    size: i32,
    cells: i32,
    /// Cells seen on each side: 0 when the axis is one cell.
    reach: i32,
}

impl Axis {
    fn new(tiles: i32, window: i32) -> Self {
        let tiles = tiles.max(1);
        if tiles <= window {
            return Self { size: tiles, cells: 1, reach: 0 };
        }
        let size = (window / (2 * REACH + 1)).max(1);
        Self { size, cells: (tiles + size - 1) / size, reach: REACH }
    }

    fn of(&self, v: i32) -> i32 {
        (v / self.size).clamp(0, self.cells - 1)
    }
}

/// Who stands in which cell, so a tick selects and encodes its events once per
/// cell instead of once per viewer.
pub struct Aoi {
    x: Axis,
    y: Axis,
    /// Who stands in each cell.
    occupants: Vec<Vec<UserId>>,
}

impl Aoi {
    /// Sized once per space: the cells depend only on the map and the
    /// configured window.
    pub fn new(width: i32, height: i32, window: ViewWindow) -> Self {
        let x = Axis::new(width, window.width);
        let y = Axis::new(height, window.height);
        Self { x, y, occupants: vec![Vec::new(); (x.cells * y.cells) as usize] }
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

    // Hot (every viewer/cell pair per tick), and a cell index is built from
    // non-negative `i32`s (`cell_of`, `visible`), so it never wraps.
    #[allow(clippy::cast_possible_wrap)]
    fn coords(&self, c: Cell) -> (i32, i32) {
        (c.0 as i32 % self.x.cells, c.0 as i32 / self.x.cells)
    }

    /// Whether someone in `viewer` sees someone in `other`.
    pub fn sees(&self, viewer: Cell, other: Cell) -> bool {
        let (vx, vy) = self.coords(viewer);
        let (ox, oy) = self.coords(other);
        (vx - ox).abs() <= self.x.reach && (vy - oy).abs() <= self.y.reach
    }

    /// The cells someone in `viewer` sees.
    pub fn visible(&self, viewer: Cell) -> impl Iterator<Item = Cell> + '_ {
        let (vx, vy) = self.coords(viewer);
        let xs = (vx - self.x.reach).max(0)..=(vx + self.x.reach).min(self.x.cells - 1);
        let ys = (vy - self.y.reach).max(0)..=(vy + self.y.reach).min(self.y.cells - 1);
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
        assert!(aoi.sees(aoi.cell_of(p(0, 0)), aoi.cell_of(p(39, 29))));
    }

    #[test]
    fn a_big_space_sees_two_cells_each_way() {
        let aoi = Aoi::new(200, 200, ViewWindow::default());
        assert!(!aoi.is_whole());
        // Cells are 8×6 tiles.
        let me = aoi.cell_of(p(100, 100));
        assert!(aoi.sees(me, aoi.cell_of(p(80, 84))));
        assert!(!aoi.sees(me, aoi.cell_of(p(79, 100))));
        assert!(!aoi.sees(me, aoi.cell_of(p(100, 83))));
        assert_eq!(aoi.visible(me).count(), 25);
        assert!(aoi.visible(me).all(|c| aoi.sees(me, c)));
        // At a corner the block is clipped.
        assert_eq!(aoi.visible(aoi.cell_of(p(0, 0))).count(), 9);
    }

    #[test]
    fn a_long_narrow_space_is_cut_along_one_axis_only() {
        let aoi = Aoi::new(400, 20, ViewWindow::default());
        let me = aoi.cell_of(p(0, 0));
        assert!(aoi.sees(me, aoi.cell_of(p(23, 19))));
        assert!(!aoi.sees(me, aoi.cell_of(p(24, 0))));
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
