//! A packed, cache-blocked serial GEMM `C = A B` with an AVX2 + FMA
//! `6 × 8` microkernel (the register tile of BLIS's Haswell/Zen `dgemm`).
//!
//! Loops (Goto/BLIS order): `A` is packed once for the whole product into
//! `MR`-row micro-panels, depth block by depth block (`PackedA`, shared by
//! the parallel column blocks of `kernels::gemm`); then for each depth block
//! `p₀ … p₀ + KC` the block's `B[p₀.., :]` is packed into `NR`-column
//! micro-panels, and for each row block of `MC` rows every `MR × NR` tile of
//! `C` is `Σ_{p in the block} a_p b_pᵀ`, accumulated in twelve `ymm`
//! registers (6 rows × 2 × 4 lanes) by one FMA chain per element, and written
//! back as `C = acc` (first block) or `C = C + acc`.
//!
//! Determinism: every element `C_ij` is the same sequence of operations —
//! one FMA chain from zero over each depth block, blocks added in order — no
//! matter which tile, row block or parallel task computes it, because the
//! depth blocking [`KC`] is a constant. Any split of `C` into sub-blocks
//! therefore gives bit-identical results (tested in `gemm.rs`).
//!
//! Why: `matrixmultiply`'s `8 × 4` f64 kernel keeps eight accumulators,
//! which just covers the FMA latency × throughput product (4 cycles × 2
//! pipes on Zen 3) and stalls on every load; twelve leave slack. Measured in
//! `paper-notes/performance.md`.

use rayon::prelude::*;

/// Rows of the register tile.
pub const MR: usize = 6;
/// Columns of the register tile (two `ymm` vectors of four f64).
pub const NR: usize = 8;
/// Depth block: one `KC × NR` micro-panel of `B` (16 KiB) stays in L1.
pub const KC: usize = 256;
/// Row block: the `MC × KC` packed rows of `A` (144 KiB) that meet one
/// micro-panel of `B` stay in L2. A multiple of [`MR`].
pub const MC: usize = 72;
/// Column block: one `KC × NC` packed block of `B` (1 MiB) is streamed from L3.
pub const NC: usize = 512;

std::thread_local! {
    /// Per-thread packing buffer for `B`, reused across calls.
    static B_PACK: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Per-thread buffer of [`gemm_unpacked`]'s zero-padded edge tiles.
    static EDGES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A strided read-only matrix: element `(i, j)` at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef {
    pub ptr: *const f64,
    pub rows: usize,
    pub cols: usize,
    pub rs: isize,
    pub cs: isize,
}

/// A raw pointer shared by parallel packing jobs that write disjoint panels.
#[derive(Clone, Copy)]
struct Shared<T>(T);
// SAFETY: only used for reads of the source and writes of disjoint panels.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T: Copy> Shared<T> {
    /// The pointer (a method, so closures capture the whole `Shared`).
    fn get(self) -> T {
        self.0
    }
}

/// Matrices of `A` with fewer values than this are packed on one thread.
const PAR_PACK: usize = 1 << 16;

/// A strided writable matrix, same layout as [`MatRef`]; its shape is
/// `a.rows × b.cols` of the product it receives.
pub(crate) struct MatMut {
    pub ptr: *mut f64,
    pub rs: isize,
    pub cs: isize,
}

/// Whether this CPU runs the packed kernel (AVX2 and FMA, detected once).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Pack the `rows × kc` block at `src` (strides `rs`, `cs`) as `width`-row
/// micro-panels, `p`-major inside a panel (`dst[panel][p][i]`), rows past the
/// end padded with zeros. The loop order follows the unit stride of the source.
///
/// # Safety
/// The block must lie inside the source matrix.
unsafe fn pack_panels<const WIDTH: usize>(
    src: *const f64,
    rows: usize,
    kc: usize,
    rs: isize,
    cs: isize,
    dst: *mut f64,
) {
    let width = WIDTH;
    let panels = rows.div_ceil(width);
    let stride = panel_stride(kc, width);
    let full = if rs == 1 { rows / width } else { 0 };
    // Panels whose rows are adjacent in memory: copy `width` values per depth
    // step, one source row at a time (sequential reads).
    for p in 0..kc {
        let src_p = src.offset(p as isize * cs);
        for panel in 0..full {
            // A constant-length copy: two or three vector moves, inlined.
            std::ptr::copy_nonoverlapping(
                src_p.add(panel * width) as *const [f64; WIDTH],
                dst.add(panel * stride + p * width) as *mut [f64; WIDTH],
                1,
            );
        }
    }
    for panel in full..panels {
        let n = width.min(rows - panel * width);
        let base = src.offset((panel * width) as isize * rs);
        let d = dst.add(panel * stride);
        for p in 0..kc {
            for i in 0..n {
                *d.add(p * width + i) = *base.offset(i as isize * rs + p as isize * cs);
            }
            for i in n..width {
                *d.add(p * width + i) = 0.0;
            }
        }
    }
}

/// Distance between packed micro-panels: one cache line more than their
/// `kc · width` values, so the panels' streams do not alias in the caches
/// (with `kc · width` a power of two they would all map to one set).
fn panel_stride(kc: usize, width: usize) -> usize {
    width * (kc + 1)
}

/// Pack `B[p₀ .. p₀+kc, j₀ .. j₀+nc]` as `NR`-column micro-panels (the
/// panels of `Bᵀ`).
///
/// # Safety
/// The block must lie inside `b`.
unsafe fn pack_b(b: &MatRef, p0: usize, kc: usize, j0: usize, nc: usize, out: *mut f64) {
    let src = b.ptr.offset(p0 as isize * b.rs + j0 as isize * b.cs);
    pack_panels::<NR>(src, nc, kc, b.cs, b.rs, out);
}

/// A 64-byte-aligned pointer to `len` values inside `buf` (grown as needed),
/// so that no packed `ymm` load straddles a cache line.
fn aligned(buf: &mut Vec<f64>, len: usize) -> *mut f64 {
    if buf.len() < len + 8 {
        buf.resize(len + 8, 0.0);
    }
    let offset = buf.as_ptr().align_offset(64);
    // SAFETY: `offset < 8` and `buf` holds `len + 8` values.
    unsafe { buf.as_mut_ptr().add(offset) }
}

/// All of `A` packed once as `MR`-row micro-panels, depth block by depth
/// block, so the parallel column blocks of one product share it instead of
/// each re-packing it (for `H Wᵀ` at batch 256 that is `256·w` values copied
/// once instead of `w²`).
pub(crate) struct PackedA {
    buf: Vec<f64>,
    start: usize,
    rows: usize,
    depth: usize,
}

impl PackedA {
    /// Pack `a`.
    ///
    /// # Safety
    /// `a` must describe valid memory.
    pub(crate) unsafe fn new(a: &MatRef) -> Self {
        let panels = a.rows.div_ceil(MR);
        // Full depth blocks, then the last one at its own depth.
        let full = a.cols / KC;
        let last = a.cols % KC;
        let len = panels * (full * panel_stride(KC, MR) + panel_stride(last, MR));
        let mut buf = spare_buffer(len + 8);
        let dst = aligned(&mut buf, len);
        let start = dst.offset_from(buf.as_ptr()) as usize;
        let dst = Shared(dst);
        let src = Shared(a.ptr);
        let (rs, cs, rows, depth) = (a.rs, a.cs, a.rows, a.cols);
        // Jobs of `MC` rows of one depth block; each writes its own panels.
        let chunks = a.rows.div_ceil(MC);
        let job = move |job: usize| {
            let (block, chunk) = (job / chunks, job % chunks);
            let (p0, i0) = (block * KC, chunk * MC);
            let kc = KC.min(depth - p0);
            let from = src.get().offset(p0 as isize * cs + i0 as isize * rs);
            let to = dst
                .get()
                .add(block * panels * panel_stride(KC, MR) + (i0 / MR) * panel_stride(kc, MR));
            pack_panels::<MR>(from, MC.min(rows - i0), kc, rs, cs, to);
        };
        let jobs = a.cols.div_ceil(KC) * chunks;
        if a.rows * a.cols < PAR_PACK {
            (0..jobs).for_each(job);
        } else {
            (0..jobs).into_par_iter().for_each(job);
        }
        Self {
            buf,
            start,
            rows: a.rows,
            depth: a.cols,
        }
    }

    /// The first micro-panel of depth block `p₀` (a multiple of [`KC`]).
    fn block(&self, p0: usize) -> *const f64 {
        let panels = self.rows.div_ceil(MR);
        self.buf[self.start + (p0 / KC) * panels * panel_stride(KC, MR)..].as_ptr()
    }
}

impl Drop for PackedA {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() <= SPARE_MAX_LEN {
            let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
            if spare.len() < SPARE_MAX_BUFFERS {
                spare.push(buf);
            }
        }
    }
}

/// Packed-`A` buffers kept for the next product: a fresh multi-megabyte
/// buffer per product costs its page faults every call (≈ 10–20 % of a
/// `256 × 1024 · 1024 × 1024` product on this machine).
static SPARE: std::sync::Mutex<Vec<Vec<f64>>> = std::sync::Mutex::new(Vec::new());
/// At most this many spare buffers are kept…
const SPARE_MAX_BUFFERS: usize = 4;
/// …of at most this many values (64 MiB) each.
const SPARE_MAX_LEN: usize = 1 << 23;

/// A buffer of at least `len` initialised values: a spare one if one is large
/// enough (its old values are overwritten before they are read), else a new
/// zeroed one.
fn spare_buffer(len: usize) -> Vec<f64> {
    let reused = {
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        spare
            .iter()
            .position(|b| b.len() >= len)
            .map(|i| spare.swap_remove(i))
    };
    reused.unwrap_or_else(|| vec![0.0; len])
}

/// Handle an empty product: nothing to do when `C` is empty, `C = 0` when
/// the depth is 0. Returns whether the product was trivial.
///
/// # Safety
/// `c` must describe `n × m` valid values.
#[cfg(target_arch = "x86_64")]
unsafe fn trivial(n: usize, k: usize, m: usize, c: &MatMut) -> bool {
    if n == 0 || m == 0 {
        return true;
    }
    if k == 0 {
        for i in 0..n {
            for j in 0..m {
                *c.ptr.offset(i as isize * c.rs + j as isize * c.cs) = 0.0;
            }
        }
        return true;
    }
    false
}

/// `C = A B` (serial) with `A` packed beforehand. Requires [`available`].
///
/// # Safety
/// `b` and `c` must describe valid, non-overlapping memory with
/// `b.rows` equal to `A`'s columns and `C` of shape `A.rows × b.cols`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn gemm(a: &PackedA, b: MatRef, c: MatMut) {
    let (n, k, m) = (a.rows, a.depth, b.cols);
    if trivial(n, k, m, &c) {
        return;
    }
    B_PACK.with_borrow_mut(|b_buf| {
        let b_pack = aligned(b_buf, NC.div_ceil(NR) * panel_stride(KC, NR));
        for j0 in (0..m).step_by(NC) {
            let nc = NC.min(m - j0);
            for p0 in (0..k).step_by(KC) {
                let kc = KC.min(k - p0);
                let overwrite = p0 == 0;
                let a_block = a.block(p0);
                pack_b(&b, p0, kc, j0, nc, b_pack);
                for i0 in (0..n).step_by(MC) {
                    let mc = MC.min(n - i0);
                    for jp in 0..nc.div_ceil(NR) {
                        let cols = NR.min(nc - jp * NR);
                        let b_panel = b_pack.add(jp * panel_stride(kc, NR));
                        for ip in 0..mc.div_ceil(MR) {
                            let rows = MR.min(mc - ip * MR);
                            let a_panel = a_block.add((i0 / MR + ip) * panel_stride(kc, MR));
                            let tile = c.ptr.offset(
                                (i0 + ip * MR) as isize * c.rs + (j0 + jp * NR) as isize * c.cs,
                            );
                            kernel_6x8::<false>(
                                kc,
                                (a_panel, 0, 0),
                                (b_panel, 0),
                                tile,
                                c.rs,
                                c.cs,
                                rows,
                                cols,
                                overwrite,
                            );
                        }
                    }
                }
            }
        }
    });
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn gemm(_: &PackedA, _: MatRef, _: MatMut) {
    unreachable!("packed::gemm runs only where packed::available()")
}

/// Products this small skip packing ([`gemm_unpacked`]): `A` within one depth
/// block and at most this many values (it is read in place, from L1/L2).
pub(crate) fn unpacked_fits(a: &MatRef) -> bool {
    a.cols <= KC && a.rows * a.cols <= UNPACKED_MAX_A
}

/// `A` values up to which [`gemm_unpacked`] reads `A` in place (128 KiB).
const UNPACKED_MAX_A: usize = 1 << 14;

/// `C = A B` (serial) for a small `A` ([`unpacked_fits`]) without packing:
/// the microkernel reads `A` in place and `B` in place where its rows are
/// contiguous (`cs = 1`), else from one packed copy; only a last partial tile
/// is copied into a zero-padded buffer. Every element is the same FMA chain
/// as in [`gemm`] (one depth block), so the two are bit-identical. At the
/// meta-learning loop's sizes (32-row batches, 32–64-wide layers) packing cost
/// 40 % as much as the kernel it fed. Requires [`available`].
///
/// # Safety
/// As [`gemm`], with `a` valid memory and [`unpacked_fits`]`(a)`.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn gemm_unpacked(a: &MatRef, b: MatRef, c: MatMut) {
    let (n, k, m) = (a.rows, a.cols, b.cols);
    debug_assert!(unpacked_fits(a));
    if trivial(n, k, m, &c) {
        return;
    }
    // Zero-padded copies of a last partial tile of `A` (`MR` rows, depth-major
    // like a packed panel) and of a last partial panel of `B`, written in full
    // (a fresh zeroed buffer per call would cost a memset of its size).
    let full_rows = n / MR * MR;
    let mut edges = EDGES.with_borrow_mut(std::mem::take);
    edges.resize((MR + NR) * k, 0.0);
    let (a_edge, b_edge) = edges.split_at_mut(MR * k);
    if full_rows < n {
        for p in 0..k {
            for i in 0..MR {
                a_edge[p * MR + i] = if full_rows + i < n {
                    *a.ptr
                        .offset((full_rows + i) as isize * a.rs + p as isize * a.cs)
                } else {
                    0.0
                };
            }
        }
    }
    B_PACK.with_borrow_mut(|b_buf| {
        // `B`'s rows as the kernel reads them: in place, or packed once.
        let packed_b = if b.cs == 1 {
            None
        } else {
            let buf = aligned(b_buf, m.div_ceil(NR) * panel_stride(k, NR));
            pack_b(&b, 0, k, 0, m, buf);
            Some(buf as *const f64)
        };
        for jp in 0..m.div_ceil(NR) {
            let cols = NR.min(m - jp * NR);
            let panel = match packed_b {
                Some(buf) => (buf.add(jp * panel_stride(k, NR)), NR as isize),
                None if cols == NR => (b.ptr.add(jp * NR), b.rs),
                None => {
                    for p in 0..k {
                        for j in 0..NR {
                            b_edge[p * NR + j] = if j < cols {
                                *b.ptr.offset(p as isize * b.rs + (jp * NR + j) as isize)
                            } else {
                                0.0
                            };
                        }
                    }
                    (b_edge.as_ptr(), NR as isize)
                }
            };
            for i0 in (0..n).step_by(MR) {
                let rows = MR.min(n - i0);
                let a_tile = if rows == MR {
                    (a.ptr.offset(i0 as isize * a.rs), a.rs, a.cs)
                } else {
                    (a_edge.as_ptr(), 1, MR as isize)
                };
                let tile = c.ptr.offset(i0 as isize * c.rs + (jp * NR) as isize * c.cs);
                kernel_6x8::<true>(k, a_tile, panel, tile, c.rs, c.cs, rows, cols, true);
            }
        }
    });
    EDGES.with_borrow_mut(|e| *e = edges);
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn gemm_unpacked(_: &MatRef, _: MatRef, _: MatMut) {
    unreachable!("packed::gemm_unpacked runs only where packed::available()")
}

/// One `MR × NR` tile: `acc = Σ_p a_p ⊗ b_p`, then `C = acc` (`overwrite`) or
/// `C = C + acc` on the `rows × cols` valid part. `A`'s value of tile row `i`
/// at depth `p` is at `a + i·a_is + p·a_ps` and `B`'s row `p` at `b + p·b_ps`
/// (eight values); with `DIRECT = false` these are the packed panels' fixed
/// strides `(1, MR, NR)` and the arguments are ignored. Either way each
/// element is the same FMA chain from zero over `p = 0 … kc − 1`.
///
/// # Safety
/// AVX2 and FMA present; the addressed values exist for every `i < MR`,
/// `p < kc` and eight columns; the valid part of the tile lies inside `C`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_6x8<const DIRECT: bool>(
    kc: usize,
    (a, a_is, a_ps): (*const f64, isize, isize),
    (b, b_ps): (*const f64, isize),
    c: *mut f64,
    rs: isize,
    cs: isize,
    rows: usize,
    cols: usize,
    overwrite: bool,
) {
    use std::arch::x86_64::*;
    let (a_is, a_ps, b_ps) = if DIRECT {
        (a_is, a_ps, b_ps)
    } else {
        (1, MR as isize, NR as isize)
    };
    let mut acc = [[_mm256_setzero_pd(); 2]; MR];
    for p in 0..kc as isize {
        let b0 = _mm256_loadu_pd(b.offset(p * b_ps));
        let b1 = _mm256_loadu_pd(b.offset(p * b_ps + 4));
        let ap = a.offset(p * a_ps);
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm256_broadcast_sd(&*ap.offset(i as isize * a_is));
            row[0] = _mm256_fmadd_pd(ai, b0, row[0]);
            row[1] = _mm256_fmadd_pd(ai, b1, row[1]);
        }
    }
    if rows == MR && cols == NR && cs == 1 {
        for (i, row) in acc.iter().enumerate() {
            let dst = c.offset(i as isize * rs);
            if overwrite {
                _mm256_storeu_pd(dst, row[0]);
                _mm256_storeu_pd(dst.add(4), row[1]);
            } else {
                _mm256_storeu_pd(dst, _mm256_add_pd(_mm256_loadu_pd(dst), row[0]));
                _mm256_storeu_pd(
                    dst.add(4),
                    _mm256_add_pd(_mm256_loadu_pd(dst.add(4)), row[1]),
                );
            }
        }
    } else {
        let mut tile = [0.0f64; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            _mm256_storeu_pd(tile.as_mut_ptr().add(i * NR), row[0]);
            _mm256_storeu_pd(tile.as_mut_ptr().add(i * NR + 4), row[1]);
        }
        for i in 0..rows {
            for j in 0..cols {
                let dst = c.offset(i as isize * rs + j as isize * cs);
                let t = tile[i * NR + j];
                *dst = if overwrite { t } else { *dst + t };
            }
        }
    }
}
const _: () = assert!(MC % MR == 0);
