// The few types and functions of the CUDA driver API, cuBLAS, NVRTC and cuDNN that natssl
// uses, declared here because no build machine has the CUDA headers: the libraries are
// opened with dlopen at run time and every function is called through a pointer looked up
// with dlsym. The types are the ABI's: CUdeviceptr is 64-bit, handles are opaque pointers,
// status codes and enums are int. The names are the symbols the libraries export (the _v2
// entry points the headers map the plain names to since CUDA 3.2 and 11).
#ifndef NATSSL_CUDA_CAPI_H
#define NATSSL_CUDA_CAPI_H

#include <stddef.h>
#include <stdint.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;

typedef int cublasStatus_t;
typedef struct cublasContext *cublasHandle_t;

typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

// X(return type, symbol, parameter list): one line per function. A missing symbol fails the
// load with its name.
#define NCU_DRIVER_FUNCS(X) \
	X(CUresult, cuInit, (unsigned int flags)) \
	X(CUresult, cuDriverGetVersion, (int *version)) \
	X(CUresult, cuGetErrorName, (CUresult err, const char **str)) \
	X(CUresult, cuGetErrorString, (CUresult err, const char **str)) \
	X(CUresult, cuDeviceGetCount, (int *count)) \
	X(CUresult, cuDeviceGet, (CUdevice *dev, int ordinal)) \
	X(CUresult, cuDeviceGetName, (char *name, int len, CUdevice dev)) \
	X(CUresult, cuDeviceGetAttribute, (int *v, int attrib, CUdevice dev)) \
	X(CUresult, cuDeviceTotalMem_v2, (size_t *bytes, CUdevice dev)) \
	X(CUresult, cuDevicePrimaryCtxRetain, (CUcontext *ctx, CUdevice dev)) \
	X(CUresult, cuDevicePrimaryCtxRelease_v2, (CUdevice dev)) \
	X(CUresult, cuCtxSetCurrent, (CUcontext ctx)) \
	X(CUresult, cuCtxSynchronize, (void)) \
	X(CUresult, cuMemGetInfo_v2, (size_t *free, size_t *total)) \
	X(CUresult, cuMemAlloc_v2, (CUdeviceptr *p, size_t bytes)) \
	X(CUresult, cuMemFree_v2, (CUdeviceptr p)) \
	X(CUresult, cuMemHostAlloc, (void **p, size_t bytes, unsigned int flags)) \
	X(CUresult, cuMemFreeHost, (void *p)) \
	X(CUresult, cuMemcpyHtoDAsync_v2, (CUdeviceptr dst, const void *src, size_t bytes, CUstream s)) \
	X(CUresult, cuMemcpyDtoHAsync_v2, (void *dst, CUdeviceptr src, size_t bytes, CUstream s)) \
	X(CUresult, cuMemcpyDtoDAsync_v2, (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s)) \
	X(CUresult, cuMemcpyPeerAsync, (CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t bytes, CUstream s)) \
	X(CUresult, cuMemsetD32Async, (CUdeviceptr dst, unsigned int v, size_t n, CUstream s)) \
	X(CUresult, cuStreamCreate, (CUstream *s, unsigned int flags)) \
	X(CUresult, cuStreamDestroy_v2, (CUstream s)) \
	X(CUresult, cuStreamSynchronize, (CUstream s)) \
	X(CUresult, cuStreamWaitEvent, (CUstream s, CUevent e, unsigned int flags)) \
	X(CUresult, cuEventCreate, (CUevent *e, unsigned int flags)) \
	X(CUresult, cuEventRecord, (CUevent e, CUstream s)) \
	X(CUresult, cuEventSynchronize, (CUevent e)) \
	X(CUresult, cuEventElapsedTime, (float *ms, CUevent start, CUevent end)) \
	X(CUresult, cuEventDestroy_v2, (CUevent e)) \
	X(CUresult, cuModuleLoadData, (CUmodule *m, const void *image)) \
	X(CUresult, cuModuleUnload, (CUmodule m)) \
	X(CUresult, cuModuleGetFunction, (CUfunction *f, CUmodule m, const char *name)) \
	X(CUresult, cuLaunchKernel, (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, \
		unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared, CUstream s, \
		void **params, void **extra))

#define NCU_CUBLAS_FUNCS(X) \
	X(cublasStatus_t, cublasCreate_v2, (cublasHandle_t *h)) \
	X(cublasStatus_t, cublasDestroy_v2, (cublasHandle_t h)) \
	X(cublasStatus_t, cublasGetProperty, (int type, int *value)) \
	X(cublasStatus_t, cublasSetStream_v2, (cublasHandle_t h, CUstream s)) \
	X(cublasStatus_t, cublasSetMathMode, (cublasHandle_t h, int mode)) \
	X(cublasStatus_t, cublasSgemm_v2, (cublasHandle_t h, int ta, int tb, int m, int n, int k, \
		const float *alpha, const float *a, int lda, const float *b, int ldb, \
		const float *beta, float *c, int ldc)) \
	X(cublasStatus_t, cublasSgemmStridedBatched, (cublasHandle_t h, int ta, int tb, int m, int n, int k, \
		const float *alpha, const float *a, int lda, long long sa, const float *b, int ldb, long long sb, \
		const float *beta, float *c, int ldc, long long sc, int batch))

#define NCU_NVRTC_FUNCS(X) \
	X(nvrtcResult, nvrtcVersion, (int *major, int *minor)) \
	X(const char *, nvrtcGetErrorString, (nvrtcResult r)) \
	X(nvrtcResult, nvrtcGetNumSupportedArchs, (int *n)) \
	X(nvrtcResult, nvrtcGetSupportedArchs, (int *archs)) \
	X(nvrtcResult, nvrtcCreateProgram, (nvrtcProgram *p, const char *src, const char *name, \
		int nheaders, const char *const *headers, const char *const *includeNames)) \
	X(nvrtcResult, nvrtcCompileProgram, (nvrtcProgram p, int nopts, const char *const *opts)) \
	X(nvrtcResult, nvrtcGetProgramLogSize, (nvrtcProgram p, size_t *n)) \
	X(nvrtcResult, nvrtcGetProgramLog, (nvrtcProgram p, char *log)) \
	X(nvrtcResult, nvrtcGetCUBINSize, (nvrtcProgram p, size_t *n)) \
	X(nvrtcResult, nvrtcGetCUBIN, (nvrtcProgram p, char *cubin)) \
	X(nvrtcResult, nvrtcGetPTXSize, (nvrtcProgram p, size_t *n)) \
	X(nvrtcResult, nvrtcGetPTX, (nvrtcProgram p, char *ptx)) \
	X(nvrtcResult, nvrtcDestroyProgram, (nvrtcProgram *p))

#define NCU_CUDNN_FUNCS(X) \
	X(size_t, cudnnGetVersion, (void))

#define NCU_MEMBER(ret, name, params) ret (*name) params;
typedef struct { NCU_DRIVER_FUNCS(NCU_MEMBER) } ncu_driver;
typedef struct { NCU_CUBLAS_FUNCS(NCU_MEMBER) const char *(*cublasGetStatusString)(cublasStatus_t); } ncu_cublas;
typedef struct { NCU_NVRTC_FUNCS(NCU_MEMBER) } ncu_nvrtc;
typedef struct { NCU_CUDNN_FUNCS(NCU_MEMBER) } ncu_cudnn;
#undef NCU_MEMBER

// The symbol names of each table, NULL-terminated, for the lookup tests.
extern const char *const ncu_driver_symbols[];
extern const char *const ncu_cublas_symbols[];
extern const char *const ncu_nvrtc_symbols[];
extern const char *const ncu_cudnn_symbols[];

// dlopen, dlsym and dladdr, with dlerror's message copied out.
void *ncu_dlopen(const char *path, int global, char *err, int errlen);
void ncu_dlclose(void *h);
void *ncu_dlsym(void *h, const char *name);
int ncu_dlpath(void *sym, char *buf, int len);

// Each binder fills its table from a library handle and returns NULL, or the name of the
// first symbol the library lacks.
const char *ncu_bind_driver(void *h, ncu_driver *t);
const char *ncu_bind_cublas(void *h, ncu_cublas *t);
const char *ncu_bind_nvrtc(void *h, ncu_nvrtc *t);
const char *ncu_bind_cudnn(void *h, ncu_cudnn *t);

// Kernel arguments travel as 8-byte slots; the trampolines build the pointer array that
// cuLaunchKernel (and the host simulation) reads them through.
#define NCU_MAX_ARGS 32

// Driver calls that need a context make it current on the calling thread first, in the
// same C call: a goroutine may move between threads from one cgo call to the next.
CUresult ncu_driver_version(ncu_driver *t, int *v);
CUresult ncu_init(ncu_driver *t);
CUresult ncu_device_count(ncu_driver *t, int *n);
CUresult ncu_error_name(ncu_driver *t, CUresult r, const char **s);
CUresult ncu_device_info(ncu_driver *t, int ordinal, char *name, int len, int *major, int *minor,
	int *sms, size_t *total);
CUresult ncu_ctx_retain(ncu_driver *t, int ordinal, CUcontext *ctx);
CUresult ncu_ctx_release(ncu_driver *t, int ordinal);
CUresult ncu_ctx_sync(ncu_driver *t, CUcontext c);
CUresult ncu_mem_info(ncu_driver *t, CUcontext c, size_t *free, size_t *total);
CUresult ncu_mem_alloc(ncu_driver *t, CUcontext c, CUdeviceptr *p, size_t bytes);
CUresult ncu_mem_free(ncu_driver *t, CUcontext c, CUdeviceptr p);
CUresult ncu_host_alloc(ncu_driver *t, CUcontext c, void **p, size_t bytes);
CUresult ncu_host_free(ncu_driver *t, CUcontext c, void *p);
CUresult ncu_htod(ncu_driver *t, CUcontext c, CUdeviceptr dst, const void *src, size_t bytes, CUstream s);
CUresult ncu_dtoh(ncu_driver *t, CUcontext c, void *dst, CUdeviceptr src, size_t bytes, CUstream s);
CUresult ncu_htod_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, const void *src, size_t bytes, CUstream s);
CUresult ncu_dtoh_async(ncu_driver *t, CUcontext c, void *dst, CUdeviceptr src, size_t bytes, CUstream s);
CUresult ncu_dtod_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s);
CUresult ncu_peer_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, CUcontext dctx, CUdeviceptr src,
	CUcontext sctx, size_t bytes, CUstream s);
CUresult ncu_memset32_async(ncu_driver *t, CUcontext c, CUdeviceptr dst, unsigned int v, size_t n, CUstream s);
CUresult ncu_stream_create(ncu_driver *t, CUcontext c, CUstream *s);
CUresult ncu_stream_destroy(ncu_driver *t, CUcontext c, CUstream s);
CUresult ncu_stream_sync(ncu_driver *t, CUcontext c, CUstream s);
CUresult ncu_stream_wait(ncu_driver *t, CUcontext c, CUstream s, CUevent e);
CUresult ncu_event_create(ncu_driver *t, CUcontext c, CUevent *e, unsigned int flags);
CUresult ncu_event_record(ncu_driver *t, CUcontext c, CUevent e, CUstream s);
CUresult ncu_event_sync(ncu_driver *t, CUcontext c, CUevent e);
CUresult ncu_event_elapsed(ncu_driver *t, CUcontext c, float *ms, CUevent a, CUevent b);
CUresult ncu_event_destroy(ncu_driver *t, CUcontext c, CUevent e);
CUresult ncu_module_load(ncu_driver *t, CUcontext c, CUmodule *m, const void *image);
CUresult ncu_module_unload(ncu_driver *t, CUcontext c, CUmodule m);
CUresult ncu_module_function(ncu_driver *t, CUcontext c, CUfunction *f, CUmodule m, const char *name);
CUresult ncu_launch(ncu_driver *t, CUcontext c, CUfunction f, unsigned int gx, unsigned int gy,
	unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
	CUstream s, uint64_t *slots, int nargs);

cublasStatus_t ncu_blas_property(ncu_cublas *t, int type, int *v);
nvrtcResult ncu_nvrtc_version(ncu_nvrtc *t, int *major, int *minor);
nvrtcResult ncu_nvrtc_num_archs(ncu_nvrtc *t, int *n);
nvrtcResult ncu_nvrtc_archs(ncu_nvrtc *t, int *archs);
const char *ncu_nvrtc_error(ncu_nvrtc *t, nvrtcResult r);
size_t ncu_cudnn_version(ncu_cudnn *t);
cublasStatus_t ncu_blas_create(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t *h, CUstream s);
cublasStatus_t ncu_blas_destroy(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h);
cublasStatus_t ncu_blas_math(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h, int mode);
cublasStatus_t ncu_sgemm(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h, int ta, int tb,
	int m, int n, int k, float alpha, CUdeviceptr a, int lda, CUdeviceptr b, int ldb, float beta,
	CUdeviceptr cc, int ldc);
cublasStatus_t ncu_sgemm_batched(ncu_driver *d, ncu_cublas *t, CUcontext c, cublasHandle_t h, int ta,
	int tb, int m, int n, int k, float alpha, CUdeviceptr a, int lda, long long sa, CUdeviceptr b,
	int ldb, long long sb, float beta, CUdeviceptr cc, int ldc, long long sc, int batch);
const char *ncu_blas_status(ncu_cublas *t, cublasStatus_t s);

// ncu_compile runs NVRTC on src with the given options. On success *out holds the CUBIN (or
// PTX when ptx is set) and *outlen its size; *log holds the compiler's log in any case. The
// caller frees *out and *log.
nvrtcResult ncu_compile(ncu_nvrtc *t, const char *src, const char *name, const char *const *opts,
	int nopts, int ptx, char **out, size_t *outlen, char **log);

// ncu_sim_launch calls a host-simulation launcher: fn(grid, block, params).
// It returns 0, or non-zero when the simulation refused the launch (its message is then
// read from the library).
typedef int (*ncu_sim_fn)(unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
	unsigned int by, unsigned int bz, void **params);
int ncu_sim_launch(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
	unsigned int by, unsigned int bz, uint64_t *slots, int nargs);

// ncu_sim_error calls the simulation's const char *natssl_sim_error(void).
const char *ncu_sim_error(void *fn);

// Guarded host memory for the simulation: n bytes ending exactly at an inaccessible page, so
// that a kernel reading or writing past the end of a buffer faults at once.
void *ncu_guarded_alloc(size_t n);
void ncu_guarded_free(void *p, size_t n);

#endif
