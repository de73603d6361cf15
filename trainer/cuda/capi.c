// The C half of the run-time binding: dlopen and dlsym, and one trampoline per call that
// cgo cannot make itself (Go cannot call a C function pointer). See capi.h.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capi.h"

#define NCU_NAME(ret, name, params) #name,
const char *const ncu_driver_symbols[] = {NCU_DRIVER_FUNCS(NCU_NAME) NULL};
const char *const ncu_cublas_symbols[] = {NCU_CUBLAS_FUNCS(NCU_NAME) NULL};
const char *const ncu_nvrtc_symbols[] = {NCU_NVRTC_FUNCS(NCU_NAME) NULL};
const char *const ncu_cudnn_symbols[] = {NCU_CUDNN_FUNCS(NCU_NAME) NULL};
#undef NCU_NAME

void *ncu_dlopen(const char *path, int global, char *err, int errlen) {
	dlerror();
	void *h = dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
	if (h == NULL && errlen > 0) {
		const char *e = dlerror();
		strncpy(err, e ? e : "dlopen failed", errlen - 1);
		err[errlen - 1] = 0;
	}
	return h;
}

void ncu_dlclose(void *h) { dlclose(h); }

void *ncu_dlsym(void *h, const char *name) { return dlsym(h, name); }

int ncu_dlpath(void *sym, char *buf, int len) {
	Dl_info info;
	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) {
		return 0;
	}
	strncpy(buf, info.dli_fname, len - 1);
	buf[len - 1] = 0;
	return 1;
}

#define NCU_BIND(ret, name, params) \
	t->name = (ret(*) params)dlsym(h, #name); \
	if (t->name == NULL) return #name;

const char *ncu_bind_driver(void *h, ncu_driver *t) {
	NCU_DRIVER_FUNCS(NCU_BIND)
	return NULL;
}

const char *ncu_bind_cublas(void *h, ncu_cublas *t) {
	NCU_CUBLAS_FUNCS(NCU_BIND)
	// Optional: cuBLAS 11.4.2 and later.
	t->cublasGetStatusString = (const char *(*)(cublasStatus_t))dlsym(h, "cublasGetStatusString");
	return NULL;
}

const char *ncu_bind_nvrtc(void *h, ncu_nvrtc *t) {
	NCU_NVRTC_FUNCS(NCU_BIND)
	return NULL;
}

const char *ncu_bind_cudnn(void *h, ncu_cudnn *t) {
	NCU_CUDNN_FUNCS(NCU_BIND)
	return NULL;
}
#undef NCU_BIND

// CUR makes c current or returns its error.
#define CUR(t, c) do { CUresult r_ = (t)->cuCtxSetCurrent(c); if (r_ != 0) return r_; } while (0)

// Attribute numbers of CUdevice_attribute.
enum { ATTR_SM_COUNT = 16, ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76 };

CUresult ncu_driver_version(ncu_driver *t, int *v) { return t->cuDriverGetVersion(v); }
CUresult ncu_init(ncu_driver *t) { return t->cuInit(0); }
CUresult ncu_device_count(ncu_driver *t, int *n) { return t->cuDeviceGetCount(n); }
CUresult ncu_error_name(ncu_driver *t, CUresult r, const char **s) { return t->cuGetErrorName(r, s); }

CUresult ncu_device_info(ncu_driver *t, int ordinal, char *name, int len, int *major, int *minor,
		int *sms, size_t *total) {
	CUdevice dev;
	CUresult r = t->cuDeviceGet(&dev, ordinal);
	if (r == 0) r = t->cuDeviceGetName(name, len, dev);
	if (r == 0) r = t->cuDeviceGetAttribute(major, ATTR_CC_MAJOR, dev);
	if (r == 0) r = t->cuDeviceGetAttribute(minor, ATTR_CC_MINOR, dev);
	if (r == 0) r = t->cuDeviceGetAttribute(sms, ATTR_SM_COUNT, dev);
	if (r == 0) r = t->cuDeviceTotalMem_v2(total, dev);
	return r;
}

CUresult ncu_ctx_retain(ncu_driver *t, int ordinal, CUcontext *ctx) {
	CUdevice dev;
	CUresult r = t->cuDeviceGet(&dev, ordinal);
	if (r != 0) return r;
	return t->cuDevicePrimaryCtxRetain(ctx, dev);
}

CUresult ncu_ctx_release(ncu_driver *t, int ordinal) {
	CUdevice dev;
	CUresult r = t->cuDeviceGet(&dev, ordinal);
	if (r != 0) return r;
	return t->cuDevicePrimaryCtxRelease_v2(dev);
}

CUresult ncu_ctx_sync(ncu_driver *t, CUcontext c) { CUR(t, c); return t->cuCtxSynchronize(); }

CUresult ncu_mem_info(ncu_driver *t, CUcontext c, size_t *free, size_t *total) {
	CUR(t, c);
	return t->cuMemGetInfo_v2(free, total);
}

CUresult ncu_mem_alloc(ncu_driver *t, CUcontext c, CUdeviceptr *p, size_t bytes) {
	CUR(t, c);
	return t->cuMemAlloc_v2(p, bytes);
}

CUresult ncu_mem_free(ncu_driver *t, CUcontext c, CUdeviceptr p) { CUR(t, c); return t->cuMemFree_v2(p); }

// Pinned host memory is portable: any device's context may copy from and to it.
CUresult ncu_host_alloc(ncu_driver *t, CUcontext c, void **p, size_t bytes) {
	CUR(t, c);
	return t->cuMemHostAlloc(p, bytes, 1 /* CU_MEMHOSTALLOC_PORTABLE */);
}

CUresult ncu_host_free(ncu_driver *t, CUcontext c, void *p) { CUR(t, c); return t->cuMemFreeHost(p); }

// The copies from and to Go memory run on the caller's stream (the plain cuMemcpy calls
// would not wait for a non-blocking stream's kernels) and finish within this one C call,
// the only time cgo lets C touch Go memory.
CUresult ncu_htod(ncu_driver *t, CUcontext c, CUdeviceptr dst, const void *src, size_t bytes, CUstream s) {
	CUR(t, c);
	CUresult r = t->cuMemcpyHtoDAsync_v2(dst, src, bytes, s);
	if (r != 0) return r;
	return t->cuStreamSynchronize(s);
}

CUresult ncu_dtoh(ncu_driver *t, CUcontext c, void *dst, CUdeviceptr src, size_t bytes, CUstream s) {
	CUR(t, c);
	CUresult r = t->cuMemcpyDtoHAsync_v2(dst, src, bytes, s);
	if (r != 0) return r;
	return t->cuStreamSynchronize(s);
}

CUresult ncu_htod_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, const void *src, size_t bytes, CUstream s) {
	CUR(t, c);
	return t->cuMemcpyHtoDAsync_v2(dst, src, bytes, s);
}

CUresult ncu_dtoh_async(ncu_driver *t, CUcontext c, void *dst, CUdeviceptr src, size_t bytes, CUstream s) {
	CUR(t, c);
	return t->cuMemcpyDtoHAsync_v2(dst, src, bytes, s);
}

CUresult ncu_dtod_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s) {
	CUR(t, c);
	return t->cuMemcpyDtoDAsync_v2(dst, src, bytes, s);
}

CUresult ncu_peer_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, CUcontext dctx, CUdeviceptr src,
		CUcontext sctx, size_t bytes, CUstream s) {
	CUR(t, c);
	return t->cuMemcpyPeerAsync(dst, dctx, src, sctx, bytes, s);
}

CUresult ncu_memset32_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, unsigned int v, size_t n, CUstream s) {
	CUR(t, c);
	return t->cuMemsetD32Async(dst, v, n, s);
}

// Streams do not synchronise with the legacy default stream: every copy and kernel of
// natssl names its stream, and other libraries' work on stream 0 must not serialise it.
CUresult ncu_stream_create(ncu_driver *t, CUcontext c, CUstream *s) {
	CUR(t, c);
	return t->cuStreamCreate(s, 1 /* CU_STREAM_NON_BLOCKING */);
}

CUresult ncu_stream_destroy(ncu_driver *t, CUcontext c, CUstream s) { CUR(t, c); return t->cuStreamDestroy_v2(s); }

CUresult ncu_stream_sync(ncu_driver *t, CUcontext c, CUstream s) { CUR(t, c); return t->cuStreamSynchronize(s); }

CUresult ncu_stream_wait(ncu_driver *t, CUcontext c, CUstream s, CUevent e) {
	CUR(t, c);
	return t->cuStreamWaitEvent(s, e, 0);
}

CUresult ncu_event_create(ncu_driver *t, CUcontext c, CUevent *e, unsigned int flags) {
	CUR(t, c);
	return t->cuEventCreate(e, flags);
}

CUresult ncu_event_record(ncu_driver *t, CUcontext c, CUevent e, CUstream s) { CUR(t, c); return t->cuEventRecord(e, s); }

CUresult ncu_event_sync(ncu_driver *t, CUcontext c, CUevent e) { CUR(t, c); return t->cuEventSynchronize(e); }

CUresult ncu_event_elapsed(ncu_driver *t, CUcontext c, float *ms, CUevent a, CUevent b) {
	CUR(t, c);
	return t->cuEventElapsedTime(ms, a, b);
}

CUresult ncu_event_destroy(ncu_driver *t, CUcontext c, CUevent e) { CUR(t, c); return t->cuEventDestroy_v2(e); }

CUresult ncu_module_load(ncu_driver *t, CUcontext c, CUmodule *m, const void *image) {
	CUR(t, c);
	return t->cuModuleLoadData(m, image);
}

CUresult ncu_module_unload(ncu_driver *t, CUcontext c, CUmodule m) { CUR(t, c); return t->cuModuleUnload(m); }

CUresult ncu_module_function(ncu_driver *t, CUcontext c, CUfunction *f, CUmodule m, const char *name) {
	CUR(t, c);
	return t->cuModuleGetFunction(f, m, name);
}

CUresult ncu_launch(ncu_driver *t, CUcontext c, CUfunction f, unsigned int gx, unsigned int gy,
		unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
		CUstream s, uint64_t *slots, int nargs) {
	void *params[NCU_MAX_ARGS];
	if (nargs > NCU_MAX_ARGS) return 1; /* CUDA_ERROR_INVALID_VALUE */
	for (int i = 0; i < nargs; i++) params[i] = &slots[i];
	CUR(t, c);
	return t->cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, s, params, NULL);
}

cublasStatus_t ncu_blas_property(ncu_cublas *t, int type, int *v) { return t->cublasGetProperty(type, v); }
nvrtcResult ncu_nvrtc_version(ncu_nvrtc *t, int *major, int *minor) { return t->nvrtcVersion(major, minor); }
nvrtcResult ncu_nvrtc_num_archs(ncu_nvrtc *t, int *n) { return t->nvrtcGetNumSupportedArchs(n); }
nvrtcResult ncu_nvrtc_archs(ncu_nvrtc *t, int *archs) { return t->nvrtcGetSupportedArchs(archs); }
const char *ncu_nvrtc_error(ncu_nvrtc *t, nvrtcResult r) { return t->nvrtcGetErrorString(r); }
size_t ncu_cudnn_version(ncu_cudnn *t) { return t->cudnnGetVersion(); }

cublasStatus_t ncu_blas_create(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t *h, CUstream s) {
	CUR(d, c);
	cublasStatus_t r = t->cublasCreate_v2(h);
	if (r != 0) return r;
	r = t->cublasSetStream_v2(*h, s);
	if (r != 0) t->cublasDestroy_v2(*h);
	return r;
}

cublasStatus_t ncu_blas_destroy(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h) {
	CUR(d, c);
	return t->cublasDestroy_v2(h);
}

cublasStatus_t ncu_blas_math(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h, int mode) {
	CUR(d, c);
	return t->cublasSetMathMode(h, mode);
}

// alpha and beta live on this C stack: the handle keeps cuBLAS's default host pointer mode.
cublasStatus_t ncu_sgemm(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h, int ta, int tb,
		int m, int n, int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta,
		CUdeviceptr cc, int ldc) {
	CUR(d, c);
	return t->cublasSgemm_v2(h, ta, tb, m, n, k, &alpha, (const float *)(uintptr_t)a, lda,
		(const float *)(uintptr_t)b, ldb, &beta, (float *)(uintptr_t)cc, ldc);
}

cublasStatus_t ncu_sgemm_batched(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h, int ta,
		int tb, int m, int n, int k, float alpha, CUdeviceptr a, int lda, long long sa, CUdeviceptr b,
		int ldb, long long sb, float beta, CUdeviceptr cc, int ldc, long long sc, int batch) {
	CUR(d, c);
	return t->cublasSgemmStridedBatched(h, ta, tb, m, n, k, &alpha, (const float *)(uintptr_t)a, lda, sa,
		(const float *)(uintptr_t)b, ldb, sb, &beta, (float *)(uintptr_t)cc, ldc, sc, batch);
}

const char *ncu_blas_status(ncu_cublas *t, cublasStatus_t s) {
	return t->cublasGetStatusString ? t->cublasGetStatusString(s) : NULL;
}

nvrtcResult ncu_compile(ncu_nvrtc *t, const char *src, const char *name, const char *const *opts,
		int nopts, int ptx, char **out, size_t *outlen, char **log) {
	nvrtcProgram p;
	*out = NULL;
	*outlen = 0;
	*log = NULL;
	nvrtcResult r = t->nvrtcCreateProgram(&p, src, name, 0, NULL, NULL);
	if (r != 0) return r;
	nvrtcResult cr = t->nvrtcCompileProgram(p, nopts, opts);
	size_t n = 0;
	if (t->nvrtcGetProgramLogSize(p, &n) == 0 && n > 0) {
		*log = malloc(n);
		if (*log != NULL && t->nvrtcGetProgramLog(p, *log) != 0) {
			(*log)[0] = 0;
		}
	}
	if (cr != 0) {
		t->nvrtcDestroyProgram(&p);
		return cr;
	}
	r = ptx ? t->nvrtcGetPTXSize(p, &n) : t->nvrtcGetCUBINSize(p, &n);
	if (r == 0) {
		*out = malloc(n > 0 ? n : 1);
		if (*out == NULL) {
			r = 1; /* NVRTC_ERROR_OUT_OF_MEMORY */
		} else {
			r = ptx ? t->nvrtcGetPTX(p, *out) : t->nvrtcGetCUBIN(p, *out);
			*outlen = n;
		}
	}
	t->nvrtcDestroyProgram(&p);
	return r;
}

int ncu_sim_launch(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
		unsigned int by, unsigned int bz, uint64_t *slots, int nargs) {
	void *params[NCU_MAX_ARGS];
	if (nargs > NCU_MAX_ARGS) return -1;
	for (int i = 0; i < nargs; i++) params[i] = &slots[i];
	return ((ncu_sim_fn)fn)(gx, gy, gz, bx, by, bz, params);
}

const char *ncu_sim_error(void *fn) { return ((const char *(*)(void))fn)(); }

void *ncu_guarded_alloc(size_t n) {
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (n + page - 1) / page * page;
	char *base = mmap(NULL, data + 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) return NULL;
	mprotect(base, page, PROT_NONE);
	mprotect(base + page + data, page, PROT_NONE);
	return base + page + data - n;
}

void ncu_guarded_free(void *p, size_t n) {
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (n + page - 1) / page * page;
	char *end = (char *)p + n;
	munmap(end - data - page, data + 2 * page);
}
