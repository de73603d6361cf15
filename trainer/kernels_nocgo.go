//go:build !cgo

package trainer

// Kernels names the implementation of the hot kernels in this build.
const Kernels = "Go"

// The hot kernels run as their Go references in a build without cgo.

func chanSums(x []float32, rows, c, chunk int, shift []float32, sq bool, sum []float64) {
	chanSumsGo(x, rows, c, chunk, shift, sq, sum)
}
func bnApply(x, y, res []float32, rows, c int, scale, shift []float32, relu bool) {
	bnApplyGo(x, y, res, rows, c, scale, shift, relu)
}
func bnBackSums(x, dy []float32, rows, c, chunk int, mean, istd, scale, shift []float32, relu bool, s1, s2 []float64) {
	bnBackSumsGo(x, dy, rows, c, chunk, mean, istd, scale, shift, relu, s1, s2)
}
func bnBackApply(x, dy, dx []float32, rows, c int, mean, istd, scale, shift, k, mdy, mdyx []float32, relu bool) {
	bnBackApplyGo(x, dy, dx, rows, c, mean, istd, scale, shift, k, mdy, mdyx, relu)
}
func reluMask(dy, y []float32)                         { reluMaskGo(dy, y) }
func add(dst, src []float32)                           { addGo(dst, src) }
func im2col(x, col []float32, g convGeom, r0, n int)   { im2colGo(x, col, g, r0, n) }
func col2im(dcol, dx []float32, g convGeom, r0, n int) { col2imGo(dcol, dx, g, r0, n) }
func winoWeights(w, u, _ []float32, o, c int)          { winoWeightsGo(w, u, o, c) }
func winoWeightsBack(du, dw, _ []float32, o, c int)    { winoWeightsBackGo(du, dw, o, c) }
func winoInput(x, v []float32, h, w, c, t0, tb int)    { winoInputGo(x, v, h, w, c, t0, tb) }
func winoInputBack(dv, dx []float32, h, w, c, t0, tb int) {
	winoInputBackGo(dv, dx, h, w, c, t0, tb)
}
func winoOutput(m, y []float32, h, w, o, t0, tb int) { winoOutputGo(m, y, h, w, o, t0, tb) }
func winoOutputBack(dy, dm []float32, h, w, o, t0, tb int) {
	winoOutputBackGo(dy, dm, h, w, o, t0, tb)
}
func weightsKCO(w, wk []float32, g convGeom)       { weightsKCOGo(w, wk, g) }
func weightsKCOBack(dwk, dw []float32, g convGeom) { weightsKCOBackGo(dwk, dw, g) }
