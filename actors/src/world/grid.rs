//! The tile grid of a space: its bounds and the tiles static elements block.

/// An axis-aligned block of tiles: top-left corner plus size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left column; may lie outside the grid, which clips when blocking.
    pub x: i32,
    /// Top row; may lie outside the grid, which clips when blocking.
    pub y: i32,
    /// Columns covered: an element blocks, and a private area groups, every
    /// tile under it.
    pub width: i32,
    /// Rows covered: an element blocks, and a private area groups, every
    /// tile under it.
    pub height: i32,
}

/// Bounds plus a collision map. Blocked tiles are a flat bit per tile,
/// so a 1024×1024 space costs 128 KiB and a lookup is one index.
#[derive(Clone, Debug)]
pub struct Grid {
    width: i32,
    height: i32,
    blocked: Vec<u64>,
}

impl Grid {
    /// An empty grid. Sizes below 1 are clamped to 1, so a grid always has
    /// a tile (callers validate dimensions before they get here).
    pub fn new(width: i32, height: i32) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        let tiles = width as usize * height as usize;
        Self { width, height, blocked: vec![0; tiles.div_ceil(64)] }
    }

    /// Read-only, so a grid cannot be resized under its collision map.
    pub fn width(&self) -> i32 {
        self.width
    }

    /// Read-only, so a grid cannot be resized under its collision map.
    pub fn height(&self) -> i32 {
        self.height
    }

    /// Bounds only, ignoring elements, so a move off the map is told apart
    /// from one into a wall.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        (0..self.width).contains(&x) && (0..self.height).contains(&y)
    }

    /// Whether the whole rectangle lies inside the grid (an element placed
    /// here would not stick out).
    pub fn contains_rect(&self, r: Rect) -> bool {
        r.width >= 1
            && r.height >= 1
            && self.contains(r.x, r.y)
            && (r.x as i64 + r.width as i64) <= self.width as i64
            && (r.y as i64 + r.height as i64) <= self.height as i64
    }

    fn index(&self, x: i32, y: i32) -> usize {
        y as usize * self.width as usize + x as usize
    }

    /// Marks every tile of `r` that lies inside the grid as blocked.
    pub fn block(&mut self, r: Rect) {
        self.set_rect(r, true);
    }

    /// Clears the tiles of `r`. Overlapping static elements are the
    /// caller's to re-block (rebuild from the element list on removal).
    pub fn unblock(&mut self, r: Rect) {
        self.set_rect(r, false);
    }

    fn set_rect(&mut self, r: Rect, value: bool) {
        let x0 = r.x.max(0);
        let y0 = r.y.max(0);
        let x1 = r.x.saturating_add(r.width).min(self.width);
        let y1 = r.y.saturating_add(r.height).min(self.height);
        for y in y0..y1 {
            for x in x0..x1 {
                let i = self.index(x, y);
                if value {
                    self.blocked[i / 64] |= 1 << (i % 64);
                } else {
                    self.blocked[i / 64] &= !(1 << (i % 64));
                }
            }
        }
    }

    /// Inside the grid and not covered by a static element.
    pub fn is_walkable(&self, x: i32, y: i32) -> bool {
        if !self.contains(x, y) {
            return false;
        }
        let i = self.index(x, y);
        self.blocked[i / 64] & (1 << (i % 64)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_blocks_every_tile_it_covers() {
        let mut g = Grid::new(10, 8);
        g.block(Rect { x: 2, y: 3, width: 3, height: 2 });
        for y in 3..5 {
            for x in 2..5 {
                assert!(!g.is_walkable(x, y), "({x},{y}) should be blocked");
            }
        }
        assert!(g.is_walkable(1, 3));
        assert!(g.is_walkable(5, 3));
        assert!(g.is_walkable(2, 5));
        g.unblock(Rect { x: 2, y: 3, width: 3, height: 2 });
        assert!(g.is_walkable(3, 4));
    }

    #[test]
    fn outside_is_never_walkable() {
        let g = Grid::new(4, 4);
        for (x, y) in [(-1, 0), (0, -1), (4, 0), (0, 4), (i32::MAX, 0)] {
            assert!(!g.is_walkable(x, y));
        }
    }

    #[test]
    fn rect_must_fit_wholly() {
        let g = Grid::new(10, 10);
        assert!(g.contains_rect(Rect { x: 8, y: 8, width: 2, height: 2 }));
        assert!(!g.contains_rect(Rect { x: 9, y: 8, width: 2, height: 1 }));
        assert!(!g.contains_rect(Rect { x: -1, y: 0, width: 1, height: 1 }));
        assert!(!g.contains_rect(Rect { x: 0, y: 0, width: 0, height: 1 }));
        assert!(!g.contains_rect(Rect { x: i32::MAX, y: 0, width: i32::MAX, height: 1 }));
    }

    #[test]
    fn blocking_clips_to_the_grid() {
        let mut g = Grid::new(3, 3);
        g.block(Rect { x: -5, y: -5, width: 100, height: 100 });
        assert!(!g.is_walkable(0, 0) && !g.is_walkable(2, 2));
    }
}
