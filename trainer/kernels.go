package trainer

import "math"

// The CPU kernels of the backbone and the head, as functions over plain slices, apart from
// the Gorgonia ops that call them (a device backend replaces these, not the ops).
//
// Activations are channels-last: an activation of N images of H×W pixels and C channels is
// the row-major matrix (N·H·W) × C, so that a 1×1 convolution is one matrix product, the
// gradient buffers of a layer are the same shape as its output, batch norm's per-channel
// loops run over contiguous rows, and the Winograd transforms work on whole channel vectors.
//
// The kernels named with a Go suffix here, in im2col.go and in winograd.go are the Go
// references of the hot ones. Where cgo is on, kernels_c.go and winograd_c.go define the
// unsuffixed names in C that the compiler vectorises; without cgo, kernels_nocgo.go maps
// them to the references. TestKernelsMatchGo holds each C kernel to its Go twin.

// nchwToNHWC writes the n images of x (channels-first, c×hw each) channels-last into y.
func nchwToNHWC(x, y []float32, n, c, hw int) {
	for i := 0; i < n; i++ {
		img, out := x[i*c*hw:][:c*hw], y[i*hw*c:][:hw*c]
		for ch := 0; ch < c; ch++ {
			plane := img[ch*hw:][:hw]
			for p, v := range plane {
				out[p*c+ch] = v
			}
		}
	}
}

// chanSumsGo adds to sum[ch] the sum over the rows of x (rows × c) of x[·][ch] − shift[ch]
// (shift nil: 0), squared when sq is set. Sums run in float32 within groups of chunk rows
// (an image's plane) and in float64 across groups.
func chanSumsGo(x []float32, rows, c, chunk int, shift []float32, sq bool, sum []float64) {
	acc := make([]float32, c)
	for r0 := 0; r0 < rows; r0 += chunk {
		clear(acc)
		for r := r0; r < min(r0+chunk, rows); r++ {
			row := x[r*c:][:c]
			for ch, v := range row {
				if shift != nil {
					v -= shift[ch]
				}
				if sq {
					v *= v
				}
				acc[ch] += v
			}
		}
		for ch, v := range acc {
			sum[ch] += float64(v)
		}
	}
}

// bnApplyGo writes y = x·scale + shift per channel over the rows of x (rows × c), adding
// res (when not nil) and then clamping at zero when relu is set.
func bnApplyGo(x, y, res []float32, rows, c int, scale, shift []float32, relu bool) {
	for r := 0; r < rows; r++ {
		xr, yr := x[r*c:][:c], y[r*c:][:c]
		var rr []float32
		if res != nil {
			rr = res[r*c:][:c]
		}
		for ch, v := range xr {
			v = v*scale[ch] + shift[ch]
			if rr != nil {
				v += rr[ch]
			}
			if relu {
				v = max(v, 0)
			}
			yr[ch] = v
		}
	}
}

// bnBackSumsGo is the first pass of batch norm's backward: with h = (x − mean)·istd and v
// the output gradient dy (zero where relu is set and the forward's x·scale + shift ≤ 0), it
// adds Σv to s1[ch] and Σv·h to s2[ch], in float32 within chunks of rows and float64 across
// them.
func bnBackSumsGo(x, dy []float32, rows, c, chunk int, mean, istd, scale, shift []float32, relu bool, s1, s2 []float64) {
	a1, a2 := make([]float32, c), make([]float32, c)
	for r0 := 0; r0 < rows; r0 += chunk {
		clear(a1)
		clear(a2)
		for r := r0; r < min(r0+chunk, rows); r++ {
			xr, dr := x[r*c:][:c], dy[r*c:][:c]
			for ch, xv := range xr {
				h := (xv - mean[ch]) * istd[ch]
				v := dr[ch]
				if relu && xv*scale[ch]+shift[ch] <= 0 {
					v = 0
				}
				a1[ch] += v
				a2[ch] += v * h
			}
		}
		for ch := range a1 {
			s1[ch] += float64(a1[ch])
			s2[ch] += float64(a2[ch])
		}
	}
}

// bnBackApplyGo is the second pass: dx = k·(v − mdy − h·mdyx) per channel, with v and h as
// in bnBackSumsGo. dx may be dy.
func bnBackApplyGo(x, dy, dx []float32, rows, c int, mean, istd, scale, shift, k, mdy, mdyx []float32, relu bool) {
	for r := 0; r < rows; r++ {
		xr, dr, or := x[r*c:][:c], dy[r*c:][:c], dx[r*c:][:c]
		for ch, xv := range xr {
			h := (xv - mean[ch]) * istd[ch]
			v := dr[ch]
			if relu && xv*scale[ch]+shift[ch] <= 0 {
				v = 0
			}
			or[ch] = k[ch] * (v - mdy[ch] - h*mdyx[ch])
		}
	}
}

// reluMaskGo zeroes dy where y ≤ 0 (the backward of a ReLU whose output is y).
func reluMaskGo(dy, y []float32) {
	y = y[:len(dy)]
	for i, v := range y {
		if v <= 0 {
			dy[i] = 0
		}
	}
}

// addGo adds src to dst.
func addGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// avgPool averages each image's hw rows of x (n·hw × c) into out (n × c).
func avgPool(x, out []float32, n, hw, c int) {
	for i := 0; i < n; i++ {
		acc := out[i*c:][:c]
		clear(acc)
		for p := 0; p < hw; p++ {
			for ch, v := range x[(i*hw+p)*c:][:c] {
				acc[ch] += v
			}
		}
		inv := 1 / float32(hw)
		for ch := range acc {
			acc[ch] *= inv
		}
	}
}

// avgPoolBack spreads dout (n × c) evenly over each image's hw rows of dx.
func avgPoolBack(dout, dx []float32, n, hw, c int) {
	inv := 1 / float32(hw)
	for i := 0; i < n; i++ {
		d := dout[i*c:][:c]
		for p := 0; p < hw; p++ {
			row := dx[(i*hw+p)*c:][:c]
			for ch, v := range d {
				row[ch] = v * inv
			}
		}
	}
}

// maxPool takes the maximum over 3×3 windows at stride 2 with 1 pixel of padding: x is
// g.n images of g.h×g.w (channels-last, g.c channels), y is g.oh×g.ow.
func maxPool(x, y []float32, g convGeom) {
	for r := 0; r < g.outPixels(); r++ {
		img, oy, ox := g.pixel(r)
		out := y[r*g.c:][:g.c]
		for ch := range out {
			out[ch] = float32(math.Inf(-1))
		}
		for ki := 0; ki < g.k; ki++ {
			iy := oy*g.s - g.p + ki
			for kj := 0; kj < g.k; kj++ {
				ix := ox*g.s - g.p + kj
				if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
					continue
				}
				for ch, v := range x[((img*g.h+iy)*g.w+ix)*g.c:][:g.c] {
					out[ch] = max(out[ch], v)
				}
			}
		}
	}
}

// maxPoolBack adds each output gradient to the first input pixel of its window (in scan
// order) that holds the window's maximum.
func maxPoolBack(x, y, dy, dx []float32, g convGeom) {
	for r := 0; r < g.outPixels(); r++ {
		img, oy, ox := g.pixel(r)
		out, d := y[r*g.c:][:g.c], dy[r*g.c:][:g.c]
		for ch := range out {
			done := false
			for ki := 0; ki < g.k && !done; ki++ {
				iy := oy*g.s - g.p + ki
				for kj := 0; kj < g.k && !done; kj++ {
					ix := ox*g.s - g.p + kj
					if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
						continue
					}
					i := ((img*g.h+iy)*g.w+ix)*g.c + ch
					if x[i] == out[ch] {
						dx[i] += d[ch]
						done = true
					}
				}
			}
		}
	}
}
