// host_sim.h runs a kernel's grid on the CPU, blocks one after another. The threads of a
// block run one after another for kernels that never synchronise; for the cooperative ones
// (declared __launch_bounds__) each thread is a coroutine on its own stack, and
// __syncthreads switches to the next thread of the block, so that every thread reaches the
// barrier before any passes it, deterministically and without OS threads. A kernel that calls
// __syncthreads without the declaration, or a cooperative launch with a block of other than
// REDUCE_THREADS threads, is refused with a message.
#include <sys/mman.h>
#include <ucontext.h>

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace natssl_sim {

const std::size_t stack_bytes = 256 * 1024;

struct Fiber {
	ucontext_t ctx;
	bool done;
	char *stack;
};

Fiber fibers[REDUCE_THREADS];
ucontext_t scheduler;
unsigned current;
bool cooperative;
std::function<void()> job;
std::string error;
std::mutex launch_mu;

struct NotCooperative {};

void fiber_entry() {
	job();
	fibers[current].done = true; // returning resumes the scheduler (uc_link)
}

// run_block runs one block of nt coroutines until all have returned.
bool run_block(unsigned nt) {
	for (unsigned t = 0; t < nt; t++) {
		Fiber &f = fibers[t];
		if (f.stack == nullptr) {
			void *s = mmap(nullptr, stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (s == MAP_FAILED) {
				return false;
			}
			mprotect(s, 4096, PROT_NONE); // a stack overflow faults
			f.stack = static_cast<char *>(s);
		}
		getcontext(&f.ctx);
		f.ctx.uc_stack.ss_sp = f.stack;
		f.ctx.uc_stack.ss_size = stack_bytes;
		f.ctx.uc_link = &scheduler;
		makecontext(&f.ctx, fiber_entry, 0);
		f.done = false;
	}
	for (bool left = true; left;) {
		left = false;
		for (unsigned t = 0; t < nt; t++) {
			if (fibers[t].done) {
				continue;
			}
			current = t;
			threadIdx = dim3{t, 0, 0};
			swapcontext(&scheduler, &fibers[t].ctx);
			left = left || !fibers[t].done;
		}
	}
	return true;
}

template <typename... A, std::size_t... I>
void call(void (*k)(A...), void **p, std::index_sequence<I...>) {
	k(*static_cast<A *>(p[I])...);
}

template <typename... A>
int launch(void (*k)(A...), bool coop, const char *name, dim3 g, dim3 b, void **p) {
	std::lock_guard<std::mutex> lock(launch_mu);
	error.clear();
	if (coop && (b.x != REDUCE_THREADS || b.y != 1 || b.z != 1)) {
		error = std::string(name) + ": cooperative kernel launched with a block of " + std::to_string(b.x * b.y * b.z) +
			" threads, not REDUCE_THREADS";
		return 1;
	}
	gridDim = g;
	blockDim = b;
	auto idx = std::index_sequence_for<A...>{};
	cooperative = coop;
	job = [&] { call(k, p, idx); };
	try {
		for (unsigned bz = 0; bz < g.z; bz++)
		for (unsigned by = 0; by < g.y; by++)
		for (unsigned bx = 0; bx < g.x; bx++) {
			blockIdx = dim3{bx, by, bz};
			if (coop) {
				if (!run_block(b.x)) {
					error = std::string(name) + ": no memory for the block's stacks";
					return 1;
				}
				continue;
			}
			for (unsigned tz = 0; tz < b.z; tz++)
			for (unsigned ty = 0; ty < b.y; ty++)
			for (unsigned tx = 0; tx < b.x; tx++) {
				threadIdx = dim3{tx, ty, tz};
				job();
			}
		}
	} catch (NotCooperative &) {
		error = std::string(name) + " calls __syncthreads but is not declared __launch_bounds__(REDUCE_THREADS)";
		return 1;
	}
	return 0;
}

} // namespace natssl_sim

void __syncthreads() {
	if (!natssl_sim::cooperative) {
		throw natssl_sim::NotCooperative{};
	}
	swapcontext(&natssl_sim::fibers[natssl_sim::current].ctx, &natssl_sim::scheduler);
}

extern "C" const char *natssl_sim_error() { return natssl_sim::error.c_str(); }
