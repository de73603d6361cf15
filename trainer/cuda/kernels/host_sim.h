// host_sim.h runs a kernel's grid on the CPU: blocks one after another; the threads of a
// block one after another for kernels that never synchronise, or as real threads meeting at
// a barrier for the cooperative ones (declared __launch_bounds__). A kernel that calls
// __syncthreads without the declaration, or a cooperative launch with a block of other
// than REDUCE_THREADS threads, is refused with a message.
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace natssl_sim {

// Barrier is __syncthreads for the threads of a block; a thread that returns leaves it.
struct Barrier {
	std::mutex mu;
	std::condition_variable cv;
	unsigned count, waiting = 0;
	unsigned long gen = 0;
	explicit Barrier(unsigned n) : count(n) {}
	void release() {
		waiting = 0;
		gen++;
		cv.notify_all();
	}
	void wait() {
		std::unique_lock<std::mutex> l(mu);
		unsigned long g = gen;
		if (++waiting == count) {
			release();
			return;
		}
		cv.wait(l, [&] { return gen != g; });
	}
	void leave() {
		std::lock_guard<std::mutex> l(mu);
		count--;
		if (count > 0 && waiting == count) {
			release();
		}
	}
};

Barrier *barrier; // the running block's, in a cooperative launch
std::string error;
std::mutex launch_mu;

struct NotCooperative {};

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
	try {
		for (unsigned bz = 0; bz < g.z; bz++)
		for (unsigned by = 0; by < g.y; by++)
		for (unsigned bx = 0; bx < g.x; bx++) {
			dim3 bi{bx, by, bz};
			if (!coop) {
				for (unsigned tz = 0; tz < b.z; tz++)
				for (unsigned ty = 0; ty < b.y; ty++)
				for (unsigned tx = 0; tx < b.x; tx++) {
					blockIdx = bi;
					threadIdx = dim3{tx, ty, tz};
					call(k, p, idx);
				}
				continue;
			}
			Barrier bar(b.x);
			barrier = &bar;
			std::vector<std::thread> ts;
			ts.reserve(b.x);
			for (unsigned tx = 0; tx < b.x; tx++) {
				ts.emplace_back([&, tx] {
					blockIdx = bi;
					threadIdx = dim3{tx, 0, 0};
					call(k, p, idx);
					bar.leave();
				});
			}
			for (auto &t : ts) {
				t.join();
			}
			barrier = nullptr;
		}
	} catch (NotCooperative &) {
		error = std::string(name) + " calls __syncthreads but is not declared __launch_bounds__(REDUCE_THREADS)";
		return 1;
	}
	return 0;
}

} // namespace natssl_sim

void __syncthreads() {
	if (natssl_sim::barrier == nullptr) {
		throw natssl_sim::NotCooperative{};
	}
	natssl_sim::barrier->wait();
}

extern "C" const char *natssl_sim_error() { return natssl_sim::error.c_str(); }
