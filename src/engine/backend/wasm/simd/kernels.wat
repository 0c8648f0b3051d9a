;; The project's own WebAssembly SIMD kernels for the tfjs wasm backend.
;;
;; This module imports the wasm backend's memory, so the kernels read and write tensors where they
;; already are (pointers are byte offsets of the backend's buffers). Compiled to
;; kernels.generated.ts by scripts/build-wasm.mjs (wabt); a unit test checks the two agree.
;;
;;   adam       one fused pass of tf.train.adam's update over a variable (moments and value
;;              written to fresh buffers, the same float32 operations in the same order as tfjs;
;;              subnormal gradients and moments are flushed to zero: WebAssembly cannot set the
;;              CPU's flush-to-zero mode, and a moment decaying into the subnormal range makes
;;              every later step several times slower)
;;   transpose  a batch of row-major [rows, cols] matrices → [cols, rows] (4×4 SIMD blocks)
;;   convFilterGrad  a 2-D convolution's filter gradient (NHWC) by direct outer-product sums,
;;              4 output channels at a time
;;   maxPoolGrad  the gradient of a 2-D max pool (NHWC): each output's gradient goes to the first
;;              maximum of its window, as tfjs's cpu backend does
;;   addRows    a [rows, cols] matrix plus a [cols] vector broadcast over its rows (a bias add)
;;   sumRows    the column sums of a [rows, cols] matrix (a bias gradient: Sum over leading axes),
;;              added up in blocks of 256 rows so the error grows with the block count, not the rows
;;   reluGrad   dy where x > 0, else 0 (ReLU's gradient in one pass instead of step, cast and multiply)
(module
  (import "env" "memory" (memory 1))

  ;; m' = m·b1 + g·(1−b1); v' = v·b2 + g²·(1−b2); w' = ((m'/c1) / (sqrt(v'/c2) + eps))·(−lr) + w
  ;; c1 = 1 − b1^t, c2 = 1 − b2^t. All pointers 4-byte aligned; n elements.
  (func (export "adam")
    (param $g i32) (param $m i32) (param $v i32) (param $w i32)
    (param $om i32) (param $ov i32) (param $ow i32) (param $n i32)
    (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32)
    (param $c1 f32) (param $c2 f32) (param $eps f32) (param $neglr f32)
    (local $i i32) (local $n4 i32) (local $o i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $B1 v128) (local $OMB1 v128) (local $B2 v128) (local $OMB2 v128)
    (local $C1 v128) (local $C2 v128) (local $EPS v128) (local $NLR v128)
    (local $gs f32) (local $ms f32) (local $vs f32) (local $TINY v128)
    (local.set $TINY (f32x4.splat (f32.const 0x1p-126)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $OMB1 (f32x4.splat (local.get $omb1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $OMB2 (f32x4.splat (local.get $omb2)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    (local.set $NLR (f32x4.splat (local.get $neglr)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
        (local.set $gv (v128.andnot (local.get $gv) (f32x4.lt (f32x4.abs (local.get $gv)) (local.get $TINY))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $B1))
            (f32x4.mul (local.get $gv) (local.get $OMB1))))
        (local.set $mv (v128.andnot (local.get $mv) (f32x4.lt (f32x4.abs (local.get $mv)) (local.get $TINY))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (local.get $B2))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $OMB2))))
        (local.set $vv (v128.andnot (local.get $vv) (f32x4.lt (f32x4.abs (local.get $vv)) (local.get $TINY))))
        (v128.store (i32.add (local.get $om) (local.get $o)) (local.get $mv))
        (v128.store (i32.add (local.get $ov) (local.get $o)) (local.get $vv))
        (v128.store (i32.add (local.get $ow) (local.get $o))
          (f32x4.add
            (f32x4.mul
              (f32x4.div
                (f32x4.div (local.get $mv) (local.get $C1))
                (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (local.get $C2))) (local.get $EPS)))
              (local.get $NLR))
            (v128.load (i32.add (local.get $w) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l4)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (local.set $gs (select (f32.const 0) (local.get $gs) (f32.lt (f32.abs (local.get $gs)) (f32.const 0x1p-126))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
            (f32.mul (local.get $gs) (local.get $omb1))))
        (local.set $ms (select (f32.const 0) (local.get $ms) (f32.lt (f32.abs (local.get $ms)) (f32.const 0x1p-126))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $omb2))))
        (local.set $vs (select (f32.const 0) (local.get $vs) (f32.lt (f32.abs (local.get $vs)) (f32.const 0x1p-126))))
        (f32.store (i32.add (local.get $om) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $ov) (local.get $o)) (local.get $vs))
        (f32.store (i32.add (local.get $ow) (local.get $o))
          (f32.add
            (f32.mul
              (f32.div
                (f32.div (local.get $ms) (local.get $c1))
                (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $c2))) (local.get $eps)))
              (local.get $neglr))
            (f32.load (i32.add (local.get $w) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  ;; dst[b][c][r] = src[b][r][c] for b < batch, r < rows, c < cols (4-byte elements).
  (func (export "transpose") (param $src i32) (param $dst i32) (param $batch i32) (param $rows i32) (param $cols i32)
    (local $b i32) (local $r i32) (local $c i32) (local $r4 i32) (local $c4 i32)
    (local $rs i32) (local $cs i32) (local $s i32) (local $d i32) (local $rb i32) (local $rend i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rs (i32.shl (local.get $cols) (i32.const 2)))   ;; bytes per source row
    (local.set $cs (i32.shl (local.get $rows) (i32.const 2)))   ;; bytes per destination row
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (block $bdone
      (loop $bl
        (br_if $bdone (i32.ge_u (local.get $b) (local.get $batch)))
        ;; 4×4 blocks, 16 source rows at a time: each 64-byte destination line is filled while cached
        (local.set $rb (i32.const 0))
        (block $rbdone
          (loop $rbl
            (br_if $rbdone (i32.ge_u (local.get $rb) (local.get $r4)))
            (local.set $rend (i32.add (local.get $rb) (i32.const 16)))
            (if (i32.gt_u (local.get $rend) (local.get $r4)) (then (local.set $rend (local.get $r4))))
            (local.set $c (i32.const 0))
            (block $cdone
              (loop $cl
                (br_if $cdone (i32.ge_u (local.get $c) (local.get $c4)))
                (local.set $r (local.get $rb))
                (block $rdone
                  (loop $rl
                    (br_if $rdone (i32.ge_u (local.get $r) (local.get $rend)))
                    (local.set $s (i32.add (local.get $src)
                      (i32.add (i32.mul (local.get $r) (local.get $rs)) (i32.shl (local.get $c) (i32.const 2)))))
                    (local.set $x0 (v128.load (local.get $s)))
                    (local.set $x1 (v128.load (i32.add (local.get $s) (local.get $rs))))
                    (local.set $x2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $rs) (i32.const 1)))))
                    (local.set $x3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $rs) (i32.const 3)))))
                    (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x0) (local.get $x1)))
                    (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x0) (local.get $x1)))
                    (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x2) (local.get $x3)))
                    (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x2) (local.get $x3)))
                    (local.set $d (i32.add (local.get $dst)
                      (i32.add (i32.mul (local.get $c) (local.get $cs)) (i32.shl (local.get $r) (i32.const 2)))))
                    (v128.store (local.get $d)
                      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
                    (v128.store (i32.add (local.get $d) (local.get $cs))
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
                    (v128.store (i32.add (local.get $d) (i32.shl (local.get $cs) (i32.const 1)))
                      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
                    (v128.store (i32.add (local.get $d) (i32.mul (local.get $cs) (i32.const 3)))
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
                    (local.set $r (i32.add (local.get $r) (i32.const 4)))
                    (br $rl)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $cl)))
            (local.set $rb (local.get $rend))
            (br $rbl)))
        ;; the columns right of the last full block, for the rows covered by blocks
        (local.set $r (i32.const 0))
        (block $e1done
          (loop $e1
            (br_if $e1done (i32.ge_u (local.get $r) (local.get $r4)))
            (local.set $c (local.get $c4))
            (block $e1cdone
              (loop $e1c
                (br_if $e1cdone (i32.ge_u (local.get $c) (local.get $cols)))
                (i32.store
                  (i32.add (local.get $dst) (i32.add (i32.mul (local.get $c) (local.get $cs)) (i32.shl (local.get $r) (i32.const 2))))
                  (i32.load (i32.add (local.get $src) (i32.add (i32.mul (local.get $r) (local.get $rs)) (i32.shl (local.get $c) (i32.const 2))))))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $e1c)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $e1)))
        ;; the rows below the last full block, every column
        (local.set $r (local.get $r4))
        (block $e2done
          (loop $e2
            (br_if $e2done (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $c (i32.const 0))
            (block $e2cdone
              (loop $e2c
                (br_if $e2cdone (i32.ge_u (local.get $c) (local.get $cols)))
                (i32.store
                  (i32.add (local.get $dst) (i32.add (i32.mul (local.get $c) (local.get $cs)) (i32.shl (local.get $r) (i32.const 2))))
                  (i32.load (i32.add (local.get $src) (i32.add (i32.mul (local.get $r) (local.get $rs)) (i32.shl (local.get $c) (i32.const 2))))))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $e2c)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $e2)))
        (local.set $src (i32.add (local.get $src) (i32.mul (local.get $rows) (local.get $rs))))
        (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $rows) (local.get $rs))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bl))))

  ;; dx = 0; for every output (b, oh, ow, c): dx[argmax of its window in x] += dy[b, oh, ow, c].
  ;; The first strictly greater value wins (−∞ start, so an all-NaN window passes nothing).
  (func (export "maxPoolGrad")
    (param $x i32) (param $dy i32) (param $dx i32) (param $batch i32) (param $inH i32) (param $inW i32) (param $ch i32)
    (param $outH i32) (param $outW i32) (param $fh i32) (param $fw i32) (param $sh i32) (param $sw i32)
    (param $padTop i32) (param $padLeft i32)
    (local $b i32) (local $oh i32) (local $ow i32) (local $c i32) (local $ih i32) (local $iw i32)
    (local $h0 i32) (local $h1 i32) (local $w0 i32) (local $w1 i32)
    (local $xb i32) (local $pix i32) (local $best f32) (local $bestAt i32) (local $v f32) (local $dyp i32)
    (local $bestv v128) (local $atv v128) (local $vv v128) (local $mask v128) (local $at i32)
    (memory.fill (local.get $dx) (i32.const 0)
      (i32.shl (i32.mul (i32.mul (local.get $batch) (local.get $inH)) (i32.mul (local.get $inW) (local.get $ch))) (i32.const 2)))
    (local.set $dyp (local.get $dy))
    (block $bdone (loop $bl
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $xb (i32.add (local.get $x)
        (i32.shl (i32.mul (local.get $b) (i32.mul (i32.mul (local.get $inH) (local.get $inW)) (local.get $ch))) (i32.const 2))))
      (local.set $oh (i32.const 0))
      (block $ohdone (loop $ohl
        (br_if $ohdone (i32.ge_s (local.get $oh) (local.get $outH)))
        ;; window rows [h0, h1) clipped to the input
        (local.set $h0 (i32.sub (i32.mul (local.get $oh) (local.get $sh)) (local.get $padTop)))
        (local.set $h1 (i32.add (local.get $h0) (local.get $fh)))
        (if (i32.lt_s (local.get $h0) (i32.const 0)) (then (local.set $h0 (i32.const 0))))
        (if (i32.gt_s (local.get $h1) (local.get $inH)) (then (local.set $h1 (local.get $inH))))
        (local.set $ow (i32.const 0))
        (block $owdone (loop $owl
          (br_if $owdone (i32.ge_s (local.get $ow) (local.get $outW)))
          (local.set $w0 (i32.sub (i32.mul (local.get $ow) (local.get $sw)) (local.get $padLeft)))
          (local.set $w1 (i32.add (local.get $w0) (local.get $fw)))
          (if (i32.lt_s (local.get $w0) (i32.const 0)) (then (local.set $w0 (i32.const 0))))
          (if (i32.gt_s (local.get $w1) (local.get $inW)) (then (local.set $w1 (local.get $inW))))
          (if (i32.eqz (i32.and (local.get $ch) (i32.const 3)))
            (then
          ;; 4 channels at a time: running maximum and its position per lane
          (local.set $c (i32.const 0))
          (block $vcdone (loop $vcl
            (br_if $vcdone (i32.ge_u (local.get $c) (local.get $ch)))
            (local.set $bestv (f32x4.splat (f32.const -inf)))
            (local.set $atv (i32x4.splat (i32.const -1)))
            (local.set $ih (local.get $h0))
            (block $vihdone (loop $vihl
              (br_if $vihdone (i32.ge_s (local.get $ih) (local.get $h1)))
              (local.set $iw (local.get $w0))
              (block $viwdone (loop $viwl
                (br_if $viwdone (i32.ge_s (local.get $iw) (local.get $w1)))
                (local.set $pix (i32.add (i32.mul (i32.add (i32.mul (local.get $ih) (local.get $inW)) (local.get $iw)) (local.get $ch)) (local.get $c)))
                (local.set $vv (v128.load (i32.add (local.get $xb) (i32.shl (local.get $pix) (i32.const 2)))))
                (local.set $mask (f32x4.gt (local.get $vv) (local.get $bestv)))
                (local.set $bestv (v128.bitselect (local.get $vv) (local.get $bestv) (local.get $mask)))
                (local.set $atv (v128.bitselect
                  (i32x4.add (i32x4.splat (local.get $pix)) (v128.const i32x4 0 1 2 3)) (local.get $atv) (local.get $mask)))
                (local.set $iw (i32.add (local.get $iw) (i32.const 1)))
                (br $viwl)))
              (local.set $ih (i32.add (local.get $ih) (i32.const 1)))
              (br $vihl)))
                (local.set $at (i32x4.extract_lane 0 (local.get $atv)))
                (if (i32.ge_s (local.get $at) (i32.const 0))
                  (then
                    (local.set $pix (i32.add (i32.sub (local.get $dx) (local.get $x))
                      (i32.add (local.get $xb) (i32.shl (local.get $at) (i32.const 2)))))
                    (f32.store (local.get $pix) (f32.add (f32.load (local.get $pix)) (f32.load offset=0 (local.get $dyp))))))
                (local.set $at (i32x4.extract_lane 1 (local.get $atv)))
                (if (i32.ge_s (local.get $at) (i32.const 0))
                  (then
                    (local.set $pix (i32.add (i32.sub (local.get $dx) (local.get $x))
                      (i32.add (local.get $xb) (i32.shl (local.get $at) (i32.const 2)))))
                    (f32.store (local.get $pix) (f32.add (f32.load (local.get $pix)) (f32.load offset=4 (local.get $dyp))))))
                (local.set $at (i32x4.extract_lane 2 (local.get $atv)))
                (if (i32.ge_s (local.get $at) (i32.const 0))
                  (then
                    (local.set $pix (i32.add (i32.sub (local.get $dx) (local.get $x))
                      (i32.add (local.get $xb) (i32.shl (local.get $at) (i32.const 2)))))
                    (f32.store (local.get $pix) (f32.add (f32.load (local.get $pix)) (f32.load offset=8 (local.get $dyp))))))
                (local.set $at (i32x4.extract_lane 3 (local.get $atv)))
                (if (i32.ge_s (local.get $at) (i32.const 0))
                  (then
                    (local.set $pix (i32.add (i32.sub (local.get $dx) (local.get $x))
                      (i32.add (local.get $xb) (i32.shl (local.get $at) (i32.const 2)))))
                    (f32.store (local.get $pix) (f32.add (f32.load (local.get $pix)) (f32.load offset=12 (local.get $dyp))))))
            (local.set $dyp (i32.add (local.get $dyp) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $vcl))))
            (else
          (local.set $c (i32.const 0))
          (block $cdone (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $ch)))
            (local.set $best (f32.const -inf))
            (local.set $bestAt (i32.const -1))
            (local.set $ih (local.get $h0))
            (block $ihdone (loop $ihl
              (br_if $ihdone (i32.ge_s (local.get $ih) (local.get $h1)))
              (local.set $iw (local.get $w0))
              (block $iwdone (loop $iwl
                (br_if $iwdone (i32.ge_s (local.get $iw) (local.get $w1)))
                (local.set $pix (i32.add (i32.mul (i32.add (i32.mul (local.get $ih) (local.get $inW)) (local.get $iw)) (local.get $ch)) (local.get $c)))
                (local.set $v (f32.load (i32.add (local.get $xb) (i32.shl (local.get $pix) (i32.const 2)))))
                (if (f32.gt (local.get $v) (local.get $best))
                  (then (local.set $best (local.get $v)) (local.set $bestAt (local.get $pix))))
                (local.set $iw (i32.add (local.get $iw) (i32.const 1)))
                (br $iwl)))
              (local.set $ih (i32.add (local.get $ih) (i32.const 1)))
              (br $ihl)))
            (if (i32.ge_s (local.get $bestAt) (i32.const 0))
              (then
                (local.set $pix (i32.add (i32.sub (local.get $dx) (local.get $x))
                  (i32.add (local.get $xb) (i32.shl (local.get $bestAt) (i32.const 2)))))
                (f32.store (local.get $pix) (f32.add (f32.load (local.get $pix)) (f32.load (local.get $dyp))))))
            (local.set $dyp (i32.add (local.get $dyp) (i32.const 4)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $cl)))
            ))
          (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
          (br $owl)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohl)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl)))
  )

  ;; dW[i,j,c,o] = Σ_(b,oh,ow) x[b, oh·sh + i·dh − padTop, ow·sw + j·dw − padLeft, c] · dy[b,oh,ow,o]
  ;; dW is [KH,KW,Ci,Co], overwritten. For each tap (i, j) only the outputs whose tap lands inside x
  ;; are visited (padding contributes zeros), so the inner loops have no bounds checks; 16, 4 or 1
  ;; output channels are accumulated in registers over all positions, then stored once.
  (func (export "convFilterGrad")
    (param $x i32) (param $dy i32) (param $dW i32) (param $batch i32) (param $inH i32) (param $inW i32) (param $ci i32)
    (param $outH i32) (param $outW i32) (param $co i32) (param $kh i32) (param $kw i32)
    (param $sh i32) (param $sw i32) (param $dh i32) (param $dw i32) (param $padTop i32) (param $padLeft i32)
    (local $i i32) (local $j i32) (local $c i32) (local $o i32) (local $b i32) (local $oh i32) (local $ow i32)
    (local $oh0 i32) (local $oh1 i32) (local $ow0 i32) (local $ow1 i32) (local $t i32)
    (local $xp i32) (local $dyp i32) (local $wp i32) (local $xstep i32) (local $dystep i32)
    (local $xs f32) (local $s0 f32) (local $xv v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (memory.fill (local.get $dW) (i32.const 0)
      (i32.shl (i32.mul (i32.mul (local.get $kh) (local.get $kw)) (i32.mul (local.get $ci) (local.get $co))) (i32.const 2)))
    (local.set $xstep (i32.shl (i32.mul (local.get $sw) (local.get $ci)) (i32.const 2)))
    (local.set $dystep (i32.shl (local.get $co) (i32.const 2)))
    (block $id (loop $il
      (br_if $id (i32.ge_s (local.get $i) (local.get $kh)))
      ;; oh with 0 ≤ oh·sh + i·dh − padTop < inH, within [0, outH)
      (local.set $t (i32.sub (local.get $padTop) (i32.mul (local.get $i) (local.get $dh))))
      (local.set $oh0 (select (i32.div_s (i32.add (local.get $t) (i32.sub (local.get $sh) (i32.const 1))) (local.get $sh)) (i32.const 0)
        (i32.gt_s (local.get $t) (i32.const 0))))
      (local.set $oh1 (i32.add (i32.div_s (i32.add (i32.sub (local.get $inH) (i32.const 1)) (local.get $t)) (local.get $sh)) (i32.const 1)))
      (if (i32.lt_s (i32.add (i32.sub (local.get $inH) (i32.const 1)) (local.get $t)) (i32.const 0)) (then (local.set $oh1 (i32.const 0))))
      (if (i32.gt_s (local.get $oh1) (local.get $outH)) (then (local.set $oh1 (local.get $outH))))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_s (local.get $j) (local.get $kw)))
        (local.set $t (i32.sub (local.get $padLeft) (i32.mul (local.get $j) (local.get $dw))))
        (local.set $ow0 (select (i32.div_s (i32.add (local.get $t) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw)) (i32.const 0)
          (i32.gt_s (local.get $t) (i32.const 0))))
        (local.set $ow1 (i32.add (i32.div_s (i32.add (i32.sub (local.get $inW) (i32.const 1)) (local.get $t)) (local.get $sw)) (i32.const 1)))
        (if (i32.lt_s (i32.add (i32.sub (local.get $inW) (i32.const 1)) (local.get $t)) (i32.const 0)) (then (local.set $ow1 (i32.const 0))))
        (if (i32.gt_s (local.get $ow1) (local.get $outW)) (then (local.set $ow1 (local.get $outW))))
        (if (i32.and (i32.lt_s (local.get $oh0) (local.get $oh1)) (i32.lt_s (local.get $ow0) (local.get $ow1)))
          (then
        (local.set $c (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $c) (local.get $ci)))
        (local.set $o (i32.const 0))
        ;; output channels 16 at a time
        (block $cd_v16 (loop $cl_v16
          (br_if $cd_v16 (i32.eqz (i32.le_u (i32.add (local.get $o) (i32.const 16)) (local.get $co))))
          (local.set $wp (i32.add (local.get $dW) (i32.shl (i32.add (i32.mul
            (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $ci)) (local.get $c))
            (local.get $co)) (local.get $o)) (i32.const 2))))
          (local.set $a0 (v128.const i32x4 0 0 0 0))
          (local.set $a1 (v128.const i32x4 0 0 0 0))
          (local.set $a2 (v128.const i32x4 0 0 0 0))
          (local.set $a3 (v128.const i32x4 0 0 0 0))
          ;; v16
          (local.set $b (i32.const 0))
          (block $bd_v16 (loop $bl_v16
            (br_if $bd_v16 (i32.ge_u (local.get $b) (local.get $batch)))
            (local.set $oh (local.get $oh0))
            (block $hd_v16 (loop $hl_v16
              (br_if $hd_v16 (i32.ge_s (local.get $oh) (local.get $oh1)))
              ;; x at (b, oh·sh + i·dh − padTop, ow0·sw + j·dw − padLeft, c); dy at (b, oh, ow0, o)
              (local.set $xp (i32.add (local.get $x) (i32.shl (i32.add (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH))
                  (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (i32.mul (local.get $i) (local.get $dh))) (local.get $padTop)))
                  (local.get $inW))
                  (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sw)) (i32.mul (local.get $j) (local.get $dw))) (local.get $padLeft)))
                (local.get $ci)) (local.get $c)) (i32.const 2))))
              (local.set $dyp (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $outH)) (local.get $oh)) (local.get $outW)) (local.get $ow0))
                (local.get $co)) (local.get $o)) (i32.const 2))))
              (local.set $ow (local.get $ow0))
              (block $wd_v16 (loop $wl_v16
                (br_if $wd_v16 (i32.ge_s (local.get $ow) (local.get $ow1)))
                (local.set $xs (f32.load (local.get $xp)))
                (local.set $xv (f32x4.splat (local.get $xs)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $xv) (v128.load offset=0 (local.get $dyp)))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $xv) (v128.load offset=16 (local.get $dyp)))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $xv) (v128.load offset=32 (local.get $dyp)))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $xv) (v128.load offset=48 (local.get $dyp)))))
                (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                (local.set $dyp (i32.add (local.get $dyp) (local.get $dystep)))
                (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                (br $wl_v16)))
              (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
              (br $hl_v16)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $bl_v16)))
          (v128.store offset=0 (local.get $wp) (local.get $a0))
          (v128.store offset=16 (local.get $wp) (local.get $a1))
          (v128.store offset=32 (local.get $wp) (local.get $a2))
          (v128.store offset=48 (local.get $wp) (local.get $a3))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $cl_v16)))
        ;; output channels 4 at a time
        (block $cd_v4 (loop $cl_v4
          (br_if $cd_v4 (i32.eqz (i32.le_u (i32.add (local.get $o) (i32.const 4)) (local.get $co))))
          (local.set $wp (i32.add (local.get $dW) (i32.shl (i32.add (i32.mul
            (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $ci)) (local.get $c))
            (local.get $co)) (local.get $o)) (i32.const 2))))
          (local.set $a0 (v128.const i32x4 0 0 0 0))
          ;; v4
          (local.set $b (i32.const 0))
          (block $bd_v4 (loop $bl_v4
            (br_if $bd_v4 (i32.ge_u (local.get $b) (local.get $batch)))
            (local.set $oh (local.get $oh0))
            (block $hd_v4 (loop $hl_v4
              (br_if $hd_v4 (i32.ge_s (local.get $oh) (local.get $oh1)))
              ;; x at (b, oh·sh + i·dh − padTop, ow0·sw + j·dw − padLeft, c); dy at (b, oh, ow0, o)
              (local.set $xp (i32.add (local.get $x) (i32.shl (i32.add (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH))
                  (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (i32.mul (local.get $i) (local.get $dh))) (local.get $padTop)))
                  (local.get $inW))
                  (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sw)) (i32.mul (local.get $j) (local.get $dw))) (local.get $padLeft)))
                (local.get $ci)) (local.get $c)) (i32.const 2))))
              (local.set $dyp (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $outH)) (local.get $oh)) (local.get $outW)) (local.get $ow0))
                (local.get $co)) (local.get $o)) (i32.const 2))))
              (local.set $ow (local.get $ow0))
              (block $wd_v4 (loop $wl_v4
                (br_if $wd_v4 (i32.ge_s (local.get $ow) (local.get $ow1)))
                (local.set $xs (f32.load (local.get $xp)))
                (local.set $xv (f32x4.splat (local.get $xs)))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $xv) (v128.load offset=0 (local.get $dyp)))))
                (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                (local.set $dyp (i32.add (local.get $dyp) (local.get $dystep)))
                (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                (br $wl_v4)))
              (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
              (br $hl_v4)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $bl_v4)))
          (v128.store offset=0 (local.get $wp) (local.get $a0))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (br $cl_v4)))
        ;; output channels 1 at a time
        (block $cd_s1 (loop $cl_s1
          (br_if $cd_s1 (i32.eqz (i32.le_u (i32.add (local.get $o) (i32.const 1)) (local.get $co))))
          (local.set $wp (i32.add (local.get $dW) (i32.shl (i32.add (i32.mul
            (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $ci)) (local.get $c))
            (local.get $co)) (local.get $o)) (i32.const 2))))
          (local.set $s0 (f32.const 0))
          ;; s1
          (local.set $b (i32.const 0))
          (block $bd_s1 (loop $bl_s1
            (br_if $bd_s1 (i32.ge_u (local.get $b) (local.get $batch)))
            (local.set $oh (local.get $oh0))
            (block $hd_s1 (loop $hl_s1
              (br_if $hd_s1 (i32.ge_s (local.get $oh) (local.get $oh1)))
              ;; x at (b, oh·sh + i·dh − padTop, ow0·sw + j·dw − padLeft, c); dy at (b, oh, ow0, o)
              (local.set $xp (i32.add (local.get $x) (i32.shl (i32.add (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH))
                  (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (i32.mul (local.get $i) (local.get $dh))) (local.get $padTop)))
                  (local.get $inW))
                  (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sw)) (i32.mul (local.get $j) (local.get $dw))) (local.get $padLeft)))
                (local.get $ci)) (local.get $c)) (i32.const 2))))
              (local.set $dyp (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $outH)) (local.get $oh)) (local.get $outW)) (local.get $ow0))
                (local.get $co)) (local.get $o)) (i32.const 2))))
              (local.set $ow (local.get $ow0))
              (block $wd_s1 (loop $wl_s1
                (br_if $wd_s1 (i32.ge_s (local.get $ow) (local.get $ow1)))
                (local.set $xs (f32.load (local.get $xp)))
                (local.set $s0 (f32.add (local.get $s0) (f32.mul (local.get $xs) (f32.load (local.get $dyp)))))
                (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                (local.set $dyp (i32.add (local.get $dyp) (local.get $dystep)))
                (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                (br $wl_s1)))
              (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
              (br $hl_s1)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $bl_s1)))
          (f32.store (local.get $wp) (local.get $s0))
          (local.set $o (i32.add (local.get $o) (i32.const 1)))
          (br $cl_s1)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $cl)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il)))
  )

  ;; out[r][c] = x[r][c] + v[c] for r < rows, c < cols.
  (func (export "addRows") (param $x i32) (param $v i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $c4 i32) (local $rowBytes i32) (local $o i32)
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $c (i32.const 0))
      (block $c4done (loop $c4l
        (br_if $c4done (i32.ge_u (local.get $c) (local.get $c4)))
        (local.set $o (i32.shl (local.get $c) (i32.const 2)))
        (v128.store (i32.add (local.get $out) (local.get $o))
          (f32x4.add (v128.load (i32.add (local.get $x) (local.get $o))) (v128.load (i32.add (local.get $v) (local.get $o)))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $c4l)))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $cols)))
        (local.set $o (i32.shl (local.get $c) (i32.const 2)))
        (f32.store (i32.add (local.get $out) (local.get $o))
          (f32.add (f32.load (i32.add (local.get $x) (local.get $o))) (f32.load (i32.add (local.get $v) (local.get $o)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; out[c] = Σ_r x[r][c] for c < cols: per group of 4 columns (then single columns), the rows are
  ;; summed in blocks of 256 and the block sums added to the total.
  (func (export "sumRows") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $c4 i32) (local $rowBytes i32) (local $p i32) (local $end i32)
    (local $tot v128) (local $blk v128) (local $tots f32) (local $blks f32)
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (block $c4done (loop $c4l
      (br_if $c4done (i32.ge_u (local.get $c) (local.get $c4)))
      (local.set $tot (f32x4.splat (f32.const 0)))
      (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
      (local.set $r (i32.const 0))
      (block $bdone (loop $bl
        (br_if $bdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $end (i32.add (local.get $r) (i32.const 256)))
        (if (i32.gt_u (local.get $end) (local.get $rows)) (then (local.set $end (local.get $rows))))
        (local.set $blk (f32x4.splat (f32.const 0)))
        (block $rdone (loop $rl
          (br_if $rdone (i32.ge_u (local.get $r) (local.get $end)))
          (local.set $blk (f32x4.add (local.get $blk) (v128.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rl)))
        (local.set $tot (f32x4.add (local.get $tot) (local.get $blk)))
        (br $bl)))
      (v128.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2))) (local.get $tot))
      (local.set $c (i32.add (local.get $c) (i32.const 4)))
      (br $c4l)))
    (block $cdone (loop $cl
      (br_if $cdone (i32.ge_u (local.get $c) (local.get $cols)))
      (local.set $tots (f32.const 0))
      (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
      (local.set $r (i32.const 0))
      (block $sbdone (loop $sbl
        (br_if $sbdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $end (i32.add (local.get $r) (i32.const 256)))
        (if (i32.gt_u (local.get $end) (local.get $rows)) (then (local.set $end (local.get $rows))))
        (local.set $blks (f32.const 0))
        (block $srdone (loop $srl
          (br_if $srdone (i32.ge_u (local.get $r) (local.get $end)))
          (local.set $blks (f32.add (local.get $blks) (f32.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $srl)))
        (local.set $tots (f32.add (local.get $tots) (local.get $blks)))
        (br $sbl)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2))) (local.get $tots))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))

  ;; dx[i] = x[i] > 0 ? dy[i] : dy[i]·0, and NaN where x[i] is NaN: bit for bit tfjs's
  ;; dy·step(x) (step(NaN) is NaN; 0·±∞ and 0·NaN are NaN; −dy·0 is −0).
  (func (export "reluGrad") (param $dy i32) (param $x i32) (param $dx i32) (param $n i32)
    (local $i i32) (local $n4 i32) (local $o i32) (local $Z v128) (local $xv v128) (local $dv v128)
    (local $xs f32) (local $ds f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $i) (local.get $n4)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $xv (v128.load (i32.add (local.get $x) (local.get $o))))
      (local.set $dv (v128.load (i32.add (local.get $dy) (local.get $o))))
      (v128.store (i32.add (local.get $dx) (local.get $o))
        (v128.or
          (v128.bitselect (local.get $dv) (f32x4.mul (local.get $dv) (local.get $Z)) (f32x4.gt (local.get $xv) (local.get $Z)))
          (v128.and (local.get $xv) (f32x4.ne (local.get $xv) (local.get $xv)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $xs (f32.load (i32.add (local.get $x) (local.get $o))))
      (local.set $ds (f32.load (i32.add (local.get $dy) (local.get $o))))
      (f32.store (i32.add (local.get $dx) (local.get $o))
        (select (local.get $xs)
          (select (local.get $ds) (f32.mul (local.get $ds) (f32.const 0)) (f32.gt (local.get $xs) (f32.const 0)))
          (f32.ne (local.get $xs) (local.get $xs))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
)
