package cuda

/*
#include "capi.h"
*/
import "C"

import (
	"fmt"
)

// cuBLAS math modes (cublasMath_t).
const (
	cublasDefaultMath = 0
	cublasTF32Math    = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

// BLAS is a cuBLAS handle bound to a stream: its products run in the stream's order. A
// handle is used by one goroutine at a time (one per replica).
type BLAS struct {
	s *Stream
	h C.cublasHandle_t
}

// Gemm is a row-major single-precision matrix product on device memory; *BLAS is one.
type Gemm interface {
	SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
		b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error
}

var _ Gemm = (*BLAS)(nil)

// NewBLAS creates a cuBLAS handle on the stream, in full float32 precision (see SetTF32).
func (s *Stream) NewBLAS() (*BLAS, error) {
	d := s.dev.d
	var h C.cublasHandle_t
	if err := s.blasCheck("cublasCreate", C.ncu_blas_create(d.t, d.blas.t, s.dev.ctx, &h, s.s)); err != nil {
		return nil, err
	}
	return &BLAS{s: s, h: h}, nil
}

func (s *Stream) blasCheck(op string, r C.cublasStatus_t) error {
	if r == 0 {
		return nil
	}
	e := &Error{Lib: "cublas", Op: op, Code: int(r)}
	if p := C.ncu_blas_status(s.dev.d.blas.t, r); p != nil {
		e.Name = C.GoString(p)
	}
	return fmt.Errorf("cuda: cuda:%d: %w", s.dev.Index, e)
}

// Close destroys the handle.
func (b *BLAS) Close() error {
	d := b.s.dev.d
	return b.s.blasCheck("cublasDestroy", C.ncu_blas_destroy(d.t, d.blas.t, b.s.dev.ctx, b.h))
}

// SetTF32 lets products use TF32 tensor cores (10-bit mantissa inputs, float32
// accumulation) on Ampere and later GPUs; off, they are IEEE float32 throughout.
func (b *BLAS) SetTF32(on bool) error {
	mode := C.int(cublasDefaultMath)
	if on {
		mode = cublasTF32Math
	}
	d := b.s.dev.d
	return b.s.blasCheck("cublasSetMathMode", C.ncu_blas_math(d.t, d.blas.t, b.s.dev.ctx, b.h, mode))
}

func op(trans bool) C.int {
	if trans {
		return 1 // CUBLAS_OP_T
	}
	return 0 // CUBLAS_OP_N
}

// Sgemm is cuBLAS's own column-major product: C = alpha·op(A)·op(B) + beta·C with C m×n
// and op(A) m×k, each matrix with its leading dimension.
func (b *BLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	bm DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	d := b.s.dev.d
	r := C.ncu_sgemm(d.t, d.blas.t, b.s.dev.ctx, b.h, op(transA), op(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), C.CUdeviceptr(a), C.int(lda), C.CUdeviceptr(bm), C.int(ldb), C.float(beta), C.CUdeviceptr(c), C.int(ldc))
	return b.s.blasCheck("cublasSgemm", r)
}

// SgemmRowMajor is the same product on row-major matrices, as gonum's and OpenBLAS's
// CblasRowMajor sgemm take them: a row-major matrix is the transpose of the column-major
// one with the same storage, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ.
func (b *BLAS) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	bm DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	return b.Sgemm(transB, transA, n, m, k, alpha, bm, ldb, a, lda, beta, c, ldc)
}

// SgemmStridedBatchedRowMajor runs batch row-major products, matrix i of each operand
// starting stride floats after matrix i-1 (a stride of 0 reuses one matrix for all).
func (b *BLAS) SgemmStridedBatchedRowMajor(transA, transB bool, m, n, k int, alpha float32,
	a DevicePtr, lda int, strideA int64, bm DevicePtr, ldb int, strideB int64, beta float32,
	c DevicePtr, ldc int, strideC int64, batch int) error {
	d := b.s.dev.d
	r := C.ncu_sgemm_batched(d.t, d.blas.t, b.s.dev.ctx, b.h, op(transB), op(transA), C.int(n), C.int(m), C.int(k),
		C.float(alpha), C.CUdeviceptr(bm), C.int(ldb), C.longlong(strideB), C.CUdeviceptr(a), C.int(lda), C.longlong(strideA),
		C.float(beta), C.CUdeviceptr(c), C.int(ldc), C.longlong(strideC), C.int(batch))
	return b.s.blasCheck("cublasSgemmStridedBatched", r)
}
